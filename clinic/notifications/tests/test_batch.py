"""The batch send path: one task sends a chunk of claimed reminders with a constant number of queries."""

import os
from datetime import UTC, datetime, time, timedelta
from unittest import mock

import pytest

from clinic.audit.models import AuditEvent
from clinic.notifications import delivery, recipients
from clinic.notifications.backends import DeliveryError, DeliveryResult, FileBackend, Message, NotificationBackend
from clinic.notifications.conf import notification_settings
from clinic.notifications.models import Reminder
from clinic.notifications.recipients import resolve_recipient, resolve_recipients
from clinic.notifications.tasks import (
    SEND_BUDGET_SECONDS,
    SEND_SOFT_TIME_LIMIT,
    reminder_send,
    reminders_dispatch_due,
    reminders_send,
)
from clinic.notifications.tests.conftest import NOW, configure
from clinic.notifications.tests.factories import ReminderFactory
from patients.tests.factories import CommunicationConsentFactory, PatientFactory

Status = Reminder.Status

pytestmark = pytest.mark.usefixtures("notifications_settings", "eager_tasks")


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    """Run the dispatcher as beat would; its chunks are sent in-process once its claims commit."""

    def run() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return reminders_dispatch_due.apply().get()

    return run


def claims_of(reminders) -> list[list]:
    """What the dispatcher puts in a send task: [[reminder id, attempts claimed at], ...]."""
    return [[str(reminder.pk), reminder.attempts] for reminder in reminders]


def send_chunk(reminders, **options) -> dict[str, str]:
    return reminders_send.apply(args=[claims_of(reminders)], **options).get()


class RefusesOneBackend(FileBackend):
    """The file backend, except that the gateway refuses the reminders listed in `refused`."""

    refused: set[str] = set()

    def send(self, message):
        if message.reminder_id in self.refused:
            raise DeliveryError("http_503")
        return super().send(message)


def test_a_chunk_suppresses_defers_sends_and_fails_each_reminder_as_it_requires(
    clock, settings, facility, reachable_patient, outbox, failure_handler
):
    configure(settings, CHANNEL_BACKENDS={"sms": f"{__name__}.{RefusesOneBackend.__name__}"})
    sleeping = PatientFactory(facility=facility, phone="+16175550199", timezone="Asia/Tokyo")  # 01:00 there
    sleeping.quiet_hours_start, sleeping.quiet_hours_end = time(22, 0), time(7, 0)
    sleeping.save()
    CommunicationConsentFactory(patient=sleeping, channel="sms")
    sent = ReminderFactory.create_batch(3, patient=reachable_patient)
    no_consent = ReminderFactory(patient=reachable_patient, channel="push")
    expired = ReminderFactory(patient=reachable_patient, context={"at": (NOW - timedelta(minutes=1)).isoformat()})
    deferred = ReminderFactory(patient=sleeping)
    refused = ReminderFactory(patient=reachable_patient)
    RefusesOneBackend.refused = {str(refused.pk)}

    outcomes = send_chunk([*sent, no_consent, expired, deferred, refused], task_id="chunk-1")

    assert outcomes == {
        **{str(reminder.pk): "sent" for reminder in sent},
        str(no_consent.pk): "suppressed",
        str(expired.pk): "suppressed",
        str(deferred.pk): "deferred",
        str(refused.pk): "retry",
    }
    rows = {row.pk: row for row in Reminder.objects.all()}
    assert {(rows[r.pk].status, rows[r.pk].attempts, rows[r.pk].sent_at) for r in sent} == {(Status.SENT, 1, NOW)}
    assert (rows[no_consent.pk].status, rows[no_consent.pk].suppressed_reason) == (Status.SUPPRESSED, "no_consent")
    assert (rows[expired.pk].status, rows[expired.pk].suppressed_reason) == (Status.SUPPRESSED, "expired")
    tokyo_seven = datetime(2026, 5, 11, 22, 0, tzinfo=UTC)
    assert (rows[deferred.pk].status, rows[deferred.pk].deliver_after, rows[deferred.pk].attempts) == (
        Status.SCHEDULED,
        tokyo_seven,
        0,
    )
    assert (rows[refused.pk].status, rows[refused.pk].attempts, rows[refused.pk].last_error) == (
        Status.SCHEDULED,
        1,
        "http_503",
    )
    assert rows[refused.pk].deliver_after == NOW + timedelta(seconds=30)
    assert {row.claimed_until for row in rows.values()} == {None}
    assert sorted(outbox.reminder_ids()) == sorted(str(reminder.pk) for reminder in sent)
    assert failure_handler == []

    events = AuditEvent.objects.filter(model="notifications.reminder")
    assert sorted(events.filter(action="deliver").values_list("object_id", flat=True)) == sorted(
        str(reminder.pk) for reminder in sent
    )
    assert {event.detail["reason"] for event in events.filter(action="suppress")} == {"no_consent", "expired"}
    deliver = events.filter(action="deliver").first()
    assert (deliver.source, deliver.request_id, deliver.patient_id, deliver.facility_id) == (
        "task",
        "chunk-1",
        reachable_patient.pk,
        facility.pk,
    )
    assert deliver.detail == {"channel": "sms", "attempt": 1, "already_delivered": False}


