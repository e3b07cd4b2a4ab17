"""POST /observation-rounds/{id}/record/ and the round lists: validation, alert thresholds at their boundaries,
scope and audit."""

import pytest
from django.db import connection

from clinic.accounts.roles import Role
from treatment import services as treatment_services
from treatment.detox.models import ObservationRound
from treatment.models import Alert, Observation

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
