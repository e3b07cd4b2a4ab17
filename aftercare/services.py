"""Every write of the aftercare app: relapse-prevention plans (staff write them, the patient adds their own
triggers and coping strategies), the follow-up check-ins providers hold (each also on the patient's calendar,
through therapy's appointments), the patient's daily check-ins and their alerts, relapses and the one-step
readmission; and the stage machine's hooks (registered in AftercareConfig.ready).

Each service is atomic and records its audit event in the same transaction. The API, the admin, the Celery
tasks and the seeding call these, so each rule lives here once.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import CLINICIANS, Role
from clinic.api.models import Tombstone
from clinic.api.sync import tombstone_record
from clinic.audit.services import audit_record
from clinic.db import CompiledOnce
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.localtime import local_to_utc
from clinic.notifications.models import Reminder
from clinic.notifications.services import reminder_cancel_for_subject, reminder_schedule
from patients import services as patient_services
from patients.models import CommunicationConsent, Patient, SubstanceUseHistory
from treatment import services as treatment_services
from treatment.models import Alert, DischargeReason, Episode, EpisodeTransition, Stage
from treatment.stages import TransitionAttempt
from treatment.therapy import services as therapy_services
from treatment.therapy.models import Appointment, AttendanceStatus

from . import selectors
from .models import (
    CheckIn,
    CopingStrategy,
    ProviderCheckIn,
    ProviderCheckInSchedule,
    Relapse,
    RelapsePreventionPlan,
    RelapseTrigger,
    TriggerCategory,
)
from .plan_content import MAX_TEXT, clean_check_in_triggers, clean_plan_lists

logger = logging.getLogger(__name__)

# Devices' clocks drift; a time a little "in the future" is a clock, not a prediction.
CLOCK_SKEW = datetime.timedelta(minutes=1)
# Reminder subjects: a provider check-in (its id), and the daily prompts of an episode (the episode's id).
PROVIDER_CHECK_IN_SUBJECT = "aftercare.providercheckin"
PROMPT_SUBJECT = "aftercare.check_in_prompt"
# Self check-in alert rules: at or above this craving, or any use, the primary counselor is alerted; so are
# this many missed daily check-ins in a row (once per run of missed days).
CRAVING_ALERT_AT = 8
MISSED_DAYS_ALERT_AT = 2
MAX_NOTE = 4000
# How long a follow-up holds on the patient's calendar (therapy's appointments, with the patient's reminders).
CALENDAR_SLOT = datetime.timedelta(minutes=30)


def _raise(problems: Mapping[str, list[str]], message: str = "The request is not valid.") -> None:
    if problems:
        raise ValidationFailed(message, fields=dict(problems))


def _full_clean(instance, **kwargs) -> None:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as error:
        fields = error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
        raise ValidationFailed("The request is not valid.", fields=fields) from None


def _aware(value: Any, name: str, problems: dict[str, list[str]]) -> datetime.datetime | None:
    if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
        problems[name] = ["An aware date and time is required."]
        return None
    return value


def _local_day(moment: datetime.datetime, zone: str) -> datetime.date:
    return moment.astimezone(ZoneInfo(zone)).date()


def _alert_person(episode: Episode, slot: str, fallback_role: str) -> dict[str, Any]:
    """alert_raise's target: the care-team member in `slot`, else everyone with `fallback_role`."""
    person = getattr(episode, slot)
    return {"target_user": person} if person is not None else {"target_role": fallback_role}


# --- Facility follow-up schedule -----------------------------------------------------------------------


@transaction.atomic
def provider_check_in_schedule_set(
    *, actor: User, facility: Facility, offsets_days: Iterable[int], due_time: datetime.time, grace_days: int
) -> ProviderCheckInSchedule:
    """Set a facility's follow-up schedule. It applies to episodes entering aftercare from now on."""
    offsets = list(offsets_days)
    problems: dict[str, list[str]] = {}
    if facility.pk not in actor.facility_ids():
        problems["facility"] = ["Not your facility."]
    if not offsets:
        problems["offsets_days"] = ["Give at least one day."]
    elif len(set(offsets)) != len(offsets):
        problems["offsets_days"] = ["Each day may be given once."]
    elif any(isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650 for days in offsets):
        problems["offsets_days"] = ["Whole days from 1 to 3650."]
    _raise(problems, "Check the follow-up schedule.")
    schedule = ProviderCheckInSchedule.objects.select_for_update().filter(facility=facility).first()
    created = schedule is None
    schedule = schedule or ProviderCheckInSchedule(facility=facility)
    schedule.offsets_days = sorted(offsets)
    schedule.due_time = due_time
    schedule.grace_days = grace_days
    schedule.updated_by = actor
    _full_clean(schedule, exclude=["facility"])
    schedule.save()
    audit_record(
        actor=actor,
        action="create" if created else "update",
        instance=schedule,
        detail={"offsets_days": schedule.offsets_days, "grace_days": grace_days},
    )
    return schedule


# --- Relapse-prevention plans --------------------------------------------------------------------------

PLAN_LIST_FIELDS = ("craving_action_plan", "support_contacts", "support_groups", "reasons_for_recovery")
PLAN_FIELDS = (*PLAN_LIST_FIELDS, "check_in_prompt_time", "aftercare_started_at")


def _own_plan_or_refuse(actor: User, plan: RelapsePreventionPlan) -> None:
    """A patient touches only their own plan (the API's scoping already hides the others)."""
    if actor.role == Role.PATIENT and plan.episode.patient.user_id != actor.pk:
        raise NotAllowed("You may change only your own plan.")


def _staff_only(actor: User) -> None:
    if actor.role == Role.PATIENT:
        raise NotAllowed("Your care team changes this part of the plan; you may add triggers and coping strategies.")


def _lock_plan(plan: RelapsePreventionPlan) -> RelapsePreventionPlan:
    plan = (
        RelapsePreventionPlan.objects.select_for_update(of=("self",)).select_related("episode__patient").get(pk=plan.pk)
    )
    if not plan.episode.is_open:
        raise Conflict("The episode is closed; its plan is kept as it was.", code="episode_closed")
    return plan


def _touch(plan: RelapsePreventionPlan, actor: User) -> None:
    """A change to a trigger or a strategy is a change to the plan (its ETag and `updated_since`)."""
    plan.updated_by = actor
    plan.save(update_fields=["updated_by", "updated_at"])


