"""Every write of detox: courses started and ended by the stage machine, the round interval, observation rounds
(recorded, flagged overdue), the drug catalogue, medication orders and the medication administration record.

The rules are enforced here, never left to a client: each service is atomic, locks what two devices could
race for, records its audit event in the same transaction and raises `clinic.errors` on refusal.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.accounts.models import User
from clinic.accounts.roles import Role, role_may
from clinic.audit.services import audit_record
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.models import Reminder
from clinic.notifications.services import reminder_cancel_for_subject, reminder_schedule
from patients.selectors import patient_allergy_substances, patient_substances
from treatment import selectors as treatment_selectors
from treatment import services as treatment_services
from treatment.instruments import InstrumentResponseError, score
from treatment.models import Alert, Episode, EpisodeTransition, Observation, Stage
from treatment.vitals import VITAL_RANGES, vitals_problems

from . import selectors
from .catalogue import DRUG_CLASSES, SEED_DRUGS, allergy_conflicts, drug_terms
from .models import (
    MAX_PRN_DOSES_PER_24H,
    MAX_PRN_INTERVAL_MINUTES,
    MAX_ROUND_INTERVAL_MINUTES,
    MIN_ROUND_INTERVAL_MINUTES,
    VITAL_FIELDS,
    DetoxCourse,
    DoseUnit,
    Drug,
    Frequency,
    MedicationAdministration,
    MedicationOrder,
    ObservationRound,
    Route,
)
from .schedule import (
    BENZODIAZEPINE_MAX_COURSE,
    CLOCK_SKEW,
    EARLY_DOSE_WINDOW,
    OVERDUE_AFTER,
    PRN_DAY,
    is_dose_time,
    whole_minute,
)

ROUND_SUBJECT = "detox.round"
ROUND_OVERDUE_ALERT = "observation_round_overdue"
# A temperature typed in Fahrenheit lands here; say so rather than only "out of range".
FAHRENHEIT_TEMPERATURES = (86, 113)
TENTH = Decimal("0.1")  # temperatures are kept to a tenth of a degree


def _raise_problems(problems: Mapping[str, list[str]], message: str) -> None:
    if problems:
        raise ValidationFailed(message, fields=dict(problems))


# Why a role-table action is refused, in words; the API's 403 for these actions says the same.
REFUSALS: dict[str, str] = {
    "detox_course.change": "Only a physician sets the observation round interval.",
    "observation_round.record": "Your role may not record observation rounds.",
    "medication_order.create": "Only a physician may prescribe.",
    "medication_order.discontinue": "Only a physician may discontinue an order.",
    "medication_administration.create": "Your role may not record medication administration.",
}


def _require(actor: User, action: str) -> None:
    if not role_may(actor.role, action):
        raise NotAllowed(REFUSALS[action])


# --- Drug catalogue ------------------------------------------------------------------------------------


def drug_catalogue_ensure() -> int:
    """Create the drugs of the seed list that are missing (reference data, no patient in it). Returns how many."""
    existing = set(Drug.objects.values_list("code", flat=True))
    missing = [
        Drug(
            code=seed.code,
            name=seed.name,
            drug_class=seed.drug_class,
            controlled=seed.controlled,
            schedule=seed.schedule,
            default_route=seed.route,
            default_unit=seed.unit,
            synonyms=list(seed.synonyms),
        )
        for seed in SEED_DRUGS
        if seed.code not in existing
    ]
    Drug.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


# --- Detox courses: started and ended by the stage machine ---------------------------------------------


def on_detox_entered(episode: Episode, transition: EpisodeTransition) -> None:
    """Stage-machine handler (registered in DetoxConfig.ready): entering detox starts the course."""
    detox_course_start(actor=transition.actor, episode=episode, started_at=transition.occurred_at)


def on_stage_left(episode: Episode, transition: EpisodeTransition) -> None:
    """Stage-machine handler for every move: leaving detox ends the course and cancels its open round."""
    if transition.from_stage == Stage.DETOX:
        detox_course_end(actor=transition.actor, episode=episode, ended_at=transition.occurred_at)


@transaction.atomic
def detox_course_start(*, actor: User, episode: Episode, started_at: datetime.datetime | None = None) -> DetoxCourse:
    """Start the detox course of `episode` and schedule its first round one interval later (the assessment's
    scores are the baseline). Starting it again returns the course."""
    existing = DetoxCourse.objects.filter(episode=episode).first()
    if existing is not None:
        return existing
    started_at = started_at or timezone.now()
    course = DetoxCourse.objects.create(episode=episode, started_at=started_at, started_by=actor)
    audit_record(actor=actor, action="create", instance=course, detail={"interval": course.round_interval_minutes})
    _round_schedule(course=course, due_at=started_at + course.round_interval, actor=actor)
    return course


@transaction.atomic
def detox_course_end(*, actor: User, episode: Episode, ended_at: datetime.datetime | None = None) -> DetoxCourse | None:
    """End the course: rounds stop (the open one is cancelled with its reminder). Ending it again does nothing."""
    course = DetoxCourse.objects.select_for_update().filter(episode=episode).first()
    if course is None or not course.is_active:
        return course
    ended_at = ended_at or timezone.now()
    for open_round in ObservationRound.objects.select_for_update().filter(
        course=course, status__in=ObservationRound.OPEN_STATUSES
    ):
        open_round.status = ObservationRound.Status.CANCELLED
        open_round.cancelled_at = ended_at
        open_round.save(update_fields=["status", "cancelled_at", "updated_at"])
        reminder_cancel_for_subject(subject_type=ROUND_SUBJECT, subject_id=open_round.pk, actor=actor)
        audit_record(actor=actor, action="cancel", instance=open_round, detail={"sequence": open_round.sequence})
    course.ended_at = max(ended_at, course.started_at)
    course.ended_by = actor
    course.save(update_fields=["ended_at", "ended_by", "updated_at"])
    audit_record(actor=actor, action="end", instance=course)
    return course


@transaction.atomic
def detox_course_set_interval(
    *, actor: User, course: DetoxCourse, round_interval_minutes: int, reason: str = ""
) -> DetoxCourse:
    """A physician sets how often rounds are due. The open round (if not yet overdue) is moved to one new
    interval after the last recorded round (or the start of the course)."""
    _require(actor, "detox_course.change")
    course = DetoxCourse.objects.select_for_update().get(pk=course.pk)
    if not course.is_active:
        raise Conflict("The detox course has ended.", code="detox_ended")
    if not isinstance(round_interval_minutes, int) or not (
        MIN_ROUND_INTERVAL_MINUTES <= round_interval_minutes <= MAX_ROUND_INTERVAL_MINUTES
    ):
        raise ValidationFailed(
            "The round interval is out of range.",
            fields={
                "round_interval_minutes": [
                    f"Between {MIN_ROUND_INTERVAL_MINUTES} and {MAX_ROUND_INTERVAL_MINUTES} minutes."
                ]
            },
        )
    previous = course.round_interval_minutes
    course.round_interval_minutes = round_interval_minutes
    course.interval_set_by = actor
    course.interval_set_at = timezone.now()
    course.interval_reason = (reason or "").strip()
    course.save(
        update_fields=["round_interval_minutes", "interval_set_by", "interval_set_at", "interval_reason", "updated_at"]
    )
    audit_record(
        actor=actor,
        action="update",
        instance=course,
        detail={"fields": ["round_interval_minutes"], "from": previous, "to": round_interval_minutes},
    )
    open_round = (
        ObservationRound.objects.select_for_update(of=("self",))
        .select_related("episode__patient__facility", "episode__nurse")
        .filter(course=course, status=ObservationRound.Status.DUE)
        .first()
    )
    if open_round is not None:
        last = selectors.last_recorded_round(course)
        anchor = last.observed_at if last is not None else course.started_at
        open_round.due_at = anchor + course.round_interval
        open_round.save(update_fields=["due_at", "updated_at"])
        reminder_cancel_for_subject(subject_type=ROUND_SUBJECT, subject_id=open_round.pk, actor=actor)
        _remind_nurse(open_round, actor=actor)
        audit_record(actor=actor, action="reschedule", instance=open_round, detail={"sequence": open_round.sequence})
    return course


# --- Observation rounds --------------------------------------------------------------------------------


def _episode_nurse_on_duty(episode: Episode) -> User | None:
    """The episode's nurse, unless none is assigned or they no longer work at the patient's facility (left,
    deactivated): then the round's reminder is skipped and its overdue alert goes to the facility's nurses."""
    nurse = episode.nurse
    if nurse is None or not nurse.is_active or episode.patient.facility_id not in nurse.facility_ids():
        return None
    return nurse


def _remind_nurse(observation_round: ObservationRound, *, actor: User | None) -> None:
    """A staff reminder to the episode's nurse when the round is due (none without a nurse on duty: the
    overdue alert then goes to the facility's nurses; a missing reminder must never block the round itself)."""
    episode = observation_round.episode
    nurse = _episode_nurse_on_duty(episode)
    if nurse is None:
        return
    reminder_schedule(
        facility=episode.patient.facility,
        kind=Reminder.Kind.OBSERVATION_ROUND_DUE,
        send_at=observation_round.due_at,
        staff=nurse,
        subject=(ROUND_SUBJECT, observation_round.pk),
        context={"at": observation_round.due_at},
        actor=actor,
    )


