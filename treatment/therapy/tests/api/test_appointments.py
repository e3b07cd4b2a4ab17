import pytest

from clinic.audit.models import AuditEvent
from treatment.therapy.models import Appointment

from ..conftest import at, audited, pending_reminders
from ..factories import AppointmentFactory

pytestmark = pytest.mark.usefixtures("clock")

PATIENT_FIELDS = {
    "id", "patient", "kind", "starts_at", "ends_at", "with_staff_name", "location", "telehealth_url", "status",
    "cancelled_at", "created_at", "updated_at",
}  # fmt: skip


def test_a_patient_sees_their_own_appointments_only(book, episode, other_episode, patient, api):
    mine = book(episode, 48)
    theirs = book(other_episode, 72)
    client = api(patient.user)
    rows = client.get("/api/v1/appointments/").json()["results"]
    assert [row["id"] for row in rows] == [str(mine.appointment_id)]
    assert set(rows[0]) == PATIENT_FIELDS  # no staff id, nothing of what it was booked for
    assert rows[0]["with_staff_name"] == "R. Lee"
    assert client.get(f"/api/v1/appointments/{theirs.appointment_id}/").status_code == 404
    event = AuditEvent.objects.get(action="list", model="therapy.appointment")
    assert (event.actor_id, event.patient_id) == (patient.user_id, patient.pk)


def test_a_patient_cannot_book_or_cancel(book, episode, patient, api):
    session = book(episode, 48)
    client = api(patient.user)
    booking = {"patient": str(patient.pk), "starts_at": at(5).isoformat(), "ends_at": at(6).isoformat()}
    assert client.post("/api/v1/appointments/", booking, format="json").status_code == 403
    assert client.post(f"/api/v1/appointments/{session.appointment_id}/cancel/", {}, format="json").status_code == 403
    assert Appointment.objects.get(pk=session.appointment_id).status == "scheduled"


def test_staff_see_what_an_appointment_was_booked_for(book, episode, staff, api):
    session = book(episode, 48)
    data = api(staff["front_desk"]).get(f"/api/v1/appointments/{session.appointment_id}/").json()
    assert (data["subject_type"], data["subject_id"], data["with_staff"]) == (
        "therapy.therapysession",
        str(session.pk),
        session.counselor_id,
    )


def test_front_desk_books_and_cancels_an_appointment_of_its_own(patient, staff, api):
    client = api(staff["front_desk"])
    response = client.post(
        "/api/v1/appointments/",
        {
            "patient": str(patient.pk),
            "starts_at": at(30).isoformat(),
            "ends_at": at(31).isoformat(),
            "location": "Desk",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    appointment_id = response.json()["id"]
    assert response.json()["kind"] == "other"
    assert pending_reminders(subject_id=appointment_id).count() == 2
    response = client.post(f"/api/v1/appointments/{appointment_id}/cancel/", {"late": False}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    assert not pending_reminders(subject_id=appointment_id).exists()
    assert audited(action="cancel", model="therapy.appointment", object_id=appointment_id)


def test_an_appointment_of_a_session_is_cancelled_through_the_session(book, episode, staff, api):
    session = book(episode, 48)
    response = api(staff["front_desk"]).post(
        f"/api/v1/appointments/{session.appointment_id}/cancel/", {}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cancel_through_subject"


def test_another_facility_cannot_book_our_patient(patient, other_staff, api):
    response = api(other_staff["front_desk"]).post(
        "/api/v1/appointments/",
        {"patient": str(patient.pk), "starts_at": at(30).isoformat(), "ends_at": at(31).isoformat(), "location": "X"},
        format="json",
    )
    assert response.status_code == 404
    assert not Appointment.objects.exists()


def test_the_list_takes_the_same_queries_for_1_or_50_rows(patient, counselor, assert_constant_list_queries):
    for index in range(50):
        AppointmentFactory(patient=patient, with_staff=counselor, starts_at=at(24 + index))
    assert_constant_list_queries(patient.user, "/api/v1/appointments/", bound=4)