def _next_position(siblings) -> int:
    """The next place in a list of triggers or strategies (their plan row is locked by the caller)."""
    last = siblings.aggregate(last=Max("position"))["last"]
    return 0 if last is None else last + 1


def _add_trigger(
    *, actor: User, plan: RelapsePreventionPlan, category: Any, description: Any, coping_strategies: Any, path: str
) -> RelapseTrigger:
    by_patient = actor.role == Role.PATIENT
    problems: dict[str, list[str]] = {}
    if category not in TriggerCategory.values:
        problems[f"{path}category"] = [f"Choose one of {', '.join(TriggerCategory.values)}."]
    if not isinstance(description, str) or not description.strip():
        problems[f"{path}description"] = ["Describe the trigger."]
    elif len(description.strip()) > MAX_TEXT:
        problems[f"{path}description"] = [f"At most {MAX_TEXT} characters."]
    if not isinstance(coping_strategies, list | tuple):
        problems[f"{path}coping_strategies"] = ["Expected a list."]
        coping_strategies = []
    for index, text in enumerate(coping_strategies):
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > MAX_TEXT:
            problems[f"{path}coping_strategies.{index}"] = [f"Text of 1 to {MAX_TEXT} characters."]
    _raise(problems, "Check the trigger.")
    trigger = RelapseTrigger.objects.create(
        plan=plan,
        position=_next_position(plan.triggers.all()),
        category=category,
        description=description.strip(),
        authored_by_patient=by_patient,
        author=actor,
    )
    CopingStrategy.objects.bulk_create(
        CopingStrategy(
            trigger=trigger, position=position, text=text.strip(), authored_by_patient=by_patient, author=actor
        )
        for position, text in enumerate(coping_strategies)
    )
    audit_record(
        actor=actor,
        action="create",
        instance=trigger,
        detail={"by_patient": by_patient, "coping_strategies": len(coping_strategies)},
    )
    return trigger


@transaction.atomic
def relapse_prevention_plan_create(
    *, actor: User, episode: Episode, triggers: Iterable[Mapping[str, Any]] = (), **fields: Any
) -> RelapsePreventionPlan:
    """Write the relapse-prevention plan of an open episode (one per episode), with its first triggers
    ({"category", "description", "coping_strategies": [...]})."""
    _staff_only(actor)
    unknown = set(fields) - set(PLAN_LIST_FIELDS) - {"check_in_prompt_time"}
    if unknown:
        raise ValueError(f"Not plan fields: {', '.join(sorted(unknown))}")
    episode = Episode.objects.select_for_update().select_related("patient").get(pk=episode.pk)
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")
    if RelapsePreventionPlan.objects.filter(episode=episode).exists():
        raise Conflict("This episode already has a relapse-prevention plan.", code="plan_exists")
    cleaned, problems = clean_plan_lists(fields)
    _raise(problems, "Check the plan.")
    plan = RelapsePreventionPlan(episode=episode, created_by=actor, updated_by=actor, **{**fields, **cleaned})
    plan.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=plan, detail={"fields": sorted(fields)})
    for index, entry in enumerate(triggers):
        _add_trigger(
            actor=actor,
            plan=plan,
            category=entry.get("category"),
            description=entry.get("description"),
            coping_strategies=entry.get("coping_strategies", []),
            path=f"triggers.{index}.",
        )
    return plan


@transaction.atomic
def relapse_prevention_plan_update(
    *, actor: User, plan: RelapsePreventionPlan, data: Mapping[str, Any]
) -> RelapsePreventionPlan:
    """Change the plan's lists, the daily prompt time, or (in aftercare) move the aftercare start back to the
    day the patient actually left the programme: the follow-ups still open move with it."""
    _staff_only(actor)
    unknown = set(data) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"Not plan fields: {', '.join(sorted(unknown))}")
    plan = _lock_plan(plan)
    cleaned, problems = clean_plan_lists(data)
    prompt_time = data.get("check_in_prompt_time")
    if prompt_time is not None and not isinstance(prompt_time, datetime.time):
        problems["check_in_prompt_time"] = ["A time such as 19:30, or null for no prompt."]
    _raise(problems, "Check the plan.")
    values = {**data, **cleaned}
    changed = sorted(name for name, value in values.items() if getattr(plan, name) != value)
    for name in changed:
        if name != "aftercare_started_at":
            setattr(plan, name, values[name])
    if "aftercare_started_at" in changed:
        _move_aftercare_start(actor=actor, plan=plan, started_at=data["aftercare_started_at"])
    plan.updated_by = actor
    plan.save()
    if "check_in_prompt_time" in changed:
        _prompt_time_change(actor=actor, plan=plan, prompt_time=data["check_in_prompt_time"])
    audit_record(actor=actor, action="update", instance=plan, detail={"fields": changed})
    return plan


@transaction.atomic
def relapse_trigger_add(
    *, actor: User, plan: RelapsePreventionPlan, category: str, description: str, coping_strategies: Iterable[str] = ()
) -> RelapseTrigger:
    """Add a trigger with its coping strategies. Added by the patient, both are marked as theirs."""
    plan = _lock_plan(plan)
    _own_plan_or_refuse(actor, plan)
    trigger = _add_trigger(
        actor=actor,
        plan=plan,
        category=category,
        description=description,
        coping_strategies=list(coping_strategies),
        path="",
    )
    _touch(plan, actor)
    return trigger


@transaction.atomic
def relapse_trigger_update(*, actor: User, trigger: RelapseTrigger, data: Mapping[str, Any]) -> RelapseTrigger:
    """Staff change a trigger's category or description (a patient-authored one stays marked as theirs)."""
    _staff_only(actor)
    unknown = set(data) - {"category", "description"}
    if unknown:
        raise ValueError(f"Not trigger fields: {', '.join(sorted(unknown))}")
    plan = _lock_plan(trigger.plan)
    trigger = RelapseTrigger.objects.get(pk=trigger.pk)
    problems: dict[str, list[str]] = {}
    if "category" in data and data["category"] not in TriggerCategory.values:
        problems["category"] = [f"Choose one of {', '.join(TriggerCategory.values)}."]
    description = data.get("description", trigger.description)
    if not isinstance(description, str) or not description.strip() or len(description.strip()) > MAX_TEXT:
        problems["description"] = [f"Text of 1 to {MAX_TEXT} characters."]
    _raise(problems, "Check the trigger.")
    changed = sorted(name for name, value in data.items() if getattr(trigger, name) != value)
    trigger.category = data.get("category", trigger.category)
    trigger.description = description.strip()
    trigger.save()
    audit_record(actor=actor, action="update", instance=trigger, detail={"fields": changed})
    _touch(plan, actor)
    return trigger