def _round_schedule(*, course: DetoxCourse, due_at: datetime.datetime, actor: User | None) -> ObservationRound:
    episode = Episode.objects.select_related("patient__facility", "nurse").get(pk=course.episode_id)
    last = ObservationRound.objects.filter(course=course).order_by("-sequence").values_list("sequence", flat=True)
    observation_round = ObservationRound.objects.create(
        course=course, episode=episode, sequence=(last.first() or 0) + 1, due_at=due_at
    )
    audit_record(
        actor=actor, action="create", instance=observation_round, detail={"sequence": observation_round.sequence}
    )
    _remind_nurse(observation_round, actor=actor)
    return observation_round


def _vitals_problems(vitals: Any) -> dict[str, list[str]]:
    """Every vital sign is required for a round, in the units of VITAL_RANGES, within its plausible range."""
    if not isinstance(vitals, Mapping):
        return {"vitals": ["Expected an object with pulse, systolic_bp, diastolic_bp, temperature_c, "
                           "respiratory_rate and spo2."]}  # fmt: skip
    problems = {f"vitals.{key}": messages for key, messages in vitals_problems(vitals).items() if key != "vitals"}
    for key in VITAL_FIELDS:
        if vitals.get(key) is None:
            unit = VITAL_RANGES[key].unit
            problems.setdefault(f"vitals.{key}", []).append(f"This vital sign is required (in {unit}).")
    temperature = vitals.get("temperature_c")
    if (
        "vitals.temperature_c" in problems
        and isinstance(temperature, int | float)
        and not isinstance(temperature, bool)
        and FAHRENHEIT_TEMPERATURES[0] <= temperature <= FAHRENHEIT_TEMPERATURES[1]
    ):
        problems["vitals.temperature_c"].append("This looks like °F; enter the temperature in °C.")
    return problems


