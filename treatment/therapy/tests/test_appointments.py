"""The patient's calendar: appointments, their reminders (24 h and 2 h before, discreet), cancelling and
moving them, and double-booking of a patient or a staff member."""

from datetime import timedelta

import pytest

from clinic.errors import Conflict, ValidationFailed
from clinic.notifications.discretion import indiscretions
from clinic.notifications.models import Reminder
from clinic.notifications.templates import render
from treatment.therapy import services
from treatment.therapy.models import Appointment, AttendanceStatus

from .conftest import at, audited, pending_reminders

pytestmark = pytest.mark.usefixtures("clock")


def schedule(patient, hours=48, *, minutes=30, staff=None, **kwargs):
    return services.appointment_schedule(
        actor=kwargs.pop("actor", None),
        patient=patient,
        starts_at=at(hours),
        ends_at=at(hours) + timedelta(minutes=minutes),
        with_staff=staff,
        kind=kwargs.pop("kind", Appointment.Kind.OTHER),
        location="Room 1",
        **kwargs,
    )


def test_an_appointment_schedules_reminders_24_and_2_hours_before(patient, counselor, staff):
    appointment = schedule(patient, 48, staff=counselor, actor=staff["front_desk"])
    reminders = pending_reminders(subject_type="therapy.appointment", subject_id=str(appointment.pk))
    assert sorted(reminder.send_at for reminder in reminders) == [at(48 - 24), at(48 - 2)]
    assert {reminder.kind for reminder in reminders} == {Reminder.Kind.APPOINTMENT}
    assert {reminder.patient_id for reminder in reminders} == {patient.pk}
    assert audited(action="create", model="therapy.appointment", object_id=appointment.pk)


def test_reminders_say_only_the_local_time_and_the_short_name(patient, counselor):
    appointment = schedule(patient, 48, staff=counselor)
    reminder = pending_reminders(subject_id=str(appointment.pk)).first()
    assert reminder.context == {"at": appointment.starts_at.isoformat(), "provider": "R. Lee"}
    _, text = render(reminder.kind, reminder.context, zone="America/New_York", now=at(24))
    # 14:00 UTC + 48 h is 09:00 in New York (EST) two days later.
    assert text == "You have an appointment tomorrow at 09:00 with R. Lee."
    assert not indiscretions(text, also=(patient.first_name, patient.last_name, patient.facility.name))


def test_no_reminder_that_would_already_be_past(patient, counselor):
    soon = schedule(patient, 3, staff=counselor)
    assert [r.send_at for r in pending_reminders(subject_id=str(soon.pk))] == [at(1)]
    now = schedule(patient, 1, staff=counselor)
    assert not pending_reminders(subject_id=str(now.pk)).exists()


def test_a_staff_name_that_is_not_discreet_is_left_out(patient, make_staff):
    indiscreet = make_staff("counselor", first_name="Detox", last_name="Recovery")
    appointment = schedule(patient, 48, staff=indiscreet)
    assert all("provider" not in r.context for r in pending_reminders(subject_id=str(appointment.pk)))


def test_cancelling_cancels_its_reminders(patient, counselor, staff):
    appointment = schedule(patient, 48, staff=counselor)
    cancelled = services.appointment_cancel(actor=staff["front_desk"], appointment=appointment, late=True)
    assert cancelled.status == AttendanceStatus.LATE_CANCELLED
    assert cancelled.cancelled_at == at(0)
    reminders = Reminder.objects.filter(subject_id=str(appointment.pk))
    assert reminders.count() == 2
    assert set(reminders.values_list("status", flat=True)) == {Reminder.Status.CANCELLED}
    assert audited(action="cancel", model="therapy.appointment", object_id=appointment.pk)
    with pytest.raises(Conflict):
        services.appointment_cancel(actor=staff["front_desk"], appointment=appointment)


