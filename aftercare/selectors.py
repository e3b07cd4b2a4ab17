"""Reads: scoped querysets for the API and the admin, a facility's follow-up schedule, and the outcome figures
(per episode and per facility), computed with a constant number of queries whatever the number of episodes."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    DateField,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from clinic.accounts.models import Facility, User
from clinic.errors import NotFound
from clinic.scoping import scope_queryset
from patients.models import CommunicationConsent, Patient
from patients.selectors import patient_consented_channels
from treatment.models import Episode

from .models import (
    DEFAULT_CHECK_IN_OFFSETS_DAYS,
    DEFAULT_DUE_TIME,
    DEFAULT_GRACE_DAYS,
    CheckIn,
    CopingStrategy,
    ProviderCheckIn,
    ProviderCheckInSchedule,
    Relapse,
    RelapsePreventionPlan,
    RelapseTrigger,
)

# --- A facility's follow-up schedule -------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpSchedule:
    offsets_days: tuple[int, ...]
    due_time: datetime.time
    grace_days: int

    @property
    def grace(self) -> datetime.timedelta:
        return datetime.timedelta(days=self.grace_days)


DEFAULT_SCHEDULE = FollowUpSchedule(DEFAULT_CHECK_IN_OFFSETS_DAYS, DEFAULT_DUE_TIME, DEFAULT_GRACE_DAYS)


def follow_up_schedule(facility: Facility) -> FollowUpSchedule:
    """The facility's configured schedule, or the default one."""
    row = ProviderCheckInSchedule.objects.filter(facility=facility).first()
    if row is None:
        return DEFAULT_SCHEDULE
    return FollowUpSchedule(tuple(sorted(row.offsets_days)), row.due_time, row.grace_days)


# --- Scoped lists --------------------------------------------------------------------------------------


def plan_queryset() -> QuerySet[RelapsePreventionPlan]:
    strategies = CopingStrategy.objects.order_by("position", "created_at")
    triggers = RelapseTrigger.objects.order_by("position", "created_at").prefetch_related(
        Prefetch("coping_strategies", queryset=strategies)
    )
    return RelapsePreventionPlan.objects.select_related("episode").prefetch_related(
        Prefetch("triggers", queryset=triggers)
    )


def coping_strategy_queryset(plan: RelapsePreventionPlan) -> QuerySet[CopingStrategy]:
    return CopingStrategy.objects.select_related("trigger__plan").filter(trigger__plan=plan)


def plan_list(*, actor: User) -> QuerySet[RelapsePreventionPlan]:
    return scope_queryset(plan_queryset(), actor)


def provider_check_in_list(*, actor: User) -> QuerySet[ProviderCheckIn]:
    return scope_queryset(ProviderCheckIn.objects.select_related("episode"), actor)


def check_in_list(*, actor: User) -> QuerySet[CheckIn]:
    return scope_queryset(CheckIn.objects.all(), actor)


def relapse_list(*, actor: User) -> QuerySet[Relapse]:
    return scope_queryset(Relapse.objects.select_related("episode"), actor)


def scoped_get(queryset: QuerySet, pk, what: str):
    """One row of a scoped queryset by id (from a body or a URL); otherwise 404, like a missing row."""
    try:
        found = queryset.filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):  # a malformed id is simply not found
        found = None
    if found is None:
        raise NotFound(f"{what} not found.")
    return found


# --- The patient's own corner of the app --------------------------------------------------------------


def own_plans(plans: QuerySet[RelapsePreventionPlan], patient_user) -> QuerySet[RelapsePreventionPlan]:
    """`plans` of the patient with this account, the current one first: that of the open episode, else of the
    latest episode."""
    return plans.filter(episode__patient__user_id=patient_user.pk).order_by(
        F("episode__closed_at").desc(nulls_first=True), "-episode__opened_at"
    )


@dataclass(frozen=True)
class ReminderSettings:
    """How a patient is reminded: channels they opted in to, preferred channel, quiet hours in their time zone,
    and the daily check-in prompt time of the plan of their open episode (None: no plan, or no prompt)."""

    patient: Patient
    channels: dict[str, bool]
    plan: RelapsePreventionPlan | None

    @property
    def daily_check_in_time(self) -> datetime.time | None:
        return self.plan.check_in_prompt_time if self.plan is not None else None


