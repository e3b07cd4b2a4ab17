from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import transaction

from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, ValidationFailed
from clinic.notifications.models import Reminder
from clinic.notifications.services import reminder_cancel_for_subject, reminder_retry, reminder_schedule
from clinic.notifications.tests.factories import ReminderFactory
from patients.tests.factories import CommunicationConsentFactory, PatientFactory

NOW = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)  # 12:00 in New York
Status = Reminder.Status

pytestmark = pytest.mark.usefixtures("notifications_settings")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def schedule(for_patient, /, **kwargs):
    values = {
        "facility": for_patient.facility,
        "kind": "appointment",
        "send_at": NOW + timedelta(hours=2),
        "patient": for_patient,
        "context": {"at": NOW + timedelta(days=1), "provider": "R. Lee"},
    }
    return reminder_schedule(**{**values, **kwargs})


def test_schedule_for_a_patient(reachable_patient, staff):
    reminder = schedule(reachable_patient, subject=("therapy.session", 42), actor=staff["front_desk"])

    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED
    assert reminder.channel == "sms"  # the patient's preferred channel
    assert reminder.send_at == reminder.deliver_after == NOW + timedelta(hours=2)
    assert (reminder.subject_type, reminder.subject_id) == ("therapy.session", "42")
    assert reminder.context == {"at": "2026-05-12T16:00:00+00:00", "provider": "R. Lee"}
    assert len(reminder.idempotency_key) == 32
    assert reminder.claimed_until is None
    event = AuditEvent.objects.get(model="notifications.reminder", object_id=str(reminder.pk))
    assert (event.action, event.actor, event.patient_id) == ("create", staff["front_desk"], reachable_patient.pk)


def test_without_a_preference_the_first_consented_channel_with_an_address_is_used(facility):
    patient = PatientFactory(facility=facility, preferred_channel="none", email="a@example.org", phone="")
    CommunicationConsentFactory(patient=patient, channel="sms")  # but no phone number
    CommunicationConsentFactory(patient=patient, channel="email")
    assert schedule(patient).channel == "email"


def test_a_patient_with_no_usable_channel_gets_a_suppressed_reminder(facility):
    patient = PatientFactory(facility=facility, preferred_channel="none")
    reminder = schedule(patient)
    assert (reminder.status, reminder.suppressed_reason, reminder.channel) == (Status.SUPPRESSED, "no_channel", "")


def test_an_explicit_channel_wins(reachable_patient):
    assert schedule(reachable_patient, channel="email").channel == "email"


def test_schedule_for_staff_goes_by_email(staff, facility):
    reminder = reminder_schedule(
        facility=facility,
        kind="plan_review_due",
        send_at=NOW + timedelta(days=3),
        staff=staff["counselor"],
        context={"at": NOW + timedelta(days=3)},
        subject=("therapy.treatment_plan", "p-1"),
    )
    assert (reminder.channel, reminder.patient, reminder.staff) == ("email", None, staff["counselor"])
    assert AuditEvent.objects.filter(action="create", object_id=str(reminder.pk), patient_id=None).exists()


def test_quiet_hours_move_the_delivery_past_them_in_the_patients_zone(reachable_patient):
    reachable_patient.quiet_hours_start, reachable_patient.quiet_hours_end = time(21, 0), time(8, 0)
    reachable_patient.save()
    asked = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)  # 02:00 in New York
    reminder = schedule(reachable_patient, send_at=asked)
    assert reminder.send_at == asked
    assert reminder.deliver_after == datetime(2026, 5, 12, 12, 0, tzinfo=UTC)  # 08:00 EDT


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"patient": None}, "patient"),
        ({"kind": "plan_review_due"}, "kind"),
        ({"kind": "bogus"}, "kind"),
        ({"send_at": datetime(2026, 5, 12, 9, 0)}, "send_at"),  # naive  # noqa: DTZ001
        ({"channel": "fax"}, "channel"),
        ({"subject": ("x" * 65, 1)}, "subject"),
        ({"context": {"at": NOW, "provider": "R. Lee", "diagnosis": "F11.20"}}, "context.diagnosis"),
    ],
)
def test_invalid_reminders_are_refused(reachable_patient, change, field):
    with pytest.raises(ValidationFailed) as error:
        schedule(reachable_patient, **change)
    assert field in error.value.fields
    assert not Reminder.objects.exists()


def test_both_a_patient_and_staff_is_refused(reachable_patient, staff):
    with pytest.raises(ValidationFailed) as error:
        schedule(reachable_patient, staff=staff["nurse"])
    assert "patient" in error.value.fields


def test_a_patient_kind_cannot_go_to_staff(staff, facility):
    with pytest.raises(ValidationFailed) as error:
        reminder_schedule(facility=facility, kind="appointment", send_at=NOW, staff=staff["nurse"], context={"at": NOW})
    assert "kind" in error.value.fields


def test_a_patient_or_staff_of_another_facility_is_refused(reachable_patient, other_facility, other_staff, facility):
    with pytest.raises(ValidationFailed) as error:
        schedule(reachable_patient, facility=other_facility)
    assert "patient" in error.value.fields
    with pytest.raises(ValidationFailed) as error:
        reminder_schedule(facility=facility, kind="generic", send_at=NOW, staff=other_staff["nurse"])
    assert "staff" in error.value.fields