def test_a_final_failure_in_a_chunk_fails_that_reminder_alone_and_alerts_staff(
    clock, settings, reachable_patient, outbox, failure_handler, django_capture_on_commit_callbacks
):
    configure(settings, CHANNEL_BACKENDS={"sms": f"{__name__}.{RefusesOneBackend.__name__}"})
    healthy = ReminderFactory.create_batch(2, patient=reachable_patient)
    last_try = ReminderFactory(patient=reachable_patient, attempts=4)
    RefusesOneBackend.refused = {str(last_try.pk)}

    with django_capture_on_commit_callbacks(execute=True):
        outcomes = send_chunk([*healthy, last_try])

    assert outcomes == {**{str(reminder.pk): "sent" for reminder in healthy}, str(last_try.pk): "failed"}
    last_try.refresh_from_db()
    assert (last_try.status, last_try.attempts, last_try.last_error) == (Status.FAILED, 5, "http_503")
    assert failure_handler == [last_try]
    assert AuditEvent.objects.get(action="fail", object_id=str(last_try.pk)).detail == {
        "error": "http_503",
        "attempts": 5,
    }


def test_a_reminder_whose_checks_crash_fails_its_attempt_and_the_rest_of_its_chunk_is_sent(
    clock, reachable_patient, outbox
):
    healthy = ReminderFactory.create_batch(2, patient=reachable_patient)
    broken = ReminderFactory(patient=reachable_patient, context={"at": "not a date"})

    outcomes = send_chunk([*healthy, broken])

    assert outcomes == {**{str(reminder.pk): "sent" for reminder in healthy}, str(broken.pk): "retry"}
    broken.refresh_from_db()
    assert (broken.status, broken.attempts, broken.last_error) == (Status.SCHEDULED, 1, "error_TypeError")
    assert sorted(outbox.reminder_ids()) == sorted(str(reminder.pk) for reminder in healthy)


def test_two_copies_of_a_chunk_send_each_reminder_once(clock, reachable_patient, outbox):
    reminders = ReminderFactory.create_batch(5, patient=reachable_patient)

    first, second = send_chunk(reminders), send_chunk(reminders)

    assert set(first.values()) == {"sent"}
    assert set(second.values()) == {"stale"}
    assert sorted(outbox.reminder_ids()) == sorted(str(reminder.pk) for reminder in reminders)
    assert AuditEvent.objects.filter(action="deliver").count() == 5