def _responses_problems(*, facility, code: str, field: str, responses: Any, sex: str) -> dict[str, list[str]]:
    """Score the responses without storing them, so every problem of the round is reported at once."""
    definition = treatment_selectors.instrument_definition(facility=facility, code=code)
    try:
        score(definition, responses, sex=sex)
    except InstrumentResponseError as error:
        return {(field if key == "responses" else f"{field}.{key}"): messages for key, messages in error.errors.items()}
    return {}


@transaction.atomic
def round_record(
    *,
    actor: User,
    observation_round: ObservationRound,
    cows: Any,
    vitals: Any,
    ciwa_ar: Any = None,
    observed_at: datetime.datetime | None = None,
    note: str = "",
) -> ObservationRound:
    """Record an open round: COWS (and CIWA-Ar, required when alcohol is co-used) scored by the server, with the
    vitals. Closes the round and schedules the next one an interval after `observed_at`. Scores at or above
    the alert thresholds alert the physician at once (treatment.services.observation_record)."""
    _require(actor, "observation_round.record")
    course = DetoxCourse.objects.select_for_update().get(pk=observation_round.course_id)
    observation_round = (
        ObservationRound.objects.select_for_update(of=("self",))
        .select_related("episode__patient__facility")
        .get(pk=observation_round.pk)
    )
    if not course.is_active:
        raise Conflict("Detox has ended: rounds have stopped.", code="detox_ended")
    if not observation_round.is_open:
        raise Conflict(f"This round is already {observation_round.get_status_display().lower()}.", code="round_closed")
    episode = observation_round.episode
    patient = episode.patient
    now = timezone.now()
    observed_at = observed_at or now
    problems: dict[str, list[str]] = {}
    last = selectors.last_recorded_round(course)
    if observed_at > now + CLOCK_SKEW:
        problems["observed_at"] = ["Cannot be in the future."]
    elif observed_at < course.started_at:
        problems["observed_at"] = ["Cannot be before detox started."]
    elif last is not None and observed_at < last.observed_at:
        problems["observed_at"] = ["Cannot be before the previous round's observation."]
    problems.update(
        _responses_problems(facility=patient.facility, code="cows", field="cows", responses=cows, sex=patient.sex)
    )
    if ciwa_ar is not None:
        problems.update(
            _responses_problems(
                facility=patient.facility, code="ciwa_ar", field="ciwa_ar", responses=ciwa_ar, sex=patient.sex
            )
        )
    elif "alcohol" in patient_substances(patient):
        problems["ciwa_ar"] = ["Alcohol is co-used: record CIWA-Ar with this round."]
    problems.update(_vitals_problems(vitals))
    _raise_problems(problems, "The round is not valid: " + ", ".join(problems) + ".")

    recorded = {
        "cows": treatment_services.observation_record(
            actor=actor, episode=episode, instrument="cows", responses=cows, observed_at=observed_at
        )
    }
    if ciwa_ar is not None:
        recorded["ciwa_ar"] = treatment_services.observation_record(
            actor=actor, episode=episode, instrument="ciwa_ar", responses=ciwa_ar, observed_at=observed_at
        )
    observation_round.cows = recorded["cows"]
    observation_round.ciwa_ar = recorded.get("ciwa_ar")
    for key in VITAL_FIELDS:
        value = vitals[key]
        stored = Decimal(str(value)).quantize(TENTH) if key == "temperature_c" else int(value)
        setattr(observation_round, key, stored)
    late = observation_round.status == ObservationRound.Status.OVERDUE or observed_at > (
        observation_round.due_at + OVERDUE_AFTER
    )
    observation_round.status = ObservationRound.Status.COMPLETED
    observation_round.observed_at = observed_at
    observation_round.recorded_by = actor
    observation_round.note = (note or "").strip()
    observation_round.save()
    reminder_cancel_for_subject(subject_type=ROUND_SUBJECT, subject_id=observation_round.pk, actor=actor)
    audit_record(
        actor=actor,
        action="record",
        instance=observation_round,
        detail={"sequence": observation_round.sequence, "instruments": sorted(recorded), "late": late},
    )
    _round_schedule(course=course, due_at=observed_at + course.round_interval, actor=actor)
    return observation_round