def test_moving_an_appointment_moves_its_reminders(patient, counselor, counselor_b, staff):
    appointment = schedule(patient, 48, staff=counselor)
    moved = services.appointment_reschedule(
        actor=staff["front_desk"],
        appointment=appointment,
        starts_at=at(72),
        ends_at=at(72.5),
        with_staff=counselor_b,
    )
    assert (moved.starts_at, moved.with_staff) == (at(72), counselor_b)
    pending = pending_reminders(subject_id=str(appointment.pk))
    assert sorted(r.send_at for r in pending) == [at(48), at(70)]
    assert {r.context["provider"] for r in pending} == {"S. Ortiz"}
    assert Reminder.objects.filter(subject_id=str(appointment.pk), status="cancelled").count() == 2


@pytest.mark.parametrize(
    ("offset", "minutes", "clash"),
    [(0, 30, True), (0.25, 30, True), (-0.25, 30, True), (0.5, 30, False), (-0.5, 30, False)],
)
def test_a_patient_is_not_booked_twice_at_overlapping_times(patient, counselor, counselor_b, offset, minutes, clash):
    first = schedule(patient, 48, staff=counselor)
    if not clash:  # touching end to start is fine
        schedule(patient, 48 + offset, minutes=minutes, staff=counselor_b)
        return
    with pytest.raises(Conflict) as raised:
        schedule(patient, 48 + offset, minutes=minutes, staff=counselor_b)
    assert raised.value.code == "double_booked"
    assert [(c["resource"], c["id"], c["booked"]) for c in raised.value.details["conflicts"]] == [
        ("appointments", str(first.pk), "patient")
    ]
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_a_staff_member_is_not_booked_with_two_patients_at_once(patient, other_patient, counselor):
    first = schedule(patient, 48, staff=counselor)
    with pytest.raises(Conflict) as raised:
        schedule(other_patient, 48.25, staff=counselor)
    assert raised.value.details["conflicts"][0]["id"] == str(first.pk)
    assert raised.value.details["conflicts"][0]["booked"] == "staff"
    assert not Appointment.objects.filter(patient=other_patient).exists()


def test_cancelled_appointments_free_their_slot(patient, counselor, staff):
    first = schedule(patient, 48, staff=counselor)
    services.appointment_cancel(actor=staff["front_desk"], appointment=first)
    second = schedule(patient, 48, staff=counselor)
    assert second.status == AttendanceStatus.SCHEDULED


def test_double_booking_may_be_allowed_by_the_caller(patient, counselor):
    schedule(patient, 48, staff=counselor)
    again = schedule(patient, 48, staff=counselor, check_conflicts=False)
    assert again.pk


def test_the_subject_may_be_a_pair_or_a_model(patient, counselor, episode):
    by_pair = schedule(patient, 48, staff=counselor, subject=("aftercare.providercheckin", "42"))
    assert (by_pair.subject_type, by_pair.subject_id) == ("aftercare.providercheckin", "42")
    by_model = schedule(patient, 72, staff=counselor, subject=episode, kind=Appointment.Kind.PROVIDER_CHECK_IN)
    assert (by_model.subject_type, by_model.subject_id) == ("treatment.episode", str(episode.pk))


def test_invalid_bookings_are_refused(patient, other_staff):
    with pytest.raises(ValidationFailed) as raised:
        services.appointment_schedule(
            actor=None,
            patient=patient,
            starts_at=at(2),
            ends_at=at(1),
            with_staff=other_staff["counselor"],
            kind="party",
        )
    assert set(raised.value.fields) == {"ends_at", "kind", "with_staff"}


def test_an_outcome_is_recorded_once_the_appointment_started(patient, counselor, staff, clock):
    appointment = schedule(patient, 1, staff=counselor)
    with pytest.raises(Conflict):
        services.appointment_record_outcome(actor=staff["front_desk"], appointment=appointment, status="attended")
    clock.shift(timedelta(hours=1))
    done = services.appointment_record_outcome(actor=staff["front_desk"], appointment=appointment, status="no_show")
    assert done.status == AttendanceStatus.NO_SHOW
    assert not pending_reminders(subject_id=str(appointment.pk)).exists()


def test_only_appointments_booked_on_their_own_are_cancelled_directly(patient, counselor, staff):
    appointment = schedule(patient, 48, staff=counselor, subject=("therapy.therapysession", "1"))
    with pytest.raises(Conflict) as raised:
        services.appointment_cancel_other(actor=staff["front_desk"], appointment=appointment)
    assert raised.value.code == "cancel_through_subject"
