from datetime import UTC, date, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from clinic.audit.models import AuditEvent
from clinic.notifications import delivery
from clinic.notifications.backends import DeliveryError, FileBackend, Message, NotificationBackend
from clinic.notifications.conf import notification_settings
from clinic.notifications.localtime import local_to_utc
from clinic.notifications.models import Reminder
from clinic.notifications.services import reminder_cancel_for_subject, reminder_schedule
from clinic.notifications.tasks import reminder_send, reminders_send
from clinic.notifications.tests.conftest import NOW, configure
from clinic.notifications.tests.factories import ReminderFactory
from patients.tests.factories import CommunicationConsentFactory

Status = Reminder.Status

pytestmark = pytest.mark.usefixtures("notifications_settings", "eager_tasks")


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    """Run the dispatcher as beat would; its sends run in-process once its claims commit."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return delivery.reminders_claim_due()

    return run


@pytest.fixture
def schedule(django_capture_on_commit_callbacks):
    """reminder_schedule in a transaction that commits (a reminder due at once is enqueued on commit)."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return reminder_schedule(**kwargs)

    return run


@pytest.fixture
def appointment(schedule):
    def make(patient, send_at, **kwargs):
        kwargs.setdefault("context", {"at": send_at + timedelta(days=1), "provider": "R. Lee"})
        return schedule(facility=patient.facility, kind="appointment", send_at=send_at, patient=patient, **kwargs)

    return make


class AlwaysFailingBackend(NotificationBackend):
    def send(self, message):
        raise DeliveryError("http_503")


class PermanentlyRefusingBackend(NotificationBackend):
    def send(self, message):
        raise DeliveryError("http_400", permanent=True)


class PoisonBackend(FileBackend):
    """Delivers everything except the poisoned reminder, whose every attempt crashes."""

    poisoned: set[str] = set()

    def send(self, message):
        if message.reminder_id in self.poisoned:
            raise KeyError("a bug that only this reminder's data triggers")
        return super().send(message)


def use_backend(settings, backend: type) -> None:
    configure(settings, CHANNEL_BACKENDS={"sms": f"{__name__}.{backend.__name__}"})


def test_a_due_reminder_is_delivered_once_and_recorded(clock, reachable_patient, dispatch, outbox, appointment):
    reminder = appointment(reachable_patient, NOW + timedelta(minutes=5))
    assert dispatch() == 0

    clock.move_to(NOW + timedelta(minutes=5))
    assert dispatch() == 1
    assert dispatch() == 0

    [line] = outbox.lines()
    assert line["reminder_id"] == str(reminder.pk)
    assert line["idempotency_key"] == reminder.idempotency_key
    assert (line["channel"], line["to"]) == ("sms", "+16175550123")
    assert line["text"] == "You have an appointment tomorrow at 12:05 with R. Lee."
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts, reminder.sent_at) == (Status.SENT, 1, NOW + timedelta(minutes=5))
    assert reminder.claimed_until is None
    event = AuditEvent.objects.get(action="deliver", object_id=str(reminder.pk))
    assert (event.actor, event.source, event.patient_id) == (None, "task", reachable_patient.pk)


def test_a_staff_reminder_goes_to_their_work_email(clock, staff, facility, schedule, outbox):
    nurse = staff["nurse"]
    nurse.email = "nurse@clinic.example"
    nurse.save()
    reminder = schedule(
        facility=facility,
        kind="observation_round_due",
        send_at=NOW,
        staff=nurse,
        context={"at": NOW + timedelta(hours=4)},
    )
    [line] = outbox.lines()
    assert (line["reminder_id"], line["to"], line["channel"]) == (str(reminder.pk), "nurse@clinic.example", "email")
    assert line["text"] == "An observation round is due today at 16:00. Details are in the app."


def test_no_opt_in_means_no_message(clock, reachable_patient, dispatch, outbox, appointment):
    reminder = appointment(reachable_patient, NOW, channel="push")  # consented to sms and email only
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.suppressed_reason, reminder.attempts) == (Status.SUPPRESSED, "no_consent", 0)
    assert outbox.lines() == []
    assert AuditEvent.objects.get(action="suppress", object_id=str(reminder.pk)).detail == {"reason": "no_consent"}


def test_consent_revoked_after_scheduling_is_honoured_at_dispatch(
    clock, reachable_patient, dispatch, outbox, appointment
):
    reminder = appointment(reachable_patient, NOW + timedelta(hours=1))
    clock.move_to(NOW + timedelta(minutes=30))
    CommunicationConsentFactory(patient=reachable_patient, channel="sms", action="opt_out")
    clock.move_to(NOW + timedelta(hours=1))
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.suppressed_reason) == (Status.SUPPRESSED, "no_consent")
    assert outbox.lines() == []


