"""Entering aftercare: the plan guard, the follow-up schedule (per facility, DST-correct), the providers'
reminders the day before, missed detection with its alert, and cancellation on discharge."""

import datetime

import pytest

from aftercare import services
from aftercare.models import ProviderCheckIn
from clinic.errors import Conflict, ValidationFailed
from clinic.notifications.models import Reminder
from treatment import services as treatment_services
from treatment.models import Alert, Stage
from treatment.therapy.models import Appointment

from .conftest import NOW, audited

DAY = datetime.timedelta(days=1)


def check_ins(episode):
    return list(ProviderCheckIn.objects.filter(episode=episode).order_by("offset_days"))


def reminders_for(check_in, **filters):
    return Reminder.objects.filter(
        subject_type="aftercare.providercheckin", subject_id=str(check_in.pk), kind="check_in_due", **filters
    )


# --- The guard -----------------------------------------------------------------------------------------


def test_entering_aftercare_without_a_plan_is_a_409_naming_it(clock, patient, episode_in_therapy, team, api):
    episode = episode_in_therapy(patient)
    response = api(team["case_manager"]).post(
        f"/api/v1/episodes/{episode.pk}/transition/", {"to": "aftercare"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_requirements_unmet"
    assert error["details"]["unmet"] == ["Entering aftercare needs a relapse-prevention plan: write it first."]
    episode.refresh_from_db()
    assert episode.stage == Stage.THERAPY
    assert not ProviderCheckIn.objects.exists()


def test_entering_aftercare_needs_someone_to_hold_the_follow_ups(clock, patient, episode_in_therapy, write_plan, team):
    episode = episode_in_therapy(patient, case_manager=None, primary_counselor=None)
    write_plan(episode)
    with pytest.raises(Conflict) as caught:
        treatment_services.episode_transition(actor=team["physician"], episode=episode, to=Stage.AFTERCARE)
    assert caught.value.details["unmet"] == [
        "Assign a case manager or a primary counselor to hold the follow-up check-ins."
    ]


def test_with_a_plan_the_move_happens_and_anchors_the_schedule(clock, patient, episode_in_therapy, write_plan, team):
    episode = episode_in_therapy(patient)
    plan = write_plan(episode)
    episode = treatment_services.episode_transition(actor=team["case_manager"], episode=episode, to=Stage.AFTERCARE)
    assert episode.stage == Stage.AFTERCARE
    plan.refresh_from_db()
    assert plan.aftercare_started_at == NOW


# --- The schedule --------------------------------------------------------------------------------------


def test_check_ins_at_the_default_offsets_each_with_a_provider_and_a_reminder(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    rows = check_ins(episode)
    assert [row.offset_days for row in rows] == [7, 30, 90, 180, 365]
    assert {row.provider for row in rows} == {team["case_manager"]}
    assert {row.status for row in rows} == {"scheduled"}
    # 10:00 New York time on the day, before and after the spring DST change (8 March 2026).
    assert [row.due_at for row in rows[:2]] == [
        datetime.datetime(2026, 3, 9, 14, 0, tzinfo=datetime.UTC),  # 10:00 EDT
        datetime.datetime(2026, 4, 1, 14, 0, tzinfo=datetime.UTC),
    ]
    assert rows[0].missed_after == rows[0].due_at + 3 * DAY
    for row in rows:
        [reminder] = reminders_for(row)
        assert reminder.staff == team["case_manager"]
        assert reminder.send_at == row.due_at - DAY
        assert reminder.status == Reminder.Status.SCHEDULED
        assert audited(action="create", model="aftercare.providercheckin", object_id=row.pk)


def test_the_primary_counselor_holds_them_without_a_case_manager(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient, case_manager=None)
    assert {row.provider for row in check_ins(episode)} == {team["primary_counselor"]}


def test_a_facility_sets_its_own_offsets_time_and_grace(clock, patient, enter_aftercare, facility, staff):
    services.provider_check_in_schedule_set(
        actor=staff["clinic_admin"],
        facility=facility,
        offsets_days=[14, 3],
        due_time=datetime.time(15, 30),
        grace_days=1,
    )
    rows = check_ins(enter_aftercare(patient))
    assert [row.offset_days for row in rows] == [3, 14]
    assert rows[0].due_at == datetime.datetime(2026, 3, 5, 20, 30, tzinfo=datetime.UTC)  # 15:30 EST
    assert rows[0].missed_after == rows[0].due_at + DAY


def test_a_facility_schedule_is_checked(facility, staff, other_facility):
    for offsets in ([], [7, 7], [0], [True]):
        with pytest.raises(ValidationFailed):
            services.provider_check_in_schedule_set(
                actor=staff["clinic_admin"], facility=facility, offsets_days=offsets, due_time=NOW.time(), grace_days=3
            )
    with pytest.raises(ValidationFailed) as caught:
        services.provider_check_in_schedule_set(
            actor=staff["clinic_admin"], facility=other_facility, offsets_days=[7], due_time=NOW.time(), grace_days=3
        )
    assert list(caught.value.fields) == ["facility"]


def test_moving_the_aftercare_start_back_moves_the_open_check_ins(clock, patient, episode_in_therapy, write_plan, team):
    clock.move_to(NOW - 20 * DAY)
    episode = episode_in_therapy(patient)
    plan = write_plan(episode)
    clock.move_to(NOW)
    treatment_services.episode_transition(actor=team["case_manager"], episode=episode, to=Stage.AFTERCARE)
    first = check_ins(episode)[0]
    services.provider_check_in_complete(actor=team["case_manager"], check_in=first, outcome="stable", note="Early.")
    clock.shift(DAY)
    services.relapse_prevention_plan_update(
        actor=team["case_manager"], plan=plan, data={"aftercare_started_at": NOW - 10 * DAY}
    )
    rows = check_ins(episode)
    assert (rows[0].status, rows[0].due_at) == ("completed", first.due_at)  # history stays
    assert rows[1].due_at == datetime.datetime(2026, 3, 22, 14, 0, tzinfo=datetime.UTC)  # 30 days after 20 Feb
    assert [r.status for r in reminders_for(rows[1]).order_by("created_at")] == ["cancelled", "scheduled"]
    assert reminders_for(rows[1], status="scheduled").get().send_at == rows[1].due_at - DAY
    with pytest.raises(ValidationFailed) as caught:  # not before the episode opened, nor in the future
        services.relapse_prevention_plan_update(
            actor=team["case_manager"], plan=plan, data={"aftercare_started_at": NOW - 30 * DAY}
        )
    assert caught.value.fields == {"aftercare_started_at": ["Cannot be before the episode opened."]}
    with pytest.raises(ValidationFailed):
        services.relapse_prevention_plan_update(
            actor=team["case_manager"], plan=plan, data={"aftercare_started_at": NOW + 2 * DAY}
        )


# --- Missed ---------------------------------------------------------------------------------------------


def test_a_check_in_past_its_grace_period_is_missed_and_alerts_the_case_manager_once(
    clock, patient, enter_aftercare, team
):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    clock.move_to(first.missed_after - datetime.timedelta(minutes=1))
    assert services.provider_check_ins_mark_missed() == 0
    clock.move_to(first.missed_after)
    assert services.provider_check_ins_mark_missed() == 1
    assert services.provider_check_ins_mark_missed() == 0  # idempotent
    first.refresh_from_db()
    assert first.status == "missed"
    [alert] = Alert.objects.filter(kind="provider_check_in_missed")
    assert (alert.target_user, alert.episode, alert.severity) == (team["case_manager"], episode, "medium")
    assert patient.last_name not in alert.reason
    assert audited(action="miss", model="aftercare.providercheckin", object_id=first.pk)
    assert [row.status for row in check_ins(episode)[1:]] == ["scheduled"] * 4


def test_the_missed_alert_goes_to_case_managers_when_none_is_assigned(clock, patient, enter_aftercare):
    episode = enter_aftercare(patient, case_manager=None)
    clock.move_to(check_ins(episode)[0].missed_after)
    services.provider_check_ins_mark_missed()
    alert = Alert.objects.get(kind="provider_check_in_missed")
    assert (alert.target_user, alert.target_role) == (None, "case_manager")


def test_the_beat_task_marks_missed(clock, patient, enter_aftercare):
    from aftercare import tasks

    episode = enter_aftercare(patient)
    clock.move_to(check_ins(episode)[0].missed_after)
    assert tasks.provider_check_ins_mark_missed.apply().get() == 1


def test_a_missed_check_in_may_still_be_completed_late(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    clock.move_to(first.missed_after + DAY)
    services.provider_check_ins_mark_missed()
    done = services.provider_check_in_complete(
        actor=team["case_manager"], check_in=first, outcome="stable", note="Reached at last."
    )
    assert done.status == "completed"
    assert done.completed_at > done.missed_after


# --- Cancellation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["completed", "left_against_advice"])
def test_discharge_cancels_the_remaining_check_ins_and_their_reminders(category, clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    clock.move_to(first.due_at)
    services.provider_check_in_complete(actor=team["case_manager"], check_in=first, outcome="stable", note="Fine.")
    clock.shift(DAY)
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=episode, to=Stage.DISCHARGED, reason="Done.", category=category
    )
    rows = check_ins(episode)
    assert [row.status for row in rows] == ["completed", "cancelled", "cancelled", "cancelled", "cancelled"]
    assert all(row.cancelled_at == first.due_at + DAY for row in rows[1:])
    assert not Reminder.objects.filter(subject_type="aftercare.providercheckin", status="scheduled").exists()
    assert not Reminder.objects.filter(subject_type="aftercare.check_in_prompt", status="scheduled").exists()
    assert audited(action="cancel", model="aftercare.providercheckin", object_id=rows[1].pk)
    clock.shift(400 * DAY)
    assert services.provider_check_ins_mark_missed() == 0  # nothing left to miss


# --- The patient's calendar (therapy's appointments) ---------------------------------------------------


def calendar(episode):
    return {
        entry.subject_id: entry
        for entry in Appointment.objects.filter(patient=episode.patient, kind=Appointment.Kind.PROVIDER_CHECK_IN)
    }


def test_each_follow_up_is_on_the_patients_calendar_with_their_reminders(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    entries = calendar(episode)
    for row in check_ins(episode):
        entry = entries[str(row.pk)]
        assert (entry.starts_at, entry.with_staff, entry.status) == (row.due_at, team["case_manager"], "scheduled")
        assert entry.subject_type == "aftercare.providercheckin"
    first_entry = entries[str(check_ins(episode)[0].pk)]
    patient_reminders = Reminder.objects.filter(patient=patient, kind="appointment", subject_id=str(first_entry.pk))
    assert sorted(r.send_at for r in patient_reminders) == [
        first_entry.starts_at - DAY,
        first_entry.starts_at - datetime.timedelta(hours=2),
    ]


@pytest.mark.parametrize(("outcome", "status"), [("stable", "attended"), ("unreachable", "no_show")])
def test_completing_a_follow_up_records_it_on_the_calendar(outcome, status, clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    clock.move_to(first.due_at + datetime.timedelta(minutes=20))
    services.provider_check_in_complete(actor=team["case_manager"], check_in=first, outcome=outcome, note="Call.")
    assert calendar(episode)[str(first.pk)].status == status


def test_a_follow_up_held_early_leaves_the_calendar_slot_cancelled(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    services.provider_check_in_complete(actor=team["case_manager"], check_in=first, outcome="stable", note="Early.")
    assert calendar(episode)[str(first.pk)].status == "cancelled"


def test_handing_over_moves_the_calendar_entry(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    services.provider_check_in_update(
        actor=team["case_manager"], check_in=first, provider=team["primary_counselor"], due_at=first.due_at + DAY
    )
    entry = calendar(episode)[str(first.pk)]
    assert (entry.with_staff, entry.starts_at) == (team["primary_counselor"], first.due_at + DAY)


def test_missed_and_cancelled_follow_ups_leave_the_calendar(clock, patient, enter_aftercare, team):
    episode = enter_aftercare(patient)
    first = check_ins(episode)[0]
    clock.move_to(first.missed_after)
    services.provider_check_ins_mark_missed()
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=episode, to=Stage.DISCHARGED, reason="Moved.", category="transferred"
    )
    assert {entry.status for entry in calendar(episode).values()} == {"cancelled"}
    assert not Reminder.objects.filter(patient=patient, kind="appointment", status="scheduled").exists()


def test_the_providers_reminder_is_the_day_before_at_the_same_local_time_across_dst(
    clock, patient, enter_aftercare, facility, staff
):
    """Due on Sunday 8 March at 10:00 EDT (the morning clocks move forward): reminded on Saturday at 10:00 EST,
    which is 25 hours earlier."""
    services.provider_check_in_schedule_set(
        actor=staff["clinic_admin"], facility=facility, offsets_days=[6], due_time=datetime.time(10), grace_days=3
    )
    [row] = check_ins(enter_aftercare(patient))
    assert row.due_at == datetime.datetime(2026, 3, 8, 14, 0, tzinfo=datetime.UTC)
    assert reminders_for(row).get().send_at == datetime.datetime(2026, 3, 7, 15, 0, tzinfo=datetime.UTC)
