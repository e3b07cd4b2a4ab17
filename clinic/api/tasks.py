from celery import shared_task

from .idempotency import idempotency_purge


@shared_task(soft_time_limit=120, time_limit=150)
def idempotency_purge_expired() -> int:
    """Forget stored Idempotency-Key responses older than 24 hours (beat: hourly)."""
    return idempotency_purge()
