"""Writing audit events. Every read and write of patient data calls one of these in its own transaction.

A failure to write raises: the caller's request or transaction fails with it, so no access goes unrecorded.
"""

import contextlib
import functools
import uuid
from collections.abc import Iterable, Sequence

from django.db import connections, models, router, transaction
from django.utils import timezone

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


# A read may annotate each row with its scope's patient and facility ids under these names (clinic.api.views
# does, from the joins its scope filter makes anyway); the audit then takes them from the row.
PATIENT_ANNOTATION = "audit_subject_patient"
FACILITY_ANNOTATION = "audit_subject_facility"
_NOT_LOADED = object()


def _loaded_value(instance: models.Model, path: str, annotation: str):
    """The value at lookup `path` read from `instance`, its annotation or the rows loaded with it (forward
    foreign keys only), without a query; _NOT_LOADED when a step was not loaded."""
    if annotation in instance.__dict__:
        return instance.__dict__[annotation]
    if path == "pk":
        return instance.pk
    *hops, last = path.split("__")
    for hop in hops:
        field = instance._meta.get_field(hop)
        if not (field.many_to_one or field.one_to_one) or not field.concrete or not field.is_cached(instance):
            return _NOT_LOADED
        instance = field.get_cached_value(instance)
        if instance is None:
            return None
    field = instance._meta.get_field(last)
    return getattr(instance, field.attname) if field.concrete else _NOT_LOADED


def _subjects_of(model: type[models.Model], instances: Sequence[models.Model]) -> dict:
    """(patient_id, facility_id) per primary key: from the rows as loaded where they carry both (the same
    values a query would read), else in one query for the rest."""
    scope = model_scope(model)
    subjects, unloaded = {}, []
    for instance in instances:
        facility = _loaded_value(instance, scope.facility, FACILITY_ANNOTATION)
        patient = None if scope.patient_pk is None else _loaded_value(instance, scope.patient_pk, PATIENT_ANNOTATION)
        if instance.pk is None or instance._state.adding or _NOT_LOADED in (facility, patient):
            unloaded.append(instance.pk)
        else:
            subjects[instance.pk] = (patient, facility)
    if unloaded:
        subjects.update(_subjects(model, unloaded))
    return subjects


def _subjects_by_model(instances: Iterable[models.Model]) -> dict:
    """_subjects_of for each model among `instances`: {model: {pk: (patient_id, facility_id)}}."""
    by_model: dict[type[models.Model], list] = {}
    for instance in instances:
        by_model.setdefault(type(instance), []).append(instance)
    return {model: _subjects_of(model, rows) for model, rows in by_model.items()}


# At most this many events per INSERT statement (14 parameters each, well under PostgreSQL's 65,535).
INSERT_BATCH = 1000


