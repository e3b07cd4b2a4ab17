"""The stage machine: every legal and every illegal transition, its guards, roles, reasons, history,
and the registries later apps use (guards and handlers)."""

import datetime
import itertools

import pytest
import time_machine
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from treatment import services, stages
from treatment.models import EpisodeTransition, Stage

from .conftest import PATH_TO, audited

# PRODUCT.md's journey, restated independently of stages.TRANSITIONS: from -> the stages it may move to.
EXPECTED = {
    Stage.ASSESSMENT: [Stage.DETOX, Stage.THERAPY, Stage.DISCHARGED],
    Stage.DETOX: [Stage.THERAPY, Stage.DISCHARGED],
    Stage.THERAPY: [Stage.AFTERCARE, Stage.DISCHARGED],
    Stage.AFTERCARE: [Stage.DISCHARGED],
    Stage.DISCHARGED: [],
}
PAIRS = list(itertools.product(Stage.values, Stage.values))
LEGAL = [(source, target) for source, target in PAIRS if target in EXPECTED[source]]
ILLEGAL = [(source, target) for source, target in PAIRS if target not in EXPECTED[source]]


def _request(to):
    """A complete request for a move to `to`: discharge needs a category, skipping detox a reason."""
    if to == Stage.DISCHARGED:
        return {"to": to, "reason": "Finished the programme.", "category": "completed"}
    return {"to": to, "reason": "Mild dependence, no withdrawal risk."}


def test_the_table_is_the_journey():
    assert {stage: stages.allowed_targets(stage) for stage in Stage.values} == EXPECTED


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{s}->{t}" for s, t in LEGAL])
def test_every_legal_transition_through_the_api(source, target, episode_in, decide, patient, physician, api):
    episode = episode_in(source, patient)
    if source == Stage.ASSESSMENT and target != Stage.DISCHARGED:
        decide(episode)  # leaving assessment for treatment needs the decision (guard tested below)
    before = episode.transitions.count()
    later = (timezone.now() + datetime.timedelta(days=1)).replace(microsecond=0)
    with time_machine.travel(later, tick=False):
        response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", _request(target), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stage"] == target
    assert body["next_stages"] == EXPECTED[target]
    last = body["transitions"][-1]
    assert (last["from_stage"], last["to_stage"], last["actor"]) == (source, target, physician.pk)
    assert last["reason"] == _request(target)["reason"]
    assert last["occurred_at"] == later.isoformat().replace("+00:00", "Z")
    assert len(body["transitions"]) == before + 1
    episode.refresh_from_db()
    if target == Stage.DISCHARGED:
        assert episode.closed_at is not None
        assert episode.discharge_reason == "completed"
        assert last["category"] == "completed"
    else:
        assert episode.closed_at is None
    assert audited(action="transition", model="treatment.episode", object_id=episode.pk)


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
def test_every_illegal_transition_is_409_with_the_allowed_targets(source, target, episode_in, patient, physician, api):
    episode = episode_in(source, patient)
    before = list(episode.transitions.values_list("id", flat=True))
    response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", _request(target), format="json")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"] == {"stage": source, "allowed": EXPECTED[source]}
    episode.refresh_from_db()
    assert episode.stage == source
    assert list(episode.transitions.values_list("id", flat=True)) == before


def test_unknown_stage_is_400(episode, physician, api):
    response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", {"to": "rehab"}, format="json")
    assert response.status_code == 400
    assert "to" in response.json()["error"]["fields"]


# --- Guards --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [Stage.DETOX, Stage.THERAPY])
def test_leaving_assessment_needs_a_completed_assessment(target, episode, physician, api):
    response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", _request(target), format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_requirements_unmet"
    assert error["details"]["unmet"] == ["Complete the assessment and accept a setting first."]
    assert error["details"]["allowed"] == EXPECTED[Stage.ASSESSMENT]
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT


def test_a_recommended_but_undecided_assessment_is_not_enough(episode, physician):
    from .conftest import ANSWERED

    assessment = services.assessment_create(actor=physician, episode=episode, **ANSWERED)
    services.assessment_recommend(actor=physician, assessment=assessment)
    with pytest.raises(Conflict):
        services.episode_transition(actor=physician, episode=episode, to=Stage.DETOX)


