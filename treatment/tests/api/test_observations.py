import datetime

import pytest
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.errors import ValidationFailed
from patients.tests.factories import PatientFactory
from treatment import selectors, services
from treatment.models import Alert, InstrumentConfiguration, Observation, Stage

from ..conftest import audited, lowest, responses_totalling
from ..factories import EpisodeFactory, ObservationFactory

# PRODUCT.md's band table, restated: (total, band) at both ends of every band.
BOUNDARIES = {
    "cows": [(0, "none"), (4, "none"), (5, "mild"), (12, "mild"), (13, "moderate"), (24, "moderate"),
             (25, "moderately_severe"), (36, "moderately_severe"), (37, "severe"), (48, "severe")],
    "ciwa_ar": [(0, "minimal"), (8, "minimal"), (9, "moderate"), (15, "moderate"), (16, "severe"), (67, "severe")],
    "phq9": [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
             (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"), (27, "severe")],
    "gad7": [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
             (15, "severe"), (21, "severe")],
    "dsm5_sud": [(0, "none"), (1, "none"), (2, "mild"), (3, "mild"), (4, "moderate"), (5, "moderate"),
                 (6, "severe"), (11, "severe")],
}  # fmt: skip
AUDIT_C = {
    "male": [(0, "negative"), (3, "negative"), (4, "positive"), (12, "positive")],
    "female": [(0, "negative"), (2, "negative"), (3, "positive"), (12, "positive")],
}
CASES = [(code, total, band) for code, rows in BOUNDARIES.items() for total, band in rows]


def post(client, episode, instrument, responses, **extra):
    body = {"episode": str(episode.pk), "instrument": instrument, "responses": responses, **extra}
    return client.post("/api/v1/observations/", body, format="json")


@pytest.mark.parametrize(("code", "total", "band"), CASES, ids=[f"{c}-{t}" for c, t, _ in CASES])
def test_every_band_boundary_through_the_api(code, total, band, episode, physician, api):
    extra = {"substance": "kratom"} if code == "dsm5_sud" else {}
    response = post(api(physician), episode, code, responses_totalling(code, total), **extra)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total"], body["band"]) == (total, band)
    assert body["definition_version"] == f"{code}@1"
    assert Observation.objects.get(pk=body["id"]).band == band


@pytest.mark.parametrize("sex", ["male", "female"])
def test_audit_c_bands_by_sex(sex, facility, open_episode, physician, api):
    episode = open_episode(PatientFactory(facility=facility, sex=sex))
    for total, band in AUDIT_C[sex]:
        response = post(api(physician), episode, "audit_c", responses_totalling("audit_c", total))
        assert (response.json()["total"], response.json()["band"]) == (total, band)


def test_an_observation_is_stored_with_who_when_and_audited(episode, nurse, api):
    observed_at = (timezone.now() - datetime.timedelta(hours=1)).replace(microsecond=0)
    response = post(api(nurse), episode, "cows", lowest("cows"), observed_at=observed_at.isoformat())
    assert response.status_code == 201
    body = response.json()
    assert body["recorded_by"] == nurse.pk
    assert body["patient"] == str(episode.patient_id)
    assert body["observed_at"] == observed_at.isoformat().replace("+00:00", "Z")
    assert body["responses"] == lowest("cows")
    assert body["flags"] == []
    assert audited(action="create", model="treatment.observation", object_id=body["id"])


# --- Invalid responses name each item --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"pulse": None}, {"responses.pulse": ["This item is required."]}),
        ({"pulse": 3}, {"responses.pulse": ["3 is not an allowed value; allowed: 0, 1, 2, 4."]}),
        ({"gooseflesh": 1, "extra": 0}, {"responses.gooseflesh": ["1 is not an allowed value; allowed: 0, 3, 5."],
                                         "responses.extra": ["Unknown item."]}),
        ({"sweating": "2"}, {"responses.sweating": ["Expected an integer; allowed: 0, 1, 2, 3, 4."]}),
        ({"tremor": True}, {"responses.tremor": ["Expected an integer; allowed: 0, 1, 2, 4."]}),
    ],
)  # fmt: skip
def test_invalid_items_are_a_400_naming_each_item(change, fields, episode, nurse, api):
    responses = {**lowest("cows"), **change}
    responses = {key: value for key, value in responses.items() if value is not None}
    response = post(api(nurse), episode, "cows", responses)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == fields
    assert not Observation.objects.exists()


def test_every_missing_item_is_named(episode, nurse, api):
    response = post(api(nurse), episode, "gad7", {})
    assert response.status_code == 400
    assert sorted(response.json()["error"]["fields"]) == [f"responses.q{n}" for n in range(1, 8)]


