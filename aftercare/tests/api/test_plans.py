"""Relapse-prevention plans: staff write them; the patient reads theirs and may add their own triggers and coping
strategies (marked as theirs), and nothing else."""

import pytest

from aftercare import services
from aftercare.models import CopingStrategy, RelapsePreventionPlan, RelapseTrigger
from clinic.errors import NotAllowed
from treatment import services as treatment_services
from treatment.models import Stage
from treatment.tests.factories import EpisodeFactory

from ..conftest import TRIGGER, audited
from ..factories import RelapsePreventionPlanFactory, RelapseTriggerFactory

PLAN = {
    "triggers": [TRIGGER, {"category": "places", "description": "The smoke shop.", "coping_strategies": []}],
    "craving_action_plan": ["Call Chris.", "Walk for 15 minutes.", "Wait 10-15 minutes and rate it again."],
    "support_contacts": [{"name": "Chris Patel", "relationship": "Sponsor", "phone": "(617) 555-0112"}],
    "support_groups": [
        {"name": "SMART Recovery", "kind": "smart_recovery", "day": "Tuesday", "time": "19:00",
         "link": "https://meetings.smartrecovery.org/"},
        {"name": "Elm St NA", "kind": "na", "day": "thursday", "time": "19:30", "place": "12 Elm St"},
        {"name": "Kratom peer circle", "kind": "kratom_specific", "link": "https://example.org/circle"},
    ],
    "reasons_for_recovery": ["My daughter."],
    "check_in_prompt_time": "20:00",
}  # fmt: skip


@pytest.fixture
def therapy_episode(clock, patient, episode_in_therapy):
    return episode_in_therapy(patient)


@pytest.fixture
def plan(therapy_episode, write_plan):
    return write_plan(therapy_episode)


def url(plan=None, suffix=""):
    base = "/api/v1/relapse-prevention-plans/"
    return base if plan is None else f"{base}{plan.pk}/{suffix}"


# --- Staff write the plan ------------------------------------------------------------------------------


def test_a_counselor_writes_the_plan(therapy_episode, staff, api):
    response = api(staff["counselor"]).post(url(), {"episode": str(therapy_episode.pk), **PLAN}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [trigger["category"] for trigger in body["triggers"]] == ["stress", "places"]
    assert [s["text"] for s in body["triggers"][0]["coping_strategies"]] == TRIGGER["coping_strategies"]
    assert not any(trigger["authored_by_patient"] for trigger in body["triggers"])
    assert body["support_contacts"][0]["phone"] == "+16175550112"  # normalised
    assert [group["day"] for group in body["support_groups"]] == ["tuesday", "thursday", ""]
    assert (body["check_in_prompt_time"], body["aftercare_started_at"]) == ("20:00:00", None)
    assert body["patient"] == str(therapy_episode.patient_id)
    assert audited(action="create", model="aftercare.relapsepreventionplan", object_id=body["id"])
    trigger = RelapseTrigger.objects.get(plan_id=body["id"], category="stress")
    assert audited(action="create", model="aftercare.relapsetrigger", object_id=trigger.pk)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"support_groups": [{"name": "NA", "kind": "na"}]}, ["support_groups.0.place"]),
        ({"support_groups": [{"name": "NA", "kind": "church", "place": "x"}]}, ["support_groups.0.kind"]),
        ({"support_groups": [{"name": "NA", "kind": "na", "time": "7pm", "place": "x"}]}, ["support_groups.0.time"]),
        ({"support_contacts": [{"name": "Chris", "phone": "12"}]}, ["support_contacts.0.phone"]),
        ({"craving_action_plan": "call someone"}, ["craving_action_plan"]),
        ({"reasons_for_recovery": [""]}, ["reasons_for_recovery.0"]),
        ({"triggers": [{"category": "boredom", "description": "x"}]}, ["triggers.0.category"]),
    ],
)
def test_invalid_plans_are_a_400_naming_the_entry(change, fields, therapy_episode, staff, api):
    response = api(staff["counselor"]).post(url(), {"episode": str(therapy_episode.pk), **change}, format="json")
    assert response.status_code == 400, response.content
    assert sorted(response.json()["error"]["fields"]) == fields
    assert not RelapsePreventionPlan.objects.exists()


