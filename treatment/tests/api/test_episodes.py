import uuid

import pytest

from clinic.accounts.roles import Role
from patients.tests.factories import PatientFactory
from treatment.models import Episode, Stage

from ..conftest import audited
from ..factories import EpisodeFactory

SUMMARY_FIELDS = {
    "id", "patient", "stage", "setting", "opened_at", "closed_at", "previous_episode", "created_at", "updated_at",
}  # fmt: skip


# --- Opening -------------------------------------------------------------------------------------------


def test_a_clinician_opens_an_episode_in_assessment(patient, staff, api):
    team = {"physician": staff["physician"].pk, "nurse": staff["nurse"].pk, "case_manager": staff["case_manager"].pk}
    response = api(staff["case_manager"]).post("/api/v1/episodes/", {"patient": str(patient.pk), **team})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["stage"], body["setting"], body["closed_at"], body["previous_episode"]) == (
        "assessment", None, None, None,
    )  # fmt: skip
    assert body["physician"] == staff["physician"].pk
    assert body["primary_counselor"] is None
    assert body["opened_by"] == staff["case_manager"].pk
    assert body["next_stages"] == ["detox", "therapy", "discharged"]
    assert body["transitions"] == []
    assert audited(action="create", model="treatment.episode", object_id=body["id"])


def test_a_patient_has_at_most_one_open_episode(episode, patient, physician, api):
    response = api(physician).post("/api/v1/episodes/", {"patient": str(patient.pk)})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "episode_open"
    assert Episode.objects.filter(patient=patient).count() == 1


def test_a_readmission_links_to_the_previous_episode(episode_in, patient, physician, api):
    first = episode_in(Stage.DISCHARGED, patient)
    response = api(physician).post("/api/v1/episodes/", {"patient": str(patient.pk)})
    assert response.status_code == 201
    assert response.json()["previous_episode"] == str(first.pk)
    first.refresh_from_db()
    assert first.stage == Stage.DISCHARGED  # history is never overwritten
    second = Episode.objects.get(pk=response.json()["id"])
    services_discharge = {"to": "discharged", "reason": "Left.", "category": "left_against_advice"}
    assert api(physician).post(f"/api/v1/episodes/{second.pk}/transition/", services_discharge).status_code == 200
    third = api(physician).post("/api/v1/episodes/", {"patient": str(patient.pk)}).json()
    assert third["previous_episode"] == str(second.pk)


def test_the_previous_episode_must_be_a_closed_one_of_the_same_patient(episode, other_patient, physician, api):
    response = api(physician).post(
        "/api/v1/episodes/", {"patient": str(other_patient.pk), "previous_episode": str(episode.pk)}
    )
    assert response.status_code == 400
    assert "previous_episode" in response.json()["error"]["fields"]
    assert not Episode.objects.filter(patient=other_patient).exists()


def test_a_deceased_patient_gets_no_episode(facility, physician, api):
    patient = PatientFactory(facility=facility, status="deceased")
    response = api(physician).post("/api/v1/episodes/", {"patient": str(patient.pk)})
    assert response.status_code == 400
    assert not Episode.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    ("slot", "role"),
    [("physician", Role.NURSE), ("nurse", Role.PHYSICIAN), ("primary_counselor", Role.CASE_MANAGER),
     ("case_manager", Role.COUNSELOR)],
)  # fmt: skip
def test_care_team_members_must_have_the_slot_role(slot, role, patient, staff, api):
    response = api(staff["physician"]).post("/api/v1/episodes/", {"patient": str(patient.pk), slot: staff[role].pk})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [slot]
    assert not Episode.objects.filter(patient=patient).exists()


def test_staff_of_another_facility_cannot_join_the_care_team(patient, physician, other_staff, api):
    response = api(physician).post(
        "/api/v1/episodes/", {"patient": str(patient.pk), "physician": other_staff["physician"].pk}
    )
    assert response.status_code == 400
    assert "physician" in response.json()["error"]["fields"]


def test_other_facility_staff_cannot_open_an_episode_for_our_patient(patient, other_staff, api):
    response = api(other_staff["physician"]).post("/api/v1/episodes/", {"patient": str(patient.pk)})
    assert response.status_code == 404
    assert not Episode.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_non_clinical_staff_cannot_open_an_episode(role, patient, staff, api):
    response = api(staff[role]).post("/api/v1/episodes/", {"patient": str(patient.pk)})
    assert response.status_code == 403
    assert not Episode.objects.filter(patient=patient).exists()


def test_a_patient_cannot_open_an_episode(patient, api):
    response = api(patient.user).post("/api/v1/episodes/", {"patient": str(patient.pk)})
    assert response.status_code == 403


# --- Care team -----------------------------------------------------------------------------------------