@pytest.mark.parametrize("responses", [[1, 2, 3], "q1=0", 7])
def test_responses_must_be_an_object(responses, episode, nurse, api):
    response = post(api(nurse), episode, "gad7", responses)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["responses"]


def test_unknown_instrument_is_400(episode, nurse, api):
    response = post(api(nurse), episode, "sows", {})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["instrument"]


def test_dsm5_names_the_substance(episode, physician, api):
    response = post(api(physician), episode, "dsm5_sud", responses_totalling("dsm5_sud", 3))
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["substance"]
    response = post(api(physician), episode, "dsm5_sud", responses_totalling("dsm5_sud", 3), substance="kratom")
    assert response.json()["substance"] == "kratom"


def test_other_instruments_take_no_substance(episode, nurse, api):
    response = post(api(nurse), episode, "gad7", lowest("gad7"), substance="alcohol")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["substance"]


def test_an_observation_cannot_be_in_the_future(episode, nurse, api):
    later = timezone.now() + datetime.timedelta(minutes=10)
    response = post(api(nurse), episode, "gad7", lowest("gad7"), observed_at=later.isoformat())
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"observed_at": ["Cannot be in the future."]}
    skewed = timezone.now() + datetime.timedelta(seconds=20)
    assert post(api(nurse), episode, "gad7", lowest("gad7"), observed_at=skewed.isoformat()).status_code == 201


def test_a_closed_episode_takes_no_observations(episode_in, patient, nurse, api):
    episode = episode_in(Stage.DISCHARGED, patient)
    response = post(api(nurse), episode, "gad7", lowest("gad7"))
    assert response.status_code == 409
    assert not Observation.objects.exists()


# --- Who records what ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "instrument", "status"),
    [
        (Role.PHYSICIAN, "cows", 201), (Role.NURSE, "cows", 201), (Role.COUNSELOR, "cows", 403),
        (Role.NURSE, "ciwa_ar", 201), (Role.COUNSELOR, "ciwa_ar", 403),
        (Role.COUNSELOR, "phq9", 201), (Role.NURSE, "phq9", 201), (Role.COUNSELOR, "gad7", 201),
        (Role.COUNSELOR, "audit_c", 201), (Role.COUNSELOR, "dsm5_sud", 201), (Role.PHYSICIAN, "dsm5_sud", 201),
        (Role.NURSE, "dsm5_sud", 403),
        (Role.CASE_MANAGER, "phq9", 403), (Role.FRONT_DESK, "phq9", 403), (Role.CLINIC_ADMIN, "phq9", 403),
    ],
)  # fmt: skip
def test_who_may_record_which_instrument(role, instrument, status, staff, episode, api):
    extra = {"substance": "kratom"} if instrument == "dsm5_sud" else {}
    response = post(api(staff[role]), episode, instrument, lowest(instrument), **extra)
    assert response.status_code == status, response.content
    assert Observation.objects.exists() == (status == 201)


def test_a_patient_records_no_observations(episode, patient, api):
    assert post(api(patient.user), episode, "phq9", lowest("phq9")).status_code == 403


def test_other_facility_staff_cannot_record_on_our_episode(episode, other_staff, api):
    response = post(api(other_staff["nurse"]), episode, "gad7", lowest("gad7"))
    assert response.status_code == 404
    assert not Observation.objects.exists()


# --- Alerts raised by scores ---------------------------------------------------------------------------------


def test_phq9_item_9_raises_a_critical_safety_alert_at_once(open_episode, patient, staff, api):
    episode = open_episode(patient, physician=staff["physician"], primary_counselor=staff["counselor"])
    responses = {**lowest("phq9"), "q9": 1}
    response = post(api(staff["counselor"]), episode, "phq9", responses)
    assert response.status_code == 201
    assert response.json()["flags"] == ["safety"]
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.patient, alert.episode) == ("phq9_safety", "critical", patient, episode)
    assert alert.target_user == staff["physician"]
    assert alert.acknowledged_at is None
    assert patient.first_name not in alert.reason
    assert patient.last_name not in alert.reason
    assert audited(action="create", model="treatment.alert", object_id=alert.pk)


def test_a_safety_alert_goes_to_the_counselor_then_the_physicians(open_episode, patient, staff, facility):
    episode = open_episode(patient, primary_counselor=staff["counselor"])
    services.observation_record(actor=staff["nurse"], episode=episode, instrument="phq9",
                                responses={**lowest("phq9"), "q9": 3})  # fmt: skip
    assert Alert.objects.get().target_user == staff["counselor"]
    unassigned = open_episode(PatientFactory(facility=facility))
    services.observation_record(actor=staff["nurse"], episode=unassigned, instrument="phq9",
                                responses={**lowest("phq9"), "q9": 2})  # fmt: skip
    alert = Alert.objects.get(episode=unassigned)
    assert (alert.target_user, alert.target_role) == (None, Role.PHYSICIAN)


