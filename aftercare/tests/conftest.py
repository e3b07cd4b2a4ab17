"""Fixtures for aftercare: the care team, episodes brought to therapy and into aftercare through the services
(the stage machine is the rule), a frozen clock, and query-count and audit helpers."""

import datetime

import pytest
import time_machine

from aftercare import services
from clinic.audit.models import AuditEvent
from treatment import services as treatment_services
from treatment.models import Episode, Setting, Stage

# Monday 2 March 2026, 09:00 in New York (EST, UTC-5); US clocks move forward on Sunday 8 March.
NOW = datetime.datetime(2026, 3, 2, 14, 0, tzinfo=datetime.UTC)

ANSWERED = {
    "pregnant": False,
    "withdrawal_seizure_or_delirium_history": False,
    "serious_medical_comorbidity": False,
    "safe_living_environment": True,
    "support_system": "moderate",
}
TRIGGER = {
    "category": "stress",
    "description": "Deadline weeks at work.",
    "coping_strategies": ["Ten-minute walk.", "Call my sponsor."],
}


@pytest.fixture
def clock():
    """A frozen clock at NOW; move it with clock.move_to(...) or clock.shift(...)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def team(staff):
    return {
        "physician": staff["physician"],
        "nurse": staff["nurse"],
        "primary_counselor": staff["counselor"],
        "case_manager": staff["case_manager"],
    }


@pytest.fixture
def episode_in_therapy(team):
    """episode_in_therapy(patient, **care_team) -> an outpatient episode in therapy (detox skipped)."""

    def make(patient, **care_team) -> Episode:
        members = {**team, **care_team}
        physician = team["physician"]
        episode = treatment_services.episode_open(actor=physician, patient=patient, **members)
        assessment = treatment_services.assessment_create(actor=physician, episode=episode, **ANSWERED)
        assessment = treatment_services.assessment_recommend(actor=physician, assessment=assessment)
        treatment_services.assessment_complete(
            actor=physician,
            assessment=assessment,
            accepted_setting=Setting.OUTPATIENT,
            outpatient_intensity="standard",
            override_reason="" if assessment.recommended_setting == "outpatient" else "Clinical judgement.",
        )
        return treatment_services.episode_transition(
            actor=physician, episode=episode, to=Stage.THERAPY, reason="Mild dependence, no withdrawal risk."
        )

    return make


@pytest.fixture
def write_plan(team):
    def make(episode, **fields):
        return services.relapse_prevention_plan_create(
            actor=team["primary_counselor"], episode=episode, triggers=[TRIGGER], **fields
        )

    return make


@pytest.fixture
def enter_aftercare(team, episode_in_therapy, write_plan):
    """enter_aftercare(patient, plan={...}, **care_team) -> an episode just moved into aftercare (with a plan)."""

    def make(patient, *, plan=None, **care_team) -> Episode:
        episode = episode_in_therapy(patient, **care_team)
        write_plan(episode, **(plan or {}))
        return treatment_services.episode_transition(actor=team["case_manager"], episode=episode, to=Stage.AFTERCARE)

    return make


def audited(*, action: str, model: str, object_id) -> bool:
    return AuditEvent.objects.filter(action=action, model=model, object_id=str(object_id)).exists()
