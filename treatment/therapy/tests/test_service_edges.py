"""The services' refusals at their edges: times without an offset, states that no longer allow a change,
input naming fields a service does not know, and the fallbacks of the periodic reminders."""

from datetime import datetime, timedelta

import pytest

from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.models import Reminder
from clinic.tests.factories import FacilityFactory
from treatment import services as treatment_services
from treatment.models import Alert
from treatment.therapy import services
from treatment.therapy.models import Appointment, GroupSession, Modality

from .conftest import at

pytestmark = pytest.mark.usefixtures("clock")


def test_times_must_be_given_and_carry_an_offset(patient):
    with pytest.raises(ValidationFailed) as raised:
        services.appointment_schedule(
            actor=None,
            patient=patient,
            starts_at=datetime(2026, 3, 5, 10, 0),  # noqa: DTZ001 - what a careless caller passes
            ends_at=None,
            with_staff=None,
            kind=Appointment.Kind.OTHER,
            telehealth_url="http://video.example.org",
        )
    assert set(raised.value.fields) == {"starts_at", "ends_at", "telehealth_url"}


def test_unknown_fields_are_a_programming_error(book, episode, group, counselor, staff):
    session = book(episode, 48)
    with pytest.raises(ValueError, match="patient"):
        services.session_update(actor=staff["front_desk"], session=session, data={"patient": None})
    with pytest.raises(ValueError, match="facility"):
        services.group_session_update(actor=staff["front_desk"], group=group, data={"facility": None})
    plan = services.treatment_plan_create(actor=counselor, episode=episode)
    with pytest.raises(ValueError, match="episode"):
        services.treatment_plan_update(actor=counselor, plan=plan, data={"episode": None})


def test_a_cancelled_appointment_is_neither_moved_nor_given_an_outcome(patient, staff, clock):
    appointment = services.appointment_book_other(
        actor=staff["front_desk"], patient=patient, starts_at=at(1), ends_at=at(2), location="Desk"
    )
    services.appointment_cancel(actor=staff["front_desk"], appointment=appointment)
    with pytest.raises(Conflict):
        services.appointment_reschedule(
            actor=staff["front_desk"], appointment=appointment, starts_at=at(3), ends_at=at(4), with_staff=None
        )
    clock.shift(timedelta(hours=1))
    with pytest.raises(Conflict):
        services.appointment_record_outcome(actor=staff["front_desk"], appointment=appointment, status="attended")
    with pytest.raises(ValidationFailed):
        services.appointment_record_outcome(actor=staff["front_desk"], appointment=appointment, status="cancelled")


def test_moving_an_appointment_checks_the_new_time_and_staff(patient, other_staff, staff):
    appointment = services.appointment_book_other(
        actor=staff["front_desk"], patient=patient, starts_at=at(5), ends_at=at(6), location="Desk"
    )
    with pytest.raises(ValidationFailed) as raised:
        services.appointment_reschedule(
            actor=staff["front_desk"],
            appointment=appointment,
            starts_at=at(7),
            ends_at=at(6),
            with_staff=other_staff["counselor"],
        )
    assert set(raised.value.fields) == {"ends_at", "with_staff"}


def test_moving_an_appointment_within_its_own_slot_is_no_conflict(patient, counselor, staff):
    appointment = services.appointment_book_other(
        actor=staff["front_desk"], patient=patient, starts_at=at(5), ends_at=at(6), with_staff=counselor, location="A"
    )
    moved = services.appointment_reschedule(
        actor=staff["front_desk"], appointment=appointment, starts_at=at(5.5), ends_at=at(6.5), with_staff=counselor
    )
    assert moved.starts_at == at(5.5)


def test_an_appointment_of_its_own_needs_a_place(patient, staff):
    with pytest.raises(ValidationFailed) as raised:
        services.appointment_book_other(actor=staff["front_desk"], patient=patient, starts_at=at(5), ends_at=at(6))
    assert list(raised.value.fields) == ["location"]


def test_an_individual_session_has_no_family_participants_even_when_changed(book, episode, staff):
    session = book(episode, 48)
    with pytest.raises(ValidationFailed) as raised:
        services.session_update(actor=staff["front_desk"], session=session, data={"family_participants": "mother"})
    assert list(raised.value.fields) == ["family_participants"]


