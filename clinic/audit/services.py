"""Writing audit events. Every read and write of patient data calls one of these in its own transaction.

A failure to write raises: the caller's request or transaction fails with it, so no access goes unrecorded.
"""

from collections.abc import Iterable, Sequence

from django.db import models

from clinic.request_context import current_context
from clinic.scoping import model_scope

from .models import AuditEvent


def _subjects(model: type[models.Model], pks: Sequence) -> dict:
    """(patient_id, facility_id) per primary key, in one query whatever the number of rows."""
    scope = model_scope(model)
    fields = ["pk", scope.patient_pk or "pk", scope.facility]
    rows = model._default_manager.filter(pk__in=pks).values_list(*fields)
    has_patient = scope.patient_pk is not None
    return {pk: (patient if has_patient else None, facility) for pk, patient, facility in rows}


def _event(*, actor, action: str, model_label: str, object_id, patient_id, facility_id, detail) -> AuditEvent:
    context = current_context()
    authenticated = actor is not None and actor.is_authenticated
    return AuditEvent(
        actor=actor if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        actor_role=getattr(actor, "role", "") if authenticated else "",
        action=action,
        model=model_label,
        object_id=str(object_id or ""),
        patient_id=patient_id,
        facility_id=facility_id,
        source=context.source,
        request_id=context.request_id,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
        detail=detail or {},
    )


def audit_record(*, actor, action: str, instance: models.Model, detail: dict | None = None) -> AuditEvent:
    """Record one action on one scoped record. `detail` holds field names or codes, never patient data."""
    subjects = _subjects(type(instance), [instance.pk])
    patient_id, facility_id = subjects.get(instance.pk, (None, None))
    event = _event(
        actor=actor,
        action=action,
        model_label=instance._meta.label_lower,
        object_id=instance.pk,
        patient_id=patient_id,
        facility_id=facility_id,
        detail=detail,
    )
    event.save(force_insert=True)
    return event


def audit_record_many(*, actor, action: str, entries: Iterable[tuple[models.Model, dict | None]]) -> list[AuditEvent]:
    """Record one action on each of many scoped records, each with its own `detail`, as audit_record would one
    by one: one query per model for their patient and facility, and one INSERT for all the events."""
    entries = list(entries)
    by_model: dict[type[models.Model], list] = {}
    for instance, _ in entries:
        by_model.setdefault(type(instance), []).append(instance.pk)
    subjects = {model: _subjects(model, pks) for model, pks in by_model.items()}
    events = []
    for instance, detail in entries:
        patient_id, facility_id = subjects[type(instance)].get(instance.pk, (None, None))
        events.append(
            _event(
                actor=actor,
                action=action,
                model_label=instance._meta.label_lower,
                object_id=instance.pk,
                patient_id=patient_id,
                facility_id=facility_id,
                detail=detail,
            )
        )
    return AuditEvent.objects.bulk_create(events)


def audit_record_reads(*, actor, action: str, instances: Iterable[models.Model]) -> int:
    """Record a read of each record in a page or a screen, with one query per model."""
    by_model: dict[type[models.Model], list] = {}
    for instance in instances:
        by_model.setdefault(type(instance), []).append(instance.pk)
    events = []
    for model, pks in by_model.items():
        subjects = _subjects(model, pks)
        for pk in pks:
            patient_id, facility_id = subjects.get(pk, (None, None))
            events.append(
                _event(
                    actor=actor,
                    action=action,
                    model_label=model._meta.label_lower,
                    object_id=pk,
                    patient_id=patient_id,
                    facility_id=facility_id,
                    detail=None,
                )
            )
    AuditEvent.objects.bulk_create(events)
    return len(events)


def audit_record_system(
    *, actor, action: str, model_label: str, object_id="", facility_id=None, detail=None
) -> AuditEvent:
    """Record an action that is not on a scoped record (login, device revocation, break-the-glass)."""
    event = _event(
        actor=actor,
        action=action,
        model_label=model_label,
        object_id=object_id,
        patient_id=None,
        facility_id=facility_id,
        detail=detail,
    )
    event.save(force_insert=True)
    return event