@transaction.atomic
def relapse_trigger_remove(*, actor: User, trigger: RelapseTrigger) -> None:
    """Staff remove a trigger and its coping strategies."""
    _staff_only(actor)
    plan = _lock_plan(trigger.plan)
    audit_record(actor=actor, action="delete", instance=trigger, detail={"by_patient": trigger.authored_by_patient})
    for strategy in trigger.coping_strategies.all():  # deleted with it (cascade): offline copies drop them too
        tombstone_record(instance=strategy, reason=Tombstone.Reason.DELETED)
    tombstone_record(instance=trigger, reason=Tombstone.Reason.DELETED)
    trigger.delete()
    _touch(plan, actor)


@transaction.atomic
def coping_strategy_add(*, actor: User, trigger: RelapseTrigger, text: str) -> CopingStrategy:
    """Add a coping strategy to a trigger. Added by the patient, it is marked as theirs."""
    plan = _lock_plan(trigger.plan)
    _own_plan_or_refuse(actor, plan)
    if not isinstance(text, str) or not text.strip() or len(text.strip()) > MAX_TEXT:
        raise ValidationFailed("Check the coping strategy.", fields={"text": [f"Text of 1 to {MAX_TEXT} characters."]})
    by_patient = actor.role == Role.PATIENT
    strategy = CopingStrategy.objects.create(
        trigger=trigger,
        position=_next_position(trigger.coping_strategies.all()),
        text=text.strip(),
        authored_by_patient=by_patient,
        author=actor,
    )
    audit_record(actor=actor, action="create", instance=strategy, detail={"by_patient": by_patient})
    _touch(plan, actor)
    return strategy


@transaction.atomic
def coping_strategy_remove(*, actor: User, strategy: CopingStrategy) -> None:
    _staff_only(actor)
    plan = _lock_plan(strategy.trigger.plan)
    audit_record(actor=actor, action="delete", instance=strategy, detail={"by_patient": strategy.authored_by_patient})
    tombstone_record(instance=strategy, reason=Tombstone.Reason.DELETED)
    strategy.delete()
    _touch(plan, actor)


@transaction.atomic
def check_in_prompt_time_set(
    *, actor: User, plan: RelapsePreventionPlan, prompt_time: datetime.time | None
) -> RelapsePreventionPlan:
    """Choose when the daily check-in prompt goes out (patient-local time), or None for no prompt. The patient
    may set their own; the next prompt moves at once."""
    plan = _lock_plan(plan)
    _own_plan_or_refuse(actor, plan)
    if prompt_time is not None and not isinstance(prompt_time, datetime.time):
        raise ValidationFailed("Check the time.", fields={"check_in_prompt_time": ["A time such as 19:30."]})
    changed = plan.check_in_prompt_time != prompt_time
    plan.check_in_prompt_time = prompt_time
    plan.updated_by = actor
    plan.save(update_fields=["check_in_prompt_time", "updated_by", "updated_at"])
    if changed:
        _prompt_time_change(actor=actor, plan=plan, prompt_time=prompt_time)
    audit_record(actor=actor, action="update", instance=plan, detail={"fields": ["check_in_prompt_time"]})
    return plan


# --- A patient's reminder settings (GET/PATCH /api/v1/me/reminder-settings/) ----------------------------

REMINDER_PROFILE_FIELDS = ("preferred_channel", "quiet_hours_start", "quiet_hours_end")


@transaction.atomic
def reminder_settings_update(*, actor: User, patient: Patient, data: Mapping[str, Any]) -> selectors.ReminderSettings:
    """A patient changes how they are reminded, in one step: opt in or out per channel (recorded as consent
    events from the app), the preferred channel and quiet hours (their profile), and the time of the daily
    check-in prompt (their current relapse-prevention plan; the next prompt moves at once). Each part is written
    and audited by the service that owns it."""
    if actor.role != Role.PATIENT or patient.user_id != actor.pk:
        raise NotAllowed("Patients change their own reminder settings.")
    current = selectors.reminder_settings(patient)
    if "daily_check_in_time" in data and current.plan is None:
        raise ValidationFailed(
            "There is no daily check-in to set a time for yet.",
            fields={"daily_check_in_time": ["Your care team has not written your relapse-prevention plan yet."]},
        )
    for channel, opted_in in sorted((data.get("channels") or {}).items()):
        if opted_in != current.channels[channel]:
            action = CommunicationConsent.Action.OPT_IN if opted_in else CommunicationConsent.Action.OPT_OUT
            patient_services.communication_consent_record(actor=actor, patient=patient, channel=channel, action=action)
    profile = {name: data[name] for name in REMINDER_PROFILE_FIELDS if name in data}
    if profile:
        patient_services.patient_profile_update(actor=actor, patient=patient, data=profile)
    if "daily_check_in_time" in data:
        check_in_prompt_time_set(actor=actor, plan=current.plan, prompt_time=data["daily_check_in_time"])
    return selectors.reminder_settings(patient)


# --- The stage machine's hooks (registered in AftercareConfig.ready) -----------------------------------


def follow_up_provider(episode: Episode) -> User | None:
    """Who holds an episode's follow-up check-ins: its case manager, else its primary counselor."""
    return episode.case_manager or episode.primary_counselor


def aftercare_entry_requirements(attempt: TransitionAttempt) -> str | None:
    """Guard for entering aftercare: a relapse-prevention plan, and someone to hold the follow-ups."""
    unmet = []
    if not RelapsePreventionPlan.objects.filter(episode=attempt.episode).exists():
        unmet.append("Entering aftercare needs a relapse-prevention plan: write it first.")
    if follow_up_provider(attempt.episode) is None:
        unmet.append("Assign a case manager or a primary counselor to hold the follow-up check-ins.")
    return " ".join(unmet) or None