def test_attendance_takes_an_outcome_and_stays_once_a_note_is_written(book, episode, counselor, staff):
    session = book(episode, -1)
    with pytest.raises(ValidationFailed):
        services.session_record_attendance(actor=staff["front_desk"], session=session, status="cancelled")
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    services.progress_note_create(actor=counselor, session=session, format="dap")
    with pytest.raises(Conflict) as raised:
        services.session_record_attendance(actor=staff["front_desk"], session=session, status="no_show")
    assert raised.value.code == "has_note"
    assert services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended").pk


def test_the_facility_booked_in_is_one_of_the_actors(staff, facility):
    assert services.actor_facility(actor=staff["front_desk"]) == facility
    with pytest.raises(ValidationFailed):
        services.actor_facility(actor=staff["front_desk"], facility_id=FacilityFactory().pk)
    two_places = staff["counselor"]
    two_places.facilities.add(FacilityFactory())
    two_places = type(two_places).objects.get(pk=two_places.pk)
    with pytest.raises(ValidationFailed):
        services.actor_facility(actor=two_places)
    assert services.actor_facility(actor=two_places, facility_id=facility.pk) == facility


def test_a_group_no_longer_scheduled_is_not_changed_or_cancelled_again(group, staff):
    services.group_session_cancel(actor=staff["front_desk"], group=group)
    with pytest.raises(Conflict):
        services.group_session_update(actor=staff["front_desk"], group=group, data={"title": "Renamed"})
    with pytest.raises(Conflict):
        services.group_session_cancel(actor=staff["front_desk"], group=group)
    with pytest.raises(Conflict):
        services.group_attendance_record(actor=staff["counselor"], group=group, attendance={})


def test_a_place_is_cancelled_only_while_scheduled(group, episode, patient, staff, clock):
    with pytest.raises(ValidationFailed):
        services.group_roster_remove(actor=staff["front_desk"], group=group, patient=patient)
    services.group_roster_add(actor=staff["front_desk"], group=group, patient=patient)
    clock.move_to(group.starts_at)
    services.group_attendance_record(actor=staff["counselor"], group=group, attendance={patient.pk: "attended"})
    with pytest.raises(Conflict):
        services.group_roster_remove(actor=staff["front_desk"], group=group, patient=patient)


def test_group_attendance_input_is_checked(group, attendee, counselor, staff, clock):
    ada, bo = attendee(), attendee()
    for person in (ada, bo):
        services.group_roster_add(actor=staff["front_desk"], group=group, patient=person)
    clock.move_to(group.starts_at)
    with pytest.raises(ValidationFailed) as raised:
        services.group_attendance_record(actor=counselor, group=group, attendance={})
    assert list(raised.value.fields) == ["attendance"]
    with pytest.raises(ValidationFailed):
        services.group_attendance_record(actor=counselor, group=group, attendance={ada.pk: "late_cancelled"})
    services.group_attendance_record(actor=counselor, group=group, attendance={ada.pk: "attended", bo.pk: "attended"})
    services.group_note_write(
        actor=counselor, group=group, format="soap", summary="Topic.", parts=[{"patient": ada.pk, "subjective": "S."}]
    )
    with pytest.raises(ValidationFailed) as raised:
        services.group_attendance_record(actor=counselor, group=group, attendance={ada.pk: "no_show"})
    assert list(raised.value.fields) == [f"attendance.{ada.pk}"]
    corrected = services.group_attendance_record(actor=counselor, group=group, attendance={bo.pk: "no_show"})
    assert corrected[0].status == "no_show"
    assert GroupSession.objects.get(pk=group.pk).status == "held"


def test_group_note_rules(group, attendee, counselor, staff, clock):
    ada, bo = attendee(), attendee()
    for person in (ada, bo):
        services.group_roster_add(actor=staff["front_desk"], group=group, patient=person)
    with pytest.raises(Conflict) as raised:
        services.group_note_write(actor=counselor, group=group, format="dap", summary="", parts=[])
    assert raised.value.code == "no_attendees"
    clock.move_to(group.starts_at)
    services.group_attendance_record(actor=counselor, group=group, attendance={ada.pk: "attended", bo.pk: "attended"})
    with pytest.raises(ValidationFailed) as raised:
        services.group_note_write(
            actor=counselor,
            group=group,
            format="dap",
            summary="",
            parts=[{"patient": ada.pk}, {"patient": ada.pk}, {"patient": bo.pk, "subjective": "Not DAP."}],
        )
    assert set(raised.value.fields) == {"parts.1.patient", "parts.2.subjective"}
    note = services.group_note_write(
        actor=counselor,
        group=group,
        format="dap",
        summary="",
        parts=[{"patient": ada.pk, "data": "A.", "assessment": "A.", "plan": "A."}, {"patient": bo.pk}],
    )
    with pytest.raises(NotAllowed):
        services.group_note_write(actor=staff["physician"], group=group, format="dap", summary="x", parts=[])
    rewritten = services.group_note_write(
        actor=counselor,
        group=group,
        format="dap",
        summary="",
        parts=[{"patient": ada.pk, "data": "A.", "assessment": "A.", "plan": "A."}],
    )
    assert [part.patient_id for part in rewritten.parts.all()] == [ada.pk]  # Bo's draft part went
    part = rewritten.parts.get()
    with pytest.raises(ValidationFailed):
        services.progress_note_update(actor=counselor, note=part, data={"format": "soap"})
    assert services.progress_note_update(actor=counselor, note=part, data={"participation": "minimal"}).participation
    with pytest.raises(ValidationFailed) as raised:
        services.group_note_sign(actor=counselor, note=note)
    assert set(raised.value.fields) == {"summary", "parts"}