def test_phq9_without_item_9_raises_no_alert(episode, nurse, api):
    response = post(api(nurse), episode, "phq9", responses_totalling("phq9", 24, q9=0))
    assert (response.status_code, response.json()["band"], response.json()["flags"]) == (201, "severe", [])
    assert not Alert.objects.exists()


@pytest.mark.parametrize(("code", "below", "at"), [("cows", 24, 25), ("ciwa_ar", 15, 16)])
def test_withdrawal_at_the_threshold_alerts_the_physician(code, below, at, open_episode, patient, staff, api):
    episode = open_episode(patient, physician=staff["physician"])
    client = api(staff["nurse"])
    assert post(client, episode, code, responses_totalling(code, below)).json()["flags"] == []
    assert not Alert.objects.exists()
    response = post(client, episode, code, responses_totalling(code, at))
    assert response.json()["flags"] == ["severity_alert"]
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.target_user) == (f"{code}_severity_alert", "high", staff["physician"])


# --- Facility configuration ----------------------------------------------------------------------------------

ALTERNATIVE_CIWA = [
    {"name": "minimal", "low": 0, "high": 9},
    {"name": "moderate", "low": 10, "high": 18},
    {"name": "severe", "low": 19, "high": 67},
]


def test_a_facility_scores_with_its_own_bands_and_keeps_the_version(facility, episode, physician, nurse, api):
    config = services.instrument_configuration_set(
        actor=physician, facility=facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA,
        alert_thresholds={"severity": 19},
    )  # fmt: skip
    response = post(api(nurse), episode, "ciwa_ar", responses_totalling("ciwa_ar", 16))
    body = response.json()
    assert (body["band"], body["flags"], body["definition_version"]) == ("moderate", [], config.version)
    assert not Alert.objects.exists()
    body = post(api(nurse), episode, "ciwa_ar", responses_totalling("ciwa_ar", 19)).json()
    assert (body["band"], body["flags"]) == ("severe", ["severity_alert"])
    assert audited(action="create", model="treatment.instrumentconfiguration", object_id=config.pk)


def test_another_facility_keeps_the_defaults(facility, other_facility, other_staff, physician):
    services.instrument_configuration_set(
        actor=physician, facility=facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA
    )
    episode = services.episode_open(actor=other_staff["physician"], patient=PatientFactory(facility=other_facility))
    observation = services.observation_record(
        actor=other_staff["nurse"], episode=episode, instrument="ciwa_ar",
        responses=responses_totalling("ciwa_ar", 16),
    )  # fmt: skip
    assert (observation.band, observation.definition_version) == ("severe", "ciwa_ar@1")


def test_a_new_configuration_is_a_new_version(facility, physician):
    first = services.instrument_configuration_set(
        actor=physician, facility=facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA
    )
    second = services.instrument_configuration_set(
        actor=physician, facility=facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA
    )
    assert first.version != second.version
    assert second.version.startswith("ciwa_ar@1+")


def test_the_definition_in_effect_is_the_newest_configuration_read_afresh(facility, other_facility, physician):
    assert selectors.instrument_definition(facility=facility, code="ciwa_ar").version == "ciwa_ar@1"
    first = services.instrument_configuration_set(
        actor=physician, facility=facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA,
        alert_thresholds={"severity": 19}, sex_bands={"female": ALTERNATIVE_CIWA},
    )  # fmt: skip
    definition = selectors.instrument_definition(facility=facility, code="ciwa_ar")
    assert definition == selectors.configured_definition(InstrumentConfiguration.objects.get(pk=first.pk))
    assert (definition.version, definition.alert_thresholds) == (first.version, {"severity": 19})
    assert [band.name for band in definition.sex_bands["female"]] == ["minimal", "moderate", "severe"]
    second = services.instrument_configuration_set(
        actor=physician, facility=facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA
    )
    assert selectors.instrument_definition(facility=facility, code="ciwa_ar").version == second.version
    assert selectors.instrument_definition(facility=other_facility, code="ciwa_ar").version == "ciwa_ar@1"
    assert selectors.instrument_definition(facility=facility, code="cows").version == "cows@1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"instrument": "sows"}, "instrument"),
        ({"bands": [{"name": "low", "low": 0, "high": 67}]}, "bands"),
        ({"bands": [{"name": "minimal", "low": 0, "high": 9}, {"name": "moderate", "low": 11, "high": 18},
                    {"name": "severe", "low": 19, "high": 67}]}, "bands"),
        ({"bands": "0-9"}, "bands"),
        ({"alert_thresholds": {"severity": 99}}, "bands"),
    ],
)  # fmt: skip
def test_invalid_configurations_are_refused(changes, field, facility, physician):
    arguments = {"facility": facility, "instrument": "ciwa_ar", "bands": ALTERNATIVE_CIWA} | changes
    with pytest.raises(ValidationFailed) as caught:
        services.instrument_configuration_set(actor=physician, **arguments)
    assert field in caught.value.fields


