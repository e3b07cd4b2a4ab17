import datetime

import pytest
from django.utils import timezone

from clinic.accounts.roles import Role
from patients.tests.factories import CoOccurringConditionFactory, PatientFactory, SubstanceUseHistoryFactory
from treatment import services
from treatment.models import Assessment, Episode, Stage

from ..conftest import ANSWERED, audited, lowest, responses_totalling
from ..factories import AssessmentFactory, EpisodeFactory


def record(episode, actor, instrument, total=None, *, responses=None, substance="", minutes_ago=0):
    responses = responses if responses is not None else responses_totalling(instrument, total)
    return services.observation_record(
        actor=actor, episode=episode, instrument=instrument, responses=responses, substance=substance,
        observed_at=timezone.now() - datetime.timedelta(minutes=minutes_ago),
    )  # fmt: skip


def recommend(client, episode, **answers):
    created = client.post("/api/v1/assessments/", {"episode": str(episode.pk), **(ANSWERED | answers)}, format="json")
    assert created.status_code == 201, created.content
    response = client.post(f"/api/v1/assessments/{created.json()['id']}/recommend/")
    assert response.status_code == 200, response.content
    return response.json()


def rule_codes(body) -> list[str]:
    return [rule["code"] for rule in body["recommendation_rules"]]


# --- Each rule alone, through an assessment -------------------------------------------------------------
# Setup per rule: (observations to record, patient record to add, assessment answers).
RULES = {
    "dsm5_severe": ([("dsm5_sud", 6, "kratom")], {}, {}),
    "phq9_high": ([("phq9", 15, "")], {}, {}),
    "gad7_high": ([("gad7", 15, "")], {}, {}),
    "active_diagnosis": ([], {"condition": "Major depressive disorder"}, {}),
    "cows_high": ([("cows", 25, "")], {}, {}),
    "alcohol_benzo_ciwa_high": ([("ciwa_ar", 16, "")], {"substance": "alcohol"}, {}),
    "alcohol_benzo_seizure_history": ([], {"substance": "benzodiazepines"},
                                      {"withdrawal_seizure_or_delirium_history": True}),
    "pregnancy": ([], {}, {"pregnant": True}),
    "medical_comorbidity": ([], {}, {"serious_medical_comorbidity": True}),
    "no_safe_living_environment": ([], {}, {"safe_living_environment": False}),
}  # fmt: skip
# Just below each rule: nothing fires.
NOT_QUITE = {
    "dsm5_moderate": ([("dsm5_sud", 5, "kratom")], {}, {}),
    "phq9_14": ([("phq9", 14, "")], {}, {}),
    "gad7_14": ([("gad7", 14, "")], {}, {}),
    "resolved_diagnosis": ([], {"condition": "Major depressive disorder", "status": "resolved"}, {}),
    "cows_24": ([("cows", 24, "")], {}, {}),
    "alcohol_ciwa_15": ([("ciwa_ar", 15, "")], {"substance": "alcohol"}, {}),
    "ciwa_16_without_co_use": ([("ciwa_ar", 16, "")], {"substance": "kratom"}, {}),
    "seizures_without_co_use": ([], {"substance": "kratom"}, {"withdrawal_seizure_or_delirium_history": True}),
    "nothing_recorded": ([], {}, {}),
}  # fmt: skip


def arrange(episode, physician, setup):
    observations, record_entry, answers = setup
    for instrument, total, substance in observations:
        responses = responses_totalling(instrument, total, q9=0) if instrument == "phq9" else None
        record(episode, physician, instrument, total, responses=responses, substance=substance)
    if "condition" in record_entry:
        CoOccurringConditionFactory(
            patient=episode.patient, name=record_entry["condition"], status=record_entry.get("status", "active")
        )
    if "substance" in record_entry:
        SubstanceUseHistoryFactory(patient=episode.patient, substance=record_entry["substance"])
    return answers


@pytest.mark.parametrize("rule", list(RULES))
def test_each_inpatient_rule_alone(rule, episode, physician, api):
    answers = arrange(episode, physician, RULES[rule])
    body = recommend(api(physician), episode, **answers)
    assert body["recommended_setting"] == "inpatient"
    assert rule_codes(body) == [rule]
    assert all(fired["description"] for fired in body["recommendation_rules"])