def test_no_address_on_the_channel(clock, reachable_patient, dispatch, outbox, appointment):
    reachable_patient.phone = ""
    reachable_patient.save()
    reminder = appointment(reachable_patient, NOW)
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.suppressed_reason) == (Status.SUPPRESSED, "no_address")


def test_nothing_goes_to_a_deceased_patient(clock, reachable_patient, dispatch, outbox, appointment):
    reminder = appointment(reachable_patient, NOW + timedelta(hours=1))
    reachable_patient.status = "deceased"
    reachable_patient.save()
    clock.move_to(NOW + timedelta(hours=1))
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.suppressed_reason) == (Status.SUPPRESSED, "recipient_inactive")
    assert outbox.lines() == []


def test_an_appointment_reminder_that_comes_too_late_is_not_sent(clock, reachable_patient, dispatch, outbox):
    """Workers were down past the appointment itself: "You have an appointment today at 12:30" would mislead."""
    late = ReminderFactory(patient=reachable_patient, context={"at": (NOW - timedelta(minutes=1)).isoformat()})
    on_time = ReminderFactory(patient=reachable_patient, context={"at": (NOW + timedelta(minutes=30)).isoformat()})
    dispatch()
    late.refresh_from_db()
    assert (late.status, late.suppressed_reason) == (Status.SUPPRESSED, "expired")
    assert outbox.reminder_ids() == [str(on_time.pk)]


def test_an_overdue_staff_task_is_still_sent(clock, staff, facility, dispatch, outbox):
    ReminderFactory(
        patient=None,
        staff=staff["counselor"],
        facility=facility,
        kind="plan_review_due",
        channel="email",
        context={"at": (NOW - timedelta(days=2)).isoformat()},
    )
    staff["counselor"].email = "counselor@clinic.example"
    staff["counselor"].save()
    dispatch()
    [line] = outbox.lines()
    assert line["text"] == "A plan review is due on 9 May. Details are in the app."


def test_quiet_hours_set_after_scheduling_hold_the_message_until_they_end(
    clock, reachable_patient, dispatch, outbox, appointment
):
    reminder = appointment(reachable_patient, NOW + timedelta(hours=10))  # 22:00 in New York
    reachable_patient.quiet_hours_start, reachable_patient.quiet_hours_end = time(21, 30), time(7, 30)
    reachable_patient.save()

    clock.move_to(NOW + timedelta(hours=10))
    dispatch()
    reminder.refresh_from_db()
    morning = datetime(2026, 5, 12, 11, 30, tzinfo=UTC)  # 07:30 EDT
    assert (reminder.status, reminder.deliver_after, reminder.attempts) == (Status.SCHEDULED, morning, 0)
    assert outbox.lines() == []

    clock.move_to(morning - timedelta(seconds=1))
    assert dispatch() == 0
    clock.move_to(morning)
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.sent_at) == (Status.SENT, morning)


def test_nine_oclock_reminders_on_both_sides_of_the_spring_dst_change(
    clock, reachable_patient, dispatch, outbox, appointment
):
    reachable_patient.quiet_hours_start, reachable_patient.quiet_hours_end = time(21, 0), time(8, 0)
    reachable_patient.save()
    clock.move_to(datetime(2026, 3, 6, 12, 0, tzinfo=UTC))
    zone = "America/New_York"
    nine = {day: local_to_utc(date(2026, 3, day), time(9, 0), zone) for day in (7, 8, 9, 10)}
    # Saturday 09:00 EST about Sunday 09:00 EDT; Monday 09:00 EDT about Tuesday 09:00 EDT
    before = appointment(reachable_patient, nine[7], context={"at": nine[8], "provider": "R. Lee"})
    after = appointment(reachable_patient, nine[9], context={"at": nine[10], "provider": "R. Lee"})
    # asked for 03:00 on the night the clocks go forward: held until 08:00 daylight time
    night = appointment(reachable_patient, local_to_utc(date(2026, 3, 8), time(3, 0), zone))
    assert (before.send_at, after.send_at) == (
        datetime(2026, 3, 7, 14, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 13, 0, tzinfo=UTC),
    )
    assert night.deliver_after == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)

    for reminder, sends_at in ((before, before.send_at), (night, night.deliver_after), (after, after.send_at)):
        clock.move_to(sends_at - timedelta(seconds=1))
        dispatch()
        reminder.refresh_from_db()
        assert reminder.status == Status.SCHEDULED
        clock.move_to(sends_at)
        dispatch()
        reminder.refresh_from_db()
        assert (reminder.status, reminder.sent_at) == (Status.SENT, sends_at)
    texts = {line["reminder_id"]: line["text"] for line in outbox.lines()}
    assert texts[str(before.pk)] == "You have an appointment tomorrow at 09:00 with R. Lee."
    assert texts[str(after.pk)] == "You have an appointment tomorrow at 09:00 with R. Lee."


