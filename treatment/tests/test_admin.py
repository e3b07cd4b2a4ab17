"""The admin does the same work through the same services: the whole assessment of a patient through the
admin alone, as the demo physician, and the services' refusals shown on the forms."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from clinic.accounts.roles import Role
from patients.tests.factories import PatientFactory, SubstanceUseHistoryFactory
from treatment import services
from treatment.models import Alert, Assessment, Episode, InstrumentConfiguration, Observation, Stage

from .conftest import ANSWERED, audited, lowest, responses_totalling
from .factories import AlertFactory


@pytest.fixture
def admin_as():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def when() -> dict:
    now = timezone.now()
    return {"observed_at_0": now.strftime("%Y-%m-%d"), "observed_at_1": now.strftime("%H:%M:%S")}


def add_observation(client, episode, instrument, responses, substance=""):
    return client.post(
        "/admin/treatment/observation/add/",
        {"episode": episode.pk, "instrument": instrument, "responses": json.dumps(responses),
         "substance": substance, **when()},
    )  # fmt: skip


def _answer(value) -> str:
    return {True: "true", False: "false", None: "unknown"}.get(value, value)


def test_full_assessment_through_the_admin_alone(facility, staff, admin_as):
    patient = PatientFactory(facility=facility, sex="female")
    SubstanceUseHistoryFactory(patient=patient, substance="kratom")
    client = admin_as(staff["physician"])

    assert client.get("/admin/treatment/episode/add/").status_code == 200
    response = client.post(
        "/admin/treatment/episode/add/",
        {"patient": patient.pk, "previous_episode": "", "physician": staff["physician"].pk,
         "nurse": staff["nurse"].pk, "primary_counselor": staff["counselor"].pk, "case_manager": ""},
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    episode = Episode.objects.get(patient=patient)
    assert (episode.stage, episode.opened_by, episode.physician) == (Stage.ASSESSMENT, staff["physician"],
                                                                     staff["physician"])  # fmt: skip
    assert audited(action="create", model="treatment.episode", object_id=episode.pk)

    assert client.get("/admin/treatment/observation/add/").status_code == 200
    for instrument, responses, substance in [
        ("dsm5_sud", responses_totalling("dsm5_sud", 4), "kratom"),
        ("phq9", responses_totalling("phq9", 7, q9=0), ""),
        ("gad7", responses_totalling("gad7", 6), ""),
        ("cows", responses_totalling("cows", 10), ""),
    ]:
        assert add_observation(client, episode, instrument, responses, substance).status_code == 302
    assert sorted(episode.observations.values_list("instrument", flat=True)) == ["cows", "dsm5_sud", "gad7", "phq9"]
    assert episode.observations.get(instrument="cows").total == 10

    assert client.get("/admin/treatment/assessment/add/").status_code == 200
    answers = {name: _answer(value) for name, value in (ANSWERED | {"support_system": "strong"}).items()}
    response = client.post(
        "/admin/treatment/assessment/add/",
        {
            "episode": episode.pk,
            "vitals": json.dumps({"pulse": 90, "systolic_bp": 128, "diastolic_bp": 82, "temperature_c": 36.8,
                                  "respiratory_rate": 16, "spo2": 98}),
            "urine_drug_screen": json.dumps({"mitragynine": "positive"}),
            "asam_dimensions": json.dumps({}),
            "medical_history": "None of note.",
            "psychological_evaluation": "Motivated; works full time.",
            "readiness_to_change": "action",
            **answers,
        },
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assessment = Assessment.objects.get(episode=episode)
    assert (assessment.created_by, assessment.vitals["pulse"], assessment.support_system) == (
        staff["physician"], 90, "strong",
    )  # fmt: skip

    assert client.get(f"/admin/treatment/assessment/{assessment.pk}/change/").status_code == 200
    assert client.get(f"/admin/treatment/assessment/{assessment.pk}/recommend/").status_code == 200
    response = client.post(f"/admin/treatment/assessment/{assessment.pk}/recommend/")
    assert response.status_code == 302, response.context["form"].errors
    assessment.refresh_from_db()
    assert assessment.recommended_setting == "outpatient"
    assert [rule["code"] for rule in assessment.recommendation_rules] == ["strong_support_system"]

    page = client.get(f"/admin/treatment/assessment/{assessment.pk}/complete/")
    assert page.status_code == 200
    assert b"strong support system" in page.content
    response = client.post(
        f"/admin/treatment/assessment/{assessment.pk}/complete/",
        {"accepted_setting": "outpatient", "outpatient_intensity": "intensive", "override_reason": ""},
    )
    assert response.status_code == 302
    assessment.refresh_from_db()
    episode.refresh_from_db()
    assert (assessment.status, assessment.decided_by, episode.setting) == ("completed", staff["physician"],
                                                                           "outpatient")  # fmt: skip

    assert client.get(f"/admin/treatment/episode/{episode.pk}/transition/").status_code == 200
    response = client.post(
        f"/admin/treatment/episode/{episode.pk}/transition/",
        {"to": "therapy", "reason": "Mild dependence, no withdrawal risk.", "category": ""},
    )
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.stage == Stage.THERAPY
    page = client.get(f"/admin/treatment/episode/{episode.pk}/change/")
    assert b"Mild dependence, no withdrawal risk." in page.content
    assert audited(action="view", model="treatment.episode", object_id=episode.pk)


def test_invalid_responses_show_on_the_form_and_nothing_is_written(episode, staff, admin_as):
    response = add_observation(admin_as(staff["nurse"]), episode, "cows", {**lowest("cows"), "pulse": 3, "x": 1})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["responses"] == ["pulse: 3 is not an allowed value; allowed: 0, 1, 2, 4.", "x: Unknown item."]
    assert not Observation.objects.exists()


def test_the_role_rule_shows_on_the_form(episode, staff, admin_as):
    response = add_observation(admin_as(staff["counselor"]), episode, "cows", lowest("cows"))
    assert response.status_code == 200
    assert "Your role may not record" in str(response.context["adminform"].form.non_field_errors())
    assert not Observation.objects.exists()


def test_a_refused_transition_lists_what_is_allowed(episode, staff, admin_as):
    response = admin_as(staff["physician"]).post(
        f"/admin/treatment/episode/{episode.pk}/transition/", {"to": "aftercare", "reason": "", "category": ""}
    )
    assert response.status_code == 200
    assert "Allowed from assessment: detox, therapy, discharged." in response.context["form"].errors["to"]
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT


def test_a_nurse_cannot_complete_an_assessment_in_the_admin(episode, staff, admin_as, physician):
    assessment = services.assessment_create(actor=physician, episode=episode, **ANSWERED)
    services.assessment_recommend(actor=physician, assessment=assessment)
    response = admin_as(staff["nurse"]).post(
        f"/admin/treatment/assessment/{assessment.pk}/complete/",
        {"accepted_setting": "outpatient", "outpatient_intensity": "standard"},
    )
    assert response.status_code == 403
    assessment.refresh_from_db()
    assert assessment.status == "draft"


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_non_clinical_staff_have_no_treatment_pages(role, episode, staff, admin_as):
    client = admin_as(staff[role])
    for url in ["/admin/treatment/episode/", "/admin/treatment/observation/", "/admin/treatment/assessment/",
                "/admin/treatment/alert/", f"/admin/treatment/episode/{episode.pk}/change/",
                f"/admin/treatment/episode/{episode.pk}/transition/"]:  # fmt: skip
        assert client.get(url).status_code == 403, url


def test_other_facility_staff_do_not_find_our_episode(episode, other_staff, admin_as):
    client = admin_as(other_staff["physician"])
    assert client.get(f"/admin/treatment/episode/{episode.pk}/change/").status_code == 302  # "does not exist"
    response = client.post(f"/admin/treatment/episode/{episode.pk}/transition/", {"to": "discharged"})
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT
    assert list(client.get("/admin/treatment/episode/").context["cl"].result_list) == []


def test_alerts_are_acknowledged_from_the_list(patient, staff, admin_as):
    alerts = [AlertFactory(patient=patient), AlertFactory(patient=patient)]
    client = admin_as(staff["nurse"])
    assert client.get("/admin/treatment/alert/?acknowledged=no").status_code == 200
    response = client.post(
        "/admin/treatment/alert/", {"action": "acknowledge", "_selected_action": [str(a.pk) for a in alerts]}
    )
    assert response.status_code == 302
    assert set(Alert.objects.values_list("acknowledged_by", flat=True)) == {staff["nurse"].pk}
    assert audited(action="acknowledge", model="treatment.alert", object_id=alerts[0].pk)


def test_a_physician_sets_facility_bands_in_the_admin(facility, staff, admin_as):
    bands = [{"name": "minimal", "low": 0, "high": 9}, {"name": "moderate", "low": 10, "high": 18},
             {"name": "severe", "low": 19, "high": 67}]  # fmt: skip
    client = admin_as(staff["physician"])
    response = client.post(
        "/admin/treatment/instrumentconfiguration/add/",
        {"facility": facility.pk, "instrument": "ciwa_ar", "bands": json.dumps(bands),
         "alert_thresholds": json.dumps({"severity": 19}), "sex_bands": "{}"},
    )  # fmt: skip
    assert response.status_code == 302
    config = InstrumentConfiguration.objects.get()
    assert (config.created_by, config.alert_thresholds) == (staff["physician"], {"severity": 19})
    bad = client.post(
        "/admin/treatment/instrumentconfiguration/add/",
        {"facility": facility.pk, "instrument": "ciwa_ar", "bands": json.dumps(bands[:2]), "alert_thresholds": "{}",
         "sex_bands": "{}"},
    )  # fmt: skip
    assert bad.status_code == 200
    assert InstrumentConfiguration.objects.count() == 1
    assert admin_as(staff["nurse"]).get("/admin/treatment/instrumentconfiguration/add/").status_code == 403