def reminder_settings(patient: Patient) -> ReminderSettings:
    consented = patient_consented_channels(patient)
    plan = RelapsePreventionPlan.objects.filter(episode__patient=patient, episode__closed_at__isnull=True).first()
    channels = {channel: channel in consented for channel in CommunicationConsent.Channel.values}
    return ReminderSettings(patient=patient, channels=channels, plan=plan)


def provider_check_ins_due(*, actor: User) -> QuerySet[ProviderCheckIn]:
    """The follow-up check-ins `actor` holds that are still to do: scheduled, or missed (still completable)."""
    open_statuses = [ProviderCheckIn.Status.SCHEDULED, ProviderCheckIn.Status.MISSED]
    return provider_check_in_list(actor=actor).filter(provider_id=actor.pk, status__in=open_statuses)


# --- Outcomes ------------------------------------------------------------------------------------------


def _count(queryset: QuerySet, *, link: str = "episode", **filters) -> Coalesce:
    """The number of rows of `queryset` whose `link` is the outer episode, as a subquery (no join fan-out)."""
    rows = (
        queryset.filter(**{link: OuterRef("pk")}, **filters)
        .order_by()
        .values(link)
        .annotate(n=Count("pk", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


class LocalDate(Func):
    """The calendar day of an aware moment in a time zone named by another column (PostgreSQL)."""

    template = "((%(expressions)s)::date)"
    arg_joiner = " AT TIME ZONE "
    output_field = DateField()


def _check_in_days() -> Coalesce:
    """Distinct patient-local days with a check-in after the day the episode entered aftercare (until the day it
    closed)."""
    rows = (
        CheckIn.objects.filter(episode=OuterRef("pk"), local_date__gt=OuterRef("aftercare_start_day"))
        .filter(Q(local_date__lte=OuterRef("closed_day")) | Q(episode__closed_at__isnull=True))
        .order_by()
        .values("episode")
        .annotate(n=Count("local_date", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def patient_last_check_in_day() -> Subquery:
    """Annotation for episodes: the latest patient-local day the episode's patient checked in (any episode)."""
    rows = (
        CheckIn.objects.filter(patient=OuterRef("patient"))
        .order_by()
        .values("patient")
        .annotate(last=Max("local_date"))
    )
    return Subquery(rows.values("last"))


def _last_check_in_day() -> Subquery:
    rows = CheckIn.objects.filter(episode=OuterRef("pk")).order_by().values("episode").annotate(last=Max("local_date"))
    return Subquery(rows.values("last"))


COMPLETED = ProviderCheckIn.Status.COMPLETED
MISSED = ProviderCheckIn.Status.MISSED


def outcome_queryset(episodes: QuerySet[Episode] | None = None) -> QuerySet[Episode]:
    """Episodes that have entered aftercare, annotated with the counts their figures are computed from."""
    provider = ProviderCheckIn.objects.all()
    episodes = Episode.objects.all() if episodes is None else episodes
    return (
        episodes.filter(relapse_prevention_plan__aftercare_started_at__isnull=False)
        .select_related("patient", "relapse_prevention_plan")
        .annotate(
            aftercare_start_day=LocalDate("relapse_prevention_plan__aftercare_started_at", "patient__timezone"),
            closed_day=LocalDate("closed_at", "patient__timezone"),
        )
        .annotate(
            check_in_days=_check_in_days(),
            last_check_in_day=_last_check_in_day(),
            provider_due=_count(provider, status__in=[COMPLETED, MISSED]),
            provider_completed=_count(provider, status=COMPLETED),
            # On time: completed before the check-in would have counted as missed.
            provider_on_time=_count(provider, status=COMPLETED, completed_at__lte=F("missed_after")),
            provider_missed=_count(provider, status=MISSED),
            relapse_count=_count(Relapse.objects.all()),
            readmission_count=_count(Episode.objects.all(), link="previous_episode"),
        )
    )


@dataclass
class EpisodeOutcome:
    """One episode's aftercare figures."""

    episode: Episode
    aftercare_started_at: datetime.datetime
    days_since_discharge: int
    check_in_days: int
    expected_check_in_days: int
    check_in_adherence: float | None
    provider_check_ins_due: int
    provider_check_ins_completed: int
    provider_check_ins_on_time: int
    provider_check_ins_missed: int
    provider_on_time_rate: float | None
    relapses: int
    readmissions: int

    @property
    def id(self):
        return self.episode.pk


def _ratio(part: int, whole: int) -> float | None:
    return round(min(part / whole, 1.0), 3) if whole else None


def episode_outcome(episode: Episode, *, now: datetime.datetime) -> EpisodeOutcome:
    """The figures of one episode of `outcome_queryset()` (no query: everything comes from its annotations).

    Days since discharge: whole days since entering aftercare. Check-in adherence: the patient-local days after
    the day of entering aftercare (up to the day of closing, or up to yesterday, and today once the patient has
    checked in today) that have a check-in, over all those days.
    """
    started = episode.relapse_prevention_plan.aftercare_started_at
    if episode.closed_at is not None:
        expected = (episode.closed_day - episode.aftercare_start_day).days
    else:
        today = now.astimezone(ZoneInfo(episode.patient.timezone)).date()
        expected = (today - episode.aftercare_start_day).days
        if episode.last_check_in_day != today:
            expected -= 1  # today is not over yet
    return EpisodeOutcome(
        episode=episode,
        aftercare_started_at=started,
        days_since_discharge=max((now - started).days, 0),
        check_in_days=episode.check_in_days,
        expected_check_in_days=max(expected, 0),
        check_in_adherence=_ratio(episode.check_in_days, max(expected, 0)),
        provider_check_ins_due=episode.provider_due,
        provider_check_ins_completed=episode.provider_completed,
        provider_check_ins_on_time=episode.provider_on_time,
        provider_check_ins_missed=episode.provider_missed,
        provider_on_time_rate=_ratio(episode.provider_on_time, episode.provider_due),
        relapses=episode.relapse_count,
        readmissions=episode.readmission_count,
    )


@dataclass
class FacilityOutcome:
    facility: Facility
    episodes_followed: int = 0
    patients_in_aftercare: int = 0
    mean_days_since_discharge: float | None = None
    check_in_days: int = 0
    expected_check_in_days: int = 0
    check_in_adherence: float | None = None
    provider_check_ins_due: int = 0
    provider_check_ins_completed: int = 0
    provider_check_ins_on_time: int = 0
    provider_check_ins_missed: int = 0
    provider_on_time_rate: float | None = None
    relapses: int = 0
    readmissions: int = 0
    readmission_rate: float | None = None


def facility_outcome(*, facility: Facility, now: datetime.datetime) -> FacilityOutcome:
    """The facility's aftercare figures over every episode that entered aftercare there (one query)."""
    summary = FacilityOutcome(facility=facility)
    days_since_discharge = []
    for episode in outcome_queryset().filter(patient__facility=facility):
        figures = episode_outcome(episode, now=now)
        summary.episodes_followed += 1
        if episode.closed_at is None:
            summary.patients_in_aftercare += 1
            days_since_discharge.append(figures.days_since_discharge)
        summary.check_in_days += figures.check_in_days
        summary.expected_check_in_days += figures.expected_check_in_days
        summary.provider_check_ins_due += figures.provider_check_ins_due
        summary.provider_check_ins_completed += figures.provider_check_ins_completed
        summary.provider_check_ins_on_time += figures.provider_check_ins_on_time
        summary.provider_check_ins_missed += figures.provider_check_ins_missed
        summary.relapses += figures.relapses
        summary.readmissions += figures.readmissions
    if days_since_discharge:
        summary.mean_days_since_discharge = round(sum(days_since_discharge) / len(days_since_discharge), 1)
    summary.check_in_adherence = _ratio(summary.check_in_days, summary.expected_check_in_days)
    summary.provider_on_time_rate = _ratio(summary.provider_check_ins_on_time, summary.provider_check_ins_due)
    summary.readmission_rate = _ratio(summary.readmissions, summary.episodes_followed)
    return summary


def facility_for(*, actor: User, facility_id) -> Facility:
    """One of the actor's facilities by id; any other is a 404."""
    return scoped_get(Facility.objects.filter(pk__in=actor.facility_ids()), facility_id, "Facility")
