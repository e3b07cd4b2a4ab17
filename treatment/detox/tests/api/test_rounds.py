"""POST /observation-rounds/{id}/record/ and the round lists: validation, alert thresholds at their boundaries,
scope and audit."""

import datetime

import pytest
import time_machine
from django.db import connection

from clinic.accounts.roles import Role
from patients.tests.factories import SubstanceUseHistoryFactory
from treatment import services as treatment_services
from treatment.detox.models import ObservationRound
from treatment.models import Alert, Observation
from treatment.vitals import VITAL_RANGES

from ..conftest import NORMAL_VITALS, audited, open_round, record, responses_totalling
from ..factories import ObservationRoundFactory


def body(cows=8, ciwa_ar=None, **extra):
    data = {"cows": responses_totalling("cows", cows), "vitals": dict(NORMAL_VITALS), **extra}
    if ciwa_ar is not None:
        data["ciwa_ar"] = responses_totalling("ciwa_ar", ciwa_ar)
    return data


def post_record(client, observation_round, data):
    return client.post(f"/api/v1/observation-rounds/{observation_round.pk}/record/", data, format="json")


def test_a_nurse_records_a_round(first_round, nurse, api):
    response = post_record(api(nurse), first_round, body(cows=9, ciwa_ar=4, note="Restless."))
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["sequence"], data["recorded_by"], data["note"]) == (
        "completed",
        1,
        nurse.pk,
        "Restless.",
    )
    assert (data["cows"]["total"], data["cows"]["band"]) == (9, "mild")
    assert (data["ciwa_ar"]["total"], data["ciwa_ar"]["band"]) == (4, "minimal")
    assert data["vitals"] == NORMAL_VITALS
    assert data["vital_units"]["pulse"] == "beats/min"
    assert data["vital_units"]["temperature_c"] == "°C"
    assert audited(action="record", model="detox.observationround", object_id=first_round.pk)


