"""Thin Celery tasks of detox (periodic ones are scheduled in CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from clinic.request_context import RequestContext, reset_context, use_context

from . import services


@shared_task(bind=True, soft_time_limit=50, time_limit=60)
def detox_rounds_flag_overdue(self) -> int:
    """Beat runs this every minute: flag rounds 30 minutes past due and alert their nurse, once per round."""
    token = use_context(RequestContext(request_id=self.request.id or "", ip_address=None, user_agent="", source="task"))
    try:
        return services.rounds_flag_overdue()
    finally:
        reset_context(token)
