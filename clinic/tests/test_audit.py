import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from clinic.audit import services
from clinic.audit.chain import GENESIS_HASH, seal_pending, verify_chain
from clinic.audit.models import AuditEvent, AuditSeal
from clinic.audit.tasks import audit_seal_chain
from patients.tests.factories import PatientFactory


def test_reading_a_patient_list_audits_each_row_with_patient_and_facility(staff, facility, api):
    patients = PatientFactory.create_batch(3, facility=facility)
    response = api(staff["nurse"]).get("/api/v1/patients/", HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 200
    events = AuditEvent.objects.filter(action="list", actor=staff["nurse"])
    assert {e.patient_id for e in events} == {p.id for p in patients}
    assert {e.facility_id for e in events} == {facility.id}
    event = events.first()
    assert (event.request_id, event.actor_role, event.source) == ("req-12345678", "nurse", "api")
    assert event.ip_address == "127.0.0.1"


def test_detail_read_and_write_are_audited(staff, patient, api):
    api(staff["nurse"]).get(f"/api/v1/patients/{patient.id}/")
    assert AuditEvent.objects.filter(action="view", object_id=str(patient.id), patient_id=patient.id).exists()
    api(staff["nurse"]).patch(f"/api/v1/patients/{patient.id}/", {"first_name": "Changed"}, format="json")
    update = AuditEvent.objects.get(action="update", object_id=str(patient.id))
    assert update.detail == {"fields": ["first_name"]}


def test_audit_table_refuses_update_and_delete_in_the_database(staff, patient, api):
    api(staff["nurse"]).get(f"/api/v1/patients/{patient.id}/")
    event = AuditEvent.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    seal_pending()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditSeal.objects.all().update(hash="0" * 64)


def test_a_failed_audit_write_fails_the_request(staff, patient, api, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("audit store down")

    monkeypatch.setattr(services, "_insert", broken)
    monkeypatch.setattr(services, "_insert_reads", broken)
    for response in (
        api(staff["nurse"]).get(f"/api/v1/patients/{patient.id}/"),
        api(staff["nurse"]).get("/api/v1/patients/"),
    ):
        assert response.status_code == 500
        assert "first_name" not in response.json()


COLUMNS = [f.attname for f in AuditEvent._meta.concrete_fields if f.name not in ("id", "occurred_at")]


@pytest.mark.parametrize("who", ["nurse", "system"])
def test_reads_are_written_with_the_same_columns_as_events_one_by_one(who, staff, facility):
    """audit_record_reads writes a page's rows in one statement of its own (PostgreSQL): the same rows as
    audit_record_many, whatever the models, the actor (or none) and the request context."""
    from clinic.request_context import RequestContext, reset_context, use_context
    from treatment.tests.factories import EpisodeFactory

    actor = staff["nurse"] if who == "nurse" else None
    patients = PatientFactory.create_batch(2, facility=facility)
    records = [*patients, EpisodeFactory(patient=patients[0])]
    token = use_context(RequestContext(request_id="r-1", ip_address="10.0.0.9", user_agent="app/2", source="api"))
    try:
        assert services.audit_record_reads(actor=actor, action="list", instances=records) == 3
        reads = list(AuditEvent.objects.order_by("id").values_list(*COLUMNS))
        services.audit_record_many(actor=actor, action="list", entries=[(r, None) for r in records])
    finally:
        reset_context(token)
    one_by_one = list(AuditEvent.objects.order_by("id").values_list(*COLUMNS))[3:]
    assert reads == one_by_one
    assert reads[2][COLUMNS.index("patient_id")] == patients[0].pk
    assert {row[COLUMNS.index("facility_id")] for row in reads} == {facility.pk}


def _make_events(staff, patient, api, count=5):
    for _ in range(count):
        api(staff["nurse"]).get(f"/api/v1/patients/{patient.id}/")


def test_sealing_chains_every_event_and_verify_passes(staff, patient, api):
    _make_events(staff, patient, api)
    sealed = audit_seal_chain()
    assert sealed == AuditEvent.objects.count()
    seals = list(AuditSeal.objects.order_by("position"))
    assert seals[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in zip(seals, seals[1:], strict=False))
    assert verify_chain().ok
    assert audit_seal_chain() == 0  # nothing left, nothing sealed twice
    call_command("audit_verify_chain")


def test_late_events_are_sealed_in_a_later_run(staff, patient, api):
    _make_events(staff, patient, api, 2)
    seal_pending()
    _make_events(staff, patient, api, 2)
    assert seal_pending() == 2
    assert verify_chain().sealed == AuditEvent.objects.count()


def _tamper(sql, params):
    """A superuser bypassing the append-only trigger, as an attacker with database access would."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET session_replication_role = DEFAULT")


def test_verify_names_the_first_modified_event(staff, patient, api):
    _make_events(staff, patient, api, 6)
    seal_pending()
    target = AuditEvent.objects.order_by("id")[3]
    _tamper("UPDATE audit_auditevent SET actor_username = %s WHERE id = %s", ["someone-else", target.id])
    report = verify_chain()
    assert not report.ok
    assert report.first_broken_event_id == target.id
    assert "modified" in report.problem
    with pytest.raises(CommandError, match=f"event {target.id}"):
        call_command("audit_verify_chain")


def test_verify_names_a_deleted_event(staff, patient, api):
    _make_events(staff, patient, api, 4)
    seal_pending()
    target = AuditEvent.objects.order_by("id")[1]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [target.id])
    report = verify_chain()
    assert (report.ok, report.first_broken_event_id) == (False, target.id)


def test_verify_detects_a_removed_seal(staff, patient, api):
    _make_events(staff, patient, api, 4)
    seal_pending()
    seal = AuditSeal.objects.order_by("position")[2]
    _tamper("DELETE FROM audit_auditseal WHERE position = %s", [seal.position])
    report = verify_chain()
    assert not report.ok
    assert report.first_broken_position == seal.position + 1


def test_verify_from_a_position_checks_only_that_segment(staff, patient, api):
    _make_events(staff, patient, api, 4)
    seal_pending()
    third = AuditSeal.objects.order_by("position")[2]
    assert verify_chain(from_position=third.position).sealed == 2


def test_audit_events_api_is_for_clinic_admins_of_the_facility(staff, other_staff, patient, api):
    api(staff["nurse"]).get(f"/api/v1/patients/{patient.id}/")
    response = api(staff["clinic_admin"]).get(f"/api/v1/audit-events/?patient={patient.id}")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert rows
    assert all(row["patient_id"] == str(patient.id) for row in rows)
    assert api(other_staff["clinic_admin"]).get("/api/v1/audit-events/").json()["results"] == [
        row
        for row in api(other_staff["clinic_admin"]).get("/api/v1/audit-events/").json()["results"]
        if row["facility_id"] != str(patient.facility_id)
    ]
    assert api(staff["nurse"]).get("/api/v1/audit-events/").status_code == 403
    assert api(patient.user).get("/api/v1/audit-events/").status_code == 403
    assert AuditEvent.objects.filter(action="audit_log_read", actor=staff["clinic_admin"]).exists()


def test_audit_events_list_has_a_fixed_query_count(staff, patient, api, django_assert_max_num_queries):
    _make_events(staff, patient, api, 60)
    client = api(staff["clinic_admin"])
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/audit-events/?page_size=1").json()["results"]) == 1
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/audit-events/?page_size=50").json()["results"]) == 50


def _columns(event: AuditEvent) -> dict:
    return {field.attname: getattr(event, field.attname) for field in AuditEvent._meta.concrete_fields}


@pytest.mark.parametrize("count", [1, 3])
def test_the_prepared_insert_writes_the_rows_the_orm_writes(staff, patient, count, monkeypatch):
    def events():
        return [
            services._event(
                actor=staff["nurse"],
                action="view",
                model_label="patients.patient",
                object_id=patient.pk,
                patient_id=patient.pk,
                facility_id=patient.facility_id,
                detail={"fields": ["mrn"], "n": number},
            )
            for number in range(count)
        ]

    by_orm = AuditEvent.objects.bulk_create(events())
    prepared = events()
    with CaptureQueriesContext(connection) as queries:
        services._insert(prepared)
    assert len(queries) == 1
    assert [event.pk for event in prepared] == sorted(event.pk for event in prepared)
    assert all(not event._state.adding for event in prepared)
    stored = AuditEvent.objects.in_bulk([event.pk for event in by_orm + prepared])
    for orm_event, prepared_event in zip(by_orm, prepared, strict=True):
        expected = {**_columns(stored[orm_event.pk]), "id": None, "occurred_at": None}
        assert {**_columns(stored[prepared_event.pk]), "id": None, "occurred_at": None} == expected
        assert stored[prepared_event.pk].occurred_at == prepared_event.occurred_at


def test_the_prepared_insert_writes_null_actor_address_and_empty_detail(db):
    event = services._event(
        actor=None,
        action="login",
        model_label="accounts.user",
        object_id="",
        patient_id=None,
        facility_id=None,
        detail=None,
    )
    event.ip_address = "2001:db8::1"
    services._insert([event])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.ip_address, stored.detail, stored.patient_id) == (None, "2001:db8::1", {}, None)


def test_more_events_than_a_statement_holds_are_written_in_batches(staff, monkeypatch):
    monkeypatch.setattr(services, "INSERT_BATCH", 2)
    events = [
        services._event(
            actor=staff["nurse"],
            action="list",
            model_label="m",
            object_id=n + 1,
            patient_id=None,
            facility_id=None,
            detail=None,
        )
        for n in range(5)
    ]
    with CaptureQueriesContext(connection) as queries:
        services._insert(events)
    inserts = [query["sql"] for query in queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == 3
    assert sorted(AuditEvent.objects.filter(model="m").values_list("object_id", flat=True)) == list("12345")


def test_rows_of_one_insert_keep_their_own_details_and_subjects(staff, patient, other_patient):
    details = [{"n": 1}, {"n": 1.0}, {"n": True}, None, {}, {"n": 1}]
    subjects = [patient, patient, other_patient, patient, other_patient, patient]
    events = [
        services._event(
            actor=staff["nurse"],
            action="update",
            model_label="patients.patient",
            object_id=subject.pk,
            patient_id=uuid.UUID(str(subject.pk)),  # equal, not the same object
            facility_id=uuid.UUID(str(subject.facility_id)),
            detail=detail,
        )
        for subject, detail in zip(subjects, details, strict=True)
    ]
    services._insert(events)
    stored = AuditEvent.objects.in_bulk([event.pk for event in events])
    rows = [stored[event.pk] for event in events]
    assert [(type(row.detail.get("n")), row.detail) for row in rows] == [
        (int, {"n": 1}), (float, {"n": 1.0}), (bool, {"n": True}), (type(None), {}), (type(None), {}), (int, {"n": 1}),
    ]  # fmt: skip
    assert [(row.patient_id, row.facility_id) for row in rows] == [
        (subject.pk, subject.facility_id) for subject in subjects
    ]