@pytest.mark.parametrize(
    ("vitals", "field", "message"),
    [
        ({"pulse": 700}, "vitals.pulse", "Must be between 20 and 250 beats/min."),
        ({"pulse": 19}, "vitals.pulse", "Must be between 20 and 250 beats/min."),
        ({"spo2": 101}, "vitals.spo2", "Must be between 50 and 100 %."),
        ({"respiratory_rate": 3}, "vitals.respiratory_rate", "Must be between 4 and 60 breaths/min."),
        ({"pulse": 88.5}, "vitals.pulse", "Expected a whole number."),
        ({"pulse": "88"}, "vitals.pulse", "Expected a whole number."),
        ({"diastolic_bp": 130}, "vitals.diastolic_bp", "Must be lower than the systolic pressure."),
        ({"systolic_bp": None}, "vitals.systolic_bp", "This vital sign is required (in mmHg)."),
        ({"heart_rate": 80}, "vitals.heart_rate", "Unknown vital sign; expected one of pulse, systolic_bp, "
                                                  "diastolic_bp, temperature_c, respiratory_rate, spo2."),
    ],
)  # fmt: skip
def test_implausible_vitals_are_a_400_naming_the_vital(vitals, field, message, first_round, nurse, api):
    data = body()
    data["vitals"] = {**data["vitals"], **vitals}
    response = post_record(api(nurse), first_round, data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {field: [message]}
    assert not Observation.objects.exists()
    first_round.refresh_from_db()
    assert first_round.status == "due"


@pytest.mark.parametrize(("value", "accepted"), [(20, True), (250, True), (251, False)])
def test_the_pulse_range_is_inclusive(value, accepted, first_round, nurse, api):
    data = body()
    data["vitals"]["pulse"] = value
    assert post_record(api(nurse), first_round, data).status_code == (200 if accepted else 400)


def test_a_temperature_in_fahrenheit_is_named_as_such(first_round, nurse, api):
    data = body()
    data["vitals"]["temperature_c"] = 98.6
    response = post_record(api(nurse), first_round, data)
    assert response.json()["error"]["fields"]["vitals.temperature_c"] == [
        "Must be between 30 and 45 °C.",
        "This looks like °F; enter the temperature in °C.",
    ]


def test_invalid_score_items_are_named_under_their_instrument(first_round, nurse, api):
    response = post_record(api(nurse), first_round, {**body(), "cows": {**body()["cows"], "pulse": 3}})
    assert response.json()["error"]["fields"] == {"cows.pulse": ["3 is not an allowed value; allowed: 0, 1, 2, 4."]}


# --- Alert thresholds at their boundaries, through this endpoint ------------------------------------------


@pytest.mark.parametrize(
    ("cows", "ciwa_ar", "alerts"),
    [(24, None, []), (25, None, ["cows_severity_alert"]), (8, 15, []), (8, 16, ["ciwa_ar_severity_alert"]),
     (30, 20, ["ciwa_ar_severity_alert", "cows_severity_alert"])],
)  # fmt: skip
def test_severe_scores_alert_the_physician_at_once(cows, ciwa_ar, alerts, first_round, nurse, physician, api):
    response = post_record(api(nurse), first_round, body(cows=cows, ciwa_ar=ciwa_ar))
    assert response.status_code == 200
    raised = Alert.objects.order_by("kind")
    assert [alert.kind for alert in raised] == alerts
    for alert in raised:
        assert (alert.severity, alert.target_user, alert.episode_id) == ("high", physician, first_round.episode_id)


def test_alert_listeners_are_called_after_the_commit(first_round, nurse, api, django_capture_on_commit_callbacks):
    paged = []

    def page(alert_id):
        paged.append((alert_id, connection.in_atomic_block))

    treatment_services.register_alert_listener(page)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            post_record(api(nurse), first_round, body(cows=25))
        assert paged == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        treatment_services.unregister_alert_listener(page)
    assert [alert_id for alert_id, _ in paged] == [Alert.objects.get().pk]


# --- Who and where -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.COUNSELOR, Role.CASE_MANAGER, Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_other_roles_may_not_record_or_read_rounds(role, staff, first_round, api):
    client = api(staff[role])
    assert post_record(client, first_round, body()).status_code == 403
    assert client.get("/api/v1/observation-rounds/").status_code == 403
    first_round.refresh_from_db()
    assert first_round.status == "due"


def test_other_facility_staff_and_the_patient_get_nothing(first_round, other_staff, patient, api):
    assert post_record(api(other_staff["nurse"]), first_round, body()).status_code == 404
    assert api(other_staff["nurse"]).get(f"/api/v1/observation-rounds/{first_round.pk}/").status_code == 404
    assert api(other_staff["nurse"]).get("/api/v1/observation-rounds/").json()["results"] == []
    assert post_record(api(patient.user), first_round, body()).status_code == 403
    assert api(patient.user).get("/api/v1/observation-rounds/").status_code == 403
    assert not Observation.objects.exists()


def test_a_nurse_lists_the_open_rounds_and_each_read_is_audited(course, nurse, physician, api):
    record(open_round(course), nurse)
    response = api(nurse).get(f"/api/v1/observation-rounds/?episode={course.episode_id}&status=due")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert (row["sequence"], row["status"], row["vitals"], row["cows"]) == (2, "due", None, None)
    assert audited(action="list", model="detox.observationround", object_id=row["id"])
    detail = api(physician).get(f"/api/v1/observation-rounds/{row['id']}/")
    assert detail.status_code == 200
    assert audited(action="view", model="detox.observationround", object_id=row["id"])


def test_the_round_list_costs_the_same_queries_for_1_and_50_rows(course, nurse, api, assert_list_queries_constant):
    sequence = iter(range(100, 200))
    assert_list_queries_constant(
        api(nurse),
        "/api/v1/observation-rounds/?status=cancelled",
        lambda: ObservationRoundFactory(course=course, sequence=next(sequence), status="cancelled",
                                        cancelled_at=course.started_at),
    )  # fmt: skip
    assert ObservationRound.objects.filter(course=course).count() == 51  # and the open one


# --- Scheduling through the API -----------------------------------------------------------------------------


def test_entering_detox_through_the_api_schedules_the_first_round_one_interval_later(
    open_episode, decide, patient, physician, nurse, api
):
    episode = open_episode(patient, physician=physician, nurse=nurse)
    decide(episode)
    at = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)
    with time_machine.travel(at, tick=False):
        response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", {"to": "detox"}, format="json")
        assert response.status_code == 200, response.content
        (course,) = api(nurse).get(f"/api/v1/detox-courses/?episode={episode.pk}").json()["results"]
        rows = api(nurse).get(f"/api/v1/observation-rounds/?episode={episode.pk}").json()["results"]
    assert (course["started_at"], course["round_interval_minutes"], course["active"]) == (
        "2026-03-02T08:00:00Z", 240, True
    )  # fmt: skip
    assert [(row["sequence"], row["status"], row["due_at"]) for row in rows] == [(1, "due", "2026-03-02T12:00:00Z")]


