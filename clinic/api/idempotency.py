"""Idempotency-Key for POSTs: a mobile retry replays the first response instead of writing twice.

The key is claimed by inserting a row (unique per user and key) in its own committed statement before the
request runs, so two concurrent requests with one key cannot both execute: the second sees the claim and
gets a 409 asking it to retry later. The completed response is stored and replayed for 24 hours; the same
key with a different body is a 422. A request that fails with a 5xx releases its claim so it may be retried.
"""

import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.errors import Conflict, DomainError, ValidationFailed

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class KeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"


class Replay(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, record: IdempotencyRecord):
        self.record = record


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def idempotency_claim(*, user, key: str, fingerprint: str) -> IdempotencyRecord:
    """Claim `key` for this request, or raise Replay / Conflict / KeyReused."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "The Idempotency-Key header must be 1 to 255 characters.",
            fields={HEADER: ["Must be 1 to 255 characters."]},
        )
    IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=timezone.now() - RETENTION).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(user=user, key=key, request_hash=fingerprint)
    except IntegrityError:
        existing = IdempotencyRecord.objects.get(user=user, key=key)
    if existing.request_hash != fingerprint:
        raise KeyReused("This Idempotency-Key was used for a different request.")
    if existing.state == IdempotencyRecord.State.IN_PROGRESS:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress; retry shortly.", code="idempotency_in_progress"
        )
    raise Replay(existing)


def idempotency_complete(record: IdempotencyRecord, *, status: int, body, headers: dict) -> None:
    if status >= 500:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_body=body,
        response_headers=headers,
    )


def idempotency_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - RETENTION).delete()
    return deleted
