"""The periodic tasks are wired to beat and run the services they wrap (their rules are tested with the
services, in test_plans and test_notes)."""

from datetime import timedelta

import pytest
from django.conf import settings

from clinic.audit.models import AuditEvent
from clinic.celery import app
from treatment.therapy import services, tasks

pytestmark = pytest.mark.usefixtures("clock")


@pytest.mark.parametrize(
    "task", ["treatment.therapy.tasks.plan_reviews_remind_due", "treatment.therapy.tasks.notes_remind_unsigned"]
)
def test_beat_runs_each_task(task):
    scheduled = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == task]
    assert len(scheduled) == 1
    assert task in app.tasks


def test_the_tasks_run_in_a_task_context(episode, counselor, clock):
    plan = services.treatment_plan_create(actor=counselor, episode=episode, review_interval_days=1)
    clock.shift(timedelta(days=1))
    assert tasks.plan_reviews_remind_due.apply().get() == 1
    assert tasks.notes_remind_unsigned.apply().get() == 0
    event = AuditEvent.objects.get(action="review_reminder", object_id=str(plan.pk))
    assert (event.actor_id, event.source) == (None, "task")
