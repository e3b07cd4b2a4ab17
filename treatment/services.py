"""Every write of the treatment app: episodes and their stage machine, observations scored by the server,
alerts, facility instrument configurations and assessments with their recommendation and decision.

Each service is atomic and records its audit event in the same transaction. The API, the admin and the
seeding call these, so each rule lives here once.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import Role, role_may
from clinic.audit.services import audit_record
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from patients.models import Patient, SubstanceUseHistory

from . import selectors, stages
from .assessment_data import asam_problems, drug_screen_problems
from .instruments import InstrumentResponseError, UnknownInstrumentError, get_definition, score
from .models import (
    Alert,
    Assessment,
    DischargeReason,
    Episode,
    EpisodeTransition,
    InstrumentConfiguration,
    Observation,
    Setting,
    Stage,
    setting_family,
)
from .recommendation import recommend
from .vitals import vitals_problems

# Devices' clocks drift; an observation a little "in the future" is a clock, not a prediction.
CLOCK_SKEW = datetime.timedelta(minutes=1)


def _validation_error(error: ValidationError) -> ValidationFailed:
    fields = error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
    fields = {("non_field_errors" if name == "__all__" else name): messages for name, messages in fields.items()}
    name, messages = next(iter(fields.items()))
    return ValidationFailed(f"{name}: {messages[0]}", fields=fields)


def _full_clean(instance, **kwargs) -> None:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as error:
        raise _validation_error(error) from None


def _raise_problems(problems: dict[str, list[str]], message: str = "The request is not valid.") -> None:
    if problems:
        raise ValidationFailed(message, fields=problems)


def _prefixed(prefix: str, problems: dict[str, list[str]]) -> dict[str, list[str]]:
    return {(key if key == prefix else f"{prefix}.{key}"): messages for key, messages in problems.items()}


# --- Episodes ------------------------------------------------------------------------------------------

# Care-team slot -> the role its member must have.
CARE_TEAM_ROLES: Mapping[str, str] = {
    "physician": Role.PHYSICIAN,
    "nurse": Role.NURSE,
    "primary_counselor": Role.COUNSELOR,
    "case_manager": Role.CASE_MANAGER,
}


def _care_team_problems(patient: Patient, members: Mapping[str, User | None]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for slot, user in members.items():
        if user is None:
            continue
        if user.role != CARE_TEAM_ROLES[slot]:
            problems[slot] = [f"Choose a staff member with the role {Role(CARE_TEAM_ROLES[slot]).label.lower()}."]
        elif not user.is_active or patient.facility_id not in user.facility_ids():
            problems[slot] = ["Choose an active staff member of the patient's facility."]
    return problems


@transaction.atomic
def episode_open(
    *,
    actor: User,
    patient: Patient,
    previous_episode: Episode | None = None,
    physician: User | None = None,
    nurse: User | None = None,
    primary_counselor: User | None = None,
    case_manager: User | None = None,
) -> Episode:
    """Open an episode in the assessment stage. A readmission links to the patient's previous episode
    (the latest closed one unless `previous_episode` names another of theirs)."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)  # one open at a time, even when racing
    if patient.status == Patient.Status.DECEASED:
        raise ValidationFailed("The patient is recorded as deceased.", fields={"patient": ["Deceased patient."]})
    if Episode.objects.filter(patient=patient, closed_at__isnull=True).exists():
        raise Conflict("The patient already has an open episode of care.", code="episode_open")
    if previous_episode is None:
        previous_episode = Episode.objects.filter(patient=patient).order_by("-closed_at").first()
    elif previous_episode.patient_id != patient.pk or previous_episode.closed_at is None:
        raise ValidationFailed(
            "The previous episode must be a closed episode of the same patient.",
            fields={"previous_episode": ["Choose a closed episode of this patient."]},
        )
    team = {
        "physician": physician,
        "nurse": nurse,
        "primary_counselor": primary_counselor,
        "case_manager": case_manager,
    }
    _raise_problems(_care_team_problems(patient, team), "Check the care team.")
    episode = Episode(patient=patient, opened_by=actor, previous_episode=previous_episode, **team)
    _full_clean(episode, validate_constraints=False)
    try:
        with transaction.atomic():
            episode.save(force_insert=True)
    except IntegrityError:
        raise Conflict("The patient already has an open episode of care.", code="episode_open") from None
    audit_record(actor=actor, action="create", instance=episode, detail={"readmission": previous_episode is not None})
    return episode


