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


# Time limits of the send tasks: below the send lease (SEND_LEASE_SECONDS), so a started send is taken again
# only after its task is surely over. A chunk starts no new message after SEND_BUDGET_SECONDS, which leaves the
# slowest message (an HTTP timeout) and the recording time before the soft limit.
SEND_SOFT_TIME_LIMIT = 60
SEND_TIME_LIMIT = 90
SEND_BUDGET_SECONDS = 30


@shared_task(bind=True, soft_time_limit=SEND_SOFT_TIME_LIMIT, time_limit=SEND_TIME_LIMIT)
def reminders_send(self, claims: list) -> dict[str, str]:
    """Send a chunk of claimed reminders, [[reminder id, attempts claimed at], ...]. Safe to run any number of
    times: only one copy ever starts each attempt."""
    with _task_context(self.request.id):
        return delivery.reminders_deliver(claims, budget_seconds=SEND_BUDGET_SECONDS)


@shared_task(bind=True, soft_time_limit=SEND_SOFT_TIME_LIMIT, time_limit=SEND_TIME_LIMIT)
def reminder_send(self, reminder_id: str, attempt: int) -> str:
    """Send one claimed reminder (a chunk of one). Safe to run any number of times: only one copy ever starts
    an attempt."""
    with _task_context(self.request.id):
        return delivery.reminder_deliver(reminder_id=reminder_id, attempt=attempt)