def test_one_plan_per_episode(plan, therapy_episode, staff, api):
    response = api(staff["counselor"]).post(url(), {"episode": str(therapy_episode.pk)}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_exists"


def test_who_may_write_a_plan(therapy_episode, staff, other_staff, patient, api):
    body = {"episode": str(therapy_episode.pk)}
    assert api(staff["front_desk"]).post(url(), body, format="json").status_code == 403
    assert api(staff["nurse"]).post(url(), body, format="json").status_code == 403
    assert api(patient.user).post(url(), body, format="json").status_code == 403
    assert api(other_staff["counselor"]).post(url(), body, format="json").status_code == 404
    assert not RelapsePreventionPlan.objects.exists()
    assert api(staff["case_manager"]).post(url(), body, format="json").status_code == 201


def test_staff_change_the_lists_and_the_changes_are_audited(plan, staff, api):
    response = api(staff["case_manager"]).patch(
        url(plan), {"reasons_for_recovery": ["My daughter.", "My health."]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["reasons_for_recovery"] == ["My daughter.", "My health."]
    event = audited(action="update", model="aftercare.relapsepreventionplan", object_id=plan.pk)
    assert event


def test_a_stale_write_is_refused(plan, staff, api, clock):
    etag = api(staff["counselor"]).get(url(plan))["ETag"]
    clock.shift(1)
    api(staff["counselor"]).patch(url(plan), {"reasons_for_recovery": ["One."]}, format="json")
    response = api(staff["counselor"]).patch(
        url(plan), {"reasons_for_recovery": ["Two."]}, format="json", HTTP_IF_MATCH=etag
    )
    assert response.status_code == 412
    plan.refresh_from_db()
    assert plan.reasons_for_recovery == ["One."]


def test_the_plan_of_a_closed_episode_stays_as_it_was(plan, therapy_episode, team, staff, api):
    treatment_services.episode_transition(
        actor=team["case_manager"], episode=therapy_episode, to=Stage.DISCHARGED, reason="Moved.", category="other"
    )
    response = api(staff["counselor"]).patch(url(plan), {"reasons_for_recovery": []}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "episode_closed"


def test_staff_edit_and_remove_triggers_and_strategies(plan, staff, api):
    client = api(staff["counselor"])
    trigger = plan.triggers.get(category="stress")
    response = client.patch(url(plan, f"triggers/{trigger.pk}/"), {"description": "Month-end close."}, format="json")
    assert response.status_code == 200
    assert response.json()["triggers"][0]["description"] == "Month-end close."
    strategy = trigger.coping_strategies.first()
    response = client.delete(url(plan, f"coping-strategies/{strategy.pk}/"))
    assert response.status_code == 200
    assert not CopingStrategy.objects.filter(pk=strategy.pk).exists()
    assert audited(action="delete", model="aftercare.copingstrategy", object_id=strategy.pk)
    response = client.delete(url(plan, f"triggers/{trigger.pk}/"))
    assert response.json()["triggers"] == []
    assert audited(action="delete", model="aftercare.relapsetrigger", object_id=trigger.pk)


def test_a_trigger_of_another_plan_is_not_found_here(plan, staff, api, facility):
    elsewhere = RelapseTriggerFactory(plan__episode__patient__facility=facility)
    response = api(staff["counselor"]).delete(url(plan, f"triggers/{elsewhere.pk}/"))
    assert response.status_code == 404
    assert RelapseTrigger.objects.filter(pk=elsewhere.pk).exists()


# --- The patient's limited rights ----------------------------------------------------------------------


def test_the_patient_reads_their_plan_and_no_other(plan, patient, other_patient, facility, api):
    theirs = RelapsePreventionPlanFactory(episode__patient=other_patient)
    client = api(patient.user)
    listed = client.get(url()).json()["results"]
    assert [row["id"] for row in listed] == [str(plan.pk)]
    assert client.get(url(plan)).status_code == 200
    assert audited(action="view", model="aftercare.relapsepreventionplan", object_id=plan.pk)
    assert client.get(url(theirs)).status_code == 404


def test_the_patient_adds_their_own_trigger_marked_as_theirs(plan, patient, api):
    body = {"category": "other", "description": "Sunday evenings alone.", "coping_strategies": ["Call my sister."]}
    response = api(patient.user).post(url(plan, "triggers/"), body, format="json")
    assert response.status_code == 201, response.content
    added = response.json()["triggers"][-1]
    assert (added["description"], added["authored_by_patient"]) == ("Sunday evenings alone.", True)
    assert added["coping_strategies"][0]["authored_by_patient"] is True
    trigger = RelapseTrigger.objects.get(pk=added["id"])
    assert trigger.author == patient.user
    assert audited(action="create", model="aftercare.relapsetrigger", object_id=trigger.pk)


def test_the_patient_adds_a_coping_strategy_to_a_staff_trigger(plan, patient, api):
    trigger = plan.triggers.get(category="stress")
    response = api(patient.user).post(
        url(plan, f"triggers/{trigger.pk}/coping-strategies/"), {"text": "Breathing app."}, format="json"
    )
    assert response.status_code == 201
    strategies = response.json()["triggers"][0]["coping_strategies"]
    assert [(s["text"], s["authored_by_patient"]) for s in strategies] == [
        ("Ten-minute walk.", False),
        ("Call my sponsor.", False),
        ("Breathing app.", True),
    ]
    trigger.refresh_from_db()
    assert trigger.authored_by_patient is False  # the trigger stays the care team's


def test_the_patient_may_change_nothing_else(plan, patient, api):
    client = api(patient.user)
    trigger = plan.triggers.get(category="stress")
    strategy = trigger.coping_strategies.first()
    before = RelapsePreventionPlan.objects.filter(pk=plan.pk).values().get()
    assert client.patch(url(plan), {"reasons_for_recovery": []}, format="json").status_code == 403
    assert client.patch(url(plan, f"triggers/{trigger.pk}/"), {"description": "x"}, format="json").status_code == 403
    assert client.delete(url(plan, f"triggers/{trigger.pk}/")).status_code == 403
    assert client.delete(url(plan, f"coping-strategies/{strategy.pk}/")).status_code == 403
    assert RelapsePreventionPlan.objects.filter(pk=plan.pk).values().get() == before
    assert trigger.coping_strategies.count() == 2
    assert RelapseTrigger.objects.get(pk=trigger.pk).description == "Deadline weeks at work."


def test_the_services_refuse_a_patient_too(plan, patient, other_patient):
    trigger = plan.triggers.first()
    with pytest.raises(NotAllowed):
        services.relapse_trigger_remove(actor=patient.user, trigger=trigger)
    with pytest.raises(NotAllowed):
        services.relapse_prevention_plan_update(actor=patient.user, plan=plan, data={"reasons_for_recovery": []})
    with pytest.raises(NotAllowed):  # another patient's plan, even past the API's scoping
        services.relapse_trigger_add(actor=other_patient.user, plan=plan, category="other", description="x")


def test_another_patient_cannot_add_to_the_plan(plan, other_patient, api):
    body = {"category": "other", "description": "x"}
    assert api(other_patient.user).post(url(plan, "triggers/"), body, format="json").status_code == 404
    assert plan.triggers.count() == 1


# --- Lists ---------------------------------------------------------------------------------------------


def test_the_plan_list_costs_the_same_for_1_and_50_plans(clock, facility, staff, api, assert_list_queries_constant):
    def make_row():
        trigger = RelapseTriggerFactory(plan__episode=EpisodeFactory(patient__facility=facility))
        CopingStrategy.objects.create(trigger=trigger, text="Walk.", author=trigger.author)

    assert_list_queries_constant(api(staff["counselor"]), url(), make_row)
