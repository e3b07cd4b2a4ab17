"""Group sessions: the facilitator's calendar, capacity, the roster (one appointment per rostered patient),
attendance per patient, rescheduling the whole roster at once, and cancelling."""

from datetime import timedelta

import pytest

from clinic.errors import Conflict, ValidationFailed
from treatment.therapy import services
from treatment.therapy.models import Appointment, AttendanceStatus, GroupAttendance, GroupSession, Modality

from .conftest import at, audited, pending_reminders

pytestmark = pytest.mark.usefixtures("clock")


def add(group, patient, actor):
    return services.group_roster_add(actor=actor, group=group, patient=patient)


def test_a_rostered_patient_gets_an_appointment_with_the_facilitator(group, episode, patient, counselor, staff):
    entry = add(group, patient, staff["front_desk"])
    appointment = entry.appointment
    assert (appointment.patient, appointment.with_staff, appointment.kind) == (
        patient,
        counselor,
        Appointment.Kind.GROUP_SESSION,
    )
    assert (appointment.starts_at, appointment.ends_at, appointment.location) == (
        group.starts_at,
        group.ends_at,
        "Group room",
    )
    assert pending_reminders(subject_id=str(appointment.pk)).count() == 2
    assert audited(action="roster_add", model="therapy.groupattendance", object_id=entry.pk)


def test_a_full_group_takes_no_one_more(group, attendee, staff):
    for _ in range(group.capacity):
        add(group, attendee(), staff["front_desk"])
    latecomer = attendee()
    with pytest.raises(Conflict) as raised:
        add(group, latecomer, staff["front_desk"])
    assert raised.value.code == "group_full"
    assert raised.value.details == {"capacity": 3, "on_roster": 3}
    assert not Appointment.objects.filter(patient=latecomer).exists()


def test_a_cancelled_place_frees_capacity_and_the_patient_may_come_back(group, attendee, staff):
    patients = [attendee() for _ in range(3)]
    for patient in patients:
        add(group, patient, staff["front_desk"])
    removed = services.group_roster_remove(actor=staff["front_desk"], group=group, patient=patients[0], late=True)
    assert removed.status == AttendanceStatus.LATE_CANCELLED
    assert not pending_reminders(subject_id=str(removed.appointment_id)).exists()
    add(group, attendee(), staff["front_desk"])
    with pytest.raises(Conflict):
        add(group, patients[0], staff["front_desk"])
    services.group_roster_remove(actor=staff["front_desk"], group=group, patient=patients[1])
    back = add(group, patients[0], staff["front_desk"])
    assert back.pk == removed.pk
    assert back.status == AttendanceStatus.SCHEDULED
    assert back.appointment_id != removed.appointment_id
    assert GroupAttendance.objects.filter(group_session=group, patient=patients[0]).count() == 1


def test_a_patient_is_on_a_roster_once(group, episode, patient, staff):
    add(group, patient, staff["front_desk"])
    with pytest.raises(Conflict) as raised:
        add(group, patient, staff["front_desk"])
    assert raised.value.code == "already_on_roster"


def test_a_patient_busy_at_that_time_is_not_rostered(group, book, episode, patient, counselor_b, staff):
    session = book(episode, 27, counselor=counselor_b)
    with pytest.raises(Conflict) as raised:
        add(group, patient, staff["front_desk"])
    assert raised.value.details["conflicts"][0]["subject_id"] == str(session.pk)
    assert not GroupAttendance.objects.filter(patient=patient).exists()


def test_patients_without_an_open_episode_or_of_another_facility_are_refused(group, staff, other_facility):
    from patients.tests.factories import PatientFactory

    with pytest.raises(ValidationFailed):
        add(group, PatientFactory(facility=group.facility), staff["front_desk"])
    with pytest.raises(ValidationFailed):
        add(group, PatientFactory(facility=other_facility), staff["front_desk"])


def test_the_facilitator_cannot_lead_two_groups_at_once(group, facility, counselor, staff):
    with pytest.raises(Conflict) as raised:
        services.group_session_schedule(
            actor=staff["front_desk"],
            facility=facility,
            title="DBT skills",
            modality=Modality.DBT,
            facilitator=counselor,
            starts_at=at(27),
            ends_at=at(28),
            capacity=6,
            location="Room 3",
        )
    assert raised.value.details["conflicts"][0]["id"] == str(group.pk)
    assert GroupSession.objects.count() == 1