def test_fall_back_nine_oclock_reminders(clock, reachable_patient, dispatch, outbox, appointment):
    clock.move_to(datetime(2026, 10, 30, 12, 0, tzinfo=UTC))
    zone = "America/New_York"
    saturday = appointment(reachable_patient, local_to_utc(date(2026, 10, 31), time(9, 0), zone))  # EDT
    monday = appointment(reachable_patient, local_to_utc(date(2026, 11, 2), time(9, 0), zone))  # EST
    assert (saturday.send_at.hour, monday.send_at.hour) == (13, 14)
    for reminder in (saturday, monday):
        clock.move_to(reminder.send_at)
        dispatch()
        reminder.refresh_from_db()
        assert reminder.status == Status.SENT
        assert reminder.sent_at.astimezone(ZoneInfo(zone)).hour == 9


def test_failures_back_off_then_fail_and_alert_staff(
    clock, settings, reachable_patient, dispatch, failure_handler, appointment
):
    use_backend(settings, AlwaysFailingBackend)
    moment = NOW + timedelta(minutes=1)
    reminder = appointment(reachable_patient, moment)
    clock.move_to(moment)
    waits = []
    for attempt in range(1, 6):
        assert dispatch() == 1
        reminder.refresh_from_db()
        assert (reminder.attempts, reminder.last_error) == (attempt, "http_503")
        if attempt < 5:
            assert reminder.status == Status.SCHEDULED
            waits.append((reminder.deliver_after - moment).total_seconds())
            assert dispatch() == 0  # not before its backoff
            moment = reminder.deliver_after
            clock.move_to(moment)
    assert waits == [30, 60, 120, 240]
    assert reminder.status == Status.FAILED
    assert [r.pk for r in failure_handler] == [reminder.pk]
    assert AuditEvent.objects.get(action="fail", object_id=str(reminder.pk)).detail == {
        "error": "http_503",
        "attempts": 5,
    }
    clock.move_to(moment + timedelta(days=1))
    assert dispatch() == 0


def test_a_permanent_error_fails_at_once(clock, settings, reachable_patient, dispatch, failure_handler, appointment):
    use_backend(settings, PermanentlyRefusingBackend)
    reminder = appointment(reachable_patient, NOW)
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts, reminder.last_error) == (Status.FAILED, 1, "http_400")
    assert len(failure_handler) == 1


def test_a_broken_failure_handler_does_not_hide_the_failure_from_others(
    clock, settings, reachable_patient, dispatch, failure_handler, appointment
):
    from clinic.notifications.services import register_delivery_failure_handler, unregister_delivery_failure_handler

    def broken(reminder):
        raise RuntimeError("alert service down")

    register_delivery_failure_handler(broken)
    try:
        use_backend(settings, PermanentlyRefusingBackend)
        appointment(reachable_patient, NOW)
        dispatch()
    finally:
        unregister_delivery_failure_handler(broken)
    assert len(failure_handler) == 1


def test_a_poison_message_stops_after_its_attempts_and_does_not_delay_the_others(
    clock, settings, reachable_patient, dispatch, outbox, failure_handler, appointment
):
    use_backend(settings, PoisonBackend)
    due = NOW + timedelta(minutes=1)
    reminders = [appointment(reachable_patient, due) for _ in range(20)]
    poison = reminders[7]
    PoisonBackend.poisoned = {str(poison.pk)}

    clock.move_to(due)
    assert dispatch() == 20
    healthy = Reminder.objects.exclude(pk=poison.pk)
    assert set(healthy.values_list("status", "sent_at", "attempts")) == {(Status.SENT, due, 1)}
    for _ in range(10):
        clock.shift(timedelta(minutes=5))
        dispatch()
    poison.refresh_from_db()
    assert (poison.status, poison.attempts, poison.last_error) == (Status.FAILED, 5, "error_KeyError")
    assert sorted(outbox.reminder_ids()) == sorted(str(r.pk) for r in reminders if r.pk != poison.pk)
    assert failure_handler == [poison]


def test_a_worker_lost_during_the_last_attempt_ends_failed(clock, reachable_patient, dispatch, failure_handler, outbox):
    reminder = ReminderFactory(patient=reachable_patient, attempts=5, claimed_until=NOW - timedelta(seconds=1))
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.last_error) == (Status.FAILED, "worker_lost")
    assert failure_handler == [reminder]
    assert outbox.lines() == []


