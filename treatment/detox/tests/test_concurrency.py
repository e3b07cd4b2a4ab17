"""Two devices at once: each contender runs in its own thread and connection with real transactions, and holds
its transaction open a moment after its write so that the other arrives while the first still holds its locks."""

import datetime
import threading
import time
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.audit.models import AuditEvent
from clinic.errors import Conflict
from treatment.detox import services, tasks
from treatment.detox.models import MedicationAdministration, ObservationRound
from treatment.models import Alert, Observation

from .conftest import open_round, record

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/medication-administrations/"


def race(*contenders, hold: float = 0.3):
    barrier = threading.Barrier(len(contenders))
    outcomes: list[object] = [None] * len(contenders)

    def run(index, contender):
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                outcomes[index] = contender()
                time.sleep(hold)
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def kinds(outcomes) -> list[str]:
    return sorted(type(outcome).__name__ for outcome in outcomes)


def test_two_devices_giving_the_same_prn_dose_give_it_once(episode, physician, nurse, drug):
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("ondansetron"), dose=Decimal("4"), dose_unit="mg",
        frequency="prn", indication="Nausea", min_interval_minutes=480,
    )  # fmt: skip

    def give():
        return services.medication_administer(actor=nurse, order=order, outcome="given")

    outcomes = race(give, give)
    assert kinds(outcomes) == ["Conflict", "MedicationAdministration"], outcomes
    assert next(o for o in outcomes if isinstance(o, Conflict)).code == "prn_interval"
    assert MedicationAdministration.objects.filter(order=order).count() == 1


def test_two_devices_recording_the_same_scheduled_dose_record_it_once(episode, physician, nurse, drug):
    start = timezone.now().replace(second=0, microsecond=0)
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("clonidine"), dose=Decimal("0.1"), dose_unit="mg",
        frequency="q6h", starts_at=start,
    )  # fmt: skip
    outcomes = race(
        lambda: services.medication_administer(actor=nurse, order=order, outcome="given", scheduled_for=start),
        lambda: services.medication_administer(actor=physician, order=order, outcome="given", scheduled_for=start),
    )
    assert kinds(outcomes) == ["Conflict", "MedicationAdministration"], outcomes
    assert next(o for o in outcomes if isinstance(o, Conflict)).code == "dose_already_recorded"
    assert MedicationAdministration.objects.filter(order=order).count() == 1


def test_two_nurses_recording_the_same_round_record_it_once(course, nurse, physician):
    first = open_round(course)
    outcomes = race(lambda: record(first, nurse), lambda: record(first, physician))
    assert kinds(outcomes) == ["Conflict", "ObservationRound"], outcomes
    assert next(o for o in outcomes if isinstance(o, Conflict)).code == "round_closed"
    assert Observation.objects.filter(instrument="cows").count() == 1
    assert ObservationRound.objects.filter(course=course).count() == 2  # the recorded one and the next


# --- Beat running twice at once, or while the nurse records ---------------------------------------------------


def test_two_overdue_runs_at_once_alert_once(course):
    first = open_round(course)
    with time_machine.travel(first.due_at + datetime.timedelta(minutes=30), tick=False):
        # The task called in each thread as a worker process would run it. Not `.apply().get()`: eager `apply`
        # flips Celery's process-wide "join would block" flag, and two threads doing it at once can leave it set.
        outcomes = race(tasks.detox_rounds_flag_overdue, tasks.detox_rounds_flag_overdue)
    assert sorted(outcomes) == [0, 1], outcomes
    assert Alert.objects.filter(kind="observation_round_overdue").count() == 1
    assert AuditEvent.objects.filter(object_id=str(first.pk), action="overdue").count() == 1


def test_beat_flagging_while_the_nurse_records_leaves_a_recorded_round(course, nurse):
    first = open_round(course)
    with time_machine.travel(first.due_at + datetime.timedelta(minutes=40), tick=False):
        outcomes = race(lambda: record(first, nurse), lambda: services.rounds_flag_overdue())
    assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    first.refresh_from_db()
    assert first.status == "completed"
    assert Alert.objects.filter(kind="observation_round_overdue").count() <= 1


# --- Two devices through the REST API -------------------------------------------------------------------------


def test_two_devices_posting_the_same_prn_dose_through_the_api_give_it_once(episode, physician, nurse, drug):
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("ondansetron"), dose=Decimal("4"), dose_unit="mg",
        frequency="prn", indication="Nausea", min_interval_minutes=480,
    )  # fmt: skip
    tablet, phone = APIClient(), APIClient()
    tablet.force_authenticate(nurse)
    phone.force_authenticate(physician)
    body = {"order": str(order.pk), "outcome": "given"}
    responses = race(*(lambda client=client: client.post(URL, body, format="json") for client in (tablet, phone)))
    assert sorted(response.status_code for response in responses) == [201, 409], responses
    refused = next(response for response in responses if response.status_code == 409)
    assert refused.json()["error"]["code"] == "prn_interval"
    assert MedicationAdministration.objects.filter(order=order).count() == 1


def test_two_devices_posting_the_same_scheduled_dose_through_the_api_record_it_once(episode, physician, nurse, drug):
    start = timezone.now().replace(second=0, microsecond=0)
    order = services.medication_order_create(
        actor=physician, episode=episode, drug=drug("clonidine"), dose=Decimal("0.1"), dose_unit="mg",
        frequency="q6h", starts_at=start,
    )  # fmt: skip
    tablet, phone = APIClient(), APIClient()
    tablet.force_authenticate(nurse)
    phone.force_authenticate(nurse)
    given = {"order": str(order.pk), "outcome": "given", "scheduled_for": start.isoformat()}
    refused = {**given, "outcome": "refused"}
    responses = race(lambda: tablet.post(URL, given, format="json"), lambda: phone.post(URL, refused, format="json"))
    assert sorted(response.status_code for response in responses) == [201, 409], responses
    conflict = next(response for response in responses if response.status_code == 409)
    assert conflict.json()["error"] == {
        "code": "dose_already_recorded", "message": "This scheduled dose is already recorded.", "fields": {}
    }  # fmt: skip
    assert MedicationAdministration.objects.filter(order=order).count() == 1