def test_the_care_team_is_assigned_and_cleared(episode, staff, api):
    client = api(staff["nurse"])
    response = client.patch(
        f"/api/v1/episodes/{episode.pk}/", {"primary_counselor": staff["counselor"].pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["primary_counselor"] == staff["counselor"].pk
    response = client.patch(f"/api/v1/episodes/{episode.pk}/", {"primary_counselor": None}, format="json")
    assert response.json()["primary_counselor"] is None
    assert audited(action="update", model="treatment.episode", object_id=episode.pk)


def test_a_closed_episode_keeps_its_care_team(episode_in, patient, staff, api):
    episode = episode_in(Stage.DISCHARGED, patient)
    response = api(staff["nurse"]).patch(f"/api/v1/episodes/{episode.pk}/", {"nurse": staff["nurse"].pk})
    assert response.status_code == 409


def test_other_facility_staff_cannot_change_the_care_team(episode, other_staff, api):
    response = api(other_staff["nurse"]).patch(f"/api/v1/episodes/{episode.pk}/", {"nurse": other_staff["nurse"].pk})
    assert response.status_code == 404
    episode.refresh_from_db()
    assert episode.nurse_id is None


# --- Reading -------------------------------------------------------------------------------------------


def test_clinicians_see_the_clinical_episode(episode, staff, api):
    response = api(staff["counselor"]).get(f"/api/v1/episodes/{episode.pk}/")
    assert response.status_code == 200
    assert {"physician", "transitions", "next_stages", "discharge_reason"} <= set(response.json())
    assert audited(action="view", model="treatment.episode", object_id=episode.pk)


def test_front_desk_sees_the_stage_only(episode, staff, api):
    client = api(staff["front_desk"])
    assert set(client.get(f"/api/v1/episodes/{episode.pk}/").json()) == SUMMARY_FIELDS
    rows = client.get("/api/v1/episodes/").json()["results"]
    assert [set(row) for row in rows] == [SUMMARY_FIELDS]
    assert audited(action="list", model="treatment.episode", object_id=episode.pk)


def test_a_patient_sees_their_own_episode_stage_only(episode, patient, other_patient, open_episode, api):
    theirs = open_episode(other_patient)
    client = api(patient.user)
    response = client.get(f"/api/v1/episodes/{episode.pk}/")
    assert response.status_code == 200
    assert set(response.json()) == SUMMARY_FIELDS
    assert response.json()["stage"] == "assessment"
    assert [row["id"] for row in client.get("/api/v1/episodes/").json()["results"]] == [str(episode.pk)]
    assert client.get(f"/api/v1/episodes/{theirs.pk}/").status_code == 404


def test_clinic_admin_sees_no_episodes(episode, staff, api):
    assert api(staff["clinic_admin"]).get("/api/v1/episodes/").status_code == 403
    assert api(staff["clinic_admin"]).get(f"/api/v1/episodes/{episode.pk}/").status_code == 403


def test_other_facility_staff_see_nothing(episode, other_staff, api):
    client = api(other_staff["physician"])
    assert client.get("/api/v1/episodes/").json()["results"] == []
    assert client.get(f"/api/v1/episodes/{episode.pk}/").status_code == 404
    assert client.get(f"/api/v1/episodes/{uuid.uuid4()}/").status_code == 404


def test_episodes_filter_by_patient_stage_setting_and_open(episode_in, facility, patient, physician, api):
    detox = episode_in(Stage.DETOX, patient)
    other = PatientFactory(facility=facility)
    discharged = episode_in(Stage.DISCHARGED, other)
    client = api(physician)

    def ids(query):
        return {row["id"] for row in client.get(f"/api/v1/episodes/?{query}").json()["results"]}

    assert ids(f"patient={patient.pk}") == {str(detox.pk)}
    assert ids("stage=detox") == {str(detox.pk)}
    assert ids("setting=outpatient") == {str(detox.pk), str(discharged.pk)}
    assert ids("setting=inpatient") == set()
    assert ids("open=true") == {str(detox.pk)}
    assert ids("open=false") == {str(discharged.pk)}
    assert api(physician).get("/api/v1/episodes/?stage=rehab").status_code == 400


@pytest.mark.parametrize("role", [Role.PHYSICIAN, Role.FRONT_DESK])
def test_episode_list_queries_do_not_grow_with_the_page(role, facility, staff, api, assert_list_queries_constant):
    assert_list_queries_constant(
        api(staff[role]), "/api/v1/episodes/?page_size=50",
        lambda: EpisodeFactory(patient=PatientFactory(facility=facility), physician=staff["physician"]),
    )  # fmt: skip


def test_a_stale_care_team_change_is_refused(episode, staff, api):
    client = api(staff["nurse"])
    etag = client.get(f"/api/v1/episodes/{episode.pk}/")["ETag"]
    first = client.patch(f"/api/v1/episodes/{episode.pk}/", {"nurse": staff["nurse"].pk}, HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first["ETag"] != etag
    stale = client.patch(f"/api/v1/episodes/{episode.pk}/", {"nurse": None}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    episode.refresh_from_db()
    assert episode.nurse == staff["nurse"]