@transaction.atomic
def round_flag_overdue(*, observation_round: ObservationRound, now: datetime.datetime | None = None) -> Alert | None:
    """Flag a round not recorded 30 minutes past due and alert the episode's nurse (the facility's nurses when
    none is assigned). Once per round: a flagged round is not flagged again, and the alert has a dedupe key."""
    now = now or timezone.now()
    observation_round = (
        ObservationRound.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("episode__patient__facility", "episode__nurse")
        .filter(pk=observation_round.pk)
        .first()
    )
    if (
        observation_round is None  # being recorded right now
        or observation_round.status != ObservationRound.Status.DUE
        or observation_round.due_at + OVERDUE_AFTER > now
    ):
        return None
    observation_round.status = ObservationRound.Status.OVERDUE
    observation_round.overdue_at = now
    observation_round.save(update_fields=["status", "overdue_at", "updated_at"])
    audit_record(
        actor=None, action="overdue", instance=observation_round, detail={"sequence": observation_round.sequence}
    )
    episode = observation_round.episode
    nurse = _episode_nurse_on_duty(episode)
    return treatment_services.alert_raise(
        patient=episode.patient,
        episode=episode,
        kind=ROUND_OVERDUE_ALERT,
        severity=Alert.Severity.HIGH,
        reason=(
            f"Observation round {observation_round.sequence} was due at "
            f"{observation_round.due_at:%Y-%m-%d %H:%M} UTC and is not recorded 30 minutes later."
        ),
        target_user=nurse,
        target_role=None if nurse else Role.NURSE,
        dedupe_key=f"{ROUND_SUBJECT}:{observation_round.pk}:overdue",
    )