@transaction.atomic
def episode_update_care_team(*, actor: User, episode: Episode, data: Mapping[str, User | None]) -> Episode:
    """Assign or clear care-team members (`physician`, `nurse`, `primary_counselor`, `case_manager`)."""
    unknown = set(data) - set(CARE_TEAM_ROLES)
    if unknown:
        raise ValueError(f"Not care-team fields: {', '.join(sorted(unknown))}")
    episode = Episode.objects.select_for_update().select_related("patient").get(pk=episode.pk)
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")
    _raise_problems(_care_team_problems(episode.patient, data), "Check the care team.")
    changed = sorted(slot for slot, user in data.items() if getattr(episode, f"{slot}_id") != (user and user.pk))
    for slot, user in data.items():
        setattr(episode, slot, user)
    episode.save(update_fields=[*data, "updated_at"])
    audit_record(actor=actor, action="update", instance=episode, detail={"fields": changed})
    return episode


@transaction.atomic
def episode_transition(
    *, actor: User, episode: Episode, to: str, reason: str = "", category: str | None = None
) -> Episode:
    """Move `episode` to stage `to` as `stages.TRANSITIONS` allows, storing who, when, from, to and why.

    The episode row is locked first, so of two concurrent transitions exactly one sees the stage it
    started from. 409 (with `details.allowed`) when the table has no such move or a guard is unmet;
    403 when the actor's role may not make this move; 400 for a missing reason or discharge category.
    """
    if to not in Stage.values:
        raise ValidationFailed(f"Unknown stage {to!r}.", fields={"to": [f"Choose one of {', '.join(Stage.values)}."]})
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    source = episode.stage
    allowed = stages.allowed_targets(source)
    row = stages.transition_for(source, to)
    if row is None:
        raise Conflict(
            f"An episode in {source} cannot move to {to}.",
            code="invalid_transition",
            details={"stage": source, "allowed": allowed},
        )
    if not role_may(actor.role, row.action):
        raise NotAllowed(f"Your role may not move an episode from {source} to {to}.")
    reason = (reason or "").strip()
    category = category or ""
    problems: dict[str, list[str]] = {}
    if row.reason_required and not reason:
        problems["reason"] = ["Give the reason for this transition."]
    if row.category_required and category not in DischargeReason.values:
        problems["category"] = [f"Choose one of {', '.join(DischargeReason.values)}."]
    if not row.category_required and category:
        problems["category"] = ["Only a discharge has a category."]
    _raise_problems(problems, "Give the reason for this transition.")
    attempt = stages.TransitionAttempt(
        episode=episode, source=source, target=to, actor=actor, reason=reason, category=category
    )
    unmet = stages.unmet_requirements(row, attempt)
    if unmet:
        raise Conflict(
            " ".join(unmet),
            code="transition_requirements_unmet",
            details={"stage": source, "allowed": allowed, "unmet": unmet},
        )

    now = timezone.now()
    episode.stage = to
    if to == Stage.DISCHARGED:
        episode.closed_at = now
        episode.discharge_reason = category
    episode.save(update_fields=["stage", "closed_at", "discharge_reason", "updated_at"])
    transition = EpisodeTransition.objects.create(
        episode=episode,
        from_stage=source,
        to_stage=to,
        reason=reason,
        category=category,
        actor=actor,
        occurred_at=now,
    )
    audit_record(
        actor=actor, action="transition", instance=episode, detail={"from": source, "to": to, "category": category}
    )
    stages.run_handlers(episode, transition)
    return episode


# --- Facility instrument configuration -----------------------------------------------------------------