def test_note_edges(book, episode, counselor, staff):
    session = book(episode, -1)
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    with pytest.raises(ValueError, match="summary"):
        services.progress_note_create(actor=counselor, session=session, format="dap", summary="x")
    note = services.progress_note_create(actor=counselor, session=session, format="dap")
    assert not services.note_signature_valid(note)
    with pytest.raises(ValidationFailed):
        services.progress_note_update(actor=counselor, note=note, data={"participation": "active"})
    with pytest.raises(ValueError, match="author"):
        services.progress_note_update(actor=counselor, note=note, data={"author": staff["physician"]})
    with pytest.raises(ValidationFailed):
        services.addendum_add(actor=counselor, note=note, text="   ")
    soap = services.progress_note_update(actor=counselor, note=note, data={"format": "soap", "subjective": "S."})
    assert soap.format == "soap"


def test_psychotherapy_notes_need_content(episode, counselor):
    with pytest.raises(ValidationFailed):
        services.psychotherapy_note_create(actor=counselor, episode=episode, content="  ")
    note = services.psychotherapy_note_create(actor=counselor, episode=episode, content="Notes.")
    with pytest.raises(ValidationFailed):
        services.psychotherapy_note_update(actor=counselor, note=note, content="")


def test_an_inactive_primary_counselor_is_not_reminded_the_counselors_are_alerted(episode, counselor, clock):
    services.treatment_plan_create(actor=counselor, episode=episode, review_interval_days=1)
    counselor.is_active = False
    counselor.save(update_fields=["is_active"])
    clock.shift(timedelta(days=1))
    assert services.plan_reviews_remind_due() == 1
    assert Alert.objects.filter(kind="plan_review_due", target_role="counselor").count() == 1
    assert not Reminder.objects.filter(kind="plan_review_due").exists()


def test_a_plan_reminded_or_not_due_is_left_alone(episode, counselor, physician):
    plan = services.treatment_plan_create(actor=counselor, episode=episode)
    assert services.plan_review_remind(plan_id=plan.pk, now=at(0)) is False
    assert services.plan_review_remind(plan_id=plan.pk, now=at(days=31)) is True
    assert services.plan_review_remind(plan_id=plan.pk, now=at(days=31)) is False
    treatment_services.episode_transition(
        actor=physician, episode=episode, to="discharged", reason="Moved away.", category="transferred"
    )
    plan.refresh_from_db()
    plan.review_reminded_for = None
    plan.save(update_fields=["review_reminded_for"])
    assert services.plan_review_remind(plan_id=plan.pk, now=at(days=31)) is False


def test_an_author_who_left_the_facility_is_not_reminded_but_the_note_is_marked(book, episode, counselor, staff, clock):
    session = book(episode, -1)
    services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    note = services.progress_note_create(actor=counselor, session=session, format="dap")
    counselor.facilities.clear()
    clock.shift(timedelta(hours=73))
    assert services.notes_remind_unsigned() == 1
    assert not Reminder.objects.filter(kind="note_unsigned").exists()
    note.refresh_from_db()
    assert note.unsigned_reminded_at == at(73)
    assert services.notes_remind_unsigned() == 0


def test_groups_are_led_by_therapists_at_a_place(facility, staff):
    with pytest.raises(ValidationFailed) as raised:
        services.group_session_schedule(
            actor=staff["front_desk"],
            facility=facility,
            title="Group",
            modality=Modality.OTHER,
            facilitator=staff["nurse"],
            starts_at=at(5),
            ends_at=at(6),
            capacity=5,
        )
    assert set(raised.value.fields) == {"facilitator", "location"}