def aftercare_on_enter(episode: Episode, transition: EpisodeTransition) -> None:
    """Handler: the episode entered aftercare. Anchor the follow-up schedule on this moment, schedule the
    provider check-ins with their reminders, and the first daily prompt."""
    plan = (
        RelapsePreventionPlan.objects.select_for_update()
        .select_related("episode__patient__facility")
        .get(episode=episode)
    )
    plan.aftercare_started_at = transition.occurred_at
    plan.save(update_fields=["aftercare_started_at", "updated_at"])
    _schedule_provider_check_ins(actor=transition.actor, plan=plan)
    _schedule_next_prompt(plan=plan, now=transition.occurred_at)


def aftercare_on_discharge(episode: Episode, transition: EpisodeTransition) -> None:
    """Handler: the episode ended (discharge or readmission). Cancel the follow-ups still open and the
    pending reminders and prompts."""
    provider_check_ins_cancel_remaining(actor=transition.actor, episode=episode)
    reminder_cancel_for_subject(
        subject_type=PROMPT_SUBJECT,
        subject_id=episode.pk,
        kinds=[Reminder.Kind.CHECK_IN_PROMPT],
        actor=transition.actor,
    )


# --- Provider check-ins --------------------------------------------------------------------------------


def _due_at(facility: Facility, start: datetime.datetime, days: int, schedule: selectors.FollowUpSchedule):
    """`days` after the facility-local day of `start`, at the schedule's local due time (DST-correct)."""
    day = _local_day(start, facility.timezone) + datetime.timedelta(days=days)
    return local_to_utc(day, schedule.due_time, facility.timezone)


def _remind_provider(*, actor: User | None, check_in: ProviderCheckIn, facility: Facility) -> None:
    """The provider's reminder the day before the check-in is due, at the same local time (at once when that
    moment has passed)."""
    now = timezone.now()
    if check_in.due_at <= now:
        return
    local_due = check_in.due_at.astimezone(ZoneInfo(facility.timezone))
    day_before = local_to_utc(local_due.date() - datetime.timedelta(days=1), local_due.time(), facility.timezone)
    reminder_schedule(
        facility=facility,
        kind=Reminder.Kind.CHECK_IN_DUE,
        send_at=max(day_before, now),
        staff=check_in.provider,
        subject=(PROVIDER_CHECK_IN_SUBJECT, check_in.pk),
        context={"at": check_in.due_at},
        actor=actor,
    )


def _cancel_provider_reminders(*, actor: User | None, check_in: ProviderCheckIn) -> None:
    reminder_cancel_for_subject(
        subject_type=PROVIDER_CHECK_IN_SUBJECT,
        subject_id=check_in.pk,
        kinds=[Reminder.Kind.CHECK_IN_DUE],
        actor=actor,
    )


def _calendar_entry(check_in: ProviderCheckIn) -> Appointment | None:
    return Appointment.objects.filter(
        subject_type=PROVIDER_CHECK_IN_SUBJECT, subject_id=str(check_in.pk), status=AttendanceStatus.SCHEDULED
    ).first()


def _calendar_book(*, actor: User | None, check_in: ProviderCheckIn, patient: Patient) -> None:
    """Put a follow-up still ahead on the patient's calendar. Due dates are not slots, so two follow-ups of a
    provider on the same morning are not a double booking."""
    if check_in.due_at <= timezone.now():
        return
    therapy_services.appointment_schedule(
        actor=actor,
        patient=patient,
        starts_at=check_in.due_at,
        ends_at=check_in.due_at + CALENDAR_SLOT,
        with_staff=check_in.provider,
        kind=Appointment.Kind.PROVIDER_CHECK_IN,
        subject=(PROVIDER_CHECK_IN_SUBJECT, check_in.pk),
        check_conflicts=False,
    )


def _calendar_move(*, actor: User | None, check_in: ProviderCheckIn, patient: Patient) -> None:
    entry = _calendar_entry(check_in)
    if entry is None:
        _calendar_book(actor=actor, check_in=check_in, patient=patient)
    elif check_in.due_at <= timezone.now():
        therapy_services.appointment_cancel(actor=actor, appointment=entry)
    else:
        therapy_services.appointment_reschedule(
            actor=actor,
            appointment=entry,
            starts_at=check_in.due_at,
            ends_at=check_in.due_at + CALENDAR_SLOT,
            with_staff=check_in.provider,
            check_conflicts=False,
        )


def _calendar_close(*, actor: User | None, check_in: ProviderCheckIn, reached: bool | None) -> None:
    """The follow-up took place (reached or not) or will not: record it on the calendar entry, or cancel an
    entry whose time has not come (a follow-up held early, cancelled or missed)."""
    entry = _calendar_entry(check_in)
    if entry is None:
        return
    if reached is None or entry.starts_at > timezone.now() + therapy_services.CHECK_IN_WINDOW:
        therapy_services.appointment_cancel(actor=actor, appointment=entry)
    else:
        status = AttendanceStatus.ATTENDED if reached else AttendanceStatus.NO_SHOW
        therapy_services.appointment_record_outcome(actor=actor, appointment=entry, status=status)


def _schedule_provider_check_ins(*, actor: User, plan: RelapsePreventionPlan) -> list[ProviderCheckIn]:
    episode = Episode.objects.select_related("patient__facility", "case_manager", "primary_counselor").get(
        pk=plan.episode_id
    )
    facility = episode.patient.facility
    schedule = selectors.follow_up_schedule(facility)
    provider = follow_up_provider(episode)
    check_ins = []
    for days in schedule.offsets_days:
        due_at = _due_at(facility, plan.aftercare_started_at, days, schedule)
        check_in = ProviderCheckIn.objects.create(
            episode=episode, provider=provider, offset_days=days, due_at=due_at, missed_after=due_at + schedule.grace
        )
        audit_record(actor=actor, action="create", instance=check_in, detail={"offset_days": days})
        _remind_provider(actor=actor, check_in=check_in, facility=facility)
        _calendar_book(actor=actor, check_in=check_in, patient=episode.patient)
        check_ins.append(check_in)
    return check_ins


