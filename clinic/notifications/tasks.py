"""Thin Celery tasks: take ids, set the audit context, call clinic.notifications.delivery."""

from contextlib import contextmanager

from celery import shared_task

from clinic.request_context import RequestContext, reset_context, use_context

from . import delivery


@contextmanager
def _task_context(task_id: str | None):
    token = use_context(RequestContext(request_id=task_id or "", ip_address=None, user_agent="", source="task"))
    try:
        yield
    finally:
        reset_context(token)


@shared_task(bind=True, soft_time_limit=50, time_limit=60)
def reminders_dispatch_due(self) -> int:
    """Beat runs this every minute (CELERY_BEAT_SCHEDULE): claim due reminders and enqueue their sends."""
    with _task_context(self.request.id):
        return delivery.reminders_claim_due()


@shared_task(bind=True, soft_time_limit=60, time_limit=90)
def reminder_send(self, reminder_id: str, attempt: int) -> str:
    """Send one claimed reminder. Safe to run any number of times: only one copy ever starts an attempt."""
    with _task_context(self.request.id):
        return delivery.reminder_deliver(reminder_id=reminder_id, attempt=attempt)