@transaction.atomic
def instrument_configuration_set(
    *,
    actor: User,
    facility: Facility,
    instrument: str,
    bands: list[dict[str, Any]],
    alert_thresholds: dict[str, int] | None = None,
    sex_bands: dict[str, list[dict[str, Any]]] | None = None,
) -> InstrumentConfiguration:
    """Put a facility's bands and alert thresholds for `instrument` in effect under a new version.

    Bands may move but keep the default's names and order: the recommendation rules read band names.
    """
    try:
        default = get_definition(instrument)
    except UnknownInstrumentError:
        raise ValidationFailed("Unknown instrument.", fields={"instrument": ["Unknown instrument."]}) from None
    if facility.pk not in actor.facility_ids():
        raise ValidationFailed("You do not work in that facility.", fields={"facility": ["Not your facility."]})
    names = [band.name for band in default.bands]
    problems: dict[str, list[str]] = {}
    for field_name, band_list in [("bands", bands), *((f"sex_bands.{s}", b) for s, b in (sex_bands or {}).items())]:
        if not isinstance(band_list, list) or not all(
            isinstance(band, dict) and set(band) == {"name", "low", "high"} for band in band_list
        ):
            problems[field_name] = ['Expected a list of {"name", "low", "high"}.']
        elif [band["name"] for band in band_list] != names:
            problems[field_name] = [f"Keep the bands {', '.join(names)} in this order; move only their limits."]
    _raise_problems(problems, "Check the bands.")
    count = InstrumentConfiguration.objects.filter(facility=facility, instrument=instrument).count()
    config = InstrumentConfiguration(
        facility=facility,
        instrument=instrument,
        version=f"{default.version}+{str(facility.pk)[:8]}.{count + 1}",
        bands=bands,
        alert_thresholds=alert_thresholds or {},
        sex_bands=sex_bands or {},
        created_by=actor,
    )
    try:
        selectors.configured_definition(config)
    except (ValueError, TypeError) as error:
        raise ValidationFailed(str(error), fields={"bands": [str(error)]}) from None
    config.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=config, detail={"version": config.version})
    return config


# --- Alerts --------------------------------------------------------------------------------------------

_alert_listeners: list[Callable[[Any], None]] = []


def register_alert_listener(listener: Callable[[Any], None]) -> None:
    """Call `listener(alert_id)` after the commit of every newly raised alert (e.g. to page someone)."""
    if listener not in _alert_listeners:
        _alert_listeners.append(listener)


def unregister_alert_listener(listener: Callable[[Any], None]) -> None:
    if listener in _alert_listeners:
        _alert_listeners.remove(listener)


@transaction.atomic
def alert_raise(
    *,
    patient: Patient,
    episode: Episode | None = None,
    kind: str,
    severity: str,
    reason: str,
    target_role: str | None = None,
    target_user: User | None = None,
    dedupe_key: str | None = None,
    actor: User | None = None,
) -> Alert:
    """Raise an alert for staff to act on. With a `dedupe_key`, the alert is raised at most once: a second
    call (even a concurrent one) returns the first alert. `reason` must not name the patient."""
    if dedupe_key:
        existing = Alert.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    if episode is not None and episode.patient_id != patient.pk:
        raise ValueError("The episode belongs to another patient.")
    alert = Alert(
        patient=patient,
        episode=episode,
        kind=kind,
        severity=severity,
        reason=reason,
        target_role=target_role or "",
        target_user=target_user,
        dedupe_key=dedupe_key or None,
    )
    if not alert.target_role and alert.target_user is None:
        raise ValidationFailed("Name who must act.", fields={"target_role": ["Give a role or a person."]})
    _full_clean(alert, validate_unique=False)
    try:
        with transaction.atomic():
            alert.save(force_insert=True)
    except IntegrityError:
        existing = Alert.objects.filter(dedupe_key=dedupe_key).first() if dedupe_key else None
        if existing is None:
            raise
        return existing
    audit_record(actor=actor, action="create", instance=alert, detail={"kind": kind, "severity": severity})
    for listener in list(_alert_listeners):
        transaction.on_commit(lambda listener=listener, alert_id=alert.pk: listener(alert_id), robust=True)
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert) -> Alert:
    """Record that `actor` has seen the alert and acts on it. An alert is acknowledged once; the reminders
    telling staff of it that have not gone out yet are cancelled with it."""
    from clinic.notifications.services import reminder_cancel_for_subject

    from .integrations import ALERT_SUBJECT

    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is not None:
        raise Conflict("This alert has already been acknowledged.", code="already_acknowledged")
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
    audit_record(actor=actor, action="acknowledge", instance=alert)
    reminder_cancel_for_subject(subject_type=ALERT_SUBJECT, subject_id=alert.pk, actor=actor)
    return alert