def _move_aftercare_start(*, actor: User, plan: RelapsePreventionPlan, started_at: Any) -> None:
    """Move the aftercare start (staff correcting the day the patient left the programme); the check-ins still
    scheduled move with it, with their reminders."""
    episode = plan.episode
    problems: dict[str, list[str]] = {}
    started_at = _aware(started_at, "aftercare_started_at", problems)
    if plan.aftercare_started_at is None:
        problems["aftercare_started_at"] = ["The episode has not entered aftercare yet."]
    elif started_at is not None:
        if started_at > timezone.now() + CLOCK_SKEW:
            problems["aftercare_started_at"] = ["Cannot be in the future."]
        elif started_at < episode.opened_at:
            problems["aftercare_started_at"] = ["Cannot be before the episode opened."]
    _raise(problems, "Check the aftercare start.")
    plan.aftercare_started_at = started_at
    facility = episode.patient.facility
    schedule = selectors.follow_up_schedule(facility)
    open_check_ins = (
        ProviderCheckIn.objects.select_for_update()
        .select_related("provider")
        .filter(episode=episode, status=ProviderCheckIn.Status.SCHEDULED)
    )
    for check_in in open_check_ins:
        check_in.due_at = _due_at(facility, started_at, check_in.offset_days, schedule)
        check_in.missed_after = check_in.due_at + schedule.grace
        check_in.save(update_fields=["due_at", "missed_after", "updated_at"])
        audit_record(actor=actor, action="reschedule", instance=check_in, detail={"reason": "aftercare_start"})
        _cancel_provider_reminders(actor=actor, check_in=check_in)
        _remind_provider(actor=actor, check_in=check_in, facility=facility)
        _calendar_move(actor=actor, check_in=check_in, patient=episode.patient)


def _lock_check_in(check_in: ProviderCheckIn) -> ProviderCheckIn:
    return (
        ProviderCheckIn.objects.select_for_update(of=("self",))
        .select_related("episode__patient__facility", "episode__relapse_prevention_plan")
        .get(pk=check_in.pk)
    )


def _provider_problems(provider: User, facility: Facility) -> list[str]:
    if provider.role not in CLINICIANS:
        return ["Choose a clinician (physician, nurse, counselor or case manager)."]
    if not provider.is_active or facility.pk not in provider.facility_ids():
        return ["Choose an active staff member of the patient's facility."]
    return []


@transaction.atomic
def provider_check_in_update(
    *,
    actor: User,
    check_in: ProviderCheckIn,
    provider: User | None = None,
    due_at: datetime.datetime | None = None,
) -> ProviderCheckIn:
    """Hand a scheduled check-in to another provider and/or move it to a later time; its reminder follows."""
    check_in = _lock_check_in(check_in)
    if check_in.status != ProviderCheckIn.Status.SCHEDULED:
        raise Conflict(f"A {check_in.status} check-in cannot change.", code="check_in_not_scheduled")
    facility = check_in.episode.patient.facility
    problems: dict[str, list[str]] = {}
    if provider is not None and (found := _provider_problems(provider, facility)):
        problems["provider"] = found
    if due_at is not None and _aware(due_at, "due_at", problems) and due_at <= timezone.now():
        problems["due_at"] = ["Choose a time in the future."]
    _raise(problems, "Check the check-in.")
    changed = []
    if provider is not None and provider.pk != check_in.provider_id:
        check_in.provider = provider
        changed.append("provider")
    if due_at is not None and due_at != check_in.due_at:
        check_in.due_at = due_at
        check_in.missed_after = due_at + selectors.follow_up_schedule(facility).grace
        changed.append("due_at")
    if changed:
        check_in.save()
        _cancel_provider_reminders(actor=actor, check_in=check_in)
        _remind_provider(actor=actor, check_in=check_in, facility=facility)
        _calendar_move(actor=actor, check_in=check_in, patient=check_in.episode.patient)
    audit_record(actor=actor, action="update", instance=check_in, detail={"fields": changed})
    return check_in


@transaction.atomic
def provider_check_in_complete(
    *,
    actor: User,
    check_in: ProviderCheckIn,
    outcome: str,
    note: str,
    completed_at: datetime.datetime | None = None,
) -> ProviderCheckIn:
    """Record that the follow-up took place (or was attempted): when, its outcome and a note. A missed check-in
    may still be completed; it then counts as completed late."""
    check_in = _lock_check_in(check_in)
    if check_in.status not in (ProviderCheckIn.Status.SCHEDULED, ProviderCheckIn.Status.MISSED):
        raise Conflict(f"This check-in is {check_in.status}.", code=f"check_in_{check_in.status}")
    now = timezone.now()
    completed_at = completed_at or now
    note = (note or "").strip()
    problems: dict[str, list[str]] = {}
    if outcome not in ProviderCheckIn.Outcome.values:
        problems["outcome"] = [f"Choose one of {', '.join(ProviderCheckIn.Outcome.values)}."]
    if not note:
        problems["note"] = ["Write a note of the check-in."]
    elif len(note) > MAX_NOTE:
        problems["note"] = [f"At most {MAX_NOTE} characters."]
    if _aware(completed_at, "completed_at", problems):
        started = check_in.episode.relapse_prevention_plan.aftercare_started_at
        if completed_at > now + CLOCK_SKEW:
            problems["completed_at"] = ["Cannot be in the future."]
        elif started is not None and completed_at < started:
            problems["completed_at"] = ["Cannot be before the patient entered aftercare."]
    _raise(problems, "Check the check-in.")
    was_missed = check_in.status == ProviderCheckIn.Status.MISSED
    check_in.status = ProviderCheckIn.Status.COMPLETED
    check_in.completed_at = completed_at
    check_in.completed_by = actor
    check_in.outcome = outcome
    check_in.note = note
    check_in.save()
    _cancel_provider_reminders(actor=actor, check_in=check_in)
    _calendar_close(actor=actor, check_in=check_in, reached=outcome != ProviderCheckIn.Outcome.UNREACHABLE)
    audit_record(
        actor=actor,
        action="complete",
        instance=check_in,
        detail={"outcome": outcome, "on_time": completed_at <= check_in.missed_after, "was_missed": was_missed},
    )
    return check_in


