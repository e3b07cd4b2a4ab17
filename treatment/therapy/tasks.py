"""Thin Celery tasks run by beat (CELERY_BEAT_SCHEDULE): bring due plan reviews and notes left unsigned for
72 hours to the staff who must act. Both are idempotent: each due date or note is brought up once."""

from celery import shared_task

from clinic.request_context import RequestContext, reset_context, use_context

from . import services


def _in_task_context(task_id: str | None, work):
    token = use_context(RequestContext(request_id=task_id or "", ip_address=None, user_agent="", source="task"))
    try:
        return work()
    finally:
        reset_context(token)


@shared_task(bind=True, soft_time_limit=240, time_limit=300)
def plan_reviews_remind_due(self) -> int:
    """Remind primary counselors of treatment plans whose review is due."""
    return _in_task_context(self.request.id, services.plan_reviews_remind_due)


@shared_task(bind=True, soft_time_limit=240, time_limit=300)
def notes_remind_unsigned(self) -> int:
    """Remind authors of progress and group notes still unsigned 72 hours after they were started."""
    return _in_task_context(self.request.id, services.notes_remind_unsigned)
