"""Individual and family sessions: booking (with the appointment and its reminders), double-booking of the
counselor or the patient, rescheduling, cancelling, attendance, and what a discharge does to them."""

from datetime import timedelta

import pytest

from clinic.errors import Conflict, ValidationFailed
from clinic.notifications.models import Reminder
from treatment import services as treatment_services
from treatment.therapy import services
from treatment.therapy.models import Appointment, AttendanceStatus, TherapySession

from .conftest import at, audited, pending_reminders

pytestmark = pytest.mark.usefixtures("clock")


def test_booking_a_session_books_the_patients_appointment(book, episode, patient, counselor, staff):
    session = book(episode, 48, telehealth_url="https://video.example.org/r/abc")
    assert (session.patient, session.counselor, session.status) == (patient, counselor, AttendanceStatus.SCHEDULED)
    appointment = session.appointment
    assert (appointment.kind, appointment.with_staff, appointment.starts_at, appointment.ends_at) == (
        Appointment.Kind.SESSION,
        counselor,
        session.starts_at,
        session.ends_at,
    )
    assert (appointment.subject_type, appointment.subject_id) == ("therapy.therapysession", str(session.pk))
    assert appointment.telehealth_url == "https://video.example.org/r/abc"
    assert pending_reminders(subject_id=str(appointment.pk)).count() == 2
    assert audited(action="create", model="therapy.therapysession", object_id=session.pk)


def test_the_counselor_cannot_be_in_two_sessions_at_once(book, episode, other_episode):
    first = book(episode, 48)
    with pytest.raises(Conflict) as raised:
        book(other_episode, 48.5)
    assert raised.value.code == "double_booked"
    conflict = raised.value.details["conflicts"][0]
    assert (conflict["id"], conflict["booked"], conflict["subject_id"]) == (
        str(first.appointment_id),
        "staff",
        str(first.pk),
    )
    assert not TherapySession.objects.filter(episode=other_episode).exists()


def test_the_patient_cannot_be_in_two_sessions_at_once(book, episode, counselor_b):
    book(episode, 48)
    with pytest.raises(Conflict):
        book(episode, 48, counselor=counselor_b, kind="family", family_participants="mother")
    assert TherapySession.objects.filter(episode=episode).count() == 1


def test_a_facilitator_in_a_group_cannot_take_a_session_then(book, episode, group):
    with pytest.raises(Conflict) as raised:
        book(episode, 26.5)
    assert raised.value.details["conflicts"] == [
        {
            "resource": "group-sessions",
            "id": str(group.pk),
            "booked": "staff",
            "starts_at": group.starts_at.isoformat(),
            "ends_at": group.ends_at.isoformat(),
        }
    ]


def test_back_to_back_sessions_are_fine(book, episode, other_episode):
    book(episode, 48, minutes=60)
    assert book(other_episode, 49).pk


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"location": "", "telehealth_url": ""}, "location"),
        ({"telehealth_url": "http://insecure.example.org"}, "telehealth_url"),
        ({"family_participants": "partner"}, "family_participants"),
        ({"minutes": 9 * 60}, "ends_at"),
    ],
)
def test_bookings_are_checked(book, episode, fields, field):
    with pytest.raises(ValidationFailed) as raised:
        book(episode, 48, **fields)
    assert field in raised.value.fields


def test_only_counselors_and_physicians_lead_sessions(book, episode, staff, other_staff):
    with pytest.raises(ValidationFailed) as raised:
        book(episode, 48, counselor=staff["nurse"])
    assert "counselor" in raised.value.fields
    with pytest.raises(ValidationFailed):
        book(episode, 48, counselor=other_staff["counselor"])
    assert book(episode, 48, counselor=staff["physician"]).counselor == staff["physician"]


def test_a_closed_episode_gets_no_session(book, episode, physician):
    treatment_services.episode_transition(
        actor=physician, episode=episode, to="discharged", reason="Moved away.", category="transferred"
    )
    with pytest.raises(Conflict) as raised:
        book(episode, 48)
    assert raised.value.code == "episode_closed"