def test_a_due_reminder_is_enqueued_only_when_its_transaction_commits(
    reachable_patient, django_capture_on_commit_callbacks, eager_tasks, outbox
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reminder = schedule(reachable_patient, send_at=NOW - timedelta(minutes=1))
    reminder.refresh_from_db()
    assert reminder.claimed_until == NOW + timedelta(seconds=600)  # claimed in the same transaction
    assert len(callbacks) == 1
    assert outbox.lines() == []  # nothing went out before the commit
    callbacks[0]()
    assert outbox.reminder_ids() == [str(reminder.pk)]
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT


def test_a_future_reminder_waits_in_the_database(reachable_patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        reminder = schedule(reachable_patient, send_at=NOW + timedelta(days=30))
    assert callbacks == []
    assert Reminder.objects.get(pk=reminder.pk).claimed_until is None


def test_a_rolled_back_transaction_leaves_no_reminder_and_enqueues_nothing(
    reachable_patient, django_capture_on_commit_callbacks
):
    def domain_write_that_fails():
        with transaction.atomic():
            schedule(reachable_patient, send_at=NOW - timedelta(minutes=1))
            raise RuntimeError("the domain's write failed")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        domain_write_that_fails()
    assert callbacks == []
    assert not Reminder.objects.exists()


def test_cancel_for_subject_cancels_only_its_pending_reminders(reachable_patient, staff):
    subject = ("therapy.session", "s-1")
    pending = schedule(reachable_patient, subject=subject)
    prompt = schedule(
        reachable_patient, subject=subject, kind="check_in_prompt", context={}, send_at=NOW + timedelta(hours=3)
    )
    already_sent = ReminderFactory(
        patient=reachable_patient, subject_type="therapy.session", subject_id="s-1", status=Status.SENT, sent_at=NOW
    )
    other_subject = schedule(reachable_patient, subject=("therapy.session", "s-2"))

    assert (
        reminder_cancel_for_subject(
            subject_type="therapy.session", subject_id="s-1", kinds=["appointment"], actor=staff["front_desk"]
        )
        == 1
    )
    assert reminder_cancel_for_subject(subject_type="therapy.session", subject_id="s-1") == 1

    statuses = {r.pk: r.status for r in Reminder.objects.all()}
    assert statuses[pending.pk] == statuses[prompt.pk] == Status.CANCELLED
    assert statuses[already_sent.pk] == Status.SENT
    assert statuses[other_subject.pk] == Status.SCHEDULED
    cancel = AuditEvent.objects.get(action="cancel", object_id=str(pending.pk))
    assert cancel.actor == staff["front_desk"]
    assert reminder_cancel_for_subject(subject_type="therapy.session", subject_id="s-1") == 0


def test_cancelling_inside_a_transaction_that_rolls_back_cancels_nothing(reachable_patient):
    reminder = schedule(reachable_patient, subject=("scheduling.appointment", 7))

    def cancellation_that_fails():
        with transaction.atomic():
            reminder_cancel_for_subject(subject_type="scheduling.appointment", subject_id=7)
            raise RuntimeError("the appointment's cancellation failed")

    with pytest.raises(RuntimeError):
        cancellation_that_fails()
    reminder.refresh_from_db()
    assert reminder.status == Status.SCHEDULED


def test_retry_gives_a_failed_reminder_fresh_attempts(reachable_patient, staff, django_capture_on_commit_callbacks):
    reminder = ReminderFactory(
        patient=reachable_patient,
        status=Status.FAILED,
        attempts=5,
        last_error="http_503",
        send_at=NOW - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        reminder_retry(actor=staff["nurse"], reminder=reminder)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts, reminder.last_error) == (Status.SCHEDULED, 0, "")
    assert reminder.deliver_after == NOW
    assert len(callbacks) == 1  # enqueued at once, after commit
    event = AuditEvent.objects.get(action="retry", object_id=str(reminder.pk))
    assert (event.actor, event.detail) == (staff["nurse"], {"previous_error": "http_503"})


def test_retry_waits_for_the_end_of_quiet_hours(reachable_patient, staff):
    reachable_patient.quiet_hours_start, reachable_patient.quiet_hours_end = time(11, 0), time(13, 0)
    reachable_patient.save()
    reminder = ReminderFactory(patient=reachable_patient, status=Status.FAILED, attempts=5, last_error="x")
    reminder_retry(actor=staff["nurse"], reminder=reminder)
    reminder.refresh_from_db()
    assert reminder.deliver_after == datetime(2026, 5, 11, 17, 0, tzinfo=UTC)  # 13:00 EDT
    assert reminder.claimed_until is None


@pytest.mark.parametrize("status", [Status.SCHEDULED, Status.SENT, Status.CANCELLED])
def test_only_a_failed_reminder_can_be_retried(reachable_patient, staff, status):
    reminder = ReminderFactory(patient=reachable_patient, status=status, sent_at=NOW if status == Status.SENT else None)
    with pytest.raises(Conflict):
        reminder_retry(actor=staff["nurse"], reminder=reminder)
    assert not AuditEvent.objects.filter(action="retry").exists()
