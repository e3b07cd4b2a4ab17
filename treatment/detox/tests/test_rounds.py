"""Round scheduling, recording and overdue alerts, with a frozen clock."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.models import Reminder
from patients.tests.factories import SubstanceUseHistoryFactory
from treatment import services as treatment_services
from treatment.detox import services, tasks
from treatment.detox.models import DetoxCourse, ObservationRound
from treatment.models import Alert, Observation, Stage

from .conftest import NORMAL_VITALS, minutes, open_round, record

T0 = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def round_reminders(observation_round):
    return Reminder.objects.filter(subject_type="detox.round", subject_id=str(observation_round.pk))


# --- Scheduling ----------------------------------------------------------------------------------------


def test_entering_detox_starts_the_course_and_schedules_the_first_round_one_interval_later(
    frozen, detox_episode, nurse
):
    episode = detox_episode()
    course = DetoxCourse.objects.get(episode=episode)
    assert course.started_at == T0
    assert course.round_interval_minutes == 240
    first = open_round(course)
    assert (first.sequence, first.status, first.due_at) == (1, "due", T0 + datetime.timedelta(hours=4))
    reminder = round_reminders(first).get()
    assert (reminder.kind, reminder.staff, reminder.send_at, reminder.status) == (
        "observation_round_due",
        nurse,
        first.due_at,
        "scheduled",
    )
    assert AuditEvent.objects.filter(model="detox.detoxcourse", object_id=str(course.pk), action="create").exists()


def test_no_nurse_assigned_means_no_due_reminder(frozen, detox_episode):
    episode = detox_episode(nurse=None)
    first = open_round(DetoxCourse.objects.get(episode=episode))
    assert not round_reminders(first).exists()


def test_a_nurse_who_left_the_facility_gets_no_reminder_and_detox_still_starts(
    frozen, open_episode, decide, patient, physician, nurse, facility
):
    episode = open_episode(patient, nurse=nurse)
    decide(episode)
    nurse.facilities.remove(facility)
    treatment_services.episode_transition(actor=physician, episode=episode, to=Stage.DETOX)
    first = open_round(DetoxCourse.objects.get(episode=episode))
    assert first.due_at == T0 + datetime.timedelta(hours=4)
    assert not round_reminders(first).exists()


def test_episodes_that_skip_detox_get_no_course(open_episode, decide, physician, patient):
    episode = open_episode(patient)
    decide(episode)
    treatment_services.episode_transition(actor=physician, episode=episode, to=Stage.THERAPY, reason="Mild.")
    assert not DetoxCourse.objects.exists()


def test_recording_closes_the_round_and_schedules_the_next_one_interval_after_the_observation(
    frozen, course, nurse, physician
):
    frozen.move_to(T0 + datetime.timedelta(hours=4, minutes=10))
    first = open_round(course)
    done = record(first, nurse, cows=9)
    assert done.status == "completed"
    assert done.observed_at == timezone.now()
    assert done.cows.total == 9
    assert done.cows.instrument == "cows"
    assert done.ciwa_ar is None
    assert done.vitals == {**NORMAL_VITALS, "temperature_c": Decimal("36.9")}
    assert round_reminders(first).get().status == "cancelled"
    second = open_round(course)
    assert second.sequence == 2
    assert second.due_at == timezone.now() + datetime.timedelta(hours=4)
    assert round_reminders(second).get().status == "scheduled"
    assert AuditEvent.objects.filter(model="detox.observationround", object_id=str(first.pk), action="record").exists()


def test_a_round_is_recorded_once(course, nurse):
    first = open_round(course)
    record(first, nurse)
    with pytest.raises(Conflict) as refused:
        record(first, nurse)
    assert refused.value.code == "round_closed"
    assert Observation.objects.filter(instrument="cows").count() == 1


def test_only_nurses_and_physicians_record_rounds(course, staff):
    first = open_round(course)
    for role in (Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN):
        with pytest.raises(NotAllowed):
            record(first, staff[role])
    record(first, staff[Role.PHYSICIAN])


def test_ciwa_ar_is_required_when_alcohol_is_co_used(detox_episode, patient, nurse):
    SubstanceUseHistoryFactory(patient=patient, substance="alcohol", amount=6, amount_unit="standard_drinks")
    first = open_round(DetoxCourse.objects.get(episode=detox_episode()))
    with pytest.raises(ValidationFailed) as refused:
        record(first, nurse)
    assert refused.value.fields == {"ciwa_ar": ["Alcohol is co-used: record CIWA-Ar with this round."]}
    done = record(first, nurse, ciwa_ar=12)
    assert (done.ciwa_ar.instrument, done.ciwa_ar.total, done.ciwa_ar.band) == ("ciwa_ar", 12, "moderate")


def test_every_problem_of_a_round_is_reported_at_once_and_nothing_is_written(course, nurse):
    first = open_round(course)
    with pytest.raises(ValidationFailed) as refused:
        services.round_record(
            actor=nurse,
            observation_round=first,
            cows={"pulse": 3},
            ciwa_ar={"nausea": 9},
            vitals={"pulse": 700, "systolic_bp": 120},
        )
    fields = refused.value.fields
    assert fields["cows.pulse"] == ["3 is not an allowed value; allowed: 0, 1, 2, 4."]
    assert fields["cows.sweating"] == ["This item is required."]
    assert "ciwa_ar.nausea" in fields
    assert fields["vitals.pulse"] == ["Must be between 20 and 250 beats/min."]
    assert fields["vitals.diastolic_bp"] == ["This vital sign is required (in mmHg)."]
    assert not Observation.objects.exists()
    assert open_round(course).pk == first.pk


def test_an_observation_cannot_be_in_the_future_or_before_detox_or_the_previous_round(frozen, course, nurse):
    frozen.move_to(T0 + datetime.timedelta(hours=5))
    first = open_round(course)
    cases = [
        (timezone.now() + minutes(5), "Cannot be in the future."),
        (T0 - minutes(1), "Cannot be before detox started."),
    ]
    for observed_at, message in cases:
        with pytest.raises(ValidationFailed) as refused:
            record(first, nurse, observed_at=observed_at)
        assert refused.value.fields == {"observed_at": [message]}
    record(first, nurse, observed_at=T0 + datetime.timedelta(hours=4))
    with pytest.raises(ValidationFailed) as refused:
        record(open_round(course), nurse, observed_at=T0 + datetime.timedelta(hours=3))
    assert refused.value.fields == {"observed_at": ["Cannot be before the previous round's observation."]}


def test_leaving_detox_stops_the_rounds(frozen, episode, course, physician, nurse):
    first = open_round(course)
    frozen.move_to(T0 + datetime.timedelta(hours=30))
    treatment_services.episode_transition(actor=physician, episode=episode, to=Stage.THERAPY)
    first.refresh_from_db()
    course.refresh_from_db()
    assert (first.status, first.cancelled_at) == ("cancelled", timezone.now())
    assert (course.ended_at, course.ended_by) == (timezone.now(), physician)
    assert round_reminders(first).get().status == "cancelled"
    assert not ObservationRound.objects.filter(status__in=ObservationRound.OPEN_STATUSES).exists()
    with pytest.raises(Conflict) as refused:
        record(first, nurse)
    assert refused.value.code == "detox_ended"
    frozen.move_to(T0 + datetime.timedelta(hours=40))
    assert services.rounds_flag_overdue() == 0


def test_a_discharge_from_detox_stops_the_rounds_too(episode, course, physician):
    treatment_services.episode_transition(
        actor=physician, episode=episode, to=Stage.DISCHARGED, reason="Left.", category="left_against_advice"
    )
    assert open_round_count(course) == 0
    course.refresh_from_db()
    assert not course.is_active


def open_round_count(course) -> int:
    return ObservationRound.objects.filter(course=course, status__in=ObservationRound.OPEN_STATUSES).count()


# --- The interval ----------------------------------------------------------------------------------------


def test_a_physician_sets_the_interval_and_the_open_round_moves(frozen, course, physician, nurse):
    frozen.move_to(T0 + datetime.timedelta(hours=4))
    record(open_round(course), nurse)  # observed at T0 + 4 h: the next is due at T0 + 8 h
    frozen.move_to(T0 + datetime.timedelta(hours=5))
    services.detox_course_set_interval(actor=physician, course=course, round_interval_minutes=60, reason="COWS up.")
    second = open_round(course)
    assert second.due_at == T0 + datetime.timedelta(hours=5)
    reminder = round_reminders(second).get(status="scheduled")
    assert reminder.send_at == second.due_at
    course.refresh_from_db()
    assert (course.round_interval_minutes, course.interval_set_by, course.interval_reason) == (
        60,
        physician,
        "COWS up.",
    )
    record(second, nurse)
    assert open_round(course).due_at == T0 + datetime.timedelta(hours=6)


@pytest.mark.parametrize("minutes_value", [59, 721, 0])
def test_the_interval_stays_within_one_to_twelve_hours(course, physician, minutes_value):
    with pytest.raises(ValidationFailed) as refused:
        services.detox_course_set_interval(actor=physician, course=course, round_interval_minutes=minutes_value)
    assert list(refused.value.fields) == ["round_interval_minutes"]


def test_only_a_physician_sets_the_interval(course, nurse):
    with pytest.raises(NotAllowed):
        services.detox_course_set_interval(actor=nurse, course=course, round_interval_minutes=120)
    course.refresh_from_db()
    assert course.round_interval_minutes == 240


# --- Overdue ----------------------------------------------------------------------------------------------


def test_a_round_is_flagged_overdue_thirty_minutes_past_due_and_alerts_its_nurse_once(frozen, course, nurse):
    first = open_round(course)
    frozen.move_to(first.due_at + minutes(29) + datetime.timedelta(seconds=59))
    assert services.rounds_flag_overdue() == 0
    assert not Alert.objects.exists()
    frozen.move_to(first.due_at + minutes(30))
    assert tasks.detox_rounds_flag_overdue.apply().get() == 1
    first.refresh_from_db()
    assert (first.status, first.overdue_at) == ("overdue", timezone.now())
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.target_user, alert.target_role) == (
        "observation_round_overdue",
        "high",
        nurse,
        "",
    )
    assert alert.episode_id == course.episode_id
    assert "due at 2026-03-02 12:00 UTC" in alert.reason
    frozen.move_to(first.due_at + minutes(90))
    assert services.rounds_flag_overdue() == 0
    assert services.round_flag_overdue(observation_round=first) is None
    assert Alert.objects.count() == 1
    event = AuditEvent.objects.get(model="detox.observationround", object_id=str(first.pk), action="overdue")
    assert event.patient_id == course.episode.patient_id


def test_without_a_nurse_the_facility_nurses_are_alerted(frozen, detox_episode):
    course = DetoxCourse.objects.get(episode=detox_episode(nurse=None))
    frozen.move_to(open_round(course).due_at + minutes(31))
    services.rounds_flag_overdue()
    alert = Alert.objects.get()
    assert (alert.target_user, alert.target_role) == (None, "nurse")


def test_an_overdue_round_can_still_be_recorded_and_the_next_is_due_from_then(frozen, course, nurse):
    first = open_round(course)
    frozen.move_to(first.due_at + minutes(45))
    services.rounds_flag_overdue()
    done = record(first, nurse)
    assert done.status == "completed"
    assert done.overdue_at == first.due_at + minutes(45)
    assert open_round(course).due_at == timezone.now() + datetime.timedelta(hours=4)
    event = AuditEvent.objects.get(model="detox.observationround", object_id=str(first.pk), action="record")
    assert event.detail["late"] is True


def test_a_recorded_round_is_never_flagged(frozen, course, nurse):
    first = open_round(course)
    frozen.move_to(first.due_at + minutes(10))
    record(first, nurse)
    frozen.move_to(first.due_at + minutes(45))
    assert services.rounds_flag_overdue() == 0
    assert not Alert.objects.exists()