def test_phq9_item_9_alone(episode, physician, api):
    record(episode, physician, "phq9", responses={**lowest("phq9"), "q9": 1})
    body = recommend(api(physician), episode)
    assert (body["recommended_setting"], rule_codes(body)) == ("inpatient", ["phq9_item9"])


@pytest.mark.parametrize("case", list(NOT_QUITE))
def test_just_below_each_rule_is_outpatient(case, episode, physician, api):
    answers = arrange(episode, physician, NOT_QUITE[case])
    body = recommend(api(physician), episode, **answers)
    assert (body["recommended_setting"], rule_codes(body)) == ("outpatient", [])


def test_a_strong_support_system_is_noted_on_outpatient(episode, physician, api):
    body = recommend(api(physician), episode, support_system="strong")
    assert (body["recommended_setting"], rule_codes(body)) == ("outpatient", ["strong_support_system"])


def test_a_strong_support_system_does_not_change_inpatient(episode, physician, api):
    body = recommend(api(physician), episode, support_system="strong", pregnant=True)
    assert (body["recommended_setting"], rule_codes(body)) == ("inpatient", ["pregnancy"])


def test_rules_in_combination_all_fire_in_table_order(episode, physician, api):
    record(episode, physician, "dsm5_sud", 9, substance="alcohol")
    record(episode, physician, "phq9", responses={**responses_totalling("phq9", 16, q9=0), "q9": 0})
    record(episode, physician, "phq9", responses=responses_totalling("phq9", 17, q9=2))  # the latest PHQ-9
    record(episode, physician, "ciwa_ar", 20)
    SubstanceUseHistoryFactory(patient=episode.patient, substance="alcohol")
    body = recommend(
        api(physician), episode, withdrawal_seizure_or_delirium_history=True, safe_living_environment=False,
        support_system="strong",
    )  # fmt: skip
    assert body["recommended_setting"] == "inpatient"
    assert rule_codes(body) == [
        "dsm5_severe", "phq9_high", "phq9_item9", "alcohol_benzo_ciwa_high", "alcohol_benzo_seizure_history",
        "no_safe_living_environment",
    ]  # fmt: skip
    assert len(body["observations"]) == 3  # the DSM-5, the latest PHQ-9 and the CIWA-Ar it used


def test_dsm5_takes_the_worst_substance_and_the_latest_per_substance(episode, physician, api):
    record(episode, physician, "dsm5_sud", 8, substance="kratom", minutes_ago=60)
    record(episode, physician, "dsm5_sud", 5, substance="kratom", minutes_ago=5)  # re-assessed: moderate
    record(episode, physician, "dsm5_sud", 2, substance="alcohol")
    body = recommend(api(physician), episode)
    assert body["recommendation_facts"]["dsm5_severity"] == "moderate"
    assert body["recommended_setting"] == "outpatient"


def test_the_latest_score_counts(episode, physician, api):
    record(episode, physician, "gad7", 18, minutes_ago=90)
    record(episode, physician, "gad7", 6, minutes_ago=10)
    body = recommend(api(physician), episode)
    assert body["recommendation_facts"]["gad7_total"] == 6
    assert rule_codes(body) == []


def test_a_positive_drug_screen_counts_as_co_use(episode, physician, api):
    record(episode, physician, "ciwa_ar", 16)
    body = recommend(api(physician), episode, urine_drug_screen={"benzodiazepines": "positive"})
    assert rule_codes(body) == ["alcohol_benzo_ciwa_high"]


def test_the_facts_are_stored_with_the_recommendation(episode, physician, api):
    CoOccurringConditionFactory(patient=episode.patient, name="Panic disorder")
    record(episode, physician, "cows", 9)
    body = recommend(api(physician), episode)
    facts = body["recommendation_facts"]
    assert facts["active_diagnoses"] == ["Panic disorder"]
    assert facts["cows_total"] == 9
    assert facts["phq9_total"] is None
    assert body["recommended_by"] == physician.pk
    assert body["recommended_at"] is not None
    assessment = Assessment.objects.get(pk=body["id"])
    assert audited(action="recommend", model="treatment.assessment", object_id=assessment.pk)


