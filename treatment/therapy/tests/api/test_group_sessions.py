from datetime import timedelta

import pytest

from clinic.audit.models import AuditEvent
from treatment.therapy.models import GroupAttendance, GroupNote, GroupSession

from ..conftest import at, audited
from ..factories import GroupAttendanceFactory, GroupSessionFactory

pytestmark = pytest.mark.usefixtures("clock")

NEW_GROUP = {
    "title": "DBT skills group",
    "modality": "dbt",
    "starts_at": at(50).isoformat(),
    "ends_at": at(51.5).isoformat(),
    "capacity": 2,
    "location": "Group room",
}


def test_front_desk_schedules_a_group(counselor, staff, facility, api):
    response = api(staff["front_desk"]).post(
        "/api/v1/group-sessions/", {**NEW_GROUP, "facilitator": counselor.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["facility"], data["facilitator_name"], data["capacity"], data["places_taken"], data["roster"]) == (
        str(facility.pk),
        "Rowan Lee",
        2,
        0,
        [],
    )
    assert audited(action="create", model="therapy.groupsession", object_id=data["id"])


def test_a_nurse_or_a_patient_does_not_schedule_groups(counselor, staff, patient, api):
    for user in (staff["nurse"], patient.user):
        response = api(user).post("/api/v1/group-sessions/", {**NEW_GROUP, "facilitator": counselor.pk}, format="json")
        assert response.status_code == 403
    assert not GroupSession.objects.exists()


def test_the_roster_fills_up_to_capacity(group, attendee, staff, api):
    client = api(staff["front_desk"])
    url = f"/api/v1/group-sessions/{group.pk}/roster/"
    people = [attendee() for _ in range(4)]
    for person in people[:3]:
        response = client.post(url, {"patient": str(person.pk)}, format="json")
        assert response.status_code == 200, response.content
    assert response.json()["places_taken"] == 3
    response = client.post(url, {"patient": str(people[3].pk)}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "group_full"
    response = client.post(f"{url}remove/", {"patient": str(people[0].pk)}, format="json")
    assert response.status_code == 200
    assert response.json()["places_taken"] == 2
    assert client.post(url, {"patient": str(people[3].pk)}, format="json").status_code == 200


def test_another_facilitys_staff_cannot_roster_or_see_the_group(group, attendee, other_staff, api):
    client = api(other_staff["front_desk"])
    person = attendee()
    assert client.get(f"/api/v1/group-sessions/{group.pk}/").status_code == 404
    response = client.post(f"/api/v1/group-sessions/{group.pk}/roster/", {"patient": str(person.pk)}, format="json")
    assert response.status_code == 404
    assert not GroupAttendance.objects.exists()


def test_a_patient_of_another_facility_cannot_be_rostered(group, staff, other_facility, api):
    from ..conftest import reachable_patient

    outsider = reachable_patient(other_facility)
    response = api(staff["front_desk"]).post(
        f"/api/v1/group-sessions/{group.pk}/roster/", {"patient": str(outsider.pk)}, format="json"
    )
    assert response.status_code == 404
    assert not GroupAttendance.objects.exists()


def test_attendance_and_the_group_note_through_the_api(group, attendee, counselor, staff, api, clock):
    ada, bo = attendee(first_name="Ada"), attendee(first_name="Bo")
    desk = api(staff["front_desk"])
    for person in (ada, bo):
        desk.post(f"/api/v1/group-sessions/{group.pk}/roster/", {"patient": str(person.pk)}, format="json")
    clock.move_to(group.starts_at + timedelta(minutes=1))
    response = desk.post(
        f"/api/v1/group-sessions/{group.pk}/attendance/",
        {"attendance": [{"patient": str(ada.pk), "status": "attended"}, {"patient": str(bo.pk), "status": "no_show"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "held"
    assert {row["patient"]: row["status"] for row in response.json()["roster"]} == {
        str(ada.pk): "attended",
        str(bo.pk): "no_show",
    }

    note_url = f"/api/v1/group-sessions/{group.pk}/note/"
    assert desk.get(note_url).status_code == 403  # front desk never reads note content
    writer = api(counselor)
    assert writer.get(note_url).status_code == 404
    note = {
        "format": "dap",
        "summary": "Topic: distress tolerance.",
        "parts": [{"patient": str(ada.pk), "data": "Tried TIPP.", "assessment": "Engaged.", "plan": "Practise."}],
    }
    response = writer.post(note_url, note, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], len(response.json()["parts"])) == ("draft", 1)
    assert api(staff["physician"]).post(f"{note_url}sign/", {}, format="json").status_code == 403
    response = writer.post(f"{note_url}sign/", {}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "signed")
    assert api(staff["nurse"]).get(note_url).json()["parts"][0]["patient"] == str(ada.pk)
    assert writer.post(note_url, note, format="json").status_code == 409
    group_note = GroupNote.objects.get()
    assert audited(action="view", model="therapy.groupnote", object_id=group_note.pk)


def test_rescheduling_onto_a_busy_patient_is_a_409(group, attendee, book, counselor_b, staff, api):
    person = attendee()
    api(staff["front_desk"]).post(
        f"/api/v1/group-sessions/{group.pk}/roster/", {"patient": str(person.pk)}, format="json"
    )
    book(person.episodes.get(), 50, counselor=counselor_b)
    response = api(staff["front_desk"]).patch(
        f"/api/v1/group-sessions/{group.pk}/",
        {"starts_at": at(50).isoformat(), "ends_at": at(51).isoformat()},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"]["conflicts"][0]["booked"] == "patient"


def test_reading_a_group_audits_its_roster(group, attendee, staff, api):
    person = attendee()
    entry = GroupAttendanceFactory(group_session=group, episode=person.episodes.get())
    api(staff["nurse"]).get(f"/api/v1/group-sessions/{group.pk}/")
    event = AuditEvent.objects.get(action="view", model="therapy.groupattendance", object_id=str(entry.pk))
    assert event.patient_id == person.pk


def test_the_list_takes_the_same_queries_for_1_or_50_groups(
    facility, counselor, attendee, staff, assert_constant_list_queries
):
    people = [attendee() for _ in range(2)]
    for index in range(50):
        group = GroupSessionFactory(facility=facility, facilitator=counselor, starts_at=at(24 + 2 * index))
        for person in people:
            GroupAttendanceFactory(group_session=group, episode=person.episodes.get())
    assert_constant_list_queries(staff["front_desk"], "/api/v1/group-sessions/", bound=7)