@dataclass(frozen=True)
class FlagAlert:
    """How a score flag becomes an alert: severity, who on the care team must act (first one assigned),
    the role to fall back on, and the reason (never the patient's name)."""

    severity: str
    care_team: tuple[str, ...]
    fallback_role: str
    reason: str


# Score flag (treatment.instruments) -> the alert it raises at once, in the same transaction.
FLAG_ALERTS: Mapping[str, FlagAlert] = {
    "safety": FlagAlert(
        Alert.Severity.CRITICAL,
        ("physician", "primary_counselor"),
        Role.PHYSICIAN,
        "{instrument}: the safety item (thoughts of death or self-harm) was answered above 0. "
        "Assess the patient's safety now.",
    ),
    "severity_alert": FlagAlert(
        Alert.Severity.HIGH,
        ("physician",),
        Role.PHYSICIAN,
        "{instrument} total {total} ({band}) is at or above the facility's alert threshold.",
    ),
}
# A threshold a facility adds under another name ("<name>_alert") still reaches the physician.
OTHER_FLAG_ALERT = FlagAlert(
    Alert.Severity.MEDIUM, ("physician",), Role.PHYSICIAN, "{instrument} total {total} ({band}) raised {flag}."
)


def _on_duty(person: User | None, facility_id) -> bool:
    """Whether a care-team member can still act on an alert: active and still working at the facility. A
    flag alert skips one who is not, to the next on the team and then to the facility's role."""
    return person is not None and person.is_active and facility_id in person.facility_ids()


def _raise_flag_alerts(*, actor: User, observation: Observation, instrument_name: str) -> list[Alert]:
    episode = observation.episode
    alerts = []
    for flag in observation.flags:
        policy = FLAG_ALERTS.get(flag, OTHER_FLAG_ALERT)
        team = (getattr(episode, slot) for slot in policy.care_team)
        person = next((p for p in team if _on_duty(p, episode.patient.facility_id)), None)
        alerts.append(
            alert_raise(
                patient=episode.patient,
                episode=episode,
                kind=f"{observation.instrument}_{flag}",
                severity=policy.severity,
                reason=policy.reason.format(
                    instrument=instrument_name, total=observation.total, band=observation.band, flag=flag
                ),
                target_user=person,
                target_role=None if person else policy.fallback_role,
                dedupe_key=f"observation:{observation.pk}:{flag}",
                actor=actor,
            )
        )
    return alerts


# --- Observations --------------------------------------------------------------------------------------


def _relation_loaded(instance, path: str) -> bool:
    for name in path.split("__"):
        field = instance._meta.get_field(name)
        if not field.is_cached(instance):
            return False
        instance = field.get_cached_value(instance)
        if instance is None:
            return True
    return True


@transaction.atomic
def observation_record(
    *,
    actor: User,
    episode: Episode,
    instrument: str,
    responses: Any,
    observed_at: datetime.datetime | None = None,
    substance: str = "",
) -> Observation:
    """Score `responses` with the facility's definition of `instrument` and store the observation with the
    definition version. Flags raise their alerts at once (PHQ-9 item 9, COWS/CIWA-Ar at the threshold)."""
    # A caller that loaded the episode with what recording reads (selectors.episodes_to_record_on, as the API
    # does) spares a second read of the episode and one of the facility.
    if not all(_relation_loaded(episode, path) for path in selectors.RECORDING_RELATIONS):
        care_team = ("physician", "primary_counselor")
        episode = Episode.objects.select_related(*selectors.RECORDING_RELATIONS, *care_team).get(pk=episode.pk)
    try:
        definition = selectors.instrument_definition(facility=episode.patient.facility, code=instrument)
    except UnknownInstrumentError:
        raise ValidationFailed(
            f"Unknown instrument {instrument!r}.", fields={"instrument": ["Unknown instrument."]}
        ) from None
    if not role_may(actor.role, f"observation.record_{definition.kind}"):
        raise NotAllowed(f"Your role may not record {definition.name}.")
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")
    observed_at = observed_at or timezone.now()
    problems: dict[str, list[str]] = {}
    if observed_at > timezone.now() + CLOCK_SKEW:
        problems["observed_at"] = ["Cannot be in the future."]
    if definition.per_substance and substance not in SubstanceUseHistory.Substance.values:
        problems["substance"] = [f"{definition.name} is assessed per substance: name the substance."]
    if not definition.per_substance and substance:
        problems["substance"] = [f"{definition.name} is not assessed per substance."]
    try:
        result = score(definition, responses, sex=episode.patient.sex)
    except InstrumentResponseError as error:
        problems.update(_prefixed("responses", error.errors))
    _raise_problems(problems, "The observation is not valid: " + ", ".join(problems) + ".")
    observation = Observation(
        episode=episode,
        instrument=definition.code,
        responses=dict(responses),
        total=result.total,
        band=result.band,
        flags=list(result.flags),
        definition_version=result.version,
        substance=substance,
        observed_at=observed_at,
        recorded_by=actor,
    )
    observation.save(force_insert=True)
    audit_record(
        actor=actor,
        action="create",
        instance=observation,
        detail={"instrument": definition.code, "version": result.version, "flags": list(result.flags)},
    )
    _raise_flag_alerts(actor=actor, observation=observation, instrument_name=definition.name)
    return observation


