from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from clinic.audit.models import AuditEvent
from clinic.celery import app
from clinic.notifications.models import Reminder
from clinic.notifications.tasks import reminder_send, reminders_dispatch_due
from clinic.notifications.tests.factories import ReminderFactory

pytestmark = pytest.mark.usefixtures("notifications_settings")


def test_beat_runs_the_dispatcher_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["reminders-dispatch-due"]
    assert entry["task"] == reminders_dispatch_due.name
    assert entry["schedule"] == 60.0
    assert entry["options"]["expires"] < 60  # a run nobody picked up in time is dropped, not piled up
    assert reminders_dispatch_due.name in app.tasks
    assert reminder_send.name in app.tasks


def test_worker_settings_give_at_least_once_execution():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > max(
        reminder_send.time_limit, reminders_dispatch_due.time_limit, settings.CELERY_TASK_TIME_LIMIT
    )
    assert reminder_send.time_limit < settings.NOTIFICATIONS["SEND_LEASE_SECONDS"]


def test_the_send_task_delivers_and_records_the_task_as_the_source(reachable_patient, outbox):
    reminder = ReminderFactory(patient=reachable_patient)
    result = reminder_send.apply(args=[str(reminder.pk), 0], task_id="task-123")
    assert result.get() == "sent"
    assert outbox.reminder_ids() == [str(reminder.pk)]
    event = AuditEvent.objects.get(action="deliver", object_id=str(reminder.pk))
    assert (event.source, event.request_id) == ("task", "task-123")


def test_the_send_task_ignores_an_unknown_reminder(db):
    assert reminder_send.apply(args=["00000000-0000-0000-0000-000000000000", 0]).get() == "stale"


def test_the_dispatch_task_claims_and_enqueues(
    reachable_patient, eager_tasks, outbox, django_capture_on_commit_callbacks
):
    ReminderFactory.create_batch(3, patient=reachable_patient)
    ReminderFactory(patient=reachable_patient, deliver_after=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_dispatch_due.apply().get() == 3
    assert len(outbox.lines()) == 3
    assert Reminder.objects.filter(status=Reminder.Status.SENT).count() == 3