def test_a_copy_that_runs_while_the_first_is_sending_sends_nothing(clock, settings, reachable_patient, outbox):
    """The copy finds every attempt already started by the first one, which then records them all as sent."""
    reminders = ReminderFactory.create_batch(4, patient=reachable_patient)
    copy_outcomes = []

    class RunsACopyFirst(FileBackend):
        def send_many(self, messages, *, deadline=None):
            if not copy_outcomes:
                copy_outcomes.append(send_chunk(reminders))
            return super().send_many(messages, deadline=deadline)

    with mock.patch("clinic.notifications.delivery.backend_for", lambda channel, config: RunsACopyFirst(config)):
        outcomes = send_chunk(reminders)

    assert copy_outcomes == [dict.fromkeys((str(reminder.pk) for reminder in reminders), "stale")]
    assert set(outcomes.values()) == {"sent"}
    assert sorted(outbox.reminder_ids()) == sorted(str(reminder.pk) for reminder in reminders)
    assert set(Reminder.objects.values_list("status", "attempts")) == {(Status.SENT, 1)}


def test_a_crash_after_a_chunk_was_delivered_does_not_deliver_it_twice(clock, reachable_patient, outbox, dispatch):
    reminders = ReminderFactory.create_batch(3, patient=reachable_patient)
    with (
        mock.patch.object(delivery, "_record_sent", side_effect=RuntimeError("the worker died here")),
        pytest.raises(RuntimeError),
    ):
        delivery.reminders_deliver(claims_of(reminders))
    assert len(outbox.lines()) == 3
    assert set(Reminder.objects.values_list("status", "attempts")) == {(Status.SCHEDULED, 1)}

    assert dispatch() == 0  # their send lease still runs
    clock.shift(timedelta(seconds=121))
    assert dispatch() == 3

    assert sorted(outbox.reminder_ids()) == sorted(str(reminder.pk) for reminder in reminders)
    assert set(Reminder.objects.values_list("status", "attempts")) == {(Status.SENT, 2)}
    assert {event.detail["already_delivered"] for event in AuditEvent.objects.filter(action="deliver")} == {True}


class Recorder(NotificationBackend):
    """Sends one message at a time (the default send_many) and remembers what it sent."""

    sent: list[str] = []

    def send(self, message):
        self.sent.append(message.reminder_id)
        return DeliveryResult()


def test_a_chunk_out_of_time_hands_back_what_it_did_not_try(clock, settings, reachable_patient, dispatch):
    configure(settings, CHANNEL_BACKENDS={"sms": f"{__name__}.{Recorder.__name__}"})
    Recorder.sent = []
    reminders = ReminderFactory.create_batch(3, patient=reachable_patient)

    outcomes = delivery.reminders_deliver(claims_of(reminders), budget_seconds=0)

    assert set(outcomes.values()) == {"handed_back"}
    assert Recorder.sent == []
    assert set(Reminder.objects.values_list("status", "attempts", "claimed_until")) == {(Status.SCHEDULED, 0, None)}
    assert dispatch() == 3  # taken again at once, not after the send lease
    assert sorted(Recorder.sent) == sorted(str(reminder.pk) for reminder in reminders)


def test_the_dispatcher_publishes_chunks_of_the_configured_size(clock, settings, reachable_patient, dispatch):
    configure(settings, SEND_CHUNK_SIZE=4)
    reminders = ReminderFactory.create_batch(10, patient=reachable_patient)
    with mock.patch.object(reminders_send, "apply_async") as publish:
        assert dispatch() == 10
    chunks = [call.kwargs["args"][0] for call in publish.call_args_list]
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    assert sorted(reminder_id for chunk in chunks for reminder_id, _ in chunk) == sorted(
        str(reminder.pk) for reminder in reminders
    )
    assert not any({"eta", "countdown"} & set(call.kwargs) for call in publish.call_args_list)