# --- Assessments ---------------------------------------------------------------------------------------

ASSESSMENT_FIELDS = (
    "vitals",
    "medical_history",
    "current_medications",
    "urine_drug_screen",
    "pregnant",
    "withdrawal_seizure_or_delirium_history",
    "serious_medical_comorbidity",
    "psychological_evaluation",
    "support_system",
    "support_system_notes",
    "safe_living_environment",
    "living_environment_notes",
    "readiness_to_change",
    "asam_edition",
    "asam_dimensions",
)


def _assessment_problems(assessment: Assessment) -> dict[str, list[str]]:
    problems = {
        **_prefixed("vitals", vitals_problems(assessment.vitals)),
        **_prefixed("urine_drug_screen", drug_screen_problems(assessment.urine_drug_screen)),
        **_prefixed("asam_dimensions", asam_problems(assessment.asam_dimensions)),
    }
    if assessment.asam_dimensions and not assessment.asam_edition:
        problems["asam_edition"] = ["Name the ASAM Criteria edition the dimension ratings use."]
    if assessment.pregnant and not selectors.pregnancy_relevant(assessment.episode.patient):
        problems["pregnant"] = ["Not applicable to this patient."]
    return problems


def _validate_assessment(assessment: Assessment) -> None:
    _raise_problems(_assessment_problems(assessment), "Check the assessment.")
    _full_clean(assessment, exclude=["episode"], validate_constraints=False)


def _clear_recommendation(assessment: Assessment) -> None:
    assessment.recommended_setting = ""
    assessment.recommendation_rules = []
    assessment.recommendation_facts = {}
    assessment.recommended_at = None
    assessment.recommended_by = None


@transaction.atomic
def assessment_create(*, actor: User, episode: Episode, **fields) -> Assessment:
    """Start the assessment of an open episode (one per episode)."""
    unknown = set(fields) - set(ASSESSMENT_FIELDS)
    if unknown:
        raise ValueError(f"Not assessment fields: {', '.join(sorted(unknown))}")
    episode = Episode.objects.select_for_update().select_related("patient").get(pk=episode.pk)
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")
    if Assessment.objects.filter(episode=episode).exists():
        raise Conflict("This episode already has an assessment.", code="assessment_exists")
    assessment = Assessment(episode=episode, created_by=actor, **fields)
    _validate_assessment(assessment)
    assessment.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=assessment, detail={"fields": sorted(fields)})
    return assessment


def _lock_draft(assessment: Assessment) -> Assessment:
    assessment = Assessment.objects.select_for_update().select_related("episode__patient").get(pk=assessment.pk)
    if assessment.status == Assessment.Status.COMPLETED:
        raise Conflict("The assessment is completed and can no longer change.", code="assessment_completed")
    return assessment


@transaction.atomic
def assessment_update(*, actor: User, assessment: Assessment, data: Mapping[str, Any]) -> Assessment:
    """Change a draft assessment. Any change withdraws its recommendation: ask for a new one."""
    unknown = set(data) - set(ASSESSMENT_FIELDS)
    if unknown:
        raise ValueError(f"Not assessment fields: {', '.join(sorted(unknown))}")
    assessment = _lock_draft(assessment)
    changed = sorted(name for name, value in data.items() if getattr(assessment, name) != value)
    for name, value in data.items():
        setattr(assessment, name, value)
    _validate_assessment(assessment)
    if changed and assessment.recommended_setting:
        _clear_recommendation(assessment)
        assessment.observations.clear()
    assessment.save()
    audit_record(actor=actor, action="update", instance=assessment, detail={"fields": changed})
    return assessment