def test_a_group_is_scheduled_only_in_ones_own_facility(other_facility, counselor, staff):
    with pytest.raises(ValidationFailed) as raised:
        services.group_session_schedule(
            actor=staff["front_desk"],
            facility=other_facility,
            title="DBT skills",
            modality=Modality.DBT,
            facilitator=counselor,
            starts_at=at(27),
            ends_at=at(28),
            capacity=6,
            location="Room 3",
        )
    assert "facility" in raised.value.fields


def test_moving_a_group_moves_every_place_and_reminder(group, attendee, counselor_b, staff):
    entries = [add(group, attendee(), staff["front_desk"]) for _ in range(2)]
    services.group_session_update(
        actor=staff["front_desk"],
        group=group,
        data={"starts_at": at(50), "ends_at": at(51), "facilitator": counselor_b},
    )
    for entry in entries:
        entry.appointment.refresh_from_db()
        assert (entry.appointment.starts_at, entry.appointment.with_staff) == (at(50), counselor_b)
        assert sorted(r.send_at for r in pending_reminders(subject_id=str(entry.appointment_id))) == [at(26), at(48)]
    assert audited(action="update", model="therapy.groupsession", object_id=group.pk)


def test_moving_a_group_onto_a_rostered_patients_session_is_refused(group, attendee, book, counselor_b, staff):
    busy = attendee()
    add(group, busy, staff["front_desk"])
    session = book(busy.episodes.get(), 50, counselor=counselor_b)
    with pytest.raises(Conflict) as raised:
        services.group_session_update(
            actor=staff["front_desk"], group=group, data={"starts_at": at(50), "ends_at": at(51)}
        )
    assert [c["subject_id"] for c in raised.value.details["conflicts"]] == [str(session.pk)]
    group.refresh_from_db()
    assert group.starts_at == at(26)


def test_capacity_cannot_drop_below_the_roster(group, attendee, staff):
    add(group, attendee(), staff["front_desk"])
    add(group, attendee(), staff["front_desk"])
    with pytest.raises(ValidationFailed) as raised:
        services.group_session_update(actor=staff["front_desk"], group=group, data={"capacity": 1})
    assert "capacity" in raised.value.fields


def test_attendance_is_recorded_per_patient(group, attendee, staff, clock):
    came, missed, dropped = attendee(), attendee(), attendee()
    for patient in (came, missed, dropped):
        add(group, patient, staff["front_desk"])
    services.group_roster_remove(actor=staff["front_desk"], group=group, patient=dropped)
    with pytest.raises(Conflict):
        services.group_attendance_record(actor=staff["counselor"], group=group, attendance={came.pk: "attended"})
    clock.move_to(group.starts_at + timedelta(minutes=5))
    with pytest.raises(ValidationFailed) as raised:
        services.group_attendance_record(actor=staff["counselor"], group=group, attendance={dropped.pk: "attended"})
    assert list(raised.value.fields) == [f"attendance.{dropped.pk}"]
    recorded = services.group_attendance_record(
        actor=staff["counselor"], group=group, attendance={came.pk: "attended", missed.pk: "no_show"}
    )
    assert {entry.patient_id: entry.status for entry in recorded} == {came.pk: "attended", missed.pk: "no_show"}
    group.refresh_from_db()
    assert group.status == GroupSession.Status.HELD
    statuses = dict(Appointment.objects.filter(subject_id=str(group.pk)).values_list("patient_id", "status"))
    assert statuses == {came.pk: "attended", missed.pk: "no_show", dropped.pk: "cancelled"}


def test_cancelling_a_group_cancels_every_place(group, attendee, staff):
    entries = [add(group, attendee(), staff["front_desk"]) for _ in range(2)]
    services.group_session_cancel(actor=staff["front_desk"], group=group, reason="Facilitator ill.")
    group.refresh_from_db()
    assert (group.status, group.cancellation_reason) == (GroupSession.Status.CANCELLED, "Facilitator ill.")
    for entry in entries:
        entry.refresh_from_db()
        assert entry.status == AttendanceStatus.CANCELLED
        assert not pending_reminders(subject_id=str(entry.appointment_id)).exists()
    with pytest.raises(Conflict):
        add(group, attendee(), staff["front_desk"])