def make_chunk(facility, staff, size: int) -> list[Reminder]:
    """`size` reminders: most to patients (each their own, with consents), a few to staff, a few suppressed
    and a few deferred by quiet hours."""
    reminders = []
    nurse = staff["nurse"]
    for number in range(size):
        if number % 5 == 0:
            reminders.append(
                ReminderFactory(patient=None, staff=nurse, facility=facility, kind="generic", channel="email")
            )
            continue
        patient = PatientFactory(facility=facility, phone=f"+1617555{number:04d}")
        if number % 5 == 1:
            patient.quiet_hours_start, patient.quiet_hours_end = time(11, 0), time(13, 0)
            patient.save()
        if number % 5 != 2:  # no opt-in: suppressed
            CommunicationConsentFactory(patient=patient, channel="sms")
        reminders.append(ReminderFactory(patient=patient))
    return reminders


# Load (1), consents (1), suppress (savepoint, update, audit subjects, insert, release), defer (1), begin (1),
# record sent (savepoint, update, audit subjects, insert, release).
CHUNK_QUERIES = 14


@pytest.mark.parametrize("size", [1, 10, 50])
def test_a_chunk_takes_the_same_number_of_queries_whatever_its_size(
    clock, facility, staff, outbox, size, django_assert_max_num_queries
):
    staff["nurse"].email = "nurse@clinic.example"
    staff["nurse"].save()
    reminders = make_chunk(facility, staff, size)
    claims = claims_of(reminders)

    with django_assert_max_num_queries(CHUNK_QUERIES):
        outcomes = delivery.reminders_deliver(claims)

    assert len(outcomes) == size
    assert outcomes[str(reminders[0].pk)] == "sent"
    assert "stale" not in outcomes.values()
    assert len(outbox.lines()) == list(outcomes.values()).count("sent")


@pytest.mark.parametrize("size", [1, 10, 50])
def test_a_chunk_of_failures_takes_the_same_number_of_queries_whatever_its_size(
    clock, settings, reachable_patient, size, django_assert_max_num_queries, failure_handler
):
    configure(settings, CHANNEL_BACKENDS={"sms": f"{__name__}.{RefusesOneBackend.__name__}"})
    reminders = [ReminderFactory(patient=reachable_patient, attempts=number % 5) for number in range(size)]
    RefusesOneBackend.refused = {str(reminder.pk) for reminder in reminders}

    # Load, consents, begin, then retries (savepoint, update) and final failures (update, audit subjects,
    # insert, release): the failure handlers run after commit.
    with django_assert_max_num_queries(9):
        outcomes = delivery.reminders_deliver(claims_of(reminders))

    assert set(outcomes.values()) == ({"retry", "failed"} if size > 1 else {"retry"})
    assert Reminder.objects.filter(status=Status.FAILED).count() == list(outcomes.values()).count("failed")


def test_the_one_reminder_task_is_a_chunk_of_one(clock, reachable_patient, outbox):
    reminder = ReminderFactory(patient=reachable_patient)
    assert reminder_send.apply(args=[str(reminder.pk), 0]).get() == "sent"
    assert reminder_send.apply(args=[str(reminder.pk), 0]).get() == "stale"
    assert outbox.reminder_ids() == [str(reminder.pk)]


def test_the_chunk_task_fits_its_time_limits_and_the_send_lease(settings):
    config = notification_settings()
    assert reminders_send.time_limit < settings.NOTIFICATIONS["SEND_LEASE_SECONDS"]
    # the slowest message started at the end of the budget still ends before the soft time limit
    assert SEND_BUDGET_SECONDS + config.http_timeout < SEND_SOFT_TIME_LIMIT


# Recipients in bulk


