"""Reads: scoped querysets for the API and the admin, the instrument definition a facility uses, and the
facts a level-of-care recommendation is computed from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.db import CompiledOnce
from clinic.scoping import scope_queryset
from patients.models import Patient
from patients.selectors import patient_active_condition_names, patient_substances

from .instruments import Band, InstrumentDefinition, get_definition
from .models import Alert, Assessment, Episode, EpisodeTransition, InstrumentConfiguration, Observation
from .recommendation import DSM5_SEVERITIES, AssessmentFacts

CARE_TEAM = ("physician", "nurse", "primary_counselor", "case_manager")
# Substances whose co-use makes withdrawal medically risky (seizures, delirium).
ALCOHOL_OR_BENZODIAZEPINES = frozenset({"alcohol", "benzodiazepines"})


def episode_queryset() -> QuerySet[Episode]:
    return Episode.objects.select_related("patient", *CARE_TEAM)


def episode_list(*, actor: User) -> QuerySet[Episode]:
    return scope_queryset(episode_queryset(), actor)


# What recording an observation reads through its episode every time: the facility's instrument definition and
# the patient's sex. (The care team is read only when a flag raises an alert.)
RECORDING_RELATIONS = ("patient__facility",)


def episodes_to_record_on(*, actor: User) -> QuerySet[Episode]:
    """The episodes `actor` may see, loaded with what services.observation_record reads, and no more."""
    return scope_queryset(Episode.objects.select_related(*RECORDING_RELATIONS), actor)


# An episode's transitions, oldest first, each with its actor's names (what TransitionOutputSerializer shows of
# the actor): compiled once (see clinic.db), read on every clinical view of an episode.
_TRANSITIONS = CompiledOnce(
    lambda episode_id: EpisodeTransition.objects.filter(episode_id=episode_id).annotate(
        actor_first_name=F("actor__first_name"),
        actor_last_name=F("actor__last_name"),
        actor_username=F("actor__username"),
    ),
    uuid.UUID(int=0),
)


def episode_transitions(episode: Episode) -> list[EpisodeTransition]:
    return _TRANSITIONS.rows(episode.pk)


def with_transitions(episode: Episode) -> Episode:
    """`episode` with its transitions in `transition_rows`, where EpisodeDetailOutputSerializer reads them."""
    episode.transition_rows = episode_transitions(episode)
    return episode


def observation_rows() -> QuerySet[Observation]:
    """Observations as the API shows them: their own columns and their episode's patient id, without the
    rest of the episode (a page of 50 would otherwise load and parse 50 episodes' dozen columns)."""
    own = [f.name for f in Observation._meta.concrete_fields]
    return Observation.objects.select_related("episode").only(*own, "episode__patient")


def observation_list(*, actor: User) -> QuerySet[Observation]:
    return scope_queryset(Observation.objects.select_related("episode", "recorded_by"), actor)


def alert_list(*, actor: User) -> QuerySet[Alert]:
    return scope_queryset(Alert.objects.all(), actor)


def my_patients(*, actor: User) -> QuerySet[Patient]:
    """Patients of `actor`'s facilities whose open episode has `actor` on its care team, each with that episode
    prefetched as `open_episodes` (a list of one)."""
    on_team = Q(physician=actor) | Q(nurse=actor) | Q(primary_counselor=actor) | Q(case_manager=actor)
    episodes = Episode.objects.filter(on_team, closed_at__isnull=True)
    return scope_queryset(
        Patient.objects.filter(pk__in=episodes.values("patient_id")).prefetch_related(
            Prefetch("episodes", queryset=Episode.objects.filter(closed_at__isnull=True), to_attr="open_episodes")
        ),
        actor,
    )


def alerts_addressed_to(*, actor: User) -> QuerySet[Alert]:
    """Open alerts naming `actor`, or naming nobody but `actor`'s role (as the dashboard counts them)."""
    addressed = Q(target_user=actor) | Q(target_user__isnull=True, target_role=actor.role)
    return alert_list(actor=actor).filter(addressed, acknowledged_at__isnull=True)


def assessment_list(*, actor: User) -> QuerySet[Assessment]:
    return scope_queryset(assessment_queryset(), actor)


def assessment_queryset() -> QuerySet[Assessment]:
    return Assessment.objects.select_related("episode").prefetch_related(
        Prefetch("observations", queryset=Observation.objects.only("id"))
    )


# --- Instrument definitions a facility uses ------------------------------------------------------------


def configured_definition(config: InstrumentConfiguration) -> InstrumentDefinition:
    """The default definition of `config.instrument` with the facility's bands and thresholds."""
    default = get_definition(config.instrument)
    return default.with_overrides(
        version=config.version,
        bands=[Band(**band) for band in config.bands],
        alert_thresholds=config.alert_thresholds or {},
        sex_bands={sex: [Band(**band) for band in bands] for sex, bands in (config.sex_bands or {}).items()},
    )


def instrument_definition(*, facility: Facility | None, code: str) -> InstrumentDefinition:
    """The definition `facility` scores `code` with: its newest configuration, else the default.

    Raises UnknownInstrumentError for an unknown code.
    """
    default = get_definition(code)
    if facility is None:
        return default
    config = _newest_configuration(facility, code)
    return default if config is None else configured_definition(config)


# Read for every observation recorded: compiled once (see clinic.db).
_NEWEST_CONFIGURATION = CompiledOnce(
    lambda facility_id, code: InstrumentConfiguration.objects.filter(facility_id=facility_id, instrument=code).order_by(
        "-created_at"
    )[:1],
    uuid.UUID(int=0),
    "",
)


def _newest_configuration(facility: Facility, code: str) -> InstrumentConfiguration | None:
    """The facility's newest configuration of `code`, read afresh every time (a physician may change it)."""
    return _NEWEST_CONFIGURATION.first(facility.pk, code)


# --- The facts behind a recommendation -----------------------------------------------------------------

# Assessment answers every recommendation needs; pregnancy only where it is relevant (see below).
REQUIRED_ANSWERS = (
    "withdrawal_seizure_or_delirium_history",
    "serious_medical_comorbidity",
    "safe_living_environment",
    "support_system",
)
UNANSWERED = (None, "")


@dataclass
class GatheredFacts:
    """The facts for `recommend`, or what is still unanswered; and the observations they came from."""

    facts: AssessmentFacts | None
    missing: dict[str, list[str]] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)


