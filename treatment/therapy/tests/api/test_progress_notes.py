from datetime import timedelta

import pytest

from clinic.audit.models import AuditEvent
from treatment.therapy import services
from treatment.therapy.models import NoteAddendum, ProgressNote

from ..conftest import at, audited
from ..factories import ProgressNoteFactory, TherapySessionFactory

pytestmark = pytest.mark.usefixtures("clock")

DAP = {"format": "dap", "data": "Two cravings, managed.", "assessment": "Improving.", "plan": "Continue CBT."}


@pytest.fixture
def held(book, episode, staff):
    session = book(episode, -1)
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    return session


def test_write_sign_and_add_to_a_note(held, counselor, staff, api):
    client = api(counselor)
    response = client.post("/api/v1/progress-notes/", {"session": str(held.pk), **DAP}, format="json")
    assert response.status_code == 201, response.content
    note = response.json()
    assert (note["status"], note["author_name"], note["group"], note["addenda"]) == ("draft", "Rowan Lee", None, [])
    url = f"/api/v1/progress-notes/{note['id']}/"
    assert client.patch(url, {"plan": "CBT fortnightly."}, format="json").json()["plan"] == "CBT fortnightly."
    assert api(staff["physician"]).post(f"{url}sign/").status_code == 403
    response = client.post(f"{url}sign/")
    assert (response.status_code, response.json()["status"]) == (200, "signed")
    response = client.patch(url, {"plan": "Rewritten."}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "note_signed"
    response = api(staff["physician"]).post(f"{url}addenda/", {"text": "Late entry: lapse on Saturday."}, format="json")
    assert response.status_code == 201
    assert [(a["text"], a["author"]) for a in response.json()["addenda"]] == [
        ("Late entry: lapse on Saturday.", staff["physician"].pk)
    ]
    assert response.json()["plan"] == "CBT fortnightly."
    assert audited(action="sign", model="therapy.progressnote", object_id=note["id"])
    assert audited(action="create", model="therapy.noteaddendum", object_id=NoteAddendum.objects.get().pk)


@pytest.mark.parametrize("role", ["front_desk", "clinic_admin"])
def test_front_desk_and_admins_never_read_notes(role, held, counselor, staff, api):
    note = services.progress_note_create(actor=counselor, session=held, **DAP)
    client = api(staff[role])
    assert client.get("/api/v1/progress-notes/").status_code == 403
    assert client.get(f"/api/v1/progress-notes/{note.pk}/").status_code == 403
    assert client.get("/api/v1/sessions/").status_code == 200  # the calendar, without any note content
    assert "plan" not in str(client.get(f"/api/v1/sessions/{held.pk}/").json())


def test_a_patient_does_not_read_clinical_notes(held, counselor, patient, api):
    note = services.progress_note_create(actor=counselor, session=held, **DAP)
    assert api(patient.user).get("/api/v1/progress-notes/").status_code == 403
    assert api(patient.user).get(f"/api/v1/progress-notes/{note.pk}/").status_code == 403


@pytest.mark.parametrize("role", ["nurse", "case_manager"])
def test_the_care_team_reads_but_does_not_write_notes(role, held, counselor, staff, api):
    note = services.progress_note_create(actor=counselor, session=held, **DAP)
    client = api(staff[role])
    assert client.get(f"/api/v1/progress-notes/{note.pk}/").status_code == 200
    assert client.patch(f"/api/v1/progress-notes/{note.pk}/", {"plan": "x"}, format="json").status_code == 403
    assert client.post("/api/v1/progress-notes/", {"session": str(held.pk), **DAP}, format="json").status_code == 403


def test_another_facility_cannot_write_on_our_session(held, other_staff, api):
    response = api(other_staff["counselor"]).post(
        "/api/v1/progress-notes/", {"session": str(held.pk), **DAP}, format="json"
    )
    assert response.status_code == 404
    assert not ProgressNote.objects.exists()


def test_each_chart_shows_its_own_part_of_a_group_note_and_nothing_of_the_others(
    group, attendee, counselor, staff, api, clock
):
    ada = attendee(first_name="Ada", last_name="Quill")
    bo = attendee(first_name="Bo", last_name="Marsh")
    for person in (ada, bo):
        services.group_roster_add(actor=staff["front_desk"], group=group, patient=person)
    clock.move_to(group.ends_at)
    services.group_attendance_record(actor=counselor, group=group, attendance={ada.pk: "attended", bo.pk: "attended"})
    ada_text, bo_text = "Disclosed a relapse at a family party.", "Spoke about losing a job."
    note = services.group_note_write(
        actor=counselor,
        group=group,
        format="dap",
        summary="Topic: high-risk situations.",
        parts=[
            {"patient": ada.pk, "data": ada_text, "assessment": "A.", "plan": "A."},
            {"patient": bo.pk, "data": bo_text, "assessment": "B.", "plan": "B."},
        ],
    )
    services.group_note_sign(actor=counselor, note=note)

    response = api(staff["nurse"]).get("/api/v1/progress-notes/", {"patient": str(ada.pk)})
    rows = response.json()["results"]
    assert len(rows) == 1
    chart = rows[0]
    assert chart["patient"] == str(ada.pk)
    assert chart["data"] == ada_text
    assert chart["group"] == {
        "group_session": str(group.pk),
        "title": "Relapse prevention group",
        "starts_at": "2026-03-03T16:00:00Z",
        "summary": "Topic: high-risk situations.",
    }
    text = str(response.json())
    assert bo_text not in text
    assert str(bo.pk) not in text
    assert "Marsh" not in text
    events = AuditEvent.objects.filter(action="list", model="therapy.progressnote")
    assert {event.patient_id for event in events} == {ada.pk}


def test_the_list_takes_the_same_queries_for_1_or_50_notes(
    episode, counselor, staff, assert_constant_list_queries, clock
):
    for index in range(50):
        clock.shift(timedelta(seconds=1))  # a definite order: the newest (first) note has addenda
        session = TherapySessionFactory(
            episode=episode, counselor=counselor, starts_at=at(-100 + index), status="attended"
        )
        note = ProgressNoteFactory(session=session)
        services.progress_note_sign(actor=counselor, note=note)
        for _ in range(index % 3):  # 0 to 2 addenda each (a page's addenda are read and audited in one go)
            services.addendum_add(actor=counselor, note=note, text="Addendum.")
    assert_constant_list_queries(staff["nurse"], "/api/v1/progress-notes/", bound=7)


def test_the_chart_list_filters_drafts_and_signed(held, counselor, staff, api, clock):
    note = services.progress_note_create(actor=counselor, session=held, **DAP)
    client = api(staff["nurse"])
    assert [r["id"] for r in client.get("/api/v1/progress-notes/", {"status": "draft"}).json()["results"]] == [
        str(note.pk)
    ]
    clock.shift(timedelta(minutes=5))
    services.progress_note_sign(actor=counselor, note=note)
    assert client.get("/api/v1/progress-notes/", {"status": "draft"}).json()["results"] == []
    assert len(client.get("/api/v1/progress-notes/", {"status": "signed"}).json()["results"]) == 1
