"""Patient self check-ins: the patient posts for themself, staff read them per patient; each alert rule (use
reported, craving >= 8, two missed days in a row once per run); the daily prompt at the patient's chosen time."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftercare import services, tasks
from aftercare.models import CheckIn, RelapsePreventionPlan
from clinic.notifications.models import Reminder
from patients.tests.factories import CommunicationConsentFactory
from treatment import services as treatment_services
from treatment.models import Alert, Stage
from treatment.tests.factories import EpisodeFactory

from ..conftest import audited
from ..factories import CheckInFactory

DAY = datetime.timedelta(days=1)
CALM = {"craving": 3, "mood": 7, "used": False, "triggers": [], "note": ""}


def post(client, **values):
    return client.post("/api/v1/check-ins/", {**CALM, **values}, format="json")


def at_local(day: int, hour: int = 20) -> datetime.datetime:
    """`hour` o'clock New York time, `day` days after 2 March 2026."""
    from zoneinfo import ZoneInfo

    local = datetime.datetime(2026, 3, 2, hour, 0, tzinfo=ZoneInfo("America/New_York")) + datetime.timedelta(days=day)
    return local.astimezone(datetime.UTC)


def alerts(kind: str):
    return list(Alert.objects.filter(kind=kind).order_by("created_at"))


# --- Posting -------------------------------------------------------------------------------------------


def test_the_patient_checks_in_for_themself(clock, patient, enter_aftercare, api):
    episode = enter_aftercare(patient)
    response = post(api(patient.user), craving=4, mood=6, triggers=["argument at home"], note="Okay day.")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["patient"], body["episode"]) == (str(patient.pk), str(episode.pk))
    assert (body["craving"], body["mood"], body["used"], body["triggers"]) == (4, 6, False, ["argument at home"])
    assert body["local_date"] == "2026-03-02"
    assert audited(action="create", model="aftercare.checkin", object_id=body["id"])
    assert not Alert.objects.filter(patient=patient).exists()