@transaction.atomic
def provider_check_ins_cancel_remaining(*, actor: User | None, episode: Episode) -> int:
    """Cancel the episode's scheduled check-ins and their reminders (discharge, readmission)."""
    remaining = list(
        ProviderCheckIn.objects.select_for_update().filter(episode=episode, status=ProviderCheckIn.Status.SCHEDULED)
    )
    now = timezone.now()
    for check_in in remaining:
        check_in.status = ProviderCheckIn.Status.CANCELLED
        check_in.cancelled_at = now
        check_in.save(update_fields=["status", "cancelled_at", "updated_at"])
        audit_record(actor=actor, action="cancel", instance=check_in)
        _cancel_provider_reminders(actor=actor, check_in=check_in)
        _calendar_close(actor=actor, check_in=check_in, reached=None)
    return len(remaining)


def provider_check_ins_mark_missed(*, now: datetime.datetime | None = None, batch_size: int = 500) -> int:
    """Mark scheduled check-ins past their grace period as missed, each alerting the episode's case manager
    once. Run by beat; safe to run concurrently (rows being handled elsewhere are skipped)."""
    now = now or timezone.now()
    due = list(
        ProviderCheckIn.objects.filter(status=ProviderCheckIn.Status.SCHEDULED, missed_after__lte=now)
        .order_by("missed_after")
        .values_list("pk", flat=True)[:batch_size]
    )
    marked = 0
    for pk in due:
        marked += _mark_missed(pk, now)
    return marked


@transaction.atomic
def _mark_missed(pk, now: datetime.datetime) -> int:
    check_in = (
        ProviderCheckIn.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("episode__patient", "episode__case_manager")
        .filter(pk=pk, status=ProviderCheckIn.Status.SCHEDULED, missed_after__lte=now)
        .first()
    )
    if check_in is None:
        return 0
    check_in.status = ProviderCheckIn.Status.MISSED
    check_in.save(update_fields=["status", "updated_at"])
    audit_record(actor=None, action="miss", instance=check_in, detail={"offset_days": check_in.offset_days})
    _cancel_provider_reminders(actor=None, check_in=check_in)
    _calendar_close(actor=None, check_in=check_in, reached=None)
    episode = check_in.episode
    treatment_services.alert_raise(
        patient=episode.patient,
        episode=episode,
        kind="provider_check_in_missed",
        severity=Alert.Severity.MEDIUM,
        reason=f"The {check_in.offset_days}-day follow-up check-in due {check_in.due_at:%Y-%m-%d} was not "
        "completed within the grace period. Reach out to the patient and reschedule.",
        dedupe_key=f"provider_check_in:{check_in.pk}:missed",
        **_alert_person(episode, "case_manager", Role.CASE_MANAGER),
    )
    return 1


# --- The patient's daily check-ins ---------------------------------------------------------------------