def test_only_for_ones_own_facility(other_facility, physician):
    with pytest.raises(ValidationFailed) as caught:
        services.instrument_configuration_set(
            actor=physician, facility=other_facility, instrument="ciwa_ar", bands=ALTERNATIVE_CIWA
        )
    assert "facility" in caught.value.fields


# --- Reading -----------------------------------------------------------------------------------------------


def test_clinicians_list_and_filter_observations(episode, facility, open_episode, staff, api):
    mine = ObservationFactory(episode=episode, instrument="phq9", responses=lowest("phq9"))
    other_episode = open_episode(PatientFactory(facility=facility))
    theirs = ObservationFactory(episode=other_episode)
    client = api(staff["case_manager"])

    def ids(query=""):
        return {row["id"] for row in client.get(f"/api/v1/observations/?{query}").json()["results"]}

    assert ids() == {str(mine.pk), str(theirs.pk)}
    assert ids(f"episode={episode.pk}") == {str(mine.pk)}
    assert ids(f"patient={other_episode.patient_id}") == {str(theirs.pk)}
    assert ids("instrument=phq9") == {str(mine.pk)}
    assert audited(action="list", model="treatment.observation", object_id=mine.pk)
    response = client.get(f"/api/v1/observations/{mine.pk}/")
    assert response.json()["total"] == 0
    assert audited(action="view", model="treatment.observation", object_id=mine.pk)


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_non_clinical_staff_see_no_observations(role, staff, episode, api):
    observation = ObservationFactory(episode=episode)
    assert api(staff[role]).get("/api/v1/observations/").status_code == 403
    assert api(staff[role]).get(f"/api/v1/observations/{observation.pk}/").status_code == 403


def test_a_patient_sees_no_observations_not_even_their_own(episode, patient, api):
    observation = ObservationFactory(episode=episode)
    assert api(patient.user).get("/api/v1/observations/").status_code == 403
    assert api(patient.user).get(f"/api/v1/observations/{observation.pk}/").status_code == 403


def test_other_facility_staff_see_no_observations(episode, other_staff, api):
    observation = ObservationFactory(episode=episode)
    assert api(other_staff["nurse"]).get("/api/v1/observations/").json()["results"] == []
    assert api(other_staff["nurse"]).get(f"/api/v1/observations/{observation.pk}/").status_code == 404


def test_observation_list_queries_do_not_grow_with_the_page(facility, nurse, api, assert_list_queries_constant):
    assert_list_queries_constant(
        api(nurse), "/api/v1/observations/?page_size=50",
        lambda: ObservationFactory(episode=EpisodeFactory(patient=PatientFactory(facility=facility))),
    )  # fmt: skip


def test_adding_an_instrument_is_adding_a_definition(monkeypatch, episode, nurse, api):
    from types import MappingProxyType

    from treatment import instruments
    from treatment.instruments import Band, InstrumentDefinition, Item

    craving = InstrumentDefinition(
        code="craving_screen", name="Craving screen", version="craving_screen@1",
        items=(Item("urge", (0, 1, 2)), Item("intrusive", (0, 2, 4))),
        bands=(Band("low", 0, 2), Band("high", 3, 6)), alert_thresholds={"craving": 5},
    )  # fmt: skip
    monkeypatch.setattr(
        instruments, "DEFINITIONS", MappingProxyType({**instruments.DEFINITIONS, "craving_screen": craving})
    )
    response = post(api(nurse), episode, "craving_screen", {"urge": 2, "intrusive": 4})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total"], body["band"], body["flags"], body["definition_version"]) == (
        6, "high", ["craving_alert"], "craving_screen@1",
    )  # fmt: skip
    assert Alert.objects.get().kind == "craving_screen_craving_alert"
    assert post(api(nurse), episode, "craving_screen", {"urge": 3}).json()["error"]["fields"] == {
        "responses.urge": ["3 is not an allowed value; allowed: 0, 1, 2."],
        "responses.intrusive": ["This item is required."],
    }