def test_resolving_many_recipients_gives_what_resolving_each_gives_with_one_query_for_consents(
    clock, facility, staff, reachable_patient, django_assert_num_queries
):
    changed_mind = PatientFactory(facility=facility, email="cm@example.org")
    CommunicationConsentFactory(patient=changed_mind, channel="email", occurred_at=NOW - timedelta(days=2))
    CommunicationConsentFactory(
        patient=changed_mind, channel="email", action="opt_out", occurred_at=NOW - timedelta(days=1)
    )
    CommunicationConsentFactory(patient=changed_mind, channel="sms", occurred_at=NOW - timedelta(days=1))
    silent = PatientFactory(facility=facility)
    stored = [
        ReminderFactory(patient=reachable_patient),
        ReminderFactory(patient=reachable_patient),
        ReminderFactory(patient=changed_mind),
        ReminderFactory(patient=silent),
        ReminderFactory(patient=None, staff=staff["nurse"], facility=facility, kind="generic", channel="email"),
    ]
    reminders = list(
        Reminder.objects.select_related("facility", "patient", "staff").filter(pk__in=[r.pk for r in stored])
    )

    with django_assert_num_queries(1):
        resolved = resolve_recipients(reminders)

    for reminder in reminders:
        one = resolve_recipient(facility=reminder.facility, patient=reminder.patient, staff=reminder.staff)
        assert resolved[reminder.pk] == one
    by_patient = {reminder.patient_id: resolved[reminder.pk] for reminder in reminders}
    assert by_patient[changed_mind.pk].consented_channels == {"sms"}
    assert by_patient[silent.pk].consented_channels == frozenset()


def test_without_a_bulk_resolver_each_patient_is_resolved_alone(reachable_patient, monkeypatch):
    monkeypatch.setattr(recipients, "_patient_bulk_resolver", None)
    reminder = ReminderFactory(patient=reachable_patient)
    assert resolve_recipients([reminder]) == {reminder.pk: resolve_recipient(facility=None, patient=reachable_patient)}


# The file backend's send_many


def message(key: str) -> Message:
    return Message(f"r-{key}", key, "sms", "+16175550123", "Reminder", "Hello.")


def test_send_many_writes_every_new_key_once_in_a_single_write(outbox):
    FileBackend(notification_settings()).send(message("a"))
    backend = FileBackend(notification_settings())
    with mock.patch("clinic.notifications.backends.os.write", wraps=os.write) as write:
        results = backend.send_many([message("a"), message("b"), message("c"), message("b")])
    assert write.call_count == 1
    assert [result.duplicate for result in results] == [True, False, False, True]
    assert outbox.reminder_ids() == ["r-a", "r-b", "r-c"]

    again = FileBackend(notification_settings()).send_many([message("c"), message("d")])
    assert [result.duplicate for result in again] == [True, False]
    assert FileBackend(notification_settings()).send(message("d")).duplicate is True
    assert outbox.reminder_ids() == ["r-a", "r-b", "r-c", "r-d"]


def test_send_many_of_nothing_writes_nothing(outbox):
    assert FileBackend(notification_settings()).send_many([]) == []
    assert outbox.lines() == []


def test_send_many_reports_a_failed_write_for_each_message(outbox):
    with mock.patch("clinic.notifications.backends.os.write", side_effect=OSError(28, "No space left")):
        results = FileBackend(notification_settings()).send_many([message("a"), message("b")])
    assert [type(result) for result in results] == [OSError, OSError]
    assert outbox.lines() == []
    assert [r.duplicate for r in FileBackend(notification_settings()).send_many([message("a")])] == [False]


def test_the_default_send_many_hands_back_each_outcome_and_stops_at_the_deadline():
    class Flaky(NotificationBackend):
        def send(self, message):
            if message.idempotency_key == "refused":
                raise DeliveryError("http_400", permanent=True)
            if message.idempotency_key == "crash":
                raise KeyError("bug")
            return DeliveryResult(provider_id=message.idempotency_key)

    backend = Flaky(notification_settings())
    ok, refused, crash = backend.send_many([message("ok"), message("refused"), message("crash")])
    assert ok == DeliveryResult(provider_id="ok")
    assert (type(refused), refused.code, type(crash)) == (DeliveryError, "http_400", KeyError)
    assert backend.send_many([message("ok")], deadline=0) == [None]