def test_rescheduling_moves_the_appointment_and_its_reminders(book, episode, counselor_b, staff):
    session = book(episode, 48)
    old_appointment = session.appointment
    moved = services.session_update(
        actor=staff["front_desk"],
        session=session,
        data={"starts_at": at(72), "ends_at": at(73), "counselor": counselor_b, "location": "Room 5"},
    )
    old_appointment.refresh_from_db()
    assert (old_appointment.starts_at, old_appointment.with_staff, old_appointment.location) == (
        at(72),
        counselor_b,
        "Room 5",
    )
    assert sorted(r.send_at for r in pending_reminders(subject_id=str(old_appointment.pk))) == [at(48), at(70)]
    assert audited(action="update", model="therapy.therapysession", object_id=moved.pk)


def test_rescheduling_into_a_busy_slot_changes_nothing(book, episode, other_episode, staff):
    session = book(episode, 48)
    book(other_episode, 72)
    with pytest.raises(Conflict):
        services.session_update(
            actor=staff["front_desk"], session=session, data={"starts_at": at(72), "ends_at": at(73)}
        )
    session.refresh_from_db()
    assert session.starts_at == at(48)
    assert session.appointment.starts_at == at(48)


def test_cancelling_a_session_cancels_its_appointment_and_reminders(book, episode, staff):
    session = book(episode, 48)
    cancelled = services.session_cancel(actor=staff["front_desk"], session=session, reason="Unwell.", late=True)
    assert (cancelled.status, cancelled.cancellation_reason) == (AttendanceStatus.LATE_CANCELLED, "Unwell.")
    cancelled.appointment.refresh_from_db()
    assert cancelled.appointment.status == AttendanceStatus.LATE_CANCELLED
    assert not pending_reminders(subject_id=str(cancelled.appointment_id)).exists()
    with pytest.raises(Conflict):
        services.session_update(actor=staff["front_desk"], session=session, data={"location": "Room 9"})
    with pytest.raises(Conflict):
        services.session_cancel(actor=staff["front_desk"], session=session)


def test_attendance_is_recorded_once_the_session_started(book, episode, staff, clock):
    session = book(episode, 2)
    with pytest.raises(Conflict) as raised:
        services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    assert raised.value.code == "not_started"
    clock.shift(timedelta(hours=1, minutes=50))  # ten minutes early: checked in
    session = services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")
    assert (session.status, session.attendance_recorded_by) == (AttendanceStatus.ATTENDED, staff["front_desk"])
    session.appointment.refresh_from_db()
    assert session.appointment.status == AttendanceStatus.ATTENDED
    corrected = services.session_record_attendance(actor=staff["front_desk"], session=session, status="no_show")
    assert corrected.status == AttendanceStatus.NO_SHOW


def test_attendance_of_a_cancelled_session_is_refused(book, episode, staff, clock):
    session = book(episode, 1)
    services.session_cancel(actor=staff["front_desk"], session=session)
    clock.shift(timedelta(hours=2))
    with pytest.raises(Conflict):
        services.session_record_attendance(actor=staff["front_desk"], session=session, status="attended")


def test_a_discharge_cancels_the_sessions_and_group_places_to_come(
    book, episode, patient, group, staff, physician, clock
):
    past = book(episode, -3)
    services.session_record_attendance(actor=staff["front_desk"], session=past, status="attended")
    future = book(episode, 48)
    place = services.group_roster_add(actor=staff["front_desk"], group=group, patient=patient)
    treatment_services.episode_transition(
        actor=physician, episode=episode, to="discharged", reason="Completed.", category="completed"
    )
    past.refresh_from_db()
    future.refresh_from_db()
    place.refresh_from_db()
    assert past.status == AttendanceStatus.ATTENDED
    assert (future.status, future.cancellation_reason) == (AttendanceStatus.CANCELLED, "The episode of care ended.")
    assert place.status == AttendanceStatus.CANCELLED
    assert not pending_reminders(patient=patient).exists()
    assert Reminder.objects.filter(patient=patient, status="cancelled").count() == 4
