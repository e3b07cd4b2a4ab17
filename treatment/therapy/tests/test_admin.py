"""The admin: today's calendar, the session list as a calendar, the group's roster inline with attendance
(recorded on its own page through the service), and note signing and addenda, within each role's limits."""

from datetime import timedelta

import pytest
from django.test import Client

from treatment.therapy import services
from treatment.therapy.models import GroupAttendance, NoteAddendum, ProgressNote, TherapySession

from .conftest import at, audited

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def admin_as():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def test_today_lists_todays_sessions_and_groups_in_time_order(book, episode, other_episode, group, admin_as, staff):
    late = book(episode, 4)  # 18:00 UTC, 13:00 in New York
    early = book(other_episode, 1)  # 15:00 UTC, 10:00 in New York
    book(episode, 30)  # tomorrow
    response = admin_as(staff["front_desk"]).get("/admin/therapy/therapysession/today/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["time"] for row in rows] == ["10:00–10:50", "13:00–13:50"]
    assert [row["who"] for row in rows] == [early.patient.mrn, late.patient.mrn]
    assert audited(action="list", model="therapy.therapysession", object_id=early.pk)


def test_the_session_list_is_a_calendar_filtered_by_day(book, episode, admin_as, staff):
    today = book(episode, 2)
    tomorrow = book(episode, 26)
    client = admin_as(staff["front_desk"])
    assert list(client.get("/admin/therapy/therapysession/").context["cl"].result_list) == [today, tomorrow]
    shown = client.get("/admin/therapy/therapysession/", {"day": "today"}).context["cl"].result_list
    assert list(shown) == [today]
    shown = client.get("/admin/therapy/therapysession/", {"day": "tomorrow"}).context["cl"].result_list
    assert list(shown) == [tomorrow]


def test_another_facilitys_staff_see_nothing_of_ours(book, episode, admin_as, other_staff):
    session = book(episode, 2)
    client = admin_as(other_staff["front_desk"])
    assert client.get("/admin/therapy/therapysession/today/").context["rows"] == []
    assert client.get(f"/admin/therapy/therapysession/{session.pk}/change/").status_code == 302  # "does not exist"


def test_a_session_is_booked_and_marked_attended_in_the_admin(episode, counselor, admin_as, staff, clock):
    client = admin_as(staff["front_desk"])
    starts = at(1)
    response = client.post(
        "/admin/therapy/therapysession/add/",
        {
            "episode": episode.pk,
            "kind": "individual",
            "modality": "cbt",
            "counselor": counselor.pk,
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": starts.strftime("%H:%M:%S"),
            "ends_at_0": starts.strftime("%Y-%m-%d"),
            "ends_at_1": (starts + timedelta(minutes=50)).strftime("%H:%M:%S"),
            "location": "Room 4",
            "telehealth_url": "",
            "family_participants": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    session = TherapySession.objects.get()
    assert session.appointment is not None
    clock.shift(timedelta(hours=1))
    response = client.post(
        "/admin/therapy/therapysession/",
        {"action": "mark_attended", "_selected_action": [session.pk]},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "attended"


def test_the_roster_is_inline_and_attendance_is_recorded_on_its_page(group, attendee, admin_as, staff, clock):
    ada, bo = attendee(), attendee()
    client = admin_as(staff["front_desk"])
    for person in (ada, bo):
        response = client.post(f"/admin/therapy/groupsession/{group.pk}/roster/", {"patient": person.pk})
        assert response.status_code == 302
    page = client.get(f"/admin/therapy/groupsession/{group.pk}/change/")
    assert page.status_code == 200
    roster = page.context["inline_admin_formsets"][0].formset.queryset
    assert {entry.patient_id for entry in roster} == {ada.pk, bo.pk}
    clock.move_to(group.starts_at + timedelta(minutes=10))
    response = client.post(
        f"/admin/therapy/groupsession/{group.pk}/attendance/", {str(ada.pk): "attended", str(bo.pk): "no_show"}
    )
    assert response.status_code == 302
    statuses = dict(GroupAttendance.objects.values_list("patient_id", "status"))
    assert statuses == {ada.pk: "attended", bo.pk: "no_show"}


def test_the_roster_page_shows_the_services_refusal(group, attendee, admin_as, staff):
    people = [attendee() for _ in range(4)]
    client = admin_as(staff["front_desk"])
    for person in people[:3]:
        client.post(f"/admin/therapy/groupsession/{group.pk}/roster/", {"patient": person.pk})
    response = client.post(f"/admin/therapy/groupsession/{group.pk}/roster/", {"patient": people[3].pk})
    assert response.status_code == 200
    assert "The group is full." in response.content.decode()
    assert GroupAttendance.objects.count() == 3


def test_notes_are_signed_by_their_author_from_the_list_and_take_addenda(book, episode, counselor, admin_as, staff):
    session = book(episode, -2)
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    note = services.progress_note_create(
        actor=counselor, session=session, format="dap", data="Data.", assessment="Assessment.", plan="Plan."
    )
    other = admin_as(staff["physician"])
    other.post("/admin/therapy/progressnote/", {"action": "sign_notes", "_selected_action": [note.pk]})
    note.refresh_from_db()
    assert not note.is_signed  # only the author signs
    client = admin_as(counselor)
    response = client.post("/admin/therapy/progressnote/", {"action": "sign_notes", "_selected_action": [note.pk]})
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.is_signed
    page = client.get(f"/admin/therapy/progressnote/{note.pk}/change/")
    assert "plan" in page.context["adminform"].readonly_fields
    response = client.post(f"/admin/therapy/progressnote/{note.pk}/addendum/", {"text": "Late entry."})
    assert response.status_code == 302
    assert NoteAddendum.objects.get().author == counselor


def test_front_desk_cannot_open_notes_or_plans_in_the_admin(book, episode, counselor, admin_as, staff):
    session = book(episode, -2)
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    note = services.progress_note_create(actor=counselor, session=session, format="dap", data="Private.")
    client = admin_as(staff["front_desk"])
    assert client.get("/admin/therapy/progressnote/").status_code == 403
    assert client.get(f"/admin/therapy/progressnote/{note.pk}/change/").status_code == 403
    assert client.get("/admin/therapy/treatmentplan/").status_code == 403
    assert client.get("/admin/therapy/psychotherapynote/").status_code == 403
    assert ProgressNote.objects.get().data == "Private."


def test_psychotherapy_notes_in_the_admin_are_the_authors_alone(episode, counselor, counselor_b, admin_as):
    services.psychotherapy_note_create(actor=counselor, episode=episode, content="Mine.")
    assert len(admin_as(counselor).get("/admin/therapy/psychotherapynote/").context["cl"].result_list) == 1
    assert len(admin_as(counselor_b).get("/admin/therapy/psychotherapynote/").context["cl"].result_list) == 0


def test_a_plan_review_is_recorded_in_the_admin(episode, counselor, admin_as):
    plan = services.treatment_plan_create(actor=counselor, episode=episode)
    client = admin_as(counselor)
    assert client.get(f"/admin/therapy/treatmentplan/{plan.pk}/change/").status_code == 200
    response = client.post(f"/admin/therapy/treatmentplan/{plan.pk}/review/", {"summary": "On track."})
    assert response.status_code == 302
    assert plan.reviews.get().summary == "On track."


def test_the_dashboard_tiles_open_their_lists(book, episode, counselor, admin_as, staff):
    from clinic.staffadmin.registry import dashboard_tiles

    book(episode, 2)
    services.treatment_plan_create(actor=counselor, episode=episode, review_interval_days=1)
    client = admin_as(counselor)
    request = client.get("/admin/").wsgi_request
    tiles = {tile.title: tile for tile in dashboard_tiles(request) if tile.url}
    assert {"Sessions today", "Group sessions today", "Your unsigned notes", "Plan reviews due"} <= set(tiles)
    for tile in tiles.values():
        assert client.get(tile.url).status_code == 200, tile.url


def test_rows_shown_inline_are_audited_as_read(group, attendee, counselor, admin_as, staff, clock):
    from clinic.audit.models import AuditEvent

    ada = attendee()
    entry = services.group_roster_add(actor=staff["front_desk"], group=group, patient=ada)
    clock.move_to(group.ends_at)
    services.group_attendance_record(actor=counselor, group=group, attendance={ada.pk: "attended"})
    note = services.group_note_write(
        actor=counselor, group=group, format="dap", summary="Topic.", parts=[{"patient": ada.pk, "data": "D."}]
    )
    client = admin_as(staff["nurse"])
    assert client.get(f"/admin/therapy/groupsession/{group.pk}/change/").status_code == 200
    assert client.get(f"/admin/therapy/groupnote/{note.pk}/change/").status_code == 200
    part = note.parts.get()
    for record in (entry, part):
        event = AuditEvent.objects.get(actor=staff["nurse"], action="view", object_id=str(record.pk))
        assert event.patient_id == ada.pk
