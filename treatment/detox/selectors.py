"""Reads: scoped querysets for the API and the admin, and the composed views of an episode's detox: the MAR
(with which PRN doses the latest score allows), the withdrawal timeline and the chart's series."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from clinic.accounts.models import User
from clinic.accounts.roles import Role
from clinic.scoping import scope_queryset
from patients.selectors import patient_last_use
from treatment import selectors as treatment_selectors
from treatment.models import Episode, Observation

from . import timeline
from .models import DetoxCourse, Drug, MedicationAdministration, MedicationOrder, ObservationRound
from .schedule import EARLY_DOSE_WINDOW, PRN_DAY, PRN_SCORE_MAX_AGE, dose_times

SCORE_INSTRUMENTS = ("cows", "ciwa_ar")


# --- Scoped lists --------------------------------------------------------------------------------------


def course_queryset() -> QuerySet[DetoxCourse]:
    return DetoxCourse.objects.select_related("episode")


def course_list(*, actor: User) -> QuerySet[DetoxCourse]:
    return scope_queryset(course_queryset(), actor)


def round_queryset() -> QuerySet[ObservationRound]:
    return ObservationRound.objects.select_related("episode", "cows", "ciwa_ar")


def round_list(*, actor: User) -> QuerySet[ObservationRound]:
    return scope_queryset(round_queryset(), actor)


def rounds_due_for(*, actor: User) -> QuerySet[ObservationRound]:
    """Open rounds (due or overdue) of open episodes `actor` is the nurse or physician of; for a nurse also those
    of episodes with no nurse on duty (none assigned, or the assigned one deactivated or no longer at the
    patient's facility), which every nurse of the facility covers: their overdue alert goes to the nurse role
    (services._episode_nurse_on_duty is the same rule for one episode)."""
    assigned = Q(episode__nurse=actor) | Q(episode__physician=actor)
    if actor.role == Role.NURSE:
        nurse_works_there = User.facilities.through.objects.filter(
            user_id=OuterRef("episode__nurse_id"), facility_id=OuterRef("episode__patient__facility_id")
        )
        assigned |= Q(episode__nurse__isnull=True) | Q(episode__nurse__is_active=False) | ~Exists(nurse_works_there)
    return round_list(actor=actor).filter(
        assigned, status__in=ObservationRound.OPEN_STATUSES, episode__closed_at__isnull=True
    )


def drug_list() -> QuerySet[Drug]:
    """The catalogue: reference data, the same for every facility."""
    return Drug.objects.all()


def order_queryset() -> QuerySet[MedicationOrder]:
    return MedicationOrder.objects.select_related("episode", "drug")


def order_list(*, actor: User) -> QuerySet[MedicationOrder]:
    return scope_queryset(order_queryset(), actor)


def administration_queryset() -> QuerySet[MedicationAdministration]:
    return MedicationAdministration.objects.select_related("order__drug", "episode")


def administration_list(*, actor: User) -> QuerySet[MedicationAdministration]:
    return scope_queryset(administration_queryset(), actor)


# --- Plain reads for the services (the caller has scoped what it passes) ---------------------------------


def last_recorded_round(course: DetoxCourse) -> ObservationRound | None:
    return (
        ObservationRound.objects.filter(course=course, status=ObservationRound.Status.COMPLETED)
        .order_by("-observed_at")
        .first()
    )


def band_names(*, facility, instrument: str) -> list[str]:
    """The bands of `instrument` as `facility` scores it, from the lowest to the highest."""
    definition = treatment_selectors.instrument_definition(facility=facility, code=instrument)
    return [band.name for band in definition.bands]


def latest_score(episode: Episode, instrument: str, *, at: datetime.datetime) -> Observation | None:
    return (
        Observation.objects.filter(episode=episode, instrument=instrument, observed_at__lte=at)
        .order_by("-observed_at", "-created_at")
        .first()
    )


def _score_allows(
    order: MedicationOrder, observation: Observation | None, *, at: datetime.datetime, bands: list[str]
) -> tuple[bool, str]:
    instrument = order.get_prn_instrument_display()
    if observation is None or at - observation.observed_at > PRN_SCORE_MAX_AGE:
        hours = int(PRN_SCORE_MAX_AGE.total_seconds() // 3600)
        return False, f"No {instrument} score in the last {hours} hours: score the patient before this dose."
    minimum = order.prn_min_band
    if observation.band not in bands or bands.index(observation.band) < bands.index(minimum):
        return False, (
            f"The latest {instrument} is {observation.total} ({observation.band}); this order allows a dose at "
            f"{minimum} or worse."
        )
    return True, f"The latest {instrument} is {observation.total} ({observation.band})."


def prn_score_allows(order: MedicationOrder, *, at: datetime.datetime) -> tuple[bool, Observation | None, str]:
    """Whether the latest score of the order's instrument allows a symptom-triggered dose at `at`, the score,
    and why (in words). Orders without a score band are not symptom-triggered: always True."""
    if not order.prn_instrument:
        return True, None, "Not symptom-triggered."
    observation = latest_score(order.episode, order.prn_instrument, at=at)
    bands = band_names(facility=order.episode.patient.facility, instrument=order.prn_instrument)
    allowed, why = _score_allows(order, observation, at=at, bands=bands)
    return allowed, (observation if allowed else None), why


# --- The MAR -------------------------------------------------------------------------------------------


@dataclass
class ScheduledDose:
    scheduled_for: datetime.datetime
    administration: MedicationAdministration | None

    @property
    def status(self) -> str:
        return self.administration.outcome if self.administration else "not_recorded"


@dataclass
class PrnStatus:
    allowed_now: bool
    next_allowed_at: datetime.datetime | None
    doses_in_last_24h: int
    reasons: list[str]
    score: Observation | None


@dataclass
class MarRow:
    order: MedicationOrder
    active: bool
    administrations: list[MedicationAdministration]
    scheduled_doses: list[ScheduledDose] = field(default_factory=list)
    prn: PrnStatus | None = None


@dataclass
class Mar:
    episode: Episode
    generated_at: datetime.datetime
    latest_scores: dict[str, Observation]
    rows: list[MarRow]

    @property
    def orders(self) -> list[MedicationOrder]:
        return [row.order for row in self.rows]

    @property
    def administrations(self) -> list[MedicationAdministration]:
        return [administration for row in self.rows for administration in row.administrations]


MAR_WINDOW = datetime.timedelta(hours=24)


def _prn_status(
    order: MedicationOrder,
    given: list[MedicationAdministration],
    latest: dict[str, Observation],
    bands: dict[str, list[str]],
    now: datetime.datetime,
) -> PrnStatus:
    reasons: list[str] = []
    last_given = max((a.administered_at for a in given), default=None)
    next_allowed = last_given + order.min_interval if last_given is not None else None
    if next_allowed is not None and next_allowed > now:
        reasons.append(f"Minimum interval: next dose from {next_allowed:%Y-%m-%d %H:%M} UTC.")
    in_day = sum(1 for a in given if now - PRN_DAY < a.administered_at <= now)
    if order.max_doses_per_24h is not None and in_day >= order.max_doses_per_24h:
        reasons.append(f"Daily cap reached: {in_day} of {order.max_doses_per_24h} doses in 24 hours.")
    score = None
    if order.prn_instrument:
        score = latest.get(order.prn_instrument)
        allowed, why = _score_allows(order, score, at=now, bands=bands[order.prn_instrument])
        if not allowed:
            reasons.append(why)
    return PrnStatus(
        allowed_now=not reasons,
        next_allowed_at=next_allowed,
        doses_in_last_24h=in_day,
        reasons=reasons,
        score=score,
    )


def episode_mar(episode: Episode, *, now: datetime.datetime | None = None) -> Mar:
    """The episode's MAR now: every order current in the last 24 hours with its administrations in that window;
    scheduled orders with their dose times from 24 hours ago to the next hour and what became of each; PRN
    orders with whether a dose is allowed now (interval, daily cap, and the latest score's band)."""
    now = now or timezone.now()
    since = now - MAR_WINDOW
    orders = list(
        MedicationOrder.objects.filter(episode=episode)
        .select_related("drug", "episode")
        .prefetch_related(
            Prefetch(
                "administrations",
                queryset=MedicationAdministration.objects.filter(administered_at__gt=since - PRN_DAY).order_by(
                    "-administered_at"
                ),
            )
        )
        .order_by("drug__name", "starts_at")
    )
    latest: dict[str, Observation] = {}
    for observation in Observation.objects.filter(
        episode=episode, instrument__in=SCORE_INSTRUMENTS, observed_at__lte=now
    ).order_by("-observed_at", "-created_at")[:50]:
        latest.setdefault(observation.instrument, observation)
    facility = episode.patient.facility
    bands = {code: band_names(facility=facility, instrument=code) for code in SCORE_INSTRUMENTS}
    rows = []
    for order in orders:
        ends_at = order.ends_at()
        if order.starts_at > now + EARLY_DOSE_WINDOW or (ends_at is not None and ends_at <= since):
            continue
        recent = list(order.administrations.all())
        row = MarRow(
            order=order,
            active=episode.is_open and order.active_at(now),
            administrations=[a for a in recent if a.administered_at > since],
        )
        if order.is_prn:
            given = [a for a in recent if a.outcome == MedicationAdministration.Outcome.GIVEN]
            row.prn = _prn_status(order, given, latest, bands, now)
            if not row.active:
                row.prn.allowed_now = False
                row.prn.reasons.insert(0, "The order is not active.")
        else:
            by_time = {a.scheduled_for: a for a in recent if a.scheduled_for is not None}
            row.scheduled_doses = [
                ScheduledDose(moment, by_time.get(moment))
                for moment in dose_times(order, since=since, until=now + EARLY_DOSE_WINDOW)
            ]
        rows.append(row)
    return Mar(episode=episode, generated_at=now, latest_scores=latest, rows=rows)


# --- Withdrawal timeline and chart series --------------------------------------------------------------


@dataclass(frozen=True)
class ScorePoint:
    observed_at: datetime.datetime
    total: int
    band: str


@dataclass(frozen=True)
class PulsePoint:
    observed_at: datetime.datetime
    pulse: int


@dataclass
class WithdrawalSeries:
    scores: dict[str, list[ScorePoint]]
    pulse: list[PulsePoint]
    thresholds: dict[str, int]
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None


def withdrawal_series(episode: Episode) -> WithdrawalSeries:
    """COWS/CIWA-Ar totals and pulse over time, oldest first, and the alert thresholds the facility uses."""
    scores: dict[str, list[ScorePoint]] = {code: [] for code in SCORE_INSTRUMENTS}
    for observed_at, instrument, total, band in (
        Observation.objects.filter(episode=episode, instrument__in=SCORE_INSTRUMENTS)
        .order_by("observed_at", "created_at")
        .values_list("observed_at", "instrument", "total", "band")
    ):
        scores[instrument].append(ScorePoint(observed_at, total, band))
    pulse = [
        PulsePoint(observed_at, value)
        for observed_at, value in ObservationRound.objects.filter(
            episode=episode, status=ObservationRound.Status.COMPLETED
        )
        .order_by("observed_at")
        .values_list("observed_at", "pulse")
    ]
    facility = episode.patient.facility
    thresholds = {}
    for code in SCORE_INSTRUMENTS:
        definition = treatment_selectors.instrument_definition(facility=facility, code=code)
        if "severity" in definition.alert_thresholds:
            thresholds[code] = definition.alert_thresholds["severity"]
    course = DetoxCourse.objects.filter(episode=episode).first()
    return WithdrawalSeries(
        scores=scores,
        pulse=pulse,
        thresholds=thresholds,
        started_at=course.started_at if course else None,
        ended_at=course.ended_at if course else None,
    )


@dataclass
class WithdrawalTimeline:
    episode: Episode
    generated_at: datetime.datetime
    last_use: datetime.datetime | None
    hours_since_last_use: float | None
    phase: timeline.Phase | None
    course: DetoxCourse | None
    trends: dict[str, timeline.Trend]
    pulse_trend: timeline.Trend
    phases: tuple[timeline.Phase, ...] = timeline.PHASES


def withdrawal_timeline(episode: Episode, *, now: datetime.datetime | None = None) -> WithdrawalTimeline:
    """Hours since last use (substance-use history), the expected phase of withdrawal, and the score trend."""
    now = now or timezone.now()
    last_use = patient_last_use(episode.patient)
    hours = None if last_use is None else max((now - last_use).total_seconds() / 3600, 0.0)
    series = withdrawal_series(episode)
    return WithdrawalTimeline(
        episode=episode,
        generated_at=now,
        last_use=last_use,
        hours_since_last_use=None if hours is None else round(hours, 1),
        phase=None if hours is None else timeline.phase_at(hours),
        course=DetoxCourse.objects.filter(episode=episode).first(),
        trends={
            code: timeline.trend([(p.observed_at, p.total) for p in points]) for code, points in series.scores.items()
        },
        pulse_trend=timeline.trend([(p.observed_at, p.pulse) for p in series.pulse]),
    )