def _gathered_or_400(assessment: Assessment) -> selectors.GatheredFacts:
    gathered = selectors.assessment_facts(assessment)
    _raise_problems(gathered.missing, "Some answers the recommendation needs are missing.")
    return gathered


@transaction.atomic
def assessment_recommend(*, actor: User, assessment: Assessment) -> Assessment:
    """Compute the recommended setting from the assessment, the episode's latest scores and the patient
    record, and store it with every rule that fired, the facts and the observations it used."""
    assessment = _lock_draft(assessment)
    gathered = _gathered_or_400(assessment)
    recommendation = recommend(gathered.facts)
    assessment.recommended_setting = recommendation.setting
    assessment.recommendation_rules = [asdict(rule) for rule in recommendation.rules]
    assessment.recommendation_facts = _facts_json(gathered.facts)
    assessment.recommended_at = timezone.now()
    assessment.recommended_by = actor
    assessment.save()
    assessment.observations.set(gathered.observations)
    audit_record(
        actor=actor,
        action="recommend",
        instance=assessment,
        detail={"setting": recommendation.setting, "rules": [rule.code for rule in recommendation.rules]},
    )
    return assessment


def _facts_json(facts) -> dict[str, Any]:
    data = asdict(facts)
    data["active_diagnoses"] = list(data["active_diagnoses"])
    return data


@transaction.atomic
def assessment_complete(
    *,
    actor: User,
    assessment: Assessment,
    accepted_setting: str,
    override_reason: str = "",
    outpatient_intensity: str = "",
) -> Assessment:
    """Accept the recommendation (or override it with a reason) and set the episode's setting.

    The recommendation is checked against the facts as they are now: if a newer score or answer changes
    it, completing is refused (409) until the clinician has seen the new recommendation.
    """
    assessment = _lock_draft(assessment)
    if not assessment.recommended_setting:
        raise Conflict("Ask for a recommendation before completing the assessment.", code="not_recommended")
    gathered = selectors.assessment_facts(assessment)
    current = recommend(gathered.facts) if gathered.facts is not None else None
    if current is None or (
        current.setting != assessment.recommended_setting
        or [rule.code for rule in current.rules] != [rule["code"] for rule in assessment.recommendation_rules]
    ):
        raise Conflict(
            "The facts changed since the recommendation. Ask for a new recommendation and review it.",
            code="recommendation_outdated",
        )
    override_reason = (override_reason or "").strip()
    problems: dict[str, list[str]] = {}
    if accepted_setting not in Setting.values:
        problems["accepted_setting"] = [f"Choose one of {', '.join(Setting.values)}."]
    else:
        if setting_family(accepted_setting) != assessment.recommended_setting and not override_reason:
            problems["override_reason"] = ["Give the reason for choosing another setting than recommended."]
        if accepted_setting == Setting.OUTPATIENT and outpatient_intensity not in (
            Assessment.OutpatientIntensity.values
        ):
            problems["outpatient_intensity"] = ["Choose the intensity of the outpatient programme."]
        if accepted_setting != Setting.OUTPATIENT and outpatient_intensity:
            problems["outpatient_intensity"] = ["Only an outpatient setting has an intensity."]
    _raise_problems(problems, "Check the decision.")
    episode = Episode.objects.select_for_update().get(pk=assessment.episode_id)
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")

    now = timezone.now()
    assessment.status = Assessment.Status.COMPLETED
    assessment.accepted_setting = accepted_setting
    assessment.override_reason = override_reason
    assessment.outpatient_intensity = outpatient_intensity
    assessment.decided_at = now
    assessment.decided_by = actor
    assessment.save()
    episode.setting = accepted_setting
    episode.save(update_fields=["setting", "updated_at"])
    audit_record(
        actor=actor,
        action="complete",
        instance=assessment,
        detail={
            "recommended": assessment.recommended_setting,
            "accepted": accepted_setting,
            "override": assessment.is_override,
        },
    )
    audit_record(actor=actor, action="update", instance=episode, detail={"fields": ["setting"]})
    return assessment
