"""Two dispatchers at once (two beat processes running by mistake): nothing is sent twice."""

import threading
from collections import Counter

import pytest
from django.db import connection

from clinic.audit.models import AuditEvent
from clinic.notifications import delivery
from clinic.notifications.models import Reminder
from clinic.notifications.tests.conftest import configure
from clinic.notifications.tests.factories import ReminderFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]


def run_concurrently(*targets) -> list:
    """Run each target in its own thread with its own database connection; re-raise their errors."""
    count = len(targets)
    results, errors = [None] * count, []

    def run(index):
        try:
            results[index] = targets[index]()
        except BaseException as error:  # noqa: BLE001 - handed back to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def assert_each_delivered_once(reminders, outbox):
    ids = [str(reminder.pk) for reminder in reminders]
    assert sorted(outbox.reminder_ids()) == sorted(ids)
    assert set(Reminder.objects.values_list("status", "attempts")) == {(Reminder.Status.SENT, 1)}
    delivered = Counter(AuditEvent.objects.filter(action="deliver").values_list("object_id", flat=True))
    assert delivered == Counter(ids)


def test_two_dispatchers_split_the_work(settings, reachable_patient, outbox):
    configure(settings, BATCH_SIZE=20)
    reminders = ReminderFactory.create_batch(200, patient=reachable_patient)

    claimed = run_concurrently(delivery.reminders_claim_due, delivery.reminders_claim_due)

    assert sum(claimed) == 200  # SKIP LOCKED and the lease: every reminder claimed by exactly one of them
    assert_each_delivered_once(reminders, outbox)


def test_two_dispatchers_enqueuing_the_same_reminders_still_send_each_once(
    settings, reachable_patient, outbox, monkeypatch
):
    """With no lease at all both dispatchers claim every reminder and both enqueue it: the attempt counter
    lets exactly one copy of each send task start."""
    configure(settings, CLAIM_LEASE_SECONDS=0)
    reminders = ReminderFactory.create_batch(100, patient=reachable_patient)
    first_claim_committed = threading.Event()
    both_claimed = threading.Barrier(2, timeout=60)
    enqueue = delivery.enqueue_sends

    def enqueue_when_both_have_claimed(rows):
        first_claim_committed.set()
        both_claimed.wait()
        enqueue(rows)

    def second_dispatcher():
        first_claim_committed.wait(timeout=60)
        return delivery.reminders_claim_due()

    monkeypatch.setattr(delivery, "enqueue_sends", enqueue_when_both_have_claimed)
    claimed = run_concurrently(delivery.reminders_claim_due, second_dispatcher)

    assert claimed == [100, 100]  # each of them enqueued all of them
    assert_each_delivered_once(reminders, outbox)