def _int_0_to_10(value: Any, name: str, problems: dict[str, list[str]]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        problems[name] = ["A whole number from 0 to 10."]


# The reads of every check-in, compiled once (see clinic.db): the patient's open episode, and its plan, locked.
_OPEN_EPISODE = CompiledOnce(
    lambda patient_id: Episode.objects.filter(patient_id=patient_id, closed_at__isnull=True).order_by()[:1],
    uuid.UUID(int=0),
)
_PLAN_TO_UPDATE = CompiledOnce(
    lambda episode_id: RelapsePreventionPlan.objects.select_for_update().filter(episode_id=episode_id),
    uuid.UUID(int=0),
)


@transaction.atomic
def check_in_submit(
    *,
    actor: User,
    patient: Patient,
    craving: int,
    mood: int,
    used: bool,
    triggers: Any = (),
    note: str = "",
    checked_in_at: datetime.datetime | None = None,
) -> CheckIn:
    """A patient's own check-in (`checked_in_at` defaults to now; the app sends it for a check-in made offline).

    Alerts the primary counselor (or every counselor when none is assigned) for use reported, a craving of
    CRAVING_ALERT_AT or more, and, when this check-in ends a run of MISSED_DAYS_ALERT_AT or more missed days in
    aftercare that beat has not caught yet, for that run.
    """
    if actor.role != Role.PATIENT or patient.user_id != actor.pk:
        raise NotAllowed("Patients check in for themselves.")
    episode = _OPEN_EPISODE.first(patient.pk)
    if episode is None:
        raise Conflict("You have no open episode of care to check in to.", code="no_open_episode")
    now = timezone.now()
    checked_in_at = checked_in_at or now
    problems: dict[str, list[str]] = {}
    _int_0_to_10(craving, "craving", problems)
    _int_0_to_10(mood, "mood", problems)
    if not isinstance(used, bool):
        problems["used"] = ["true or false."]
    triggers, trigger_problems = clean_check_in_triggers(list(triggers) if isinstance(triggers, tuple) else triggers)
    problems.update(trigger_problems)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        problems["note"] = [f"At most {MAX_NOTE} characters."]
    if _aware(checked_in_at, "checked_in_at", problems):
        if checked_in_at > now + CLOCK_SKEW:
            problems["checked_in_at"] = ["Cannot be in the future."]
        elif checked_in_at < episode.opened_at:
            problems["checked_in_at"] = ["Cannot be before your episode of care opened."]
    _raise(problems, "Check the check-in.")
    check_in = CheckIn.objects.create(
        patient=patient,
        episode=episode,
        craving=craving,
        mood=mood,
        used=used,
        triggers=triggers,
        note=note,
        checked_in_at=checked_in_at,
        local_date=_local_day(checked_in_at, patient.timezone),
    )
    alerts = _check_in_alerts(actor=actor, check_in=check_in, episode=episode)
    audit_record(actor=actor, action="create", instance=check_in, detail={"alerts": alerts})
    # Lock the plan row alone: its episode, patient and facility are the rows this transaction has read above
    # (joining them again cost PostgreSQL a four-table plan and Django a compile on every check-in).
    plan = _PLAN_TO_UPDATE.first(episode.pk)
    if plan is not None:
        episode.patient = patient
        plan.episode = episode
        _check_in_streak_alert(actor=actor, check_in=check_in, plan=plan)
        if plan.prompt_scheduled_for == check_in.local_date == _local_day(now, patient.timezone):
            # Checked in before today's prompt: no need to ask again; the next prompt is tomorrow's.
            reminder_cancel_for_subject(
                subject_type=PROMPT_SUBJECT, subject_id=episode.pk, kinds=[Reminder.Kind.CHECK_IN_PROMPT]
            )
            _schedule_next_prompt(plan=plan, now=now)
    return check_in


def _check_in_alerts(*, actor: User, check_in: CheckIn, episode: Episode) -> list[str]:
    if not check_in.used and check_in.craving < CRAVING_ALERT_AT:
        return []  # most check-ins: no alert, and no need to read the counselor's row
    target = _alert_person(episode, "primary_counselor", Role.COUNSELOR)
    raised = []
    if check_in.used:
        treatment_services.alert_raise(
            patient=check_in.patient,
            episode=episode,
            kind="check_in_use_reported",
            severity=Alert.Severity.HIGH,
            reason=f"Use reported at a self check-in (craving {check_in.craving}/10, mood {check_in.mood}/10). "
            "Contact the patient today.",
            dedupe_key=f"check_in:{check_in.pk}:used",
            actor=actor,
            **target,
        )
        raised.append("use_reported")
    if check_in.craving >= CRAVING_ALERT_AT:
        treatment_services.alert_raise(
            patient=check_in.patient,
            episode=episode,
            kind="check_in_high_craving",
            severity=Alert.Severity.MEDIUM,
            reason=f"Craving {check_in.craving}/10 at a self check-in (mood {check_in.mood}/10). "
            "Review the craving action plan with the patient.",
            dedupe_key=f"check_in:{check_in.pk}:craving",
            actor=actor,
            **target,
        )
        raised.append("high_craving")
    return raised


def _streak_dedupe_key(patient_id, first_missed: datetime.date) -> str:
    return f"check_ins_missed:{patient_id}:{first_missed.isoformat()}"


def _raise_streak_alert(*, episode: Episode, first_missed: datetime.date, days: int, actor: User | None) -> Alert:
    return treatment_services.alert_raise(
        patient=episode.patient,
        episode=episode,
        kind="check_ins_missed",
        severity=Alert.Severity.MEDIUM,
        reason=f"No daily check-in for {days} days in a row, from {first_missed:%Y-%m-%d}. Reach out to the patient.",
        dedupe_key=_streak_dedupe_key(episode.patient_id, first_missed),
        actor=actor,
        **_alert_person(episode, "primary_counselor", Role.COUNSELOR),
    )


def _check_in_streak_alert(*, actor: User, check_in: CheckIn, plan: RelapsePreventionPlan) -> None:
    """The run of missed days this check-in ends, if beat has not alerted it yet (the patient checked in
    between midnight and beat's next run, or the check-ins arrive late from an offline phone)."""
    if plan.aftercare_started_at is None:
        return
    start_day = _local_day(plan.aftercare_started_at, check_in.patient.timezone)
    previous = (
        CheckIn.objects.filter(patient=check_in.patient, checked_in_at__lt=check_in.checked_in_at)
        .exclude(pk=check_in.pk)
        .aggregate(day=Max("local_date"))["day"]
    )
    last_seen = max(previous, start_day) if previous else start_day
    missed = (check_in.local_date - last_seen).days - 1
    if missed >= MISSED_DAYS_ALERT_AT:
        _raise_streak_alert(
            episode=plan.episode, first_missed=last_seen + datetime.timedelta(days=1), days=missed, actor=actor
        )


def missed_check_in_streaks_alert(*, now: datetime.datetime | None = None) -> int:
    """Beat: for every patient in aftercare, the run of patient-local days without a check-in up to yesterday;
    a run of MISSED_DAYS_ALERT_AT days or more alerts the primary counselor once (keyed on its first day)."""
    now = now or timezone.now()
    episodes = (
        Episode.objects.filter(stage=Stage.AFTERCARE, relapse_prevention_plan__aftercare_started_at__isnull=False)
        .select_related("patient", "primary_counselor", "relapse_prevention_plan")
        .annotate(last_check_in_day=selectors.patient_last_check_in_day())
    )
    runs = []
    for episode in episodes:
        zone = episode.patient.timezone
        today = _local_day(now, zone)
        if episode.last_check_in_day is not None and episode.last_check_in_day >= today:
            continue  # back today: a run that ended today was alerted by the check-in itself
        start_day = _local_day(episode.relapse_prevention_plan.aftercare_started_at, zone)
        last_seen = max(episode.last_check_in_day or start_day, start_day)
        missed = (today - last_seen).days - 1
        if missed >= MISSED_DAYS_ALERT_AT:
            runs.append((episode, last_seen + datetime.timedelta(days=1), missed))
    keys = [_streak_dedupe_key(episode.patient_id, first) for episode, first, _ in runs]
    alerted = set(Alert.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    raised = 0
    for episode, first_missed, days in runs:
        if _streak_dedupe_key(episode.patient_id, first_missed) not in alerted:
            _raise_streak_alert(episode=episode, first_missed=first_missed, days=days, actor=None)
            raised += 1
    return raised


# --- Daily prompts -------------------------------------------------------------------------------------


def _schedule_next_prompt(*, plan: RelapsePreventionPlan, now: datetime.datetime) -> Reminder | None:
    """Schedule the next daily prompt (today at the chosen time if it is still ahead and the patient has not
    checked in today, else tomorrow) unless it is scheduled already. Call with the plan row locked."""
    episode = plan.episode
    if plan.check_in_prompt_time is None or episode.stage != Stage.AFTERCARE:
        return None
    patient = episode.patient
    local_now = now.astimezone(ZoneInfo(patient.timezone))
    day = local_now.date()
    if (
        local_now.time() >= plan.check_in_prompt_time
        or CheckIn.objects.filter(patient=patient, local_date=day).exists()
    ):
        day += datetime.timedelta(days=1)
    if plan.prompt_scheduled_for is not None and plan.prompt_scheduled_for >= day:
        return None
    reminder = reminder_schedule(
        facility=patient.facility,
        kind=Reminder.Kind.CHECK_IN_PROMPT,
        send_at=local_to_utc(day, plan.check_in_prompt_time, patient.timezone),
        patient=patient,
        subject=(PROMPT_SUBJECT, episode.pk),
    )
    plan.prompt_scheduled_for = day
    # Not a change of the plan's content: its updated_at (ETag, sync) stays.
    RelapsePreventionPlan.objects.filter(pk=plan.pk).update(prompt_scheduled_for=day)
    return reminder


def _prompt_time_change(*, actor: User, plan: RelapsePreventionPlan, prompt_time: datetime.time | None) -> None:
    reminder_cancel_for_subject(
        subject_type=PROMPT_SUBJECT, subject_id=plan.episode_id, kinds=[Reminder.Kind.CHECK_IN_PROMPT], actor=actor
    )
    plan.prompt_scheduled_for = None
    RelapsePreventionPlan.objects.filter(pk=plan.pk).update(prompt_scheduled_for=None)
    if prompt_time is not None:
        _schedule_next_prompt(plan=plan, now=timezone.now())


def check_in_prompts_schedule(*, now: datetime.datetime | None = None) -> int:
    """Beat: make sure every patient in aftercare with a prompt time has their next daily prompt scheduled.
    Idempotent: a plan remembers the day of its latest scheduled prompt."""
    now = now or timezone.now()
    plans = RelapsePreventionPlan.objects.filter(
        episode__stage=Stage.AFTERCARE, check_in_prompt_time__isnull=False
    ).select_related("episode__patient")
    scheduled = 0
    for plan in plans:
        local_now = now.astimezone(ZoneInfo(plan.episode.patient.timezone))
        earliest = local_now.date() + datetime.timedelta(days=local_now.time() >= plan.check_in_prompt_time)
        if plan.prompt_scheduled_for is not None and plan.prompt_scheduled_for >= earliest:
            continue  # the next prompt is already waiting; no query, no lock
        scheduled += _schedule_prompt_locked(plan.pk, now)
    return scheduled


@transaction.atomic
def _schedule_prompt_locked(plan_pk, now: datetime.datetime) -> int:
    plan = (
        RelapsePreventionPlan.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("episode__patient__facility")
        .filter(pk=plan_pk)
        .first()
    )
    return int(plan is not None and _schedule_next_prompt(plan=plan, now=now) is not None)


# --- Relapses and readmission --------------------------------------------------------------------------


@transaction.atomic
def relapse_record(
    *,
    actor: User,
    episode: Episode,
    occurred_on: datetime.date,
    substance: str,
    context: str = "",
    what_helped: str = "",
) -> Relapse:
    """Record a relapse: when, the substance, the context and what helped. A learning point, not a failure;
    readmission is a separate decision (`episode_readmit`)."""
    _staff_only(actor)
    episode = Episode.objects.select_related("patient").get(pk=episode.pk)
    today = _local_day(timezone.now(), episode.patient.timezone)
    problems: dict[str, list[str]] = {}
    if not isinstance(occurred_on, datetime.date) or isinstance(occurred_on, datetime.datetime):
        problems["occurred_on"] = ["A date is required."]
    elif occurred_on > today:
        problems["occurred_on"] = ["Cannot be in the future."]
    elif occurred_on < _local_day(episode.opened_at, episode.patient.timezone):
        problems["occurred_on"] = ["Cannot be before the episode opened."]
    if substance not in SubstanceUseHistory.Substance.values:
        problems["substance"] = [f"Choose one of {', '.join(SubstanceUseHistory.Substance.values)}."]
    for name, text in (("context", context), ("what_helped", what_helped)):
        if len((text or "").strip()) > MAX_NOTE:
            problems[name] = [f"At most {MAX_NOTE} characters."]
    _raise(problems, "Check the relapse.")
    relapse = Relapse.objects.create(
        episode=episode,
        occurred_on=occurred_on,
        substance=substance,
        context=(context or "").strip(),
        what_helped=(what_helped or "").strip(),
        recorded_by=actor,
    )
    audit_record(actor=actor, action="create", instance=relapse, detail={"substance": substance})
    return relapse


def _care_team_still_here(episode: Episode) -> dict[str, User | None]:
    """The previous episode's care team, without members who left the facility or changed role."""
    team: dict[str, User | None] = {}
    for slot, role in treatment_services.CARE_TEAM_ROLES.items():
        member = getattr(episode, slot)
        still_here = (
            member is not None
            and member.is_active
            and member.role == role
            and episode.patient.facility_id in member.facility_ids()
        )
        team[slot] = member if still_here else None
    return team


@transaction.atomic
def episode_readmit(*, actor: User, episode: Episode, reason: str, relapse: Relapse | None = None) -> Episode:
    """One step: close `episode` if it is still open (discharge, category "other", with the reason) and open a
    new episode in assessment linked to it, with the same care team. The discharge cancels the remaining
    follow-ups and prompts. History is kept: nothing of the old episode is overwritten."""
    _staff_only(actor)
    episode = Episode.objects.select_for_update().select_related("patient").get(pk=episode.pk)
    reason = (reason or "").strip()
    problems: dict[str, list[str]] = {}
    if not reason:
        problems["reason"] = ["Give the reason for the readmission."]
    elif len(reason) > 1000:
        problems["reason"] = ["At most 1000 characters."]
    if relapse is not None and relapse.episode_id != episode.pk:
        problems["relapse"] = ["Choose a relapse recorded on this episode."]
    _raise(problems, "Check the readmission.")
    if relapse is not None and relapse.readmission_id is not None:
        raise Conflict("This relapse already led to a readmission.", code="already_readmitted")
    if Episode.objects.filter(previous_episode=episode).exists():
        raise Conflict("This episode already has a readmission.", code="already_readmitted")
    team = _care_team_still_here(episode)
    if episode.is_open:
        episode = treatment_services.episode_transition(
            actor=actor,
            episode=episode,
            to=Stage.DISCHARGED,
            reason=f"Readmitted: {reason}",
            category=DischargeReason.OTHER,
        )
    readmission = treatment_services.episode_open(
        actor=actor, patient=episode.patient, previous_episode=episode, **team
    )
    if relapse is not None:
        Relapse.objects.filter(pk=relapse.pk).update(readmission=readmission, updated_at=timezone.now())
        relapse.refresh_from_db()
        audit_record(actor=actor, action="update", instance=relapse, detail={"fields": ["readmission"]})
    audit_record(
        actor=actor,
        action="readmit",
        instance=readmission,
        detail={"previous_episode": str(episode.pk), "relapse": str(relapse.pk) if relapse else None},
    )
    return readmission
