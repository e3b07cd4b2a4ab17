"""Relapse events and the one-step readmission: a new episode in assessment linked to the previous one, which is
closed (if still open) with its remaining follow-ups cancelled; history is never overwritten."""

import datetime

import pytest

from aftercare import services
from aftercare.models import ProviderCheckIn, Relapse
from clinic.audit.models import AuditEvent
from treatment import services as treatment_services
from treatment.models import Episode, EpisodeTransition, Stage

from ..conftest import NOW, audited

DAY = datetime.timedelta(days=1)


@pytest.fixture
def episode(clock, patient, enter_aftercare):
    return enter_aftercare(patient)


def record(client, episode, **values):
    body = {
        "episode": str(episode.pk),
        "occurred_on": "2026-03-06",
        "substance": "kratom",
        "context": "A friend's party; capsules offered.",
        "what_helped": "Called the sponsor the next morning.",
        **values,
    }
    return client.post("/api/v1/relapses/", body, format="json")


# --- Relapses ------------------------------------------------------------------------------------------


def test_a_counselor_records_a_relapse(episode, staff, clock, api):
    clock.shift(5 * DAY)
    response = record(api(staff["counselor"]), episode)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["occurred_on"], body["substance"], body["readmission"]) == ("2026-03-06", "kratom", None)
    assert body["what_helped"] == "Called the sponsor the next morning."
    assert audited(action="create", model="aftercare.relapse", object_id=body["id"])
    listed = api(staff["nurse"]).get(f"/api/v1/relapses/?patient={episode.patient_id}").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("values", "field"),
    [({"occurred_on": "2026-03-09"}, "occurred_on"), ({"occurred_on": "2026-02-01"}, "occurred_on"),
     ({"substance": "sugar"}, "substance")],
)  # fmt: skip
def test_invalid_relapses_are_a_400(values, field, episode, staff, clock, api):
    clock.shift(5 * DAY)
    response = record(api(staff["counselor"]), episode, **values)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Relapse.objects.exists()


def test_who_may_record_and_read_relapses(episode, staff, other_staff, patient, clock, api):
    clock.shift(5 * DAY)
    assert record(api(patient.user), episode).status_code == 403
    assert record(api(staff["front_desk"]), episode).status_code == 403
    assert record(api(other_staff["counselor"]), episode).status_code == 404
    assert not Relapse.objects.exists()
    relapse = record(api(staff["nurse"]), episode).json()
    assert api(patient.user).get(f"/api/v1/relapses/{relapse['id']}/").status_code == 403
    assert api(other_staff["counselor"]).get(f"/api/v1/relapses/{relapse['id']}/").status_code == 404


# --- Readmission ---------------------------------------------------------------------------------------


def readmit(client, episode, **values):
    body = {"reason": "Relapse on kratom; restarting with an assessment.", **values}
    return client.post(f"/api/v1/episodes/{episode.pk}/readmit/", body, format="json")


def test_readmission_closes_the_episode_and_opens_a_linked_one_in_assessment(episode, patient, staff, team, clock, api):
    clock.shift(5 * DAY)
    relapse = services.relapse_record(
        actor=team["primary_counselor"],
        episode=episode,
        occurred_on=datetime.date(2026, 3, 6),
        substance="kratom",
    )
    clock.shift(DAY)
    response = readmit(api(staff["counselor"]), episode, relapse=str(relapse.pk))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["stage"], body["previous_episode"], body["patient"]) == (
        "assessment",
        str(episode.pk),
        str(patient.pk),
    )
    assert body["case_manager"] == team["case_manager"].pk
    assert body["primary_counselor"] == team["primary_counselor"].pk
    assert body["transitions"] == []  # the new episode has not moved yet

    episode.refresh_from_db()
    assert (episode.stage, episode.discharge_reason) == (Stage.DISCHARGED, "other")
    discharge = EpisodeTransition.objects.get(episode=episode, to_stage=Stage.DISCHARGED)
    assert discharge.reason == "Readmitted: Relapse on kratom; restarting with an assessment."
    assert discharge.actor == staff["counselor"]
    statuses = set(ProviderCheckIn.objects.filter(episode=episode).values_list("status", flat=True))
    assert statuses == {"cancelled"}
    relapse.refresh_from_db()
    assert str(relapse.readmission_id) == body["id"]
    assert AuditEvent.objects.filter(
        action="readmit", model="treatment.episode", object_id=body["id"], actor=staff["counselor"]
    ).exists()
    # The old episode's transitions are all still there.
    assert list(episode.transitions.values_list("to_stage", flat=True)) == ["therapy", "aftercare", "discharged"]


def test_a_discharged_episode_is_readmitted_without_a_second_discharge(episode, staff, team, clock, api):
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=episode, to=Stage.DISCHARGED, reason="Done.", category="completed"
    )
    clock.shift(30 * DAY)
    response = readmit(api(staff["case_manager"]), episode)
    assert response.status_code == 201
    episode.refresh_from_db()
    assert episode.discharge_reason == "completed"
    assert episode.transitions.filter(to_stage=Stage.DISCHARGED).count() == 1
    assert Episode.objects.get(pk=response.json()["id"]).previous_episode == episode


def test_an_episode_is_readmitted_once(episode, staff, api):
    assert readmit(api(staff["counselor"]), episode).status_code == 201
    response = readmit(api(staff["counselor"]), episode)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "already_readmitted")
    assert Episode.objects.filter(patient=episode.patient).count() == 2


def test_care_team_members_who_left_are_not_carried_over(episode, staff, team, api):
    team["case_manager"].is_active = False
    team["case_manager"].save()
    body = readmit(api(staff["counselor"]), episode).json()
    assert body["case_manager"] is None
    assert body["primary_counselor"] == team["primary_counselor"].pk


def test_readmission_is_checked(episode, patient, staff, team, clock, api):
    client = api(staff["counselor"])
    assert readmit(client, episode, reason="").status_code == 400
    other_episode = treatment_services.episode_open(actor=team["physician"], patient=_another_patient(patient))
    elsewhere = services.relapse_record(
        actor=team["physician"], episode=other_episode, occurred_on=NOW.date(), substance="alcohol"
    )
    response = readmit(client, episode, relapse=str(elsewhere.pk))
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["relapse"]
    assert Episode.objects.get(pk=episode.pk).stage == Stage.AFTERCARE


def _another_patient(patient):
    from patients.tests.factories import PatientFactory

    return PatientFactory(facility=patient.facility)


def test_who_may_readmit(episode, staff, other_staff, patient, api):
    assert readmit(api(staff["nurse"]), episode).status_code == 403
    assert readmit(api(staff["front_desk"]), episode).status_code == 403
    assert readmit(api(patient.user), episode).status_code == 403
    assert readmit(api(other_staff["counselor"]), episode).status_code == 404
    assert Episode.objects.filter(patient=patient).count() == 1
    assert Episode.objects.get(pk=episode.pk).stage == Stage.AFTERCARE
