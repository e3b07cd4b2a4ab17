"""Progress notes (DAP / SOAP): written by counselors and physicians, signed by their author only, locked once
signed (in the database too), changed by signed addenda; group notes written once with a part per attendee
that lands only in that attendee's chart; reminders for notes left unsigned; psychotherapy notes."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction

from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.models import Reminder
from treatment.therapy import services, tasks
from treatment.therapy.models import NoteAddendum, ProgressNote

from .conftest import at, audited

pytestmark = pytest.mark.usefixtures("clock")

DAP = {
    "data": "Reported two cravings this week; used urge surfing both times.",
    "assessment": "Engaged and motivated; coping skills improving.",
    "plan": "Continue weekly CBT; practise thought records daily.",
}


@pytest.fixture
def held(book, episode, staff, clock):
    """A session an hour ago that the patient attended."""
    session = book(episode, -1)
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    return session


@pytest.fixture
def note(held, counselor):
    return services.progress_note_create(actor=counselor, session=held, format="dap", **DAP)


def test_a_note_is_written_for_an_attended_session_once(book, episode, held, counselor, staff):
    note = services.progress_note_create(actor=counselor, session=held, format="dap", data="Started.")
    assert (note.patient, note.episode, note.author, note.status) == (held.patient, episode, counselor, "draft")
    assert audited(action="create", model="therapy.progressnote", object_id=note.pk)
    with pytest.raises(Conflict) as raised:
        services.progress_note_create(actor=staff["physician"], session=held, format="soap")
    assert raised.value.details == {"note": str(note.pk)}
    upcoming = book(episode, 48)
    with pytest.raises(Conflict) as raised:
        services.progress_note_create(actor=counselor, session=upcoming, format="dap")
    assert raised.value.code == "session_not_attended"


def test_only_counselors_and_physicians_write_notes(held, staff):
    for role in ("nurse", "front_desk", "case_manager", "clinic_admin"):
        with pytest.raises(NotAllowed):
            services.progress_note_create(actor=staff[role], session=held, format="dap")
    assert services.progress_note_create(actor=staff["physician"], session=held, format="soap").pk


def test_sections_follow_the_format(held, counselor):
    with pytest.raises(ValidationFailed) as raised:
        services.progress_note_create(actor=counselor, session=held, format="dap", subjective="Feels better.")
    assert list(raised.value.fields) == ["subjective"]


def test_only_the_author_changes_a_draft(note, staff, counselor):
    with pytest.raises(NotAllowed):
        services.progress_note_update(actor=staff["physician"], note=note, data={"plan": "Another plan."})
    changed = services.progress_note_update(actor=counselor, note=note, data={"plan": "Fortnightly CBT."})
    assert changed.plan == "Fortnightly CBT."
    assert audited(action="update", model="therapy.progressnote", object_id=note.pk)


def test_a_complete_note_is_signed_by_its_author_only(held, counselor, staff):
    draft = services.progress_note_create(actor=counselor, session=held, format="soap", subjective="Tired.")
    with pytest.raises(ValidationFailed) as raised:
        services.progress_note_sign(actor=counselor, note=draft)
    assert set(raised.value.fields) == {"objective", "assessment", "plan"}
    services.progress_note_update(
        actor=counselor, note=draft, data={"objective": "Calm.", "assessment": "Stable.", "plan": "Continue."}
    )
    with pytest.raises(NotAllowed):
        services.progress_note_sign(actor=staff["physician"], note=draft)
    signed = services.progress_note_sign(actor=counselor, note=draft)
    assert (signed.status, signed.signed_at) == ("signed", at(0))
    assert services.note_signature_valid(signed)
    assert audited(action="sign", model="therapy.progressnote", object_id=signed.pk)


def test_a_signed_note_is_locked(note, counselor):
    services.progress_note_sign(actor=counselor, note=note)
    with pytest.raises(Conflict) as raised:
        services.progress_note_update(actor=counselor, note=note, data={"plan": "Changed my mind."})
    assert raised.value.code == "note_signed"
    with pytest.raises(Conflict):
        services.progress_note_sign(actor=counselor, note=note)
    note.refresh_from_db()
    assert note.plan == DAP["plan"]


def test_the_database_refuses_to_change_or_delete_a_signed_note(note, counselor):
    services.progress_note_sign(actor=counselor, note=note)
    with pytest.raises(DatabaseError), transaction.atomic():
        ProgressNote.objects.filter(pk=note.pk).update(plan="Rewritten behind everyone's back.")
    with pytest.raises(DatabaseError), transaction.atomic():
        ProgressNote.objects.filter(pk=note.pk).delete()
    with transaction.atomic():  # moving updated_at (an addendum arrived) stays possible
        ProgressNote.objects.filter(pk=note.pk).update(updated_at=at(1))
    note.refresh_from_db()
    assert note.plan == DAP["plan"]
    assert services.note_signature_valid(note)


def test_changes_to_a_signed_note_are_signed_addenda(note, counselor, staff, clock):
    with pytest.raises(Conflict) as raised:
        services.addendum_add(actor=counselor, note=note, text="Too early.")
    assert raised.value.code == "note_not_signed"
    services.progress_note_sign(actor=counselor, note=note)
    clock.shift(timedelta(hours=2))
    addendum = services.addendum_add(
        actor=staff["physician"], note=note, text="Late entry: reported a lapse on Saturday."
    )
    assert (addendum.author, addendum.signed_at, len(addendum.content_hash)) == (staff["physician"], at(2), 64)
    note.refresh_from_db()
    assert note.updated_at == at(2)
    assert audited(action="create", model="therapy.noteaddendum", object_id=addendum.pk)
    with pytest.raises(NotAllowed):
        services.addendum_add(actor=staff["nurse"], note=note, text="Not mine to add.")
    with pytest.raises(DatabaseError), transaction.atomic():
        NoteAddendum.objects.filter(pk=addendum.pk).update(text="Edited.")


# --- Group notes ----------------------------------------------------------------------------------------


@pytest.fixture
def held_group(group, attendee, staff, clock):
    """The group, held with two attendees (Ada Quill, Bo Marsh) and one no-show (Cy Fenwick)."""
    people = [
        attendee(first_name="Ada", last_name="Quill"),
        attendee(first_name="Bo", last_name="Marsh"),
        attendee(first_name="Cy", last_name="Fenwick"),
    ]
    for person in people:
        services.group_roster_add(actor=staff["front_desk"], group=group, patient=person)
    clock.move_to(group.ends_at)
    services.group_attendance_record(
        actor=staff["counselor"],
        group=group,
        attendance={people[0].pk: "attended", people[1].pk: "attended", people[2].pk: "no_show"},
    )
    return group, people


def part(patient, text: str) -> dict:
    return {
        "patient": patient.pk,
        "participation": "active",
        "data": text,
        "assessment": "Progressing.",
        "plan": "Continue.",
    }


SUMMARY = "Topic: high-risk situations. The group mapped triggers and rehearsed refusal skills."


def test_a_group_note_has_a_part_per_attendee_in_their_own_chart(held_group, counselor):
    group, (ada, bo, cy) = held_group
    note = services.group_note_write(
        actor=counselor,
        group=group,
        format="dap",
        summary=SUMMARY,
        parts=[part(ada, "Shared a recent trigger at work."), part(bo, "Quiet; practised one refusal.")],
    )
    parts = {p.patient_id: p for p in note.parts.all()}
    assert set(parts) == {ada.pk, bo.pk}
    assert parts[ada.pk].data == "Shared a recent trigger at work."
    assert parts[ada.pk].episode == ada.episodes.get()
    assert audited(action="create", model="therapy.groupnote", object_id=note.pk)
    assert audited(action="create", model="therapy.progressnote", object_id=parts[bo.pk].pk)


def test_parts_are_only_for_patients_who_attended(held_group, counselor, patient):
    group, (ada, _, cy) = held_group
    with pytest.raises(ValidationFailed) as raised:
        services.group_note_write(
            actor=counselor, group=group, format="dap", summary=SUMMARY, parts=[part(cy, "Absent."), part(patient, "?")]
        )
    assert set(raised.value.fields) == {"parts.0.patient", "parts.1.patient"}


def test_a_group_note_is_signed_whole_with_every_attendee_covered(held_group, counselor, staff):
    group, (ada, bo, _) = held_group
    note = services.group_note_write(
        actor=counselor, group=group, format="dap", summary=SUMMARY, parts=[part(ada, "Shared a trigger.")]
    )
    with pytest.raises(ValidationFailed) as raised:
        services.group_note_sign(actor=counselor, note=note)
    assert list(raised.value.fields) == ["parts"]
    note = services.group_note_write(
        actor=counselor,
        group=group,
        format="dap",
        summary=SUMMARY,
        parts=[part(ada, "Shared a trigger."), part(bo, "Practised a refusal.")],
    )
    with pytest.raises(NotAllowed):
        services.group_note_sign(actor=staff["physician"], note=note)
    signed = services.group_note_sign(actor=counselor, note=note)
    assert signed.signed_at == group.ends_at
    for chart_part in ProgressNote.objects.filter(group_note=note):
        assert chart_part.signed_at == signed.signed_at
        assert services.note_signature_valid(chart_part)
    with pytest.raises(Conflict):
        services.group_note_write(actor=counselor, group=group, format="dap", summary="Rewritten.", parts=[])
    with pytest.raises(Conflict) as raised:
        services.progress_note_update(actor=counselor, note=chart_part, data={"data": "Changed."})
    assert raised.value.code == "note_signed"


def test_a_part_cannot_be_signed_on_its_own(held_group, counselor):
    group, (ada, bo, _) = held_group
    note = services.group_note_write(
        actor=counselor, group=group, format="dap", summary=SUMMARY, parts=[part(ada, "A."), part(bo, "B.")]
    )
    with pytest.raises(Conflict) as raised:
        services.progress_note_sign(actor=counselor, note=note.parts.first())
    assert raised.value.code == "sign_group_note"


def test_naming_another_attendee_must_be_confirmed(held_group, counselor):
    group, (ada, bo, cy) = held_group
    note = services.group_note_write(
        actor=counselor,
        group=group,
        format="dap",
        summary=SUMMARY + " Cy was missed.",
        parts=[part(ada, "Supported Marsh when he spoke."), part(bo, f"Bo spoke about work; MRN {bo.mrn} ok.")],
    )
    with pytest.raises(Conflict) as raised:
        services.group_note_sign(actor=counselor, note=note)
    assert raised.value.code == "attendee_named"
    assert raised.value.details == {"named": {"summary": [str(cy.pk)], f"parts.{ada.pk}": [str(bo.pk)]}}
    signed = services.group_note_sign(actor=counselor, note=note, names_reviewed=True)
    assert signed.is_signed


def test_unsigned_notes_are_brought_to_their_author_after_72_hours(note, held_group, counselor, clock):
    group, (ada, bo, _) = held_group
    group_note = services.group_note_write(
        actor=counselor, group=group, format="dap", summary=SUMMARY, parts=[part(ada, "A."), part(bo, "B.")]
    )
    clock.move_to(note.created_at + timedelta(hours=72))
    assert tasks.notes_remind_unsigned() == 1  # the session note; the group note is younger
    clock.move_to(group_note.created_at + timedelta(hours=72))
    assert tasks.notes_remind_unsigned() == 1  # the group note, once (not once per part)
    assert tasks.notes_remind_unsigned() == 0
    reminders = Reminder.objects.filter(kind=Reminder.Kind.NOTE_UNSIGNED)
    assert {(r.staff_id, r.subject_type, r.subject_id) for r in reminders} == {
        (counselor.pk, "therapy.progressnote", str(note.pk)),
        (counselor.pk, "therapy.groupnote", str(group_note.pk)),
    }
    assert all(r.context == {} for r in reminders)


def test_signed_notes_are_not_reminded(note, counselor, clock):
    services.progress_note_sign(actor=counselor, note=note)
    clock.shift(timedelta(hours=80))
    assert services.notes_remind_unsigned() == 0


# --- Psychotherapy notes --------------------------------------------------------------------------------


def test_psychotherapy_notes_are_changed_by_their_author_only(episode, held, counselor, staff):
    note = services.psychotherapy_note_create(actor=counselor, episode=episode, session=held, content="Process notes.")
    assert (note.patient, note.author) == (episode.patient, counselor)
    with pytest.raises(NotAllowed):
        services.psychotherapy_note_update(actor=staff["physician"], note=note, content="Mine now.")
    with pytest.raises(NotAllowed):
        services.psychotherapy_note_create(actor=staff["nurse"], episode=episode, content="Not allowed.")
    updated = services.psychotherapy_note_update(actor=counselor, note=note, content="Revised process notes.")
    assert updated.content == "Revised process notes."
    assert audited(action="update", model="therapy.psychotherapynote", object_id=note.pk)


def test_a_psychotherapy_note_names_a_session_of_its_episode(episode, other_episode, book, counselor):
    other_session = book(other_episode, 48)
    with pytest.raises(ValidationFailed):
        services.psychotherapy_note_create(actor=counselor, episode=episode, session=other_session, content="x")
