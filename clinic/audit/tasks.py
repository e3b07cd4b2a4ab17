from celery import shared_task

from .chain import seal_pending


@shared_task(soft_time_limit=120, time_limit=150)
def audit_seal_chain() -> int:
    """Seal every pending audit event (beat runs this every 30 s; see CELERY_BEAT_SCHEDULE)."""
    total = 0
    while sealed := seal_pending():
        total += sealed
    return total