def test_a_crash_between_delivery_and_recording_does_not_deliver_twice(clock, reachable_patient, dispatch, outbox):
    reminder = ReminderFactory(patient=reachable_patient)
    # The first attempt started and delivered, then the worker died before recording it.
    Reminder.objects.filter(pk=reminder.pk).update(attempts=1, claimed_until=NOW + timedelta(seconds=120))
    FileBackend(notification_settings()).send(
        Message(str(reminder.pk), reminder.idempotency_key, "sms", "+16175550123", "s", "t")
    )
    assert dispatch() == 0  # its send lease still runs
    clock.shift(timedelta(seconds=121))
    assert dispatch() == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == (Status.SENT, 2)
    assert outbox.reminder_ids() == [str(reminder.pk)]
    assert AuditEvent.objects.get(action="deliver", object_id=str(reminder.pk)).detail["already_delivered"] is True


def test_any_number_of_copies_of_a_send_task_deliver_once(clock, reachable_patient, outbox):
    reminder = ReminderFactory(patient=reachable_patient)
    outcomes = [reminder_send.apply(args=[str(reminder.pk), 0]).get() for _ in range(3)]
    assert outcomes == ["sent", "stale", "stale"]
    assert outbox.reminder_ids() == [str(reminder.pk)]


def test_a_stale_copy_does_not_skip_the_backoff(clock, settings, reachable_patient, outbox):
    use_backend(settings, AlwaysFailingBackend)
    reminder = ReminderFactory(patient=reachable_patient)
    assert reminder_send.apply(args=[str(reminder.pk), 0]).get() == "retry"
    configure(settings, CHANNEL_BACKENDS={})
    assert reminder_send.apply(args=[str(reminder.pk), 1]).get() == "stale"  # due again only in 30 s
    clock.shift(timedelta(seconds=30))
    assert reminder_send.apply(args=[str(reminder.pk), 1]).get() == "sent"


def test_a_cancelled_reminder_is_not_sent(clock, reachable_patient, dispatch, outbox, appointment):
    appointment(reachable_patient, NOW + timedelta(hours=1), subject=("scheduling.appointment", "a-1"))
    reminder_cancel_for_subject(subject_type="scheduling.appointment", subject_id="a-1")
    clock.shift(timedelta(hours=1))
    assert dispatch() == 0
    assert outbox.lines() == []


def test_a_reminder_cancelled_while_its_message_is_on_the_way_is_recorded_as_sent(
    clock, settings, reachable_patient, dispatch, outbox, appointment
):
    reminder = appointment(reachable_patient, NOW + timedelta(minutes=1), subject=("scheduling.appointment", "a-2"))
    clock.shift(timedelta(minutes=1))

    class CancelsMidway(FileBackend):
        def send(self, message):
            result = super().send(message)
            reminder_cancel_for_subject(subject_type="scheduling.appointment", subject_id="a-2")
            return result

    with mock.patch("clinic.notifications.delivery.backend_for", lambda channel, config: CancelsMidway(config)):
        dispatch()
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    assert outbox.reminder_ids() == [str(reminder.pk)]


def test_a_text_that_would_reveal_treatment_is_never_sent(clock, reachable_patient, dispatch, outbox, failure_handler):
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    reminder = ReminderFactory(patient=reachable_patient, context={"at": tomorrow, "provider": "R. Detox"})
    dispatch()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.last_error) == (Status.FAILED, "indiscreet_text")
    assert outbox.lines() == []


def test_the_broker_only_ever_holds_what_is_due_now(clock, reachable_patient, dispatch, appointment):
    """No ETA or countdown: future reminders stay in the database until the dispatcher finds them due."""
    appointment(reachable_patient, NOW + timedelta(days=2))
    later = appointment(reachable_patient, NOW + timedelta(hours=1))
    with mock.patch.object(reminders_send, "apply_async") as publish:
        assert dispatch() == 0
        publish.assert_not_called()
        clock.shift(timedelta(hours=1))
        assert dispatch() == 1
    publish.assert_called_once()
    args, kwargs = publish.call_args
    assert kwargs["args"] == [[[str(later.pk), 0]]]  # one chunk, of the one reminder due
    assert not {"eta", "countdown"} & set(kwargs)


def test_the_dispatcher_claims_in_batches(clock, settings, reachable_patient, dispatch, outbox):
    configure(settings, BATCH_SIZE=7)
    ReminderFactory.create_batch(30, patient=reachable_patient)
    assert dispatch() == 30
    assert len(outbox.lines()) == 30
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
