"""Thin Celery tasks run by beat (CELERY_BEAT_SCHEDULE): each sets the audit context and calls one service.
Every one is idempotent, so a repeated or overlapping run changes nothing twice."""

from contextlib import contextmanager

from celery import shared_task

from clinic.request_context import RequestContext, reset_context, use_context

from . import services


@contextmanager
def _task_context(task_id: str | None):
    token = use_context(RequestContext(request_id=task_id or "", ip_address=None, user_agent="", source="task"))
    try:
        yield
    finally:
        reset_context(token)


@shared_task(bind=True, soft_time_limit=240, time_limit=300)
def provider_check_ins_mark_missed(self) -> int:
    with _task_context(self.request.id):
        return services.provider_check_ins_mark_missed()


@shared_task(bind=True, soft_time_limit=240, time_limit=300)
def check_in_prompts_schedule(self) -> int:
    with _task_context(self.request.id):
        return services.check_in_prompts_schedule()


@shared_task(bind=True, soft_time_limit=240, time_limit=300)
def missed_check_in_streaks_alert(self) -> int:
    with _task_context(self.request.id):
        return services.missed_check_in_streaks_alert()