def pregnancy_relevant(patient: Patient) -> bool:
    return patient.sex != Patient.Sex.MALE


def latest_observations(episode: Episode, *, until=None) -> dict[tuple[str, str], Observation]:
    """The newest observation per (instrument, substance) in the episode, observed up to `until` (now)."""
    until = until or timezone.now()
    latest: dict[tuple[str, str], Observation] = {}
    rows = episode.observations.filter(observed_at__lte=until).order_by("-observed_at", "-created_at")
    for observation in rows:
        latest.setdefault((observation.instrument, observation.substance), observation)
    return latest


def assessment_facts(assessment: Assessment) -> GatheredFacts:
    """Gather the facts of `assessment`: its answers, the episode's latest scores (DSM-5: the worst
    severity across substances) and the patient record (active co-occurring conditions, substances)."""
    episode = assessment.episode
    patient = episode.patient
    missing = {
        name: ["Answer this before asking for a recommendation."]
        for name in REQUIRED_ANSWERS
        if getattr(assessment, name) in UNANSWERED
    }
    if pregnancy_relevant(patient) and assessment.pregnant is None:
        missing["pregnant"] = ["Answer this before asking for a recommendation."]
    if missing:
        return GatheredFacts(facts=None, missing=missing)

    latest = latest_observations(episode)
    by_instrument = {instrument: obs for (instrument, substance), obs in latest.items() if not substance}
    dsm5 = [obs for (instrument, _), obs in latest.items() if instrument == "dsm5_sud"]
    worst_dsm5 = max(dsm5, key=lambda obs: DSM5_SEVERITIES.index(obs.band), default=None)
    phq9, gad7 = by_instrument.get("phq9"), by_instrument.get("gad7")
    cows, ciwa = by_instrument.get("cows"), by_instrument.get("ciwa_ar")
    positive_screen = {
        analyte for analyte, result in (assessment.urine_drug_screen or {}).items() if result == "positive"
    }
    facts = AssessmentFacts(
        dsm5_severity=worst_dsm5.band if worst_dsm5 else None,
        phq9_total=phq9.total if phq9 else None,
        phq9_item9=phq9.responses["q9"] if phq9 else None,
        gad7_total=gad7.total if gad7 else None,
        active_diagnoses=tuple(patient_active_condition_names(patient)),
        cows_total=cows.total if cows else None,
        ciwa_total=ciwa.total if ciwa else None,
        alcohol_or_benzo_co_use=bool(ALCOHOL_OR_BENZODIAZEPINES & (patient_substances(patient) | positive_screen)),
        withdrawal_seizure_or_delirium_history=assessment.withdrawal_seizure_or_delirium_history,
        pregnant=bool(assessment.pregnant) if pregnancy_relevant(patient) else False,
        serious_medical_comorbidity=assessment.serious_medical_comorbidity,
        safe_living_environment=assessment.safe_living_environment,
        strong_support_system=assessment.support_system == Assessment.SupportSystem.STRONG,
    )
    used = [*dsm5, *(obs for obs in (phq9, gad7, cows, ciwa) if obs is not None)]
    return GatheredFacts(facts=facts, observations=used)
