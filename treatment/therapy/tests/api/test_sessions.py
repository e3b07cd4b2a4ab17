from datetime import timedelta

import pytest

from clinic.audit.models import AuditEvent
from treatment.therapy.models import Appointment, TherapySession

from ..conftest import at, audited
from ..factories import TherapySessionFactory

pytestmark = pytest.mark.usefixtures("clock")


def body(episode, counselor, hours=48, **fields):
    return {
        "episode": str(episode.pk),
        "modality": "cbt",
        "counselor": counselor.pk,
        "starts_at": at(hours).isoformat(),
        "ends_at": (at(hours) + timedelta(minutes=50)).isoformat(),
        "location": "Room 2",
        **fields,
    }


@pytest.mark.parametrize("role", ["front_desk", "counselor", "physician", "case_manager"])
def test_schedulers_book_a_session(role, episode, counselor, staff, api):
    response = api(staff[role]).post("/api/v1/sessions/", body(episode, counselor), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["patient"], data["status"], data["counselor_name"]) == (
        str(episode.patient_id),
        "scheduled",
        "Rowan Lee",
    )
    assert Appointment.objects.filter(pk=data["appointment"], kind="session").exists()
    assert audited(action="create", model="therapy.therapysession", object_id=data["id"])


@pytest.mark.parametrize("role", ["nurse", "clinic_admin"])
def test_other_staff_roles_do_not_book(role, episode, counselor, staff, api):
    response = api(staff[role]).post("/api/v1/sessions/", body(episode, counselor), format="json")
    assert response.status_code == 403
    assert not TherapySession.objects.exists()


def test_another_facility_cannot_book_our_patient(episode, other_staff, api):
    their_counselor = other_staff["counselor"]
    response = api(other_staff["front_desk"]).post("/api/v1/sessions/", body(episode, their_counselor), format="json")
    assert response.status_code == 404
    assert not TherapySession.objects.exists()


def test_a_patient_cannot_book_or_list_sessions(episode, counselor, patient, api):
    assert api(patient.user).post("/api/v1/sessions/", body(episode, counselor), format="json").status_code == 403
    assert api(patient.user).get("/api/v1/sessions/").status_code == 403


def test_a_double_booking_is_a_409_naming_the_conflict(episode, other_episode, counselor, staff, api):
    client = api(staff["front_desk"])
    first = client.post("/api/v1/sessions/", body(episode, counselor), format="json").json()
    response = client.post("/api/v1/sessions/", body(other_episode, counselor, 48.5), format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "double_booked"
    assert [(c["resource"], c["id"], c["subject_id"]) for c in error["details"]["conflicts"]] == [
        ("appointments", first["appointment"], first["id"])
    ]
    assert TherapySession.objects.count() == 1


def test_a_bad_booking_is_a_400_naming_the_fields(episode, staff, api):
    response = api(staff["front_desk"]).post(
        "/api/v1/sessions/",
        body(episode, staff["nurse"], location="", telehealth_url="http://plain.example.org"),
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"counselor", "telehealth_url"}


def test_reschedule_cancel_and_attendance(book, episode, staff, api, clock):
    session = book(episode, 2)
    client = api(staff["front_desk"])
    url = f"/api/v1/sessions/{session.pk}/"
    response = client.patch(url, {"starts_at": at(3).isoformat(), "ends_at": at(4).isoformat()}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["starts_at"] == "2026-03-02T17:00:00Z"
    assert client.post(f"{url}attendance/", {"status": "attended"}, format="json").status_code == 409
    clock.shift(timedelta(hours=3))
    response = client.post(f"{url}attendance/", {"status": "attended"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "attended")
    assert client.post(f"{url}cancel/", {"reason": "Too late."}, format="json").status_code == 409
    assert audited(action="record_attendance", model="therapy.therapysession", object_id=session.pk)


def test_cancelling_through_the_api(book, episode, staff, api):
    session = book(episode, 48)
    response = api(staff["front_desk"]).post(
        f"/api/v1/sessions/{session.pk}/cancel/", {"reason": "Patient called.", "late": True}, format="json"
    )
    assert (response.status_code, response.json()["status"]) == (200, "late_cancelled")
    assert Appointment.objects.get(pk=session.appointment_id).status == "late_cancelled"


def test_other_facility_staff_cannot_touch_a_session(book, episode, other_staff, api):
    session = book(episode, 48)
    client = api(other_staff["front_desk"])
    assert client.get(f"/api/v1/sessions/{session.pk}/").status_code == 404
    assert client.post(f"/api/v1/sessions/{session.pk}/cancel/", {}, format="json").status_code == 404
    session.refresh_from_db()
    assert session.status == "scheduled"


def test_the_list_filters_by_patient_and_time(book, episode, other_episode, staff, api):
    mine = book(episode, 48)
    book(other_episode, 72)
    client = api(staff["nurse"])
    rows = client.get("/api/v1/sessions/", {"patient": str(episode.patient_id)}).json()["results"]
    assert [row["id"] for row in rows] == [str(mine.pk)]
    rows = client.get("/api/v1/sessions/", {"starts_after": at(60).isoformat()}).json()["results"]
    assert [row["patient"] for row in rows] == [str(other_episode.patient_id)]
    assert AuditEvent.objects.filter(action="list", model="therapy.therapysession").exists()


def test_the_list_takes_the_same_queries_for_1_or_50_rows(episode, counselor, staff, assert_constant_list_queries):
    for index in range(50):
        TherapySessionFactory(episode=episode, counselor=counselor, starts_at=at(24 + index))
    assert_constant_list_queries(staff["front_desk"], "/api/v1/sessions/", bound=5)