def test_discharge_from_assessment_needs_no_assessment(episode, physician):
    episode = services.episode_transition(
        actor=physician, episode=episode, to=Stage.DISCHARGED, reason="Did not return.", category="other"
    )
    assert episode.stage == Stage.DISCHARGED


@pytest.mark.parametrize("role", [Role.NURSE, Role.COUNSELOR, Role.CASE_MANAGER])
def test_skipping_detox_needs_a_physician(role, staff, episode, decide, api):
    decide(episode)
    response = api(staff[role]).post(f"/api/v1/episodes/{episode.pk}/transition/", _request(Stage.THERAPY))
    assert response.status_code == 403
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT
    assert not EpisodeTransition.objects.filter(episode=episode).exists()


def test_skipping_detox_needs_a_reason(episode, decide, physician, api):
    decide(episode)
    response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", {"to": "therapy", "reason": "  "})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason": ["Give the reason for this transition."]}


def test_a_nurse_may_enter_detox(episode, decide, nurse, api):
    decide(episode)
    response = api(nurse).post(f"/api/v1/episodes/{episode.pk}/transition/", {"to": "detox"})
    assert response.status_code == 200
    assert response.json()["transitions"][0]["reason"] == ""


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"to": "discharged", "reason": "Finished."}, ["category"]),
        ({"to": "discharged", "category": "completed"}, ["reason"]),
        ({"to": "discharged", "reason": "", "category": ""}, ["category", "reason"]),
        ({"to": "discharged", "reason": "x", "category": "eloped"}, ["category"]),
    ],
)
def test_discharge_needs_a_category_and_a_reason(payload, fields, episode, physician, api):
    response = api(physician).post(f"/api/v1/episodes/{episode.pk}/transition/", payload, format="json")
    assert response.status_code == 400
    assert sorted(response.json()["error"]["fields"]) == fields
    episode.refresh_from_db()
    assert episode.closed_at is None


def test_only_a_discharge_has_a_category(episode, decide, physician):
    decide(episode)
    with pytest.raises(ValidationFailed) as caught:
        services.episode_transition(actor=physician, episode=episode, to=Stage.DETOX, category="completed")
    assert caught.value.fields == {"category": ["Only a discharge has a category."]}


@pytest.mark.parametrize("category", ["completed", "transferred", "left_against_advice", "other"])
def test_every_discharge_category(category, episode, physician):
    episode = services.episode_transition(
        actor=physician, episode=episode, to=Stage.DISCHARGED, reason="Reason given.", category=category
    )
    assert episode.discharge_reason == category
    assert episode.transitions.get().category == category


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINIC_ADMIN])
def test_non_clinical_staff_cannot_transition(role, staff, episode, api):
    response = api(staff[role]).post(f"/api/v1/episodes/{episode.pk}/transition/", _request(Stage.DISCHARGED))
    assert response.status_code == 403
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT


def test_the_patient_cannot_transition_their_own_episode(episode, patient, api):
    response = api(patient.user).post(f"/api/v1/episodes/{episode.pk}/transition/", _request(Stage.DISCHARGED))
    assert response.status_code == 403
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT


def test_a_discharged_episode_moves_nowhere(episode_in, patient, physician):
    episode = episode_in(Stage.DISCHARGED, patient)
    with pytest.raises(Conflict) as caught:
        services.episode_transition(actor=physician, episode=episode, to=Stage.DISCHARGED, reason="x", category="other")
    assert caught.value.details == {"stage": Stage.DISCHARGED, "allowed": []}


# --- History -------------------------------------------------------------------------------------------


def test_every_transition_is_stored_and_listed_in_order(episode_in, patient, physician, api):
    episode = episode_in(Stage.AFTERCARE, patient)
    response = api(physician).get(f"/api/v1/episodes/{episode.pk}/transitions/")
    assert response.status_code == 200
    moves = [(row["from_stage"], row["to_stage"]) for row in response.json()]
    assert moves == [("assessment", "detox"), ("detox", "therapy"), ("therapy", "aftercare")]
    assert all(row["actor"] == physician.pk for row in response.json())
    assert audited(action="list", model="treatment.episodetransition", object_id=episode.transitions.first().pk)


def test_transitions_are_for_clinicians_only(episode_in, patient, staff, api):
    episode = episode_in(Stage.DETOX, patient)
    assert api(staff["front_desk"]).get(f"/api/v1/episodes/{episode.pk}/transitions/").status_code == 403
    assert api(patient.user).get(f"/api/v1/episodes/{episode.pk}/transitions/").status_code == 403
    assert api(staff["case_manager"]).get(f"/api/v1/episodes/{episode.pk}/transitions/").status_code == 200


