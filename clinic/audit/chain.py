"""The tamper-evident chain over audit events.

Requests insert events without waiting for each other. A beat task (`audit_seal_chain`) then seals new
events one after the other: each seal stores sha256(previous seal's hash + the event's canonical content).
Changing, removing or reordering a sealed event breaks every hash from that point, and `verify_chain`
names the first event where it breaks. Events are sealed in id order within each run; an event whose
transaction committed late is sealed in a later run, so the chain order is the sealing order.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEvent, AuditSeal

GENESIS_HASH = "0" * 64
# How far back the sealer looks for late-committed events; older unsealed events are reported by verify.
SEAL_LOOKBACK = timedelta(days=1)
_SEAL_LOCK_ID = 7_402_118  # pg advisory lock key: one sealer at a time


def event_digest(event: AuditEvent, prev_hash: str) -> str:
    content = {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "actor_role": event.actor_role,
        "action": event.action,
        "model": event.model,
        "object_id": event.object_id,
        "patient_id": str(event.patient_id) if event.patient_id else None,
        "facility_id": str(event.facility_id) if event.facility_id else None,
        "source": event.source,
        "request_id": event.request_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "detail": event.detail,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


def _take_sealer_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite serialises writers already
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEAL_LOCK_ID])
        return cursor.fetchone()[0]


def seal_pending(*, batch_size: int = 5000) -> int:
    """Seal up to `batch_size` unsealed events; returns how many were sealed. Safe to run concurrently."""
    with transaction.atomic():
        if not _take_sealer_lock():
            return 0
        since = timezone.now() - SEAL_LOOKBACK
        last = AuditSeal.objects.order_by("-position").first()
        prev_hash = last.hash if last else GENESIS_HASH
        recently_sealed = AuditSeal.objects.filter(sealed_at__gte=since).values("event_id")
        pending = (
            AuditEvent.objects.filter(occurred_at__gte=since)
            .exclude(id__in=recently_sealed)
            .order_by("id")[:batch_size]
        )
        seals = []
        for event in pending:
            digest = event_digest(event, prev_hash)
            seals.append(AuditSeal(event_id=event.id, prev_hash=prev_hash, hash=digest))
            prev_hash = digest
        AuditSeal.objects.bulk_create(seals)
        return len(seals)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    sealed: int
    first_broken_event_id: int | None = None
    first_broken_position: int | None = None
    problem: str = ""


def verify_chain(*, from_position: int = 0, chunk_size: int = 2000) -> ChainReport:
    """Recompute the chain from `from_position` and report the first link that does not hold."""
    prev_hash = GENESIS_HASH
    if from_position:
        before = AuditSeal.objects.filter(position__lt=from_position).order_by("-position").first()
        prev_hash = before.hash if before else GENESIS_HASH
    checked = 0
    seals = AuditSeal.objects.filter(position__gte=from_position).order_by("position")
    for seal_chunk in _chunks(seals.iterator(chunk_size=chunk_size), chunk_size):
        events = AuditEvent.objects.in_bulk([seal.event_id for seal in seal_chunk])
        for seal in seal_chunk:
            event = events.get(seal.event_id)
            problem = ""
            if seal.prev_hash != prev_hash:
                problem = "link does not follow the previous seal (a seal was removed or reordered)"
            elif event is None:
                problem = "sealed event is missing (deleted)"
            elif event_digest(event, prev_hash) != seal.hash:
                problem = "event content differs from what was sealed (modified)"
            if problem:
                return ChainReport(False, checked, seal.event_id, seal.position, problem)
            prev_hash = seal.hash
            checked += 1
    stale = (
        AuditEvent.objects.filter(occurred_at__lt=timezone.now() - SEAL_LOOKBACK)
        .exclude(id__in=AuditSeal.objects.values("event_id"))
        .order_by("id")
        .first()
    )
    if stale is not None:
        return ChainReport(False, checked, stale.id, None, "event was never sealed")
    return ChainReport(True, checked)


def _chunks(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