def test_a_check_in_made_offline_keeps_its_time_and_local_day(clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    clock.shift(2 * DAY)
    made = at_local(0, hour=23)  # 23:00 in New York is already 3 March in UTC
    response = post(api(patient.user), checked_in_at=made.isoformat())
    assert response.status_code == 201
    assert response.json()["local_date"] == "2026-03-02"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"craving": 11}, "craving"),
        ({"mood": -1}, "mood"),
        ({"used": None}, "used"),
        ({"triggers": "stress"}, "triggers"),
        ({"checked_in_at": "2026-03-03T14:00:00Z"}, "checked_in_at"),
    ],
)
def test_invalid_check_ins_are_a_400_naming_the_field(values, field, clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    response = post(api(patient.user), **values)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not CheckIn.objects.exists()


def test_a_check_in_needs_an_open_episode(clock, patient, api):
    response = post(api(patient.user))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_open_episode"


def test_staff_may_not_post_check_ins(clock, patient, enter_aftercare, staff, api):
    enter_aftercare(patient)
    assert post(api(staff["counselor"]), patient=str(patient.pk)).status_code == 403
    assert not CheckIn.objects.exists()


def test_staff_read_them_per_patient_and_another_patient_sees_none(
    clock, patient, other_patient, enter_aftercare, staff, other_staff, api
):
    enter_aftercare(patient)
    enter_aftercare(other_patient)
    mine = post(api(patient.user)).json()["id"]
    theirs = post(api(other_patient.user)).json()["id"]
    response = api(staff["counselor"]).get(f"/api/v1/check-ins/?patient={patient.pk}")
    assert [row["id"] for row in response.json()["results"]] == [mine]
    assert audited(action="list", model="aftercare.checkin", object_id=mine)
    own = api(patient.user).get("/api/v1/check-ins/").json()["results"]
    assert [row["id"] for row in own] == [mine]
    assert api(patient.user).get(f"/api/v1/check-ins/{theirs}/").status_code == 404
    assert api(other_staff["counselor"]).get(f"/api/v1/check-ins/{mine}/").status_code == 404
    assert api(other_staff["counselor"]).get("/api/v1/check-ins/").json()["results"] == []
    assert api(staff["front_desk"]).get("/api/v1/check-ins/").status_code == 403


def test_the_list_costs_the_same_for_1_and_50_rows(clock, patient, staff, api, assert_list_queries_constant):
    episode = EpisodeFactory(patient=patient)

    def make_row():
        CheckInFactory(episode=episode)

    assert_list_queries_constant(api(staff["counselor"]), f"/api/v1/check-ins/?patient={patient.pk}", make_row)


# --- Alert rules ---------------------------------------------------------------------------------------


def test_use_reported_alerts_the_primary_counselor(clock, patient, enter_aftercare, team, api):
    episode = enter_aftercare(patient)
    body = post(api(patient.user), used=True, craving=5).json()
    [alert] = alerts("check_in_use_reported")
    assert (alert.target_user, alert.episode, alert.severity) == (team["primary_counselor"], episode, "high")
    assert alerts("check_in_high_craving") == []
    assert patient.first_name not in alert.reason
    assert audited(action="create", model="treatment.alert", object_id=alert.pk)
    assert CheckIn.objects.get(pk=body["id"]).used


@pytest.mark.parametrize(("craving", "alerted"), [(7, False), (8, True), (10, True)])
def test_a_craving_of_8_or_more_alerts_the_primary_counselor(craving, alerted, clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    post(api(patient.user), craving=craving)
    assert len(alerts("check_in_high_craving")) == int(alerted)
    assert alerts("check_in_use_reported") == []


def test_use_and_high_craving_raise_one_alert_each(clock, patient, enter_aftercare, api):
    enter_aftercare(patient)
    post(api(patient.user), used=True, craving=9)
    assert len(alerts("check_in_use_reported")) == len(alerts("check_in_high_craving")) == 1


def test_without_a_primary_counselor_every_counselor_is_alerted(clock, patient, enter_aftercare, api):
    enter_aftercare(patient, primary_counselor=None)
    post(api(patient.user), used=True)
    [alert] = alerts("check_in_use_reported")
    assert (alert.target_user, alert.target_role) == (None, "counselor")


# --- Two missed days in a row --------------------------------------------------------------------------


@pytest.fixture
def in_aftercare(clock, patient, enter_aftercare):
    """The patient entered aftercare on Monday 2 March at 09:00 New York time (the clock's NOW)."""
    return enter_aftercare(patient)


@pytest.fixture
def check_in_on(clock, patient):
    """check_in_on(day, hour) -> the patient checks in then (the clock moves there)."""

    def submit(day: int, hour: int = 20):
        clock.move_to(at_local(day, hour))
        return services.check_in_submit(actor=patient.user, patient=patient, **CALM)

    return submit


def test_one_missed_day_raises_nothing(in_aftercare, check_in_on, clock):
    check_in_on(1)
    clock.move_to(at_local(3, hour=1))  # day 2 missed, day 3 has just begun
    assert services.missed_check_in_streaks_alert() == 0
    assert alerts("check_ins_missed") == []


def test_two_missed_days_alert_once_per_run_not_every_day(in_aftercare, check_in_on, patient, team, clock):
    check_in_on(1)
    clock.move_to(at_local(3, hour=23))  # day 2 missed, day 3 not over yet
    assert services.missed_check_in_streaks_alert() == 0
    clock.move_to(at_local(4, hour=0) + datetime.timedelta(minutes=30))  # days 2 and 3 missed
    assert services.missed_check_in_streaks_alert() == 1
    [alert] = alerts("check_ins_missed")
    assert alert.target_user == team["primary_counselor"]
    assert alert.dedupe_key == f"check_ins_missed:{patient.pk}:2026-03-04"
    assert "2 days in a row, from 2026-03-04" in alert.reason
    for day in (5, 6, 7):  # the run goes on: still the one alert
        clock.move_to(at_local(day, hour=12))
        assert services.missed_check_in_streaks_alert() == 0
    assert len(alerts("check_ins_missed")) == 1
    # Back, then two more missed days: a new run, a new alert.
    check_in_on(7, hour=13)
    clock.move_to(at_local(10, hour=6))
    assert tasks.missed_check_in_streaks_alert.apply().get() == 1
    assert [a.dedupe_key for a in alerts("check_ins_missed")] == [
        f"check_ins_missed:{patient.pk}:2026-03-04",
        f"check_ins_missed:{patient.pk}:2026-03-10",
    ]


def test_the_days_are_the_patients_local_days(in_aftercare, check_in_on, clock):
    """A check-in at 22:00 in New York is the next day in UTC; it still counts for the New York day."""
    check_in_on(1, hour=22)
    check_in_on(2, hour=22)
    clock.move_to(at_local(4, hour=0) + datetime.timedelta(minutes=5))  # only day 3 missed
    assert services.missed_check_in_streaks_alert() == 0


def test_the_day_of_entering_aftercare_is_not_expected(in_aftercare, patient, clock):
    clock.move_to(at_local(2, hour=22))  # day 1 missed, day 2 not over
    assert services.missed_check_in_streaks_alert() == 0
    clock.move_to(at_local(3, hour=1))  # days 1 and 2 missed
    assert services.missed_check_in_streaks_alert() == 1


def test_a_check_in_that_ends_a_run_before_beat_saw_it_raises_the_alert_itself(
    in_aftercare, check_in_on, patient, clock, api
):
    check_in_on(1)
    clock.move_to(at_local(4, hour=0) + datetime.timedelta(minutes=2))  # days 2 and 3 missed; beat not run yet
    post(api(patient.user))
    [alert] = alerts("check_ins_missed")
    assert alert.dedupe_key == f"check_ins_missed:{patient.pk}:2026-03-04"
    clock.shift(datetime.timedelta(hours=1))
    assert services.missed_check_in_streaks_alert() == 0  # the patient is back today
    assert len(alerts("check_ins_missed")) == 1


def test_missed_days_are_watched_only_in_aftercare(clock, patient, episode_in_therapy, team):
    episode_in_therapy(patient)
    clock.shift(5 * DAY)
    assert services.missed_check_in_streaks_alert() == 0


def test_discharge_ends_the_watch(in_aftercare, patient, team, clock):
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=in_aftercare, to=Stage.DISCHARGED, reason="Done.", category="completed"
    )
    clock.shift(5 * DAY)
    assert services.missed_check_in_streaks_alert() == 0


# --- The daily prompt ----------------------------------------------------------------------------------


def prompts(**filters):
    return list(Reminder.objects.filter(kind="check_in_prompt", **filters).order_by("send_at"))


@pytest.fixture
def sms_patient(patient):
    patient.phone, patient.preferred_channel = "+16175550100", "sms"
    patient.save()
    CommunicationConsentFactory(patient=patient, channel="sms")
    return patient


def test_entering_aftercare_schedules_the_first_prompt_at_the_chosen_local_time(clock, sms_patient, enter_aftercare):
    enter_aftercare(sms_patient, plan={"check_in_prompt_time": datetime.time(19, 30)})
    [prompt] = prompts()
    assert prompt.patient == sms_patient
    assert prompt.send_at == at_local(0, hour=19) + datetime.timedelta(minutes=30)
    assert (prompt.status, prompt.channel) == ("scheduled", "sms")


def test_the_prompt_task_schedules_the_next_day_once(clock, sms_patient, enter_aftercare):
    episode = enter_aftercare(sms_patient, plan={"check_in_prompt_time": datetime.time(19, 30)})
    assert services.check_in_prompts_schedule() == 0  # today's is waiting
    clock.move_to(at_local(0, hour=19) + datetime.timedelta(minutes=31))  # today's went out
    assert tasks.check_in_prompts_schedule.apply().get() == 1
    assert services.check_in_prompts_schedule() == 0  # idempotent
    assert [p.send_at for p in prompts()] == [
        at_local(0, hour=19) + datetime.timedelta(minutes=30),
        at_local(1, hour=19) + datetime.timedelta(minutes=30),
    ]
    clock.move_to(at_local(7, hour=12))  # across the DST change: still 19:30 in New York
    services.check_in_prompts_schedule()
    assert prompts()[-1].send_at == datetime.datetime(2026, 3, 9, 23, 30, tzinfo=datetime.UTC)
    assert {p.subject_id for p in prompts()} == {str(episode.pk)}


def test_checking_in_before_the_prompt_cancels_todays_and_schedules_tomorrows(clock, sms_patient, enter_aftercare, api):
    enter_aftercare(sms_patient, plan={"check_in_prompt_time": datetime.time(19, 30)})
    post(api(sms_patient.user))
    assert [(p.status, p.send_at) for p in prompts()] == [
        ("cancelled", at_local(0, hour=19) + datetime.timedelta(minutes=30)),
        ("scheduled", at_local(1, hour=19) + datetime.timedelta(minutes=30)),
    ]


def test_a_check_in_locks_the_plan_row_alone_and_still_moves_the_prompt(clock, sms_patient, enter_aftercare, api):
    """The plan's episode, patient and facility are the rows the check-in already read: not joined again."""
    episode = enter_aftercare(sms_patient, plan={"check_in_prompt_time": datetime.time(19, 30)})
    client = api(sms_patient.user)
    with CaptureQueriesContext(connection) as queries:
        assert post(client).status_code == 201
    [lock] = [q["sql"] for q in queries.captured_queries if 'FROM "aftercare_relapsepreventionplan"' in q["sql"]]
    assert "JOIN" not in lock, lock
    assert "FOR UPDATE" in lock, lock
    [cancelled, tomorrows] = prompts()
    assert (cancelled.status, tomorrows.status) == ("cancelled", "scheduled")
    assert tomorrows.send_at == at_local(1, hour=19) + datetime.timedelta(minutes=30)
    assert (tomorrows.patient, tomorrows.facility_id, tomorrows.subject_id) == (
        sms_patient,
        sms_patient.facility_id,
        str(episode.pk),
    )
    assert RelapsePreventionPlan.objects.get(episode=episode).prompt_scheduled_for == datetime.date(2026, 3, 3)


def test_the_patient_chooses_their_prompt_time_and_the_next_prompt_moves(clock, sms_patient, enter_aftercare, api):
    episode = enter_aftercare(sms_patient, plan={"check_in_prompt_time": datetime.time(19, 30)})
    plan = RelapsePreventionPlan.objects.get(episode=episode)
    url = f"/api/v1/relapse-prevention-plans/{plan.pk}/check-in-prompt/"
    response = api(sms_patient.user).patch(url, {"check_in_prompt_time": "12:15"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["check_in_prompt_time"] == "12:15:00"
    assert [(p.status, p.send_at) for p in prompts()] == [
        ("scheduled", at_local(0, hour=12) + datetime.timedelta(minutes=15)),
        ("cancelled", at_local(0, hour=19) + datetime.timedelta(minutes=30)),
    ]
    assert audited(action="update", model="aftercare.relapsepreventionplan", object_id=plan.pk)
    response = api(sms_patient.user).patch(url, {"check_in_prompt_time": None}, format="json")
    assert response.status_code == 200
    assert not prompts(status="scheduled")
    assert services.check_in_prompts_schedule() == 0  # no prompt wanted


def test_discharge_cancels_the_pending_prompt(clock, sms_patient, enter_aftercare, team):
    episode = enter_aftercare(sms_patient)
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=episode, to=Stage.DISCHARGED, reason="Done.", category="completed"
    )
    assert [p.status for p in prompts()] == ["cancelled"]
    clock.shift(DAY)
    assert services.check_in_prompts_schedule() == 0