# --- Registries for later apps -------------------------------------------------------------------------


@pytest.fixture
def registered():
    added: list[tuple[str, object]] = []

    def register(kind: str, stage: str, callback):
        if kind == "guard":
            stages.register_transition_guard(stage, callback)
        else:
            stages.register_transition_handler(stage, callback)
        added.append((stage, callback))

    yield register
    for stage, callback in added:
        stages.unregister(stage, callback)


def test_a_registered_guard_blocks_entering_its_stage(registered, episode_in, patient, physician):
    def needs_plan(attempt):
        return "Write the relapse-prevention plan first." if attempt.target == Stage.AFTERCARE else None

    registered("guard", Stage.AFTERCARE, needs_plan)
    episode = episode_in(Stage.THERAPY, patient)
    with pytest.raises(Conflict) as caught:
        services.episode_transition(actor=physician, episode=episode, to=Stage.AFTERCARE)
    assert caught.value.details["unmet"] == ["Write the relapse-prevention plan first."]
    episode.refresh_from_db()
    assert episode.stage == Stage.THERAPY


def test_a_registered_guard_is_asked_about_the_attempt(registered, episode_in, patient, physician):
    seen = []
    registered("guard", Stage.AFTERCARE, lambda attempt: seen.append(attempt) or None)
    episode = episode_in(Stage.THERAPY, patient)
    services.episode_transition(actor=physician, episode=episode, to=Stage.AFTERCARE, reason="Ready.")
    [attempt] = seen
    assert (attempt.episode.pk, attempt.source, attempt.target, attempt.actor, attempt.reason) == (
        episode.pk, Stage.THERAPY, Stage.AFTERCARE, physician, "Ready.",
    )  # fmt: skip


def test_handlers_run_after_the_move_in_the_same_transaction(registered, episode_in, patient, physician):
    calls = []
    registered("handler", Stage.DISCHARGED, lambda ep, tr: calls.append(("discharged", ep.stage, tr.to_stage)))
    registered("handler", "*", lambda ep, tr: calls.append(("any", tr.from_stage, tr.to_stage)))
    episode = episode_in(Stage.DETOX, patient)
    services.episode_transition(actor=physician, episode=episode, to=Stage.DISCHARGED, reason="x", category="other")
    assert ("any", "assessment", "detox") in calls
    assert calls[-2:] == [("discharged", "discharged", "discharged"), ("any", "detox", "discharged")]


def test_a_failing_handler_undoes_the_transition(registered, episode_in, patient, physician):
    def broken(episode, transition):
        raise Conflict("The reminders could not be cancelled.")

    registered("handler", Stage.DISCHARGED, broken)
    episode = episode_in(Stage.THERAPY, patient)
    with pytest.raises(Conflict):
        services.episode_transition(actor=physician, episode=episode, to=Stage.DISCHARGED, reason="x", category="other")
    episode.refresh_from_db()
    assert (episode.stage, episode.closed_at) == (Stage.THERAPY, None)
    assert not episode.transitions.filter(to_stage=Stage.DISCHARGED).exists()


def test_registering_is_idempotent_and_checks_the_stage(registered):
    def guard(attempt):
        return None

    registered("guard", Stage.AFTERCARE, guard)
    stages.register_transition_guard(Stage.AFTERCARE, guard)
    assert stages._registered_guards[Stage.AFTERCARE].count(guard) == 1
    with pytest.raises(ValueError, match="Unknown stage"):
        stages.register_transition_guard("rehab", guard)
    with pytest.raises(ValueError, match="Unknown stage"):
        stages.register_transition_handler("rehab", lambda episode, transition: None)


def test_role_refusal_is_checked_before_the_reason(episode, decide, nurse):
    decide(episode)
    with pytest.raises(NotAllowed):
        services.episode_transition(actor=nurse, episode=episode, to=Stage.THERAPY, reason="")


def test_paths_used_by_the_tests_are_legal():
    for stage, moves in PATH_TO.items():
        current = Stage.ASSESSMENT
        for to, _, _ in moves:
            assert to in EXPECTED[current]
            current = to
        assert current == stage
