"""Overdue observation rounds, as beat runs them: the Celery task with a frozen clock, its boundary at exactly 30
minutes past due, one alert per round however often the task runs, who is alerted (seen through GET /alerts/),
and no flag at all once the episode has left detox (moved through the API)."""

import datetime

import pytest
import time_machine
from django.conf import settings

from clinic.audit.models import AuditEvent
from treatment.detox import tasks
from treatment.detox.models import DetoxCourse, ObservationRound
from treatment.models import Alert

from .conftest import NORMAL_VITALS, minutes, open_round, record, responses_totalling

T0 = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)
DUE = T0 + datetime.timedelta(hours=4)  # the first round of a course started at T0


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def run_beat() -> int:
    """What beat does every minute: run the task (through Celery, eagerly) and return how many it flagged."""
    return tasks.detox_rounds_flag_overdue.apply().get()


def overdue_alerts():
    return Alert.objects.filter(kind="observation_round_overdue")


def test_the_task_is_on_the_beat_schedule_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["detox-rounds-flag-overdue"]
    assert entry["task"] == tasks.detox_rounds_flag_overdue.name == "treatment.detox.tasks.detox_rounds_flag_overdue"
    assert entry["schedule"] == 60.0


@pytest.mark.parametrize(
    ("past_due", "flagged"),
    [(minutes(29), False), (minutes(29) + datetime.timedelta(seconds=59), False), (minutes(30), True),
     (minutes(31), True)],
    ids=["29m", "29m59s", "30m", "31m"],
)  # fmt: skip
def test_a_round_is_overdue_from_exactly_30_minutes_past_due(past_due, flagged, frozen, course):
    first = open_round(course)
    assert first.due_at == DUE
    frozen.move_to(DUE + past_due)
    assert run_beat() == int(flagged)
    first.refresh_from_db()
    assert first.status == ("overdue" if flagged else "due")
    assert first.overdue_at == (DUE + past_due if flagged else None)
    assert overdue_alerts().count() == int(flagged)


def test_the_task_running_again_alerts_once_per_round(frozen, course, nurse):
    first = open_round(course)
    frozen.move_to(DUE + minutes(30))
    assert run_beat() == 1
    for later in (minutes(31), minutes(90), datetime.timedelta(hours=6)):
        frozen.move_to(DUE + later)
        assert run_beat() == 0
    alert = overdue_alerts().get()
    assert (alert.severity, alert.target_user, alert.episode_id) == ("high", nurse, course.episode_id)
    assert (
        AuditEvent.objects.filter(model="detox.observationround", object_id=str(first.pk), action="overdue").count()
        == 1
    )
    first.refresh_from_db()
    assert first.overdue_at == DUE + minutes(30)  # the first flag stands


def test_each_round_gets_its_own_alert(frozen, course, nurse):
    frozen.move_to(DUE + minutes(45))
    run_beat()
    record(open_round(course), nurse)  # the overdue round, recorded late: the next is due 4 hours from now
    second = open_round(course)
    assert second.due_at == DUE + minutes(45) + datetime.timedelta(hours=4)
    frozen.move_to(second.due_at + minutes(30))
    assert run_beat() == 1
    assert overdue_alerts().count() == 2
    assert "Observation round 2 was due at" in overdue_alerts().latest("created_at").reason


def test_the_episodes_nurse_is_alerted_and_sees_it_in_the_alerts_api(frozen, course, nurse, other_staff, api):
    frozen.move_to(DUE + minutes(30))
    run_beat()
    rows = api(nurse).get(f"/api/v1/alerts/?target_user={nurse.pk}").json()["results"]
    assert [(row["kind"], row["severity"], row["episode"]) for row in rows] == [
        ("observation_round_overdue", "high", str(course.episode_id))
    ]
    assert "due at 2026-03-02 12:00 UTC" in rows[0]["reason"]
    assert api(other_staff["nurse"]).get("/api/v1/alerts/").json()["results"] == []


def test_without_an_assigned_nurse_the_facility_nurses_are_alerted(frozen, detox_episode, make_staff, other_staff, api):
    course = DetoxCourse.objects.get(episode=detox_episode(nurse=None))
    night_nurse = make_staff("nurse", username="night_nurse")
    frozen.move_to(DUE + minutes(30))
    run_beat()
    alert = overdue_alerts().get()
    assert (alert.target_user, alert.target_role) == (None, "nurse")
    rows = api(night_nurse).get("/api/v1/alerts/?target_role=nurse").json()["results"]
    assert [row["id"] for row in rows] == [str(alert.pk)]
    assert rows[0]["episode"] == str(course.episode_id)
    assert api(other_staff["nurse"]).get("/api/v1/alerts/?target_role=nurse").json()["results"] == []


@pytest.mark.parametrize("how", ["left_the_facility", "deactivated"])
def test_a_nurse_no_longer_on_duty_is_not_alerted_the_facility_nurses_are(how, frozen, course, nurse, facility):
    if how == "left_the_facility":
        nurse.facilities.remove(facility)
    else:
        nurse.is_active = False
        nurse.save(update_fields=["is_active"])
    frozen.move_to(DUE + minutes(30))
    run_beat()
    alert = overdue_alerts().get()
    assert (alert.target_user, alert.target_role) == (None, "nurse")


def test_rounds_stop_when_the_episode_leaves_detox_through_the_api(frozen, episode, course, physician, nurse, api):
    first = open_round(course)
    frozen.move_to(DUE - minutes(10))
    response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", {"to": "therapy"}, format="json")
    assert response.status_code == 200, response.content
    rows = api(nurse).get(f"/api/v1/observation-rounds/?course={course.pk}").json()["results"]
    assert [(row["sequence"], row["status"]) for row in rows] == [(1, "cancelled")]
    assert api(nurse).get(f"/api/v1/detox-courses/{course.pk}/").json()["active"] is False
    for later in (minutes(30), datetime.timedelta(hours=12)):
        frozen.move_to(DUE + later)
        assert run_beat() == 0
    assert not overdue_alerts().exists()
    assert ObservationRound.objects.filter(course=course).count() == 1  # nothing scheduled after the end
    recorded = api(nurse).post(
        f"/api/v1/observation-rounds/{first.pk}/record/",
        {"cows": responses_totalling("cows", 8), "vitals": NORMAL_VITALS},
        format="json",
    )
    assert recorded.status_code == 409
    assert recorded.json()["error"]["code"] == "detox_ended"


def test_a_round_that_becomes_overdue_then_detox_ends_is_cancelled_and_never_alerts_again(
    frozen, episode, course, physician, api
):
    frozen.move_to(DUE + minutes(30))
    run_beat()
    api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", {"to": "therapy"}, format="json")
    assert open_round_count(course) == 0
    frozen.move_to(DUE + datetime.timedelta(hours=8))
    assert run_beat() == 0
    assert overdue_alerts().count() == 1


def open_round_count(course) -> int:
    return ObservationRound.objects.filter(course=course, status__in=ObservationRound.OPEN_STATUSES).count()
