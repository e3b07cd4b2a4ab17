"""Fixtures for the treatment app: a care team, open episodes, answered assessments, and helpers that bring an
episode to any stage through the services (the stage machine is the rule, so tests never set `stage`)."""

import pytest

from clinic.audit.models import AuditEvent
from treatment import services
from treatment.instruments import get_definition
from treatment.models import Assessment, Episode, Setting, Stage

# Every answer the recommendation needs, with nothing that fires a rule (a safe home, no risk factor).
ANSWERED = {
    "pregnant": False,
    "withdrawal_seizure_or_delirium_history": False,
    "serious_medical_comorbidity": False,
    "safe_living_environment": True,
    "support_system": "moderate",
}

# The legal moves that bring a new episode to each stage (to, reason, category).
PATH_TO = {
    Stage.ASSESSMENT: [],
    Stage.DETOX: [(Stage.DETOX, "", None)],
    Stage.THERAPY: [(Stage.DETOX, "", None), (Stage.THERAPY, "", None)],
    Stage.AFTERCARE: [(Stage.DETOX, "", None), (Stage.THERAPY, "", None), (Stage.AFTERCARE, "", None)],
    Stage.DISCHARGED: [(Stage.DISCHARGED, "Moved away.", "transferred")],
}


@pytest.fixture(autouse=True)
def _stage_machine_alone(monkeypatch):
    """These tests exercise treatment's own stage machine. Guards and handlers that later apps register at
    start-up (aftercare: "entering aftercare needs a relapse-prevention plan") are set aside here and tested
    in those apps; tests that register their own still can."""
    from treatment import stages

    monkeypatch.setattr(stages, "_registered_guards", {})
    monkeypatch.setattr(stages, "_registered_handlers", {})


@pytest.fixture
def physician(staff):
    return staff["physician"]


@pytest.fixture
def nurse(staff):
    return staff["nurse"]


@pytest.fixture
def counselor(staff):
    return staff["counselor"]


@pytest.fixture
def open_episode(physician):
    """open_episode(patient, **care_team) -> a new episode in the assessment stage."""

    def make(patient, **team):
        return services.episode_open(actor=physician, patient=patient, **team)

    return make


@pytest.fixture
def episode(open_episode, patient):
    return open_episode(patient)


@pytest.fixture
def decide(physician):
    """decide(episode, setting=...) -> the episode's assessment, answered, recommended and completed."""

    def make(episode, *, setting: str = Setting.OUTPATIENT, **answers) -> Assessment:
        assessment = services.assessment_create(actor=physician, episode=episode, **(ANSWERED | answers))
        assessment = services.assessment_recommend(actor=physician, assessment=assessment)
        family = "outpatient" if setting == Setting.OUTPATIENT else "inpatient"
        return services.assessment_complete(
            actor=physician,
            assessment=assessment,
            accepted_setting=setting,
            override_reason="" if family == assessment.recommended_setting else "Clinical judgement.",
            outpatient_intensity="standard" if setting == Setting.OUTPATIENT else "",
        )

    return make


@pytest.fixture
def episode_in(open_episode, decide, physician):
    """episode_in(stage, patient) -> an episode brought to `stage` through legal transitions."""

    def make(stage: str, patient) -> Episode:
        episode = open_episode(patient)
        if stage != Stage.ASSESSMENT:
            decide(episode)
        for to, reason, category in PATH_TO[stage]:
            episode = services.episode_transition(
                actor=physician, episode=episode, to=to, reason=reason, category=category
            )
        return episode

    return make


def lowest(code: str) -> dict:
    return {item.key: min(item.allowed) for item in get_definition(code).items}


def responses_totalling(code: str, total: int, **fixed) -> dict:
    """Valid responses of instrument `code` whose total is exactly `total`, with `fixed` items as given."""
    definition = get_definition(code)
    reachable: dict[int, dict] = {0: {}}  # total so far -> one assignment of the items seen so far
    for item in definition.items:
        values = (fixed[item.key],) if item.key in fixed else item.allowed
        reachable = {
            subtotal + int(value): {**assignment, item.key: value}
            for subtotal, assignment in reachable.items()
            for value in values
        }
    assert total in reachable, f"{code}: no responses total {total}"
    return reachable[total]


def audited(*, action: str, model: str, object_id) -> bool:
    return AuditEvent.objects.filter(action=action, model=model, object_id=str(object_id)).exists()