def test_missing_answers_are_a_400_naming_each(episode, physician, api):
    created = api(physician).post("/api/v1/assessments/", {"episode": str(episode.pk)})
    response = api(physician).post(f"/api/v1/assessments/{created.json()['id']}/recommend/")
    assert response.status_code == 400
    assert sorted(response.json()["error"]["fields"]) == [
        "pregnant", "safe_living_environment", "serious_medical_comorbidity", "support_system",
        "withdrawal_seizure_or_delirium_history",
    ]  # fmt: skip


def test_pregnancy_is_not_asked_of_a_male_patient(facility, open_episode, physician, api):
    episode = open_episode(PatientFactory(facility=facility, sex="male"))
    answers = {key: value for key, value in ANSWERED.items() if key != "pregnant"}
    created = api(physician).post("/api/v1/assessments/", {"episode": str(episode.pk), **answers}, format="json")
    response = api(physician).post(f"/api/v1/assessments/{created.json()['id']}/recommend/")
    assert response.status_code == 200
    refused = api(physician).patch(f"/api/v1/assessments/{created.json()['id']}/", {"pregnant": True})
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["pregnant"]


# --- The decision ----------------------------------------------------------------------------------------


@pytest.fixture
def recommended(episode, physician):
    """recommended(**answers) -> a draft assessment of `episode` with its recommendation."""

    def make(**answers):
        assessment = services.assessment_create(actor=physician, episode=episode, **(ANSWERED | answers))
        return services.assessment_recommend(actor=physician, assessment=assessment)

    return make


def complete(client, assessment, **body):
    return client.post(f"/api/v1/assessments/{assessment.pk}/complete/", body, format="json")


@pytest.mark.parametrize("setting", ["inpatient", "residential"])
def test_accepting_an_inpatient_recommendation(setting, recommended, episode, physician, api):
    assessment = recommended(pregnant=True)
    response = complete(api(physician), assessment, accepted_setting=setting)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["accepted_setting"], body["is_override"]) == ("completed", setting, False)
    assert body["decided_by"] == physician.pk
    episode.refresh_from_db()
    assert episode.setting == setting
    assert audited(action="complete", model="treatment.assessment", object_id=assessment.pk)