@functools.cache
def _insert_statement() -> tuple[str, tuple, str]:
    """The start of the events' INSERT, its fields and one row's placeholders: the columns the ORM writes
    (every concrete field but the id), in the same order. Built once: the ORM compiles it on every write."""
    meta = AuditEvent._meta
    fields = tuple(field for field in meta.concrete_fields if not field.primary_key)
    columns = ", ".join(f'"{field.column}"' for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    statement = f'INSERT INTO "{meta.db_table}" ({columns}) VALUES '  # noqa: S608 - names from the model
    return statement, fields, row


def _insert(events: list[AuditEvent]) -> None:
    """INSERT the events, in one statement per INSERT_BATCH, and give each its id: the rows the ORM's
    save(force_insert=True) and bulk_create write (each value prepared by its field's get_db_prep_save, as
    theirs are), from a statement built once. Other databases than PostgreSQL (SQLite for `make run`) take
    the ORM's way."""
    if not events:
        return
    connection = connections[router.db_for_write(AuditEvent)]
    if connection.vendor != "postgresql":
        if len(events) == 1:
            events[0].save(force_insert=True, using=connection.alias)
        else:
            AuditEvent.objects.using(connection.alias).bulk_create(events)
        return
    start, fields, row = _insert_statement()
    several = len(events) > INSERT_BATCH
    with transaction.atomic(using=connection.alias, savepoint=False) if several else contextlib.nullcontext():
        _insert_batches(connection, events, start, fields, row)


def _insert_batches(connection, events: list[AuditEvent], start: str, fields: tuple, row: str) -> None:
    for first in range(0, len(events), INSERT_BATCH):
        batch = events[first : first + INSERT_BATCH]
        params = _prepared_values(connection, batch, fields)
        with connection.cursor() as cursor:
            cursor.execute(start + ", ".join([row] * len(batch)) + ' RETURNING "id"', params)
            ids = [pk for (pk,) in cursor.fetchall()]
        for event, pk in zip(batch, ids, strict=True):
            event.pk = pk
            event._state.adding = False
            event._state.db = connection.alias


def _same_value(value, other) -> bool:
    """The same object, equal UUIDs or two empty dicts: values whose database form is the same. (Not any equal
    dicts: {"n": 1} == {"n": 1.0} == {"n": True}, three different JSON documents.)"""
    if value is other:
        return True
    if type(value) is not type(other):
        return False
    return value == other if type(value) is uuid.UUID else type(value) is dict and not value and not other


def _prepared_values(connection, events: list[AuditEvent], fields: tuple) -> list:
    """Each event's values as its fields prepare them for the database, row after row. The events of a page
    share most values (actor, action, model, request, facility, an empty detail): a value equal to the row
    above's (see _same_value) reuses its preparation instead of preparing it again."""
    params = []
    previous = [(_NOT_LOADED, None)] * len(fields)
    for event in events:
        for index, field in enumerate(fields):
            value = getattr(event, field.attname)
            last_value, last_prepared = previous[index]
            if _same_value(value, last_value):
                params.append(last_prepared)
            else:
                prepared = field.get_db_prep_save(value, connection)
                previous[index] = (value, prepared)
                params.append(prepared)
    return params


def _who_and_where(actor, action: str) -> dict:
    """The values every event of one action shares: who acted, the action, and the request it came in."""
    context = current_context()
    authenticated = actor is not None and actor.is_authenticated
    return {
        "actor": actor if authenticated else None,
        "actor_username": actor.get_username() if authenticated else "",
        "actor_role": getattr(actor, "role", "") if authenticated else "",
        "action": action,
        "source": context.source,
        "request_id": context.request_id,
        "ip_address": context.ip_address,
        "user_agent": context.user_agent,
    }


def _event(*, actor, action: str, model_label: str, object_id, patient_id, facility_id, detail) -> AuditEvent:
    return AuditEvent(
        **_who_and_where(actor, action),
        model=model_label,
        object_id=str(object_id or ""),
        patient_id=patient_id,
        facility_id=facility_id,
        detail=detail or {},
    )


def _events(*, actor, action: str, entries: list[tuple[models.Model, dict | None]]) -> list[AuditEvent]:
    """One event per (record, detail), in order, each naming its record's patient and facility: taken from the
    rows as loaded where they carry them, else one query per model for the rest."""
    subjects = _subjects_by_model(instance for instance, _ in entries)
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
    return events


def audit_record(*, actor, action: str, instance: models.Model, detail: dict | None = None) -> AuditEvent:
    """Record one action on one scoped record. `detail` holds field names or codes, never patient data."""
    [event] = audit_record_many(actor=actor, action=action, entries=[(instance, detail)])
    return event


# Per record: these columns; every other column holds one value for all the reads of a page.
_PER_READ = ("model", "object_id", "patient_id", "facility_id")


@functools.cache
def _reads_statement(alias: str) -> tuple[str, tuple]:
    """The INSERT of a page's reads on PostgreSQL, and the fields given one value for all its events: those
    values once each, the per-record columns as one array each (unnest), so the statement's text is the same
    for every page whatever its length."""
    meta = AuditEvent._meta
    shared = tuple(f for f in meta.concrete_fields if not f.primary_key and f.name not in _PER_READ)
    per_read = tuple(meta.get_field(name) for name in _PER_READ)
    columns = ", ".join(f'"{field.column}"' for field in (*shared, *per_read))
    connection = connections[alias]
    values = ", ".join(f"%s::{field.db_type(connection)}" for field in shared)
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in per_read)
    names = ", ".join(f"r.{field.column}" for field in per_read)
    statement = (
        f'INSERT INTO "{meta.db_table}" ({columns}) SELECT {values}, {names} '  # noqa: S608 - names from the model
        f"FROM unnest({arrays}) AS r({', '.join(field.column for field in per_read)})"
    )
    return statement, shared


def _insert_reads(connection, *, actor, action: str, instances: list[models.Model]) -> None:
    """One INSERT for the reads of `instances`: the rows _insert would write for them (values prepared by
    their fields alike), without building an event object per record."""
    statement, shared = _reads_statement(connection.alias)
    subjects = _subjects_by_model(instances)
    values = {**_who_and_where(actor, action), "detail": {}, "occurred_at": timezone.now()}
    who = values.pop("actor")
    values["actor_id"] = who.pk if who is not None else None
    params = [field.get_db_prep_save(values.get(field.attname), connection) for field in shared]
    labels, object_ids, patients, facilities = [], [], [], []
    for instance in instances:
        patient_id, facility_id = subjects[type(instance)].get(instance.pk, (None, None))
        labels.append(instance._meta.label_lower)
        object_ids.append(str(instance.pk or ""))
        patients.append(patient_id)
        facilities.append(facility_id)
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, labels, object_ids, patients, facilities])


def audit_record_reads(*, actor, action: str, instances: Iterable[models.Model]) -> int:
    """Record a read of each record in a page or a screen, with one query per model at most."""
    instances = list(instances)
    if not instances:
        return 0
    connection = connections[router.db_for_write(AuditEvent)]
    if connection.vendor != "postgresql":
        return len(audit_record_many(actor=actor, action=action, entries=((instance, None) for instance in instances)))
    _insert_reads(connection, actor=actor, action=action, instances=instances)
    return len(instances)


def audit_record_many(*, actor, action: str, entries: Iterable[tuple[models.Model, dict | None]]) -> list[AuditEvent]:
    """Record one action on each of many scoped records, each with its own `detail`, as audit_record would one
    by one, with one INSERT for all the events."""
    events = _events(actor=actor, action=action, entries=list(entries))
    _insert(events)
    return events


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
    _insert([event])
    return event
