"""Offline delta sync: where a client may resume, and what disappeared from its view.

`sync_position()` is the `updated_since` a client should send next time. It never passes a write that is
still in flight: on PostgreSQL it stops at the start of the oldest transaction still running (a row such a
transaction writes gets an `updated_at` after that start, and becomes visible only when it commits), minus a
margin for clock skew between application servers. Clients de-duplicate the overlap by id.
"""

from datetime import datetime, timedelta

from django.apps import apps
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.scoping import Scope, model_scope

from .models import Tombstone

CLOCK_SKEW_MARGIN = timedelta(seconds=5)
# A position read less than this long ago is served again. It is never later than a fresh one: a transaction
# running now either ran then (the old position is before its start) or began since (after the old read). So
# it is as safe, with up to this much more overlap, and spares a pg_stat_activity read on most list pages.
POSITION_REUSE = timedelta(seconds=1)
_last_position: tuple[datetime, datetime] | None = None  # (read at, position), per process


def sync_position() -> datetime:
    global _last_position  # noqa: PLW0603 - a per-process memo of one value
    now = timezone.now()
    last = _last_position
    if last is not None and last[0] <= now < last[0] + POSITION_REUSE:
        return last[1]
    position = now
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(xact_start) FROM pg_stat_activity "
                "WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
            )
            oldest = cursor.fetchone()[0]
        if oldest is not None and oldest < position:
            position = oldest
    _last_position = (now, position - CLOCK_SKEW_MARGIN)
    return _last_position[1]


def tombstone_record(*, instance: Model, reason: str, facility_id=None) -> Tombstone:
    """Record that `instance` was deleted, or left `facility_id`'s scope (e.g. a patient transferred)."""
    scope = model_scope(type(instance))
    values = type(instance)._default_manager.filter(pk=instance.pk)
    facility_path = scope.facility
    user_path = scope.patient_user
    row = values.values_list(facility_path, user_path).first() if user_path else None
    if row is None:
        row = (values.values_list(facility_path, flat=True).first(), None)
    return Tombstone.objects.create(
        model=instance._meta.label_lower,
        object_id=str(instance.pk),
        facility_id=facility_id or row[0],
        # A record leaving a facility is still its patient's: only a deletion is news to the patient's app.
        patient_user_id=row[1] if reason == Tombstone.Reason.DELETED else None,
        reason=reason,
    )


def tombstone_patient_records(*, patient_pk, facility_id, batch_size: int = 1000) -> int:
    """Record that every row about one patient, of every scoped model, left `facility_id`'s scope (the patient
    moved to another facility). Call before or after the move, inside its transaction. Generic over the models'
    SCOPE declarations, so the platform names no domain app. Returns the number of tombstones written."""
    now = timezone.now()
    written = 0
    for model in apps.get_models():
        scope = getattr(model, "SCOPE", None)
        if not isinstance(scope, Scope) or scope.patient_pk is None or model._meta.proxy:
            continue
        ids = model._default_manager.filter(**{scope.patient_pk: patient_pk}).values_list("pk", flat=True)
        rows = [
            Tombstone(
                model=model._meta.label_lower,
                object_id=str(pk),
                facility_id=facility_id,
                reason=Tombstone.Reason.LEFT_SCOPE,
                occurred_at=now,
            )
            for pk in ids.iterator()
        ]
        Tombstone.objects.bulk_create(rows, batch_size=batch_size)
        written += len(rows)
    return written


def tombstone_list(*, actor) -> QuerySet[Tombstone]:
    if not actor.is_authenticated or not actor.is_active:
        return Tombstone.objects.none()
    if actor.role == Role.PATIENT:
        return Tombstone.objects.filter(patient_user_id=actor.id)
    return Tombstone.objects.filter(Q(facility_id__in=actor.facility_ids()))