def test_overriding_needs_a_reason(recommended, episode, physician, api):
    assessment = recommended(pregnant=True)
    refused = complete(api(physician), assessment, accepted_setting="outpatient", outpatient_intensity="intensive")
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["override_reason"]
    episode.refresh_from_db()
    assert episode.setting is None
    response = complete(
        api(physician), assessment, accepted_setting="outpatient", outpatient_intensity="intensive",
        override_reason="Refuses residential care; daily clinic visits agreed.",
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert (body["recommended_setting"], body["accepted_setting"], body["is_override"]) == (
        "inpatient", "outpatient", True,
    )  # fmt: skip
    assert body["override_reason"] == "Refuses residential care; daily clinic visits agreed."


def test_accepting_outpatient_needs_an_intensity(recommended, physician, api):
    assessment = recommended()
    refused = complete(api(physician), assessment, accepted_setting="outpatient")
    assert list(refused.json()["error"]["fields"]) == ["outpatient_intensity"]
    response = complete(api(physician), assessment, accepted_setting="outpatient", outpatient_intensity="standard")
    assert response.json()["outpatient_intensity"] == "standard"


def test_residential_instead_of_outpatient_is_an_override(recommended, physician, api):
    assessment = recommended()
    refused = complete(api(physician), assessment, accepted_setting="residential")
    assert list(refused.json()["error"]["fields"]) == ["override_reason"]
    wrong = complete(
        api(physician), assessment, accepted_setting="residential", override_reason="Unsafe to go home.",
        outpatient_intensity="standard",
    )  # fmt: skip
    assert list(wrong.json()["error"]["fields"]) == ["outpatient_intensity"]
    response = complete(api(physician), assessment, accepted_setting="residential", override_reason="Unsafe.")
    assert response.json()["is_override"] is True


def test_completing_needs_a_recommendation(episode, physician, api):
    assessment = services.assessment_create(actor=physician, episode=episode, **ANSWERED)
    response = complete(api(physician), assessment, accepted_setting="inpatient")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_recommended"


def test_a_newer_score_makes_the_recommendation_outdated(recommended, episode, physician, api):
    assessment = recommended()
    record(episode, physician, "gad7", 16)
    response = complete(api(physician), assessment, accepted_setting="outpatient", outpatient_intensity="standard")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "recommendation_outdated"
    body = api(physician).post(f"/api/v1/assessments/{assessment.pk}/recommend/").json()
    assert rule_codes(body) == ["gad7_high"]
    assert complete(api(physician), assessment, accepted_setting="inpatient").status_code == 200


def test_changing_an_answer_withdraws_the_recommendation(recommended, physician, api):
    assessment = recommended()
    response = api(physician).patch(f"/api/v1/assessments/{assessment.pk}/", {"safe_living_environment": False})
    body = response.json()
    assert (body["recommended_setting"], body["recommendation_rules"], body["observations"]) == ("", [], [])
    assert complete(api(physician), assessment, accepted_setting="inpatient").status_code == 409


def test_a_completed_assessment_is_locked(recommended, physician, api):
    assessment = recommended()
    client = api(physician)
    done = complete(client, assessment, accepted_setting="outpatient", outpatient_intensity="standard")
    assert done.status_code == 200
    assert client.patch(f"/api/v1/assessments/{assessment.pk}/", {"medical_history": "x"}).status_code == 409
    assert client.post(f"/api/v1/assessments/{assessment.pk}/recommend/").status_code == 409
    assert complete(client, assessment, accepted_setting="inpatient").status_code == 409
    assessment.refresh_from_db()
    assert (assessment.accepted_setting, assessment.medical_history) == ("outpatient", "")


@pytest.mark.parametrize("role", [Role.NURSE, Role.COUNSELOR, Role.CASE_MANAGER])
def test_only_a_physician_completes(role, recommended, episode, staff, api):
    assessment = recommended()
    response = complete(api(staff[role]), assessment, accepted_setting="outpatient", outpatient_intensity="standard")
    assert response.status_code == 403
    assessment.refresh_from_db()
    assert assessment.status == "draft"


# --- Filling in ------------------------------------------------------------------------------------------


def test_a_counselor_starts_and_fills_in_an_assessment(episode, counselor, api):
    client = api(counselor)
    response = client.post(
        "/api/v1/assessments/",
        {"episode": str(episode.pk), "readiness_to_change": "contemplation", "psychological_evaluation": "Ambivalent."},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["patient"], body["created_by"]) == ("draft", str(episode.patient_id), counselor.pk)
    assert audited(action="create", model="treatment.assessment", object_id=body["id"])
    changed = client.patch(
        f"/api/v1/assessments/{body['id']}/",
        {"support_system": "limited", "living_environment_notes": "Shares a flat with a user."},
        format="json",
    )
    assert changed.json()["support_system"] == "limited"
    assert audited(action="update", model="treatment.assessment", object_id=body["id"])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"vitals": {"pulse": 720}}, ["vitals.pulse"]),
        ({"vitals": {"temperature_c": 101.3, "spo2": 97}}, ["vitals.temperature_c"]),
        ({"vitals": {"systolic_bp": 80, "diastolic_bp": 90}}, ["vitals.diastolic_bp"]),
        ({"vitals": {"heart": 80, "pulse": 80.5}}, ["vitals.heart", "vitals.pulse"]),
        ({"vitals": [80]}, ["vitals"]),
        ({"urine_drug_screen": {"heroin": "positive", "opiates": "yes"}},
         ["urine_drug_screen.heroin", "urine_drug_screen.opiates"]),
        ({"asam_dimensions": {"d1": 2}}, ["asam_edition"]),
        ({"asam_edition": "third", "asam_dimensions": {"d1": 5, "d7": 1}},
         ["asam_dimensions.d1", "asam_dimensions.d7"]),
        ({"support_system": "excellent"}, ["support_system"]),
    ],
)  # fmt: skip
def test_structured_fields_are_validated(body, fields, episode, nurse, api):
    response = api(nurse).post("/api/v1/assessments/", {"episode": str(episode.pk), **body}, format="json")
    assert response.status_code == 400
    assert sorted(response.json()["error"]["fields"]) == fields
    assert not Assessment.objects.exists()