def test_a_shorter_interval_set_by_the_physician_moves_the_due_round(course, physician, nurse, api):
    api(physician).patch(f"/api/v1/detox-courses/{course.pk}/", {"round_interval_minutes": 60}, format="json")
    (row,) = api(nurse).get(f"/api/v1/observation-rounds/?course={course.pk}&status=due").json()["results"]
    assert datetime.datetime.fromisoformat(row["due_at"]) == course.started_at + datetime.timedelta(minutes=60)


def test_ciwa_ar_is_required_through_the_api_when_alcohol_is_co_used(detox_episode, patient, nurse, api):
    SubstanceUseHistoryFactory(patient=patient, substance="alcohol", amount=6, amount_unit="standard_drinks")
    first = open_round(detox_episode().detox_course)
    response = post_record(api(nurse), first, body(cows=8))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"ciwa_ar": ["Alcohol is co-used: record CIWA-Ar with this round."]}
    response = post_record(api(nurse), first, body(cows=8, ciwa_ar=12))
    assert response.status_code == 200
    assert (response.json()["ciwa_ar"]["total"], response.json()["ciwa_ar"]["band"]) == (12, "moderate")


def test_a_recorded_round_cannot_be_recorded_again(first_round, nurse, physician, api):
    assert post_record(api(nurse), first_round, body()).status_code == 200
    response = post_record(api(physician), first_round, body(cows=30))
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "round_closed", "message": "This round is already completed.", "fields": {}
    }  # fmt: skip
    assert Observation.objects.filter(instrument="cows").count() == 1
    assert not Alert.objects.exists()


# --- Every vital sign below and above its plausible range --------------------------------------------------

# Values that keep the blood pressure consistent (diastolic below systolic) at each boundary.
COMPANION = {("systolic_bp", "low"): {"diastolic_bp": 40}, ("diastolic_bp", "high"): {"systolic_bp": 250}}


def _out_of_range_cases():
    for key, vital in VITAL_RANGES.items():
        step = 1 if vital.integer else 0.1
        for side, value in (("below", vital.low - step), ("above", vital.high + step)):
            yield pytest.param(key, round(value, 1), f"Must be between {vital.low:g} and {vital.high:g} {vital.unit}.",
                               id=f"{key}-{side}")  # fmt: skip


@pytest.mark.parametrize(("key", "value", "message"), list(_out_of_range_cases()))
def test_each_vital_below_or_above_its_range_is_a_400_naming_it(key, value, message, first_round, nurse, api):
    data = body()
    data["vitals"][key] = value
    response = post_record(api(nurse), first_round, data)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"][f"vitals.{key}"][0] == message
    assert f"vitals.{key}" in error["message"]
    first_round.refresh_from_db()
    assert first_round.status == "due"
    assert not Observation.objects.exists()


@pytest.mark.parametrize("side", ["low", "high"])
@pytest.mark.parametrize("key", list(VITAL_RANGES))
def test_each_vital_at_the_edge_of_its_range_is_accepted(key, side, first_round, nurse, api):
    vital = VITAL_RANGES[key]
    data = body()
    data["vitals"].update({key: getattr(vital, side), **COMPANION.get((key, side), {})})
    response = post_record(api(nurse), first_round, data)
    assert response.status_code == 200, response.content
    assert response.json()["vitals"][key] == getattr(vital, side)


@pytest.mark.parametrize("vitals", ["88/128", [88, 128], None])
def test_vitals_that_are_not_an_object_are_a_400_naming_vitals(vitals, first_round, nurse, api):
    response = post_record(api(nurse), first_round, {**body(), "vitals": vitals})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["vitals"]


def test_the_round_says_which_unit_each_vital_is_in(first_round, nurse, api):
    data = post_record(api(nurse), first_round, body()).json()
    assert data["vital_units"] == {
        "pulse": "beats/min", "systolic_bp": "mmHg", "diastolic_bp": "mmHg", "temperature_c": "°C",
        "respiratory_rate": "breaths/min", "spo2": "%",
    }  # fmt: skip


# --- Severity alerts: without an assigned physician, the facility's physicians -------------------------------


def test_without_an_assigned_physician_a_severe_score_alerts_the_facility_physicians(detox_episode, nurse, api):
    first = open_round(detox_episode(physician=None).detox_course)
    assert post_record(api(nurse), first, body(cows=25)).status_code == 200
    alert = Alert.objects.get()
    assert (alert.kind, alert.target_user, alert.target_role) == ("cows_severity_alert", None, "physician")


def test_a_role_that_may_not_record_is_told_why(first_round, staff, api):
    response = post_record(api(staff[Role.COUNSELOR]), first_round, body())
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied", "message": "Your role may not record observation rounds.", "fields": {}
    }  # fmt: skip