def rounds_flag_overdue(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Flag every round 30 minutes past due (the beat task). Each round in its own transaction. Returns how
    many were flagged."""
    now = now or timezone.now()
    due = ObservationRound.objects.filter(status=ObservationRound.Status.DUE, due_at__lte=now - OVERDUE_AFTER).order_by(
        "due_at"
    )
    flagged = 0
    for observation_round in due[:limit]:
        if round_flag_overdue(observation_round=observation_round, now=now) is not None:
            flagged += 1
    return flagged


# --- Medication orders ---------------------------------------------------------------------------------


def _prn_problems(
    *,
    facility,
    frequency: str,
    indication: str,
    min_interval_minutes: int | None,
    max_doses_per_24h: int | None,
    prn_instrument: str,
    prn_min_band: str,
) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if frequency != Frequency.PRN:
        for name, value in [
            ("indication", indication),
            ("min_interval_minutes", min_interval_minutes),
            ("max_doses_per_24h", max_doses_per_24h),
            ("prn_instrument", prn_instrument),
            ("prn_min_band", prn_min_band),
        ]:
            if value not in (None, ""):
                problems[name] = ["Only a PRN (as needed) order has this."]
        return problems
    if not indication:
        problems["indication"] = ["A PRN order names its indication."]
    if not min_interval_minutes or min_interval_minutes < 1:
        problems["min_interval_minutes"] = ["A PRN order has a minimum interval between doses (minutes)."]
    elif min_interval_minutes > MAX_PRN_INTERVAL_MINUTES:
        problems["min_interval_minutes"] = [f"At most {MAX_PRN_INTERVAL_MINUTES} minutes (a day)."]
    if max_doses_per_24h is not None and not 1 <= max_doses_per_24h <= MAX_PRN_DOSES_PER_24H:
        problems["max_doses_per_24h"] = [f"Between 1 and {MAX_PRN_DOSES_PER_24H}, or leave it out."]
    if bool(prn_instrument) != bool(prn_min_band):
        problems["prn_min_band" if prn_instrument else "prn_instrument"] = [
            "Name both the instrument and the lowest band that allows a dose."
        ]
    elif prn_instrument:
        bands = selectors.band_names(facility=facility, instrument=prn_instrument)
        if prn_min_band not in bands:
            problems["prn_min_band"] = [f"Choose one of {', '.join(bands)}."]
    return problems


@transaction.atomic
def medication_order_create(
    *,
    actor: User,
    episode: Episode,
    drug: Drug,
    dose: Decimal,
    dose_unit: str,
    frequency: str,
    route: str | None = None,
    starts_at: datetime.datetime | None = None,
    stops_at: datetime.datetime | None = None,
    indication: str = "",
    min_interval_minutes: int | None = None,
    max_doses_per_24h: int | None = None,
    prn_instrument: str = "",
    prn_min_band: str = "",
    instructions: str = "",
    allergy_override_reason: str = "",
) -> MedicationOrder:
    """Prescribe (physicians only). Refused: a benzodiazepine without a stop date or for more than 14 days; a
    PRN order without indication or minimum interval; a drug of a class the patient has a documented allergy
    to, unless the prescriber overrides with a reason (kept on the order and in the audit log)."""
    _require(actor, "medication_order.create")
    episode = Episode.objects.select_for_update(of=("self",)).select_related("patient__facility").get(pk=episode.pk)
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")
    now = timezone.now()
    starts_at = whole_minute(starts_at or now)
    stops_at = whole_minute(stops_at) if stops_at is not None else None
    indication = (indication or "").strip()
    problems: dict[str, list[str]] = {}
    if not drug.active:
        problems["drug"] = ["This drug is no longer in the catalogue."]
    if dose is None or dose <= 0:
        problems["dose"] = ["Must be more than 0."]
    if dose_unit not in DoseUnit.values:
        problems["dose_unit"] = [f"Choose one of {', '.join(DoseUnit.values)}."]
    route = route or drug.default_route
    if route not in Route.values:
        problems["route"] = [f"Choose one of {', '.join(Route.values)}."]
    if frequency not in Frequency.values:
        problems["frequency"] = [f"Choose one of {', '.join(Frequency.values)}."]
    if starts_at < whole_minute(episode.opened_at):
        problems["starts_at"] = ["Cannot start before the episode opened."]
    if stops_at is not None and stops_at <= starts_at:
        problems["stops_at"] = ["Must be after the start."]
    elif drug.is_benzodiazepine and stops_at is None:
        problems["stops_at"] = ["A benzodiazepine is a short course: give a stop date (at most 14 days)."]
    elif drug.is_benzodiazepine and stops_at - starts_at > BENZODIAZEPINE_MAX_COURSE:
        problems["stops_at"] = ["A benzodiazepine order may last at most 14 days."]
    problems.update(
        _prn_problems(
            facility=episode.patient.facility,
            frequency=frequency,
            indication=indication,
            min_interval_minutes=min_interval_minutes,
            max_doses_per_24h=max_doses_per_24h,
            prn_instrument=prn_instrument or "",
            prn_min_band=prn_min_band or "",
        )
    )
    _raise_problems(problems, "The order is not valid: " + ", ".join(problems) + ".")

    members = Drug.objects.filter(drug_class=drug.drug_class).exclude(pk=drug.pk).values_list("name", "synonyms")
    terms = drug_terms(
        name=drug.name,
        synonyms=drug.synonyms,
        drug_class=drug.drug_class,
        class_members=[word for name, synonyms in members for word in (name, *synonyms)],
    )
    conflicts = allergy_conflicts(patient_allergy_substances(episode.patient), terms)
    override = (allergy_override_reason or "").strip()
    if conflicts and not override:
        raise Conflict(
            f"The patient has a documented allergy that covers {drug.name} "
            f"({DRUG_CLASSES[drug.drug_class].label.lower()}): {', '.join(conflicts)}. "
            "To prescribe it anyway, give the reason in allergy_override_reason.",
            code="allergy_conflict",
            fields={"allergy_override_reason": ["Required to override a documented allergy."]},
            details={"allergies": conflicts},
        )
    order = MedicationOrder(
        episode=episode,
        drug=drug,
        dose=dose,
        dose_unit=dose_unit,
        route=route,
        frequency=frequency,
        indication=indication,
        min_interval_minutes=min_interval_minutes if frequency == Frequency.PRN else None,
        max_doses_per_24h=max_doses_per_24h if frequency == Frequency.PRN else None,
        prn_instrument=prn_instrument or "",
        prn_min_band=prn_min_band or "",
        starts_at=starts_at,
        stops_at=stops_at,
        instructions=(instructions or "").strip(),
        prescriber=actor,
        allergy_conflicts=conflicts,
        allergy_override_reason=override if conflicts else "",
    )
    order.save(force_insert=True)
    audit_record(
        actor=actor,
        action="create",
        instance=order,
        detail={
            "drug": drug.code,
            "frequency": frequency,
            "controlled": drug.controlled,
            "allergy_override": bool(conflicts),
        },
    )
    return order


@transaction.atomic
def medication_order_discontinue(*, actor: User, order: MedicationOrder, reason: str) -> MedicationOrder:
    """Stop an order now (physicians). No dose may be recorded against it afterwards."""
    _require(actor, "medication_order.discontinue")
    order = MedicationOrder.objects.select_for_update().get(pk=order.pk)
    if order.status == MedicationOrder.Status.DISCONTINUED:
        raise Conflict("The order is already discontinued.", code="order_discontinued")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give the reason.", fields={"reason": ["Give the reason for discontinuing."]})
    order.status = MedicationOrder.Status.DISCONTINUED
    order.discontinued_at = max(timezone.now(), order.starts_at)
    order.discontinued_by = actor
    order.discontinue_reason = reason
    order.save(update_fields=["status", "discontinued_at", "discontinued_by", "discontinue_reason", "updated_at"])
    audit_record(actor=actor, action="discontinue", instance=order)
    return order


# --- Medication administration record ------------------------------------------------------------------


def _prn_refusal(order: MedicationOrder, at: datetime.datetime) -> tuple[Conflict | None, Observation | None]:
    """Why a PRN dose may not be given at `at` (minimum interval, daily cap, score band), and the score that
    allows it. The caller holds the order's row lock, so the doses read here cannot change underneath."""
    given = order.administrations.filter(outcome=MedicationAdministration.Outcome.GIVEN)
    interval = order.min_interval
    nearest = (
        given.filter(administered_at__gt=at - interval, administered_at__lt=at + interval)
        .order_by("-administered_at")
        .first()
    )
    if nearest is not None:
        allowed_from = nearest.administered_at + interval
        return Conflict(
            f"A PRN dose of this order was given at {nearest.administered_at:%Y-%m-%d %H:%M} UTC; the minimum "
            f"interval is {order.min_interval_minutes} minutes.",
            code="prn_interval",
            details={"next_allowed_at": allowed_from.isoformat()},
        ), None
    if order.max_doses_per_24h is not None:
        count = given.filter(administered_at__gt=at - PRN_DAY, administered_at__lte=at).count()
        if count >= order.max_doses_per_24h:
            return Conflict(
                f"This order allows at most {order.max_doses_per_24h} PRN doses in 24 hours.",
                code="prn_daily_limit",
            ), None
    if not order.prn_instrument:
        return None, None
    allowed, observation, why = selectors.prn_score_allows(order, at=at)
    if not allowed:
        return Conflict(why, code="score_does_not_allow", details={"instrument": order.prn_instrument}), None
    return None, observation


@transaction.atomic
def medication_administer(
    *,
    actor: User,
    order: MedicationOrder,
    outcome: str,
    administered_at: datetime.datetime | None = None,
    scheduled_for: datetime.datetime | None = None,
    reason: str = "",
) -> MedicationAdministration:
    """Record a dose given, refused or held (held needs a reason) against an active order.

    Refused (409): no active order at that time; a scheduled dose already recorded or not yet due; a PRN dose
    inside the minimum interval, above the daily cap, or without a recent score in the band the order names.
    The order's row is locked first, so two devices recording at once are decided one after the other, and the
    database's unique (order, scheduled_for) is the last word on a scheduled dose.
    """
    _require(actor, "medication_administration.create")
    order = (
        MedicationOrder.objects.select_for_update(of=("self",))
        .select_related("drug", "episode__patient__facility")
        .get(pk=order.pk)
    )
    now = timezone.now()
    at = administered_at or now
    reason = (reason or "").strip()
    problems: dict[str, list[str]] = {}
    if outcome not in MedicationAdministration.Outcome.values:
        problems["outcome"] = [f"Choose one of {', '.join(MedicationAdministration.Outcome.values)}."]
    if outcome == MedicationAdministration.Outcome.HELD and not reason:
        problems["reason"] = ["Give the reason the dose is held."]
    if at > now + CLOCK_SKEW:
        problems["administered_at"] = ["Cannot be in the future."]
    if order.is_prn and scheduled_for is not None:
        problems["scheduled_for"] = ["A PRN order has no scheduled doses."]
    if not order.is_prn and scheduled_for is None:
        problems["scheduled_for"] = ["Name the scheduled dose (its time) this records."]
    _raise_problems(problems, "The administration is not valid: " + ", ".join(problems) + ".")

    if (
        not order.episode.is_open
        or order.status != MedicationOrder.Status.ACTIVE
        or not order.active_at(at)
        or (scheduled_for is not None and not order.active_at(scheduled_for))
    ):
        raise Conflict("There is no active order for this dose at that time.", code="no_active_order")
    observation = None
    if scheduled_for is not None:
        if not is_dose_time(order, scheduled_for):
            raise ValidationFailed(
                "Not a scheduled dose time of this order.",
                fields={"scheduled_for": ["Not a scheduled dose time of this order."]},
            )
        if scheduled_for > max(at, now) + EARLY_DOSE_WINDOW:
            raise Conflict("This scheduled dose is not due yet.", code="dose_not_due")
        if order.administrations.filter(scheduled_for=scheduled_for).exists():
            raise Conflict("This scheduled dose is already recorded.", code="dose_already_recorded")
    elif outcome == MedicationAdministration.Outcome.GIVEN:
        refusal, observation = _prn_refusal(order, at)
        if refusal is not None:
            raise refusal
    given = outcome == MedicationAdministration.Outcome.GIVEN
    administration = MedicationAdministration(
        order=order,
        episode=order.episode,
        outcome=outcome,
        scheduled_for=scheduled_for,
        administered_at=at,
        dose=order.dose if given else None,
        dose_unit=order.dose_unit if given else "",
        route=order.route if given else "",
        reason=reason,
        observation=observation,
        recorded_by=actor,
    )
    try:
        with transaction.atomic():
            administration.save(force_insert=True)
    except IntegrityError:
        raise Conflict("This scheduled dose is already recorded.", code="dose_already_recorded") from None
    audit_record(
        actor=actor,
        action="create",
        instance=administration,
        detail={"outcome": outcome, "order": str(order.pk), "prn": order.is_prn, "controlled": order.drug.controlled},
    )
    return administration