def test_plausible_vitals_and_asam_ratings_are_kept(episode, nurse, api):
    vitals = {"pulse": 104, "systolic_bp": 150, "diastolic_bp": 95, "temperature_c": 37.8, "respiratory_rate": 20,
              "spo2": 96}  # fmt: skip
    response = api(nurse).post(
        "/api/v1/assessments/",
        {"episode": str(episode.pk), "vitals": vitals, "asam_edition": "fourth", "asam_dimensions": {"d1": 3, "d6": 1},
         "urine_drug_screen": {"mitragynine": "positive", "fentanyl": "negative"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json()["vitals"] == vitals
    assert response.json()["asam_dimensions"] == {"d1": 3, "d6": 1}


def test_one_assessment_per_episode(episode, physician, api):
    assert api(physician).post("/api/v1/assessments/", {"episode": str(episode.pk)}).status_code == 201
    response = api(physician).post("/api/v1/assessments/", {"episode": str(episode.pk)})
    assert response.status_code == 409
    assert Assessment.objects.count() == 1


def test_a_closed_episode_gets_no_assessment(episode_in, facility, physician, api):
    episode = episode_in(Stage.ASSESSMENT, PatientFactory(facility=facility))
    services.episode_transition(actor=physician, episode=episode, to="discharged", reason="x", category="other")
    assert api(physician).post("/api/v1/assessments/", {"episode": str(episode.pk)}).status_code == 409


# --- Scope -------------------------------------------------------------------------------------------------


def test_other_facility_staff_get_nothing(episode, other_staff, api):
    assessment = AssessmentFactory(episode=episode)
    client = api(other_staff["physician"])
    assert client.post("/api/v1/assessments/", {"episode": str(episode.pk)}).status_code == 404
    assert client.get("/api/v1/assessments/").json()["results"] == []
    assert client.get(f"/api/v1/assessments/{assessment.pk}/").status_code == 404
    assert client.patch(f"/api/v1/assessments/{assessment.pk}/", {"medical_history": "x"}).status_code == 404
    assert client.post(f"/api/v1/assessments/{assessment.pk}/recommend/").status_code == 404
    assert complete(client, assessment, accepted_setting="inpatient").status_code == 404
    assessment.refresh_from_db()
    assert (assessment.medical_history, assessment.recommended_setting, assessment.status) == ("", "", "draft")


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_non_clinical_staff_see_no_assessments(role, episode, staff, api):
    assessment = AssessmentFactory(episode=episode)
    assert api(staff[role]).get("/api/v1/assessments/").status_code == 403
    assert api(staff[role]).get(f"/api/v1/assessments/{assessment.pk}/").status_code == 403
    assert api(staff[role]).post("/api/v1/assessments/", {"episode": str(episode.pk)}).status_code == 403


def test_a_patient_sees_no_assessment(episode, patient, api):
    assessment = AssessmentFactory(episode=episode)
    assert api(patient.user).get(f"/api/v1/assessments/{assessment.pk}/").status_code == 403
    assert api(patient.user).get("/api/v1/assessments/").status_code == 403


def test_assessments_filter_and_are_audited(episode, facility, open_episode, physician, api):
    mine = AssessmentFactory(episode=episode)
    other = AssessmentFactory(episode=open_episode(PatientFactory(facility=facility)))

    def ids(query=""):
        return {row["id"] for row in api(physician).get(f"/api/v1/assessments/?{query}").json()["results"]}

    assert ids() == {str(mine.pk), str(other.pk)}
    assert ids(f"patient={episode.patient_id}") == {str(mine.pk)}
    assert ids(f"episode={other.episode_id}") == {str(other.pk)}
    assert ids("status=completed") == set()
    assert audited(action="list", model="treatment.assessment", object_id=mine.pk)
    api(physician).get(f"/api/v1/assessments/{mine.pk}/")
    assert audited(action="view", model="treatment.assessment", object_id=mine.pk)


def test_assessment_list_queries_do_not_grow_with_the_page(facility, physician, api, assert_list_queries_constant):
    assert_list_queries_constant(
        api(physician), "/api/v1/assessments/?page_size=50",
        lambda: AssessmentFactory(episode=EpisodeFactory(patient=PatientFactory(facility=facility))),
    )  # fmt: skip


# --- The whole assessment through the API alone -----------------------------------------------------------


def test_full_assessment_of_a_demo_patient_through_the_api_alone(facility, staff, api):
    """Open an episode, score the instruments, fill the assessment, ask for the recommendation, accept it and
    start detox - every step a request, as the staff app would."""
    patient = PatientFactory(facility=facility, sex="male")
    SubstanceUseHistoryFactory(patient=patient, substance="kratom")
    SubstanceUseHistoryFactory(patient=patient, substance="alcohol")
    physician, nurse, counselor = api(staff["physician"]), api(staff["nurse"]), api(staff["counselor"])

    opened = physician.post(
        "/api/v1/episodes/",
        {"patient": str(patient.pk), "physician": staff["physician"].pk, "nurse": staff["nurse"].pk,
         "primary_counselor": staff["counselor"].pk},
        format="json",
    )  # fmt: skip
    assert opened.status_code == 201
    episode_id = opened.json()["id"]

    scores = [
        (counselor, "dsm5_sud", responses_totalling("dsm5_sud", 7), "kratom"),
        (counselor, "dsm5_sud", responses_totalling("dsm5_sud", 3), "alcohol"),
        (counselor, "phq9", responses_totalling("phq9", 8, q9=0), ""),
        (counselor, "gad7", responses_totalling("gad7", 9), ""),
        (nurse, "cows", responses_totalling("cows", 11), ""),
        (nurse, "ciwa_ar", responses_totalling("ciwa_ar", 12), ""),
    ]
    for client, instrument, responses, substance in scores:
        body = {"episode": episode_id, "instrument": instrument, "responses": responses, "substance": substance}
        assert client.post("/api/v1/observations/", body, format="json").status_code == 201

    created = nurse.post(
        "/api/v1/assessments/",
        {
            "episode": episode_id,
            "vitals": {"pulse": 96, "systolic_bp": 138, "diastolic_bp": 88, "temperature_c": 37.2,
                       "respiratory_rate": 18, "spo2": 97},
            "medical_history": "Lower back pain.",
            "current_medications": "None.",
            "urine_drug_screen": {"mitragynine": "positive", "alcohol": "positive"},
            "withdrawal_seizure_or_delirium_history": False,
            "serious_medical_comorbidity": False,
        },
        format="json",
    )  # fmt: skip
    assert created.status_code == 201
    assessment_id = created.json()["id"]
    filled = counselor.patch(
        f"/api/v1/assessments/{assessment_id}/",
        {"psychological_evaluation": "Motivated.", "support_system": "moderate", "safe_living_environment": True,
         "readiness_to_change": "preparation"},
        format="json",
    )  # fmt: skip
    assert filled.status_code == 200

    recommendation = nurse.post(f"/api/v1/assessments/{assessment_id}/recommend/").json()
    assert recommendation["recommended_setting"] == "inpatient"
    assert rule_codes(recommendation) == ["dsm5_severe"]
    assert len(recommendation["observations"]) == 6

    completed = physician.post(
        f"/api/v1/assessments/{assessment_id}/complete/", {"accepted_setting": "residential"}, format="json"
    )
    assert completed.status_code == 200
    assert completed.json()["decided_by"] == staff["physician"].pk

    detox = physician.post(f"/api/v1/episodes/{episode_id}/transition/", {"to": "detox", "reason": "Admitted."})
    assert detox.status_code == 200
    assert (detox.json()["stage"], detox.json()["setting"]) == ("detox", "residential")
    assert Episode.objects.get(pk=episode_id).assessment.status == "completed"
