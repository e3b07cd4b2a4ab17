"""The mobile contract every endpoint shares: Idempotency-Key, ETag/If-Match, sync position, deletions
feed and write throttling, exercised through the patients resource."""

import threading
import time
import uuid
from datetime import datetime

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from clinic.api.models import IdempotencyRecord, Tombstone
from clinic.api.sync import CLOCK_SKEW_MARGIN, tombstone_record
from clinic.api.throttling import WriteRateThrottle
from patients.models import Patient


def new_patient(**overrides):
    return {
        "first_name": "Robin",
        "last_name": f"Test{uuid.uuid4().hex[:8]}",
        "date_of_birth": "1990-01-02",
        "sex": "female",
        "timezone": "America/Chicago",
        **overrides,
    }


def test_a_retried_post_replays_the_first_response(staff, api):
    client = api(staff["front_desk"])
    body = new_patient()
    first = client.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = client.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Patient.objects.filter(last_name=body["last_name"]).count() == 1


def test_the_same_key_with_another_body_is_422(staff, api):
    client = api(staff["front_desk"])
    client.post("/api/v1/patients/", new_patient(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = client.post("/api/v1/patients/", new_patient(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_user(staff, api):
    body = new_patient()
    api(staff["front_desk"]).post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other = api(staff["nurse"]).post("/api/v1/patients/", new_patient(), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert other.status_code == 201


def test_a_failed_validation_is_replayed_too_but_a_server_error_releases_the_key(staff, api, monkeypatch):
    client = api(staff["front_desk"])
    bad = {"first_name": ""}
    assert client.post("/api/v1/patients/", bad, format="json", HTTP_IDEMPOTENCY_KEY="bad").status_code == 400
    assert client.post("/api/v1/patients/", bad, format="json", HTTP_IDEMPOTENCY_KEY="bad").status_code == 400

    from patients.api import views

    original = views.PatientViewSet.create

    def crash(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.PatientViewSet, "create", crash)
    body = new_patient()
    assert client.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="crash").status_code == 500
    monkeypatch.setattr(views.PatientViewSet, "create", original)
    assert client.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="crash").status_code == 201


def test_an_overlong_key_is_400_naming_the_header(staff, api):
    response = api(staff["front_desk"]).post(
        "/api/v1/patients/", new_patient(), format="json", HTTP_IDEMPOTENCY_KEY="x" * 300
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_execute_once(facility, make_staff, monkeypatch):
    from patients.api import views

    user = make_staff("front_desk")
    original = views.PatientViewSet.create
    entered = threading.Barrier(2, timeout=10)

    def slow_create(self, request, *args, **kwargs):
        time.sleep(0.5)  # hold the claim while the twin arrives
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(views.PatientViewSet, "create", slow_create)
    body = new_patient()
    statuses = []

    def send():
        client = APIClient()
        client.force_authenticate(user)
        entered.wait()
        statuses.append(client.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="twin").status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]
    assert Patient.objects.filter(last_name=body["last_name"]).count() == 1
    assert IdempotencyRecord.objects.get(key="twin").state == "completed"


def test_detail_carries_an_etag_and_if_match_refuses_stale_writes(staff, patient, api):
    client = api(staff["nurse"])
    read = client.get(f"/api/v1/patients/{patient.id}/")
    etag = read["ETag"]
    assert etag.startswith('"')

    ok = client.patch(f"/api/v1/patients/{patient.id}/", {"first_name": "Ada"}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 200
    assert ok["ETag"] != etag

    stale = client.patch(f"/api/v1/patients/{patient.id}/", {"first_name": "Old"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["error"]["details"] == {"etag": ok["ETag"]}
    patient.refresh_from_db()
    assert patient.first_name == "Ada"

    no_header = client.patch(f"/api/v1/patients/{patient.id}/", {"first_name": "Bea"}, format="json")
    assert no_header.status_code == 200  # If-Match is optional (documented); a wrong one never overwrites
    assert (
        client.patch(
            f"/api/v1/patients/{patient.id}/", {"first_name": "Any"}, format="json", HTTP_IF_MATCH="*"
        ).status_code
        == 200
    )


def test_if_match_on_an_out_of_scope_record_is_404(other_staff, patient, api):
    response = api(other_staff["nurse"]).patch(
        f"/api/v1/patients/{patient.id}/", {"first_name": "X"}, format="json", HTTP_IF_MATCH='"abc"'
    )
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_writers_with_the_same_etag_cannot_both_win(facility, make_staff):
    from patients.tests.factories import PatientFactory

    nurse = make_staff("nurse")
    patient = PatientFactory(facility=facility)
    reader = APIClient()
    reader.force_authenticate(nurse)
    etag = reader.get(f"/api/v1/patients/{patient.id}/")["ETag"]
    start = threading.Barrier(2, timeout=10)
    statuses = []

    def write(name):
        client = APIClient()
        client.force_authenticate(nurse)
        start.wait()
        statuses.append(
            client.patch(
                f"/api/v1/patients/{patient.id}/", {"first_name": name}, format="json", HTTP_IF_MATCH=etag
            ).status_code
        )
        connection.close()

    threads = [threading.Thread(target=write, args=(name,)) for name in ("Ann", "Bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 412]


def test_lists_carry_a_sync_position(staff, patient, api):
    response = api(staff["nurse"]).get("/api/v1/patients/?updated_since=2000-01-01T00:00:00Z")
    body = response.json()
    position = datetime.fromisoformat(body["sync_position"])
    assert response["X-Sync-Position"] == body["sync_position"]
    assert position.tzinfo is not None


@pytest.mark.django_db(transaction=True)
def test_sync_position_waits_for_the_oldest_running_transaction(facility, make_staff):
    nurse = make_staff("nurse")
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"]
    ) as slow_writer:
        started = slow_writer.execute("SELECT now()").fetchone()[0]  # opens a transaction and keeps it open
        time.sleep(0.2)
        client = APIClient()
        client.force_authenticate(nurse)
        position = datetime.fromisoformat(client.get("/api/v1/patients/").json()["sync_position"])
        assert position <= started - CLOCK_SKEW_MARGIN
        slow_writer.rollback()


def test_updated_since_filters_and_a_transfer_appears_in_the_deletions_feed(
    staff, other_staff, patient, other_facility, api
):
    client = api(staff["nurse"])
    since = client.get("/api/v1/patients/").json()["sync_position"]
    tombstone_record(instance=patient, reason=Tombstone.Reason.LEFT_SCOPE)
    feed = client.get("/api/v1/sync/deletions/", {"since": since}).json()
    assert [(row["object_id"], row["reason"]) for row in feed["results"]] == [(str(patient.id), "left_scope")]
    assert "sync_position" in feed
    assert api(other_staff["nurse"]).get("/api/v1/sync/deletions/").json()["results"] == []
    # The record left a facility, not its patient: the patient's app keeps it (only deletions reach them).
    assert api(patient.user).get("/api/v1/sync/deletions/").json()["results"] == []
    tombstone_record(instance=patient, reason=Tombstone.Reason.DELETED)
    assert [row["object_id"] for row in api(patient.user).get("/api/v1/sync/deletions/").json()["results"]] == [
        str(patient.id)
    ]


def test_another_patient_sees_no_tombstone_of_mine(patient, other_patient, api):
    tombstone_record(instance=patient, reason=Tombstone.Reason.DELETED)
    assert api(other_patient.user).get("/api/v1/sync/deletions/").json()["results"] == []


def test_writes_are_throttled_per_user_with_retry_after(staff, api, monkeypatch):
    monkeypatch.setattr(WriteRateThrottle, "rate", "2/min", raising=False)
    client = api(staff["front_desk"])
    for _ in range(2):
        assert client.post("/api/v1/patients/", new_patient(), format="json").status_code == 201
    blocked = client.post("/api/v1/patients/", new_patient(), format="json")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert client.get("/api/v1/patients/").status_code == 200  # reads are not counted
    assert api(staff["nurse"]).post("/api/v1/patients/", new_patient(), format="json").status_code == 201
