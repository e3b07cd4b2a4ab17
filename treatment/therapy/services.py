"""Every write of the therapy app: treatment plans and their reviews, appointments (the patient's calendar,
with their reminders), individual/family sessions, group sessions with their roster and attendance, progress
notes with signing and addenda, group notes, psychotherapy notes, and the periodic reminders to staff.

Each service is atomic and records its audit event in the same transaction; the API, the admin, the tasks
and the seeding call these, so each rule lives here once.

Double-booking is decided under row locks, so two bookings racing for one slot cannot both pass the check:
the staff members' and the patients' rows are locked before their calendars are read. To rule out deadlocks,
every service takes its locks in one order: the episode, then the record it changes (a group session, a
session, a note, an appointment), then staff members (by id), then patients (by id).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import Role, role_may
from clinic.api.models import Tombstone
from clinic.api.sync import tombstone_record
from clinic.audit.services import audit_record
from clinic.errors import Conflict, NotAllowed, ValidationFailed
from clinic.notifications.discretion import indiscretions
from clinic.notifications.models import Reminder
from clinic.notifications.services import reminder_cancel_for_subject, reminder_schedule
from clinic.notifications.templates import SHORT_NAME, short_name
from patients.models import Patient
from treatment.models import Alert, Episode, EpisodeTransition
from treatment.services import alert_raise

from . import selectors
from .models import (
    ALL_SECTIONS,
    CANCELLED_STATUSES,
    MAX_SESSION_LENGTH,
    NOTE_SECTIONS,
    OUTCOME_STATUSES,
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    GroupNote,
    GroupSession,
    NoteAddendum,
    PlanGoal,
    PlanIntervention,
    PlanObjective,
    PlanProblem,
    PlanReview,
    ProgressNote,
    PsychotherapyNote,
    TherapySession,
    TreatmentPlan,
)
from .selectors import APPOINTMENT_SUBJECT, GROUP_SESSION_SUBJECT, SESSION_SUBJECT

# Reminders to the patient before each appointment.
APPOINTMENT_REMINDER_OFFSETS: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
# Attendance may be recorded from a little before the start (a patient checked in early).
CHECK_IN_WINDOW = timedelta(minutes=15)
# A progress note still unsigned this long after it was started is brought to its author.
UNSIGNED_NOTE_REMINDER_AFTER = timedelta(hours=72)
# Who leads sessions and groups: the roles that write the notes.
THERAPIST_ROLES = frozenset({Role.COUNSELOR, Role.PHYSICIAN})
PLAN_SUBJECT = "therapy.treatmentplan"
PROGRESS_NOTE_SUBJECT = "therapy.progressnote"
GROUP_NOTE_SUBJECT = "therapy.groupnote"


# --- Helpers -------------------------------------------------------------------------------------------


def _full_clean(instance: models.Model, **kwargs) -> None:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as error:
        fields = error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
        name, messages = next(iter(fields.items()))
        raise ValidationFailed(f"{name}: {messages[0]}", fields=fields) from None


def _raise_problems(problems: Mapping[str, list[str]], message: str = "The request is not valid.") -> None:
    if problems:
        raise ValidationFailed(message, fields=dict(problems))


def _require(actor: User, action: str) -> None:
    """Services that write clinical content check the role table too (admin, tasks and seeding call them)."""
    if not role_may(getattr(actor, "role", None), action):
        raise NotAllowed("Your role may not do this.")


def _time_problems(starts_at: datetime | None, ends_at: datetime | None) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is None:
            problems[name] = ["This field is required."]
        elif timezone.is_naive(value):
            problems[name] = ["Give the time with its UTC offset."]
    if problems:
        return problems
    if ends_at <= starts_at:
        problems["ends_at"] = ["Must be after the start."]
    elif ends_at - starts_at > MAX_SESSION_LENGTH:
        problems["ends_at"] = ["A booking lasts at most 8 hours."]
    return problems


def _staff_problems(name: str, user: User | None, facility_id, roles: Iterable[str] | None = None) -> dict:
    if user is None:
        return {name: ["This field is required."]}
    if roles is not None and user.role not in roles:
        return {name: ["Choose a counselor or a physician."]}
    if user.role == Role.PATIENT or not user.is_active or facility_id not in user.facility_ids():
        return {name: ["Choose an active staff member of the patient's facility."]}
    return {}


def _place_problems(location: str, telehealth_url: str) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not (location or "").strip() and not (telehealth_url or "").strip():
        problems["location"] = ["Give a room, or a telehealth link."]
    if telehealth_url and not telehealth_url.lower().startswith("https://"):
        problems["telehealth_url"] = ["A telehealth link must start with https://."]
    return problems


def _lock_calendars(*, staff: Iterable[User | None] = (), patients: Iterable[Patient] = ()) -> None:
    """Lock the staff members' and the patients' rows (in id order): whoever books them next waits here."""
    staff_ids = sorted({user.pk for user in staff if user is not None})
    patient_ids = sorted({patient.pk for patient in patients})
    if staff_ids:
        list(User.objects.select_for_update().filter(pk__in=staff_ids).order_by("pk").values_list("pk", flat=True))
    if patient_ids:
        list(Patient.objects.select_for_update().filter(pk__in=patient_ids).order_by("pk").values_list("pk", flat=True))


def _refuse_double_booking(
    *,
    starts_at: datetime,
    ends_at: datetime,
    staff: User | None = None,
    patient_ids: Sequence = (),
    exclude_subject: tuple[str, str] | None = None,
) -> None:
    conflicts = selectors.calendar_conflicts(
        starts_at=starts_at, ends_at=ends_at, staff=staff, patient_ids=patient_ids, exclude_subject=exclude_subject
    )
    if conflicts:
        raise Conflict(
            "Already booked at an overlapping time.",
            code="double_booked",
            details={"conflicts": [conflict.as_detail() for conflict in conflicts]},
        )


def _subject_ref(subject) -> tuple[str, str]:
    if subject is None:
        return "", ""
    if isinstance(subject, models.Model):
        return subject._meta.label_lower, str(subject.pk)
    subject_type, subject_id = subject
    return str(subject_type), str(subject_id)


def _open_episode(episode: Episode) -> Episode:
    episode = Episode.objects.select_for_update(of=("self",)).select_related("patient__facility").get(pk=episode.pk)
    if not episode.is_open:
        raise Conflict("The episode is closed.", code="episode_closed")
    return episode


def _signature(payload: dict) -> str:
    """The hash a signature covers: the signed content, who signed it and when."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- Appointments (public: aftercare books provider check-ins with these) --------------------------------


def provider_short_name(user: User | None, facility: Facility) -> str | None:
    """The provider's name as reminders may show it ("R. Lee"), or None when it would not be discreet."""
    if user is None or not user.last_name.strip():
        return None
    name = short_name(user.first_name, user.last_name)
    if not SHORT_NAME.match(name) or indiscretions(name, also=(facility.name,)):
        return None
    return name


def _schedule_appointment_reminders(*, actor: User | None, appointment: Appointment, offsets) -> int:
    patient = appointment.patient
    now = timezone.now()
    context: dict[str, Any] = {"at": appointment.starts_at}
    provider = provider_short_name(appointment.with_staff, patient.facility)
    if provider:
        context["provider"] = provider
    scheduled = 0
    for offset in offsets:
        send_at = appointment.starts_at - offset
        if send_at <= now:
            continue
        reminder_schedule(
            facility=patient.facility,
            kind=Reminder.Kind.APPOINTMENT,
            send_at=send_at,
            patient=patient,
            subject=(APPOINTMENT_SUBJECT, appointment.pk),
            context=context,
            actor=actor,
        )
        scheduled += 1
    return scheduled


@transaction.atomic
def appointment_schedule(
    *,
    actor: User | None,
    patient: Patient,
    starts_at: datetime,
    ends_at: datetime,
    with_staff: User | None,
    kind: str,
    subject=None,
    location: str = "",
    telehealth_url: str = "",
    check_conflicts: bool = True,
    reminder_offsets: Sequence[timedelta] = APPOINTMENT_REMINDER_OFFSETS,
) -> Appointment:
    """Put an appointment in the patient's calendar and schedule their reminders (24 h and 2 h before by
    default; none that would already be past). The reminders say only the local time and the staff member's
    short name.

    `subject` is what it is booked for: a model instance or a (type, id) pair, e.g. ("aftercare.
    providercheckin", id). A patient or staff member already booked at an overlapping time is a 409
    (`double_booked`, listing the conflicts) unless `check_conflicts` is False.
    """
    patient = Patient.objects.select_related("facility").get(pk=patient.pk)
    subject_type, subject_id = _subject_ref(subject)
    problems = _time_problems(starts_at, ends_at)
    if kind not in Appointment.Kind.values:
        problems["kind"] = [f"Choose one of {', '.join(Appointment.Kind.values)}."]
    if with_staff is not None:
        problems.update(_staff_problems("with_staff", with_staff, patient.facility_id))
    if telehealth_url and not telehealth_url.lower().startswith("https://"):
        problems["telehealth_url"] = ["A telehealth link must start with https://."]
    _raise_problems(problems, "Check the appointment.")
    _lock_calendars(staff=[with_staff], patients=[patient])
    if check_conflicts:
        _refuse_double_booking(
            starts_at=starts_at,
            ends_at=ends_at,
            staff=with_staff,
            patient_ids=[patient.pk],
            exclude_subject=(subject_type, subject_id) if subject_type else None,
        )
    appointment = Appointment(
        patient=patient,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        with_staff=with_staff,
        location=(location or "").strip(),
        telehealth_url=(telehealth_url or "").strip(),
        subject_type=subject_type,
        subject_id=subject_id,
        scheduled_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _full_clean(appointment)
    appointment.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=appointment, detail={"kind": kind})
    _schedule_appointment_reminders(actor=actor, appointment=appointment, offsets=reminder_offsets)
    return appointment


def _locked_appointment(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("patient__facility", "with_staff")
        .get(pk=appointment.pk)
    )


@transaction.atomic
def appointment_cancel(*, actor: User | None, appointment: Appointment, late: bool = False) -> Appointment:
    """Cancel a scheduled appointment (late: within the clinic's late-cancellation window) and its pending
    reminders, in the same transaction."""
    appointment = _locked_appointment(appointment)
    if appointment.status != AttendanceStatus.SCHEDULED:
        raise Conflict("Only a scheduled appointment can be cancelled.", code="not_scheduled")
    appointment.status = AttendanceStatus.LATE_CANCELLED if late else AttendanceStatus.CANCELLED
    appointment.cancelled_at = timezone.now()
    appointment.save(update_fields=["status", "cancelled_at", "updated_at"])
    reminder_cancel_for_subject(subject_type=APPOINTMENT_SUBJECT, subject_id=appointment.pk, actor=actor)
    audit_record(actor=actor, action="cancel", instance=appointment, detail={"status": appointment.status})
    return appointment


@transaction.atomic
def appointment_reschedule(
    *,
    actor: User | None,
    appointment: Appointment,
    starts_at: datetime,
    ends_at: datetime,
    with_staff: User | None,
    location: str | None = None,
    telehealth_url: str | None = None,
    check_conflicts: bool = True,
    reminder_offsets: Sequence[timedelta] = APPOINTMENT_REMINDER_OFFSETS,
) -> Appointment:
    """Move a scheduled appointment (and/or change who it is with, or where); its reminders follow."""
    appointment = _locked_appointment(appointment)
    if appointment.status != AttendanceStatus.SCHEDULED:
        raise Conflict("Only a scheduled appointment can be moved.", code="not_scheduled")
    problems = _time_problems(starts_at, ends_at)
    if with_staff is not None:
        problems.update(_staff_problems("with_staff", with_staff, appointment.patient.facility_id))
    _raise_problems(problems, "Check the appointment.")
    _lock_calendars(staff=[with_staff], patients=[appointment.patient])
    subject = (appointment.subject_type, appointment.subject_id) if appointment.subject_type else None
    if check_conflicts:
        conflicts = [
            conflict
            for conflict in selectors.calendar_conflicts(
                starts_at=starts_at,
                ends_at=ends_at,
                staff=with_staff,
                patient_ids=[appointment.patient_id],
                exclude_subject=subject,
            )
            if conflict.id != str(appointment.pk)
        ]
        if conflicts:
            raise Conflict(
                "Already booked at an overlapping time.",
                code="double_booked",
                details={"conflicts": [conflict.as_detail() for conflict in conflicts]},
            )
    moved = (appointment.starts_at, appointment.with_staff_id) != (starts_at, with_staff and with_staff.pk)
    appointment.starts_at, appointment.ends_at, appointment.with_staff = starts_at, ends_at, with_staff
    if location is not None:
        appointment.location = location.strip()
    if telehealth_url is not None:
        appointment.telehealth_url = telehealth_url.strip()
    _full_clean(appointment)
    appointment.save()
    if moved:
        reminder_cancel_for_subject(subject_type=APPOINTMENT_SUBJECT, subject_id=appointment.pk, actor=actor)
        _schedule_appointment_reminders(actor=actor, appointment=appointment, offsets=reminder_offsets)
    audit_record(actor=actor, action="reschedule", instance=appointment, detail={"reminders_moved": moved})
    return appointment


@transaction.atomic
def appointment_record_outcome(*, actor: User | None, appointment: Appointment, status: str) -> Appointment:
    """Record that the patient came (attended) or did not (no_show). A recorded outcome may be corrected."""
    if status not in OUTCOME_STATUSES:
        raise ValidationFailed("Choose attended or no_show.", fields={"status": ["Choose attended or no_show."]})
    appointment = _locked_appointment(appointment)
    if appointment.status in CANCELLED_STATUSES:
        raise Conflict("The appointment was cancelled.", code="cancelled")
    if appointment.starts_at > timezone.now() + CHECK_IN_WINDOW:
        raise Conflict("The appointment has not started yet.", code="not_started")
    appointment.status = status
    appointment.save(update_fields=["status", "updated_at"])
    reminder_cancel_for_subject(subject_type=APPOINTMENT_SUBJECT, subject_id=appointment.pk, actor=actor)
    audit_record(actor=actor, action="record_outcome", instance=appointment, detail={"status": status})
    return appointment


@transaction.atomic
def appointment_book_other(
    *,
    actor: User,
    patient: Patient,
    starts_at: datetime,
    ends_at: datetime,
    with_staff: User | None = None,
    location: str = "",
    telehealth_url: str = "",
) -> Appointment:
    """Book an appointment that is not a session or a check-in (e.g. an intake interview) from the API."""
    if not (location or "").strip() and not (telehealth_url or "").strip():
        raise ValidationFailed("Give a place.", fields={"location": ["Give a room, or a telehealth link."]})
    return appointment_schedule(
        actor=actor,
        patient=patient,
        starts_at=starts_at,
        ends_at=ends_at,
        with_staff=with_staff,
        kind=Appointment.Kind.OTHER,
        location=location,
        telehealth_url=telehealth_url,
    )


@transaction.atomic
def appointment_cancel_other(*, actor: User, appointment: Appointment, late: bool = False) -> Appointment:
    """Cancel an appointment booked on its own. One booked for a session, a group or a check-in is cancelled
    through that, so the two never disagree."""
    if appointment.subject_type:
        raise Conflict(
            "This appointment belongs to a session or a check-in: cancel that instead.",
            code="cancel_through_subject",
            details={"subject_type": appointment.subject_type, "subject_id": appointment.subject_id},
        )
    return appointment_cancel(actor=actor, appointment=appointment, late=late)


# --- Individual and family sessions ---------------------------------------------------------------------


@transaction.atomic
def session_schedule(
    *,
    actor: User,
    episode: Episode,
    counselor: User,
    starts_at: datetime,
    ends_at: datetime,
    modality: str,
    kind: str = TherapySession.Kind.INDIVIDUAL,
    location: str = "",
    telehealth_url: str = "",
    family_participants: str = "",
) -> TherapySession:
    """Book an individual or family session for the patient of an open episode, and its appointment.
    The counselor or the patient already booked at an overlapping time is a 409 (`double_booked`)."""
    episode = _open_episode(episode)
    patient = episode.patient
    problems = {
        **_time_problems(starts_at, ends_at),
        **_staff_problems("counselor", counselor, patient.facility_id, THERAPIST_ROLES),
        **_place_problems(location, telehealth_url),
    }
    if kind != TherapySession.Kind.FAMILY and family_participants.strip():
        problems["family_participants"] = ["Only a family session has family participants."]
    _raise_problems(problems, "Check the session.")
    session = TherapySession(
        episode=episode,
        patient=patient,
        kind=kind,
        modality=modality,
        counselor=counselor,
        starts_at=starts_at,
        ends_at=ends_at,
        location=location.strip(),
        telehealth_url=telehealth_url.strip(),
        family_participants=family_participants.strip(),
        scheduled_by=actor,
    )
    _full_clean(session, exclude=["appointment"])
    session.save(force_insert=True)
    session.appointment = appointment_schedule(
        actor=actor,
        patient=patient,
        starts_at=starts_at,
        ends_at=ends_at,
        with_staff=counselor,
        kind=Appointment.Kind.SESSION,
        subject=(SESSION_SUBJECT, session.pk),
        location=session.location,
        telehealth_url=session.telehealth_url,
    )
    session.save(update_fields=["appointment", "updated_at"])
    audit_record(actor=actor, action="create", instance=session, detail={"kind": kind, "modality": modality})
    return session


SESSION_CHANGE_FIELDS = frozenset(
    {"starts_at", "ends_at", "counselor", "modality", "location", "telehealth_url", "family_participants"}
)


@transaction.atomic
def session_update(*, actor: User, session: TherapySession, data: Mapping[str, Any]) -> TherapySession:
    """Reschedule a scheduled session (time, counselor, place, modality); its appointment and reminders follow."""
    unknown = set(data) - SESSION_CHANGE_FIELDS
    if unknown:
        raise ValueError(f"Not session fields: {', '.join(sorted(unknown))}")
    session = TherapySession.objects.select_for_update(of=("self",)).select_related("patient").get(pk=session.pk)
    if session.status != AttendanceStatus.SCHEDULED:
        raise Conflict("Only a scheduled session can be changed.", code="not_scheduled")
    values = {name: data.get(name, getattr(session, name)) for name in SESSION_CHANGE_FIELDS}
    problems = {
        **_time_problems(values["starts_at"], values["ends_at"]),
        **_staff_problems("counselor", values["counselor"], session.patient.facility_id, THERAPIST_ROLES),
        **_place_problems(values["location"], values["telehealth_url"]),
    }
    if session.kind != TherapySession.Kind.FAMILY and (values["family_participants"] or "").strip():
        problems["family_participants"] = ["Only a family session has family participants."]
    _raise_problems(problems, "Check the session.")
    changed = sorted(name for name, value in data.items() if getattr(session, name) != value)
    for name, value in values.items():
        setattr(session, name, value.strip() if isinstance(value, str) else value)
    _full_clean(session, exclude=["appointment"])
    session.save()
    if session.appointment_id is not None:
        appointment_reschedule(
            actor=actor,
            appointment=session.appointment,
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            with_staff=session.counselor,
            location=session.location,
            telehealth_url=session.telehealth_url,
        )
    audit_record(actor=actor, action="update", instance=session, detail={"fields": changed})
    return session


@transaction.atomic
def session_cancel(*, actor: User | None, session: TherapySession, reason: str = "", late: bool = False):
    """Cancel a scheduled session (late: the patient cancelled inside the late-cancellation window) and its
    appointment and reminders."""
    session = TherapySession.objects.select_for_update(of=("self",)).get(pk=session.pk)
    if session.status != AttendanceStatus.SCHEDULED:
        raise Conflict("Only a scheduled session can be cancelled.", code="not_scheduled")
    session.status = AttendanceStatus.LATE_CANCELLED if late else AttendanceStatus.CANCELLED
    session.cancelled_at = timezone.now()
    session.cancellation_reason = (reason or "").strip()[:300]
    session.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
    if session.appointment_id is not None:
        appointment_cancel(actor=actor, appointment=session.appointment, late=late)
    audit_record(actor=actor, action="cancel", instance=session, detail={"status": session.status})
    return session


@transaction.atomic
def session_record_attendance(*, actor: User, session: TherapySession, status: str) -> TherapySession:
    """Record whether the patient came. Correctable between attended and no-show until a note is written."""
    if status not in OUTCOME_STATUSES:
        raise ValidationFailed("Choose attended or no_show.", fields={"status": ["Choose attended or no_show."]})
    session = TherapySession.objects.select_for_update(of=("self",)).get(pk=session.pk)
    if session.status in CANCELLED_STATUSES:
        raise Conflict("The session was cancelled.", code="cancelled")
    if session.starts_at > timezone.now() + CHECK_IN_WINDOW:
        raise Conflict("The session has not started yet.", code="not_started")
    if session.status != status and ProgressNote.objects.filter(session=session).exists():
        raise Conflict("A progress note is written for this session; correct it with an addendum.", code="has_note")
    session.status = status
    session.attendance_recorded_at = timezone.now()
    session.attendance_recorded_by = actor
    session.save(update_fields=["status", "attendance_recorded_at", "attendance_recorded_by", "updated_at"])
    if session.appointment_id is not None:
        appointment_record_outcome(actor=actor, appointment=session.appointment, status=status)
    audit_record(actor=actor, action="record_attendance", instance=session, detail={"status": status})
    return session


# --- Group sessions -------------------------------------------------------------------------------------


def _locked_group(group: GroupSession) -> GroupSession:
    return GroupSession.objects.select_for_update(of=("self",)).select_related("facility").get(pk=group.pk)


def _active_roster(group: GroupSession):
    return GroupAttendance.objects.filter(group_session=group).exclude(status__in=CANCELLED_STATUSES)


def actor_facility(*, actor: User, facility_id=None) -> Facility:
    """The facility a staff member books in: the one named (one of theirs), or their only one."""
    allowed = actor.facility_ids()
    if facility_id is None:
        if len(allowed) != 1:
            raise ValidationFailed("Choose the facility.", fields={"facility": ["This field is required."]})
        facility_id = allowed[0]
    elif facility_id not in allowed:
        raise ValidationFailed("You do not work in that facility.", fields={"facility": ["Not your facility."]})
    return Facility.objects.get(pk=facility_id)


@transaction.atomic
def group_session_schedule(
    *,
    actor: User,
    facility: Facility,
    title: str,
    modality: str,
    facilitator: User,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    location: str = "",
    telehealth_url: str = "",
) -> GroupSession:
    """Schedule a group. The facilitator already booked at an overlapping time is a 409 (`double_booked`)."""
    if facility.pk not in actor.facility_ids():
        raise ValidationFailed("You do not work in that facility.", fields={"facility": ["Not your facility."]})
    problems = {
        **_time_problems(starts_at, ends_at),
        **_staff_problems("facilitator", facilitator, facility.pk, THERAPIST_ROLES),
        **_place_problems(location, telehealth_url),
    }
    _raise_problems(problems, "Check the group session.")
    _lock_calendars(staff=[facilitator])
    _refuse_double_booking(starts_at=starts_at, ends_at=ends_at, staff=facilitator)
    group = GroupSession(
        facility=facility,
        title=title.strip(),
        modality=modality,
        facilitator=facilitator,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        location=location.strip(),
        telehealth_url=telehealth_url.strip(),
        scheduled_by=actor,
    )
    _full_clean(group)
    group.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=group, detail={"modality": modality, "capacity": capacity})
    return group


GROUP_CHANGE_FIELDS = frozenset(
    {"title", "modality", "facilitator", "starts_at", "ends_at", "capacity", "location", "telehealth_url"}
)


@transaction.atomic
def group_session_update(*, actor: User, group: GroupSession, data: Mapping[str, Any]) -> GroupSession:
    """Change a scheduled group: a new time or facilitator is checked against the facilitator's and every
    rostered patient's calendar at once; the roster's appointments and reminders follow."""
    unknown = set(data) - GROUP_CHANGE_FIELDS
    if unknown:
        raise ValueError(f"Not group session fields: {', '.join(sorted(unknown))}")
    group = _locked_group(group)
    if group.status != GroupSession.Status.SCHEDULED:
        raise Conflict("Only a scheduled group session can be changed.", code="not_scheduled")
    values = {name: data.get(name, getattr(group, name)) for name in GROUP_CHANGE_FIELDS}
    problems = {
        **_time_problems(values["starts_at"], values["ends_at"]),
        **_staff_problems("facilitator", values["facilitator"], group.facility_id, THERAPIST_ROLES),
        **_place_problems(values["location"], values["telehealth_url"]),
    }
    roster = list(_active_roster(group).select_related("patient", "appointment"))
    if isinstance(values["capacity"], int) and values["capacity"] < len(roster):
        problems["capacity"] = [f"{len(roster)} patients are on the roster; remove some first."]
    _raise_problems(problems, "Check the group session.")
    changed = sorted(name for name, value in data.items() if getattr(group, name) != value)
    rebook = bool({"starts_at", "ends_at", "facilitator"} & set(changed))
    if rebook:
        _lock_calendars(staff=[values["facilitator"]], patients=[entry.patient for entry in roster])
        _refuse_double_booking(
            starts_at=values["starts_at"],
            ends_at=values["ends_at"],
            staff=values["facilitator"],
            patient_ids=[entry.patient_id for entry in roster],
            exclude_subject=(GROUP_SESSION_SUBJECT, str(group.pk)),
        )
    for name, value in values.items():
        setattr(group, name, value.strip() if isinstance(value, str) else value)
    _full_clean(group)
    group.save()
    for entry in roster:
        if entry.appointment is not None and entry.appointment.status == AttendanceStatus.SCHEDULED:
            appointment_reschedule(
                actor=actor,
                appointment=entry.appointment,
                starts_at=group.starts_at,
                ends_at=group.ends_at,
                with_staff=group.facilitator,
                location=group.location,
                telehealth_url=group.telehealth_url,
                check_conflicts=False,  # checked above for everyone at once
            )
    audit_record(actor=actor, action="update", instance=group, detail={"fields": changed})
    return group


@transaction.atomic
def group_session_cancel(*, actor: User | None, group: GroupSession, reason: str = "") -> GroupSession:
    """Cancel a scheduled group: every rostered patient's place, appointment and reminders with it."""
    group = _locked_group(group)
    if group.status != GroupSession.Status.SCHEDULED:
        raise Conflict("Only a scheduled group session can be cancelled.", code="not_scheduled")
    group.status = GroupSession.Status.CANCELLED
    group.cancelled_at = timezone.now()
    group.cancellation_reason = (reason or "").strip()[:300]
    group.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
    for entry in _active_roster(group).filter(status=AttendanceStatus.SCHEDULED).select_related("appointment"):
        _roster_entry_cancel(actor=actor, entry=entry, late=False)
    audit_record(actor=actor, action="cancel", instance=group)
    return group


@transaction.atomic
def group_roster_add(*, actor: User, group: GroupSession, patient: Patient) -> GroupAttendance:
    """Put a patient with an open episode on a group's roster and in their calendar (a walk-in may be added
    once the group has started). A full group, a patient already on it, or a patient booked elsewhere at that
    time is a 409."""
    episode = (
        Episode.objects.select_for_update(of=("self",))
        .filter(patient_id=patient.pk, closed_at__isnull=True)
        .select_related("patient")
        .first()
    )
    group = _locked_group(group)
    if group.status == GroupSession.Status.CANCELLED:
        raise Conflict("The group session was cancelled.", code="cancelled")
    if patient.facility_id != group.facility_id:
        raise ValidationFailed("The patient is at another facility.", fields={"patient": ["Another facility."]})
    if episode is None:
        raise ValidationFailed(
            "The patient has no open episode of care.", fields={"patient": ["No open episode of care."]}
        )
    entry = GroupAttendance.objects.filter(group_session=group, patient_id=patient.pk).first()
    if entry is not None and entry.status not in CANCELLED_STATUSES:
        raise Conflict("The patient is already on the roster.", code="already_on_roster")
    taken = _active_roster(group).count()
    if taken >= group.capacity:
        raise Conflict(
            "The group is full.", code="group_full", details={"capacity": group.capacity, "on_roster": taken}
        )
    appointment = appointment_schedule(
        actor=actor,
        patient=episode.patient,
        starts_at=group.starts_at,
        ends_at=group.ends_at,
        with_staff=group.facilitator,
        kind=Appointment.Kind.GROUP_SESSION,
        subject=(GROUP_SESSION_SUBJECT, group.pk),
        location=group.location,
        telehealth_url=group.telehealth_url,
    )
    if entry is None:
        entry = GroupAttendance(group_session=group, patient=episode.patient, added_by=actor)
    entry.episode = episode
    entry.status = AttendanceStatus.SCHEDULED
    entry.appointment = appointment
    entry.added_by = actor
    entry.recorded_at = entry.recorded_by = None
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        raise Conflict("The patient is already on the roster.", code="already_on_roster") from None
    audit_record(actor=actor, action="roster_add", instance=entry)
    return entry


def _roster_entry_cancel(*, actor: User | None, entry: GroupAttendance, late: bool) -> GroupAttendance:
    entry.status = AttendanceStatus.LATE_CANCELLED if late else AttendanceStatus.CANCELLED
    entry.save(update_fields=["status", "updated_at"])
    if entry.appointment is not None and entry.appointment.status == AttendanceStatus.SCHEDULED:
        appointment_cancel(actor=actor, appointment=entry.appointment, late=late)
    audit_record(actor=actor, action="roster_remove", instance=entry, detail={"status": entry.status})
    return entry


@transaction.atomic
def group_roster_remove(
    *, actor: User | None, group: GroupSession, patient: Patient, late: bool = False
) -> GroupAttendance:
    """Take a patient off the roster before the group (their place is cancelled, or late-cancelled)."""
    group = _locked_group(group)
    entry = (
        GroupAttendance.objects.select_for_update(of=("self",))
        .select_related("appointment")
        .filter(group_session=group, patient_id=patient.pk)
        .first()
    )
    if entry is None:
        raise ValidationFailed("The patient is not on the roster.", fields={"patient": ["Not on the roster."]})
    if entry.status != AttendanceStatus.SCHEDULED:
        raise Conflict("Only a scheduled place can be cancelled.", code="not_scheduled")
    return _roster_entry_cancel(actor=actor, entry=entry, late=late)


@transaction.atomic
def group_attendance_record(
    *, actor: User, group: GroupSession, attendance: Mapping[Any, str]
) -> list[GroupAttendance]:
    """Record who came (patient id -> attended / no_show) once the group has started; the group is then held.
    An attendee's outcome may be corrected until their part of the group note is written."""
    group = _locked_group(group)
    if group.status == GroupSession.Status.CANCELLED:
        raise Conflict("The group session was cancelled.", code="cancelled")
    if group.starts_at > timezone.now() + CHECK_IN_WINDOW:
        raise Conflict("The group session has not started yet.", code="not_started")
    entries = {
        str(entry.patient_id): entry
        for entry in GroupAttendance.objects.select_for_update(of=("self",))
        .select_related("appointment")
        .filter(group_session=group)
    }
    with_parts = {
        str(patient_id)
        for patient_id in ProgressNote.objects.filter(group_note__group_session=group).values_list(
            "patient_id", flat=True
        )
    }
    problems: dict[str, list[str]] = {}
    for patient_id, status in attendance.items():
        entry = entries.get(str(patient_id))
        if entry is None or entry.status in CANCELLED_STATUSES:
            problems[f"attendance.{patient_id}"] = ["Not on the roster."]
        elif status not in OUTCOME_STATUSES:
            problems[f"attendance.{patient_id}"] = ["Choose attended or no_show."]
        elif status != entry.status and str(patient_id) in with_parts:
            problems[f"attendance.{patient_id}"] = ["Their part of the group note is written; use an addendum."]
    if not attendance:
        problems["attendance"] = ["Give the attendance of at least one patient."]
    _raise_problems(problems, "Check the attendance.")
    now = timezone.now()
    recorded = []
    for patient_id, status in attendance.items():
        entry = entries[str(patient_id)]
        entry.status, entry.recorded_at, entry.recorded_by = status, now, actor
        entry.save(update_fields=["status", "recorded_at", "recorded_by", "updated_at"])
        if entry.appointment is not None:
            appointment_record_outcome(actor=actor, appointment=entry.appointment, status=status)
        audit_record(actor=actor, action="record_attendance", instance=entry, detail={"status": status})
        recorded.append(entry)
    if group.status != GroupSession.Status.HELD:
        group.status = GroupSession.Status.HELD
        group.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="held", instance=group)
    return recorded


# --- Treatment plans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Nested:
    """One level of the plan's tree as the API writes it: a list of rows under a parent, each row updated in
    place when it carries the `id` of an existing row, created when it carries none; rows left out go."""

    model: type[models.Model]
    parent_field: str
    fields: tuple[str, ...]
    children: tuple[tuple[str, _Nested], ...] = ()


_OBJECTIVES = _Nested(PlanObjective, "goal", ("description", "target_date", "status"))
_GOALS = _Nested(PlanGoal, "problem", ("statement", "measure", "target_date"), (("objectives", _OBJECTIVES),))
_PROBLEMS = _Nested(PlanProblem, "plan", ("description",), (("goals", _GOALS),))
_INTERVENTIONS = _Nested(PlanIntervention, "plan", ("kind", "description", "frequency"))
PLAN_TREES = {"problems": _PROBLEMS, "interventions": _INTERVENTIONS}


@dataclass
class _RowWrite:
    row: models.Model
    children: list[_ListWrite] = field(default_factory=list)


@dataclass
class _ListWrite:
    spec: _Nested
    rows: list[_RowWrite]
    removed: list[models.Model]


def _row_problems(row: models.Model, parent: models.Model) -> dict[str, list[str]]:
    """Rules across levels: an objective is due no later than its goal."""
    goal_date = getattr(parent, "target_date", None)
    if isinstance(row, PlanObjective) and row.target_date and goal_date and row.target_date > goal_date:
        return {"target_date": ["Must not be after the goal's target date."]}
    return {}


def _nested_plan(spec: _Nested, parent: models.Model, items, prefix: str, errors: dict) -> _ListWrite:
    """Validate the whole list (and its children) against what exists, without writing anything."""
    existing = {}
    if not parent._state.adding:
        existing = {str(row.pk): row for row in spec.model.objects.filter(**{spec.parent_field: parent})}
    writes: list[_RowWrite] = []
    for position, item in enumerate(items):
        path = f"{prefix}.{position}"
        if item.get("id") is not None:
            row = existing.pop(str(item["id"]), None)
            if row is None:
                errors[f"{path}.id"] = ["Not an item of this plan (leave the id out to add one)."]
                continue
        else:
            row = spec.model()
        for name in spec.fields:
            if name in item:
                setattr(row, name, item[name].strip() if isinstance(item[name], str) else item[name])
        row.position = position
        try:
            row.full_clean(exclude=[spec.parent_field], validate_constraints=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors[f"{path}.{name}"] = messages
        for name, messages in _row_problems(row, parent).items():
            errors[f"{path}.{name}"] = messages
        write = _RowWrite(row)
        for key, child in spec.children:
            if key in item:
                write.children.append(_nested_plan(child, row, item[key], f"{path}.{key}", errors))
        writes.append(write)
    return _ListWrite(spec, writes, list(existing.values()))


def _tombstone_subtree(row: models.Model, spec: _Nested) -> None:
    """Tombstones for a plan row left out of a write and the rows under it (deleted with it, by cascade)."""
    tombstone_record(instance=row, reason=Tombstone.Reason.DELETED)
    for key, child in spec.children:
        for descendant in getattr(row, key).all():
            _tombstone_subtree(descendant, child)


def _nested_write(write: _ListWrite, parent: models.Model) -> None:
    for row in write.removed:
        _tombstone_subtree(row, write.spec)
        row.delete()
    for row_write in write.rows:
        setattr(row_write.row, write.spec.parent_field, parent)
        row_write.row.save()
        for child in row_write.children:
            _nested_write(child, row_write.row)


def _plan_content(plan: TreatmentPlan, data: Mapping[str, Any]) -> list[tuple[_ListWrite, str]]:
    errors: dict[str, list[str]] = {}
    writes = [
        (_nested_plan(spec, plan, data[key], key, errors), key) for key, spec in PLAN_TREES.items() if key in data
    ]
    _raise_problems(errors, "Check the treatment plan.")
    return writes


@transaction.atomic
def treatment_plan_create(
    *,
    actor: User,
    episode: Episode,
    review_interval_days: int | None = None,
    problems: Sequence[Mapping] = (),
    interventions: Sequence[Mapping] = (),
) -> TreatmentPlan:
    """The treatment plan of an open episode (one per episode). The first review is due one interval on."""
    _require(actor, "treatment_plan.change")
    episode = _open_episode(episode)
    existing = TreatmentPlan.objects.filter(episode=episode).values_list("pk", flat=True).first()
    if existing is not None:
        raise Conflict("The episode already has a treatment plan.", code="plan_exists", details={"plan": str(existing)})
    now = timezone.now()
    plan = TreatmentPlan(episode=episode, created_by=actor)
    if review_interval_days is not None:
        plan.review_interval_days = review_interval_days
    plan.next_review_at = now + timedelta(days=plan.review_interval_days or 0)
    _full_clean(plan, validate_unique=False)
    writes = _plan_content(plan, {"problems": problems, "interventions": interventions})
    plan.save(force_insert=True)
    for write, _ in writes:
        _nested_write(write, plan)
    audit_record(actor=actor, action="create", instance=plan)
    return plan


@transaction.atomic
def treatment_plan_update(*, actor: User, plan: TreatmentPlan, data: Mapping[str, Any]) -> TreatmentPlan:
    """Change the review interval (the next review moves with it) and/or rewrite problems (with their goals
    and objectives) or interventions: rows carrying their `id` are kept and updated, rows left out removed."""
    _require(actor, "treatment_plan.change")
    unknown = set(data) - {"review_interval_days", *PLAN_TREES}
    if unknown:
        raise ValueError(f"Not plan fields: {', '.join(sorted(unknown))}")
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    _open_episode(plan.episode)
    changed = sorted(data)
    if "review_interval_days" in data:
        plan.review_interval_days = data["review_interval_days"]
        plan.next_review_at = (plan.last_reviewed_at or plan.created_at) + timedelta(days=plan.review_interval_days)
    _full_clean(plan, validate_unique=False)
    writes = _plan_content(plan, data)
    plan.save()
    for write, _ in writes:
        _nested_write(write, plan)
    audit_record(actor=actor, action="update", instance=plan, detail={"fields": changed})
    return plan


@transaction.atomic
def treatment_plan_review(*, actor: User, plan: TreatmentPlan, summary: str) -> PlanReview:
    """Record a review of the plan; the next one is due one interval from now."""
    _require(actor, "treatment_plan.change")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationFailed("Summarise the review.", fields={"summary": ["This field is required."]})
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    _open_episode(plan.episode)
    now = timezone.now()
    plan.last_reviewed_at = now
    plan.next_review_at = now + timedelta(days=plan.review_interval_days)
    plan.save(update_fields=["last_reviewed_at", "next_review_at", "updated_at"])
    review = PlanReview.objects.create(
        plan=plan, reviewed_by=actor, reviewed_at=now, summary=summary, next_review_at=plan.next_review_at
    )
    reminder_cancel_for_subject(subject_type=PLAN_SUBJECT, subject_id=plan.pk, actor=actor)
    audit_record(actor=actor, action="review", instance=plan, detail={"review": str(review.pk)})
    return review


def plan_reviews_remind_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Remind the primary counselor of every open episode's plan whose review is due, once per due date
    (beat runs this; see tasks). Returns how many plans were brought to someone's attention."""
    now = now or timezone.now()
    due = (
        TreatmentPlan.objects.filter(next_review_at__lte=now, episode__closed_at__isnull=True)
        .filter(Q(review_reminded_for__isnull=True) | ~Q(review_reminded_for=F("next_review_at")))
        .order_by("next_review_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(plan_review_remind(plan_id=plan_id, now=now) for plan_id in list(due))


@transaction.atomic
def plan_review_remind(*, plan_id, now: datetime) -> bool:
    """Remind the episode's primary counselor that the plan's review is due; with no primary counselor who
    can be reached, alert the facility's counselors instead. At most once per due date, even when racing."""
    plan = (
        TreatmentPlan.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("episode__patient__facility", "episode__primary_counselor")
        .filter(pk=plan_id)
        .first()
    )
    if plan is None or plan.next_review_at > now or plan.review_reminded_for == plan.next_review_at:
        return False
    episode = plan.episode
    if not episode.is_open:
        return False
    facility = episode.patient.facility
    counselor = episode.primary_counselor
    if counselor is not None and counselor.is_active and facility.pk in counselor.facility_ids():
        reminder_schedule(
            facility=facility,
            kind=Reminder.Kind.PLAN_REVIEW_DUE,
            send_at=now,
            staff=counselor,
            subject=(PLAN_SUBJECT, plan.pk),
            context={"at": plan.next_review_at},
        )
    else:
        alert_raise(
            patient=episode.patient,
            episode=episode,
            kind="plan_review_due",
            severity=Alert.Severity.MEDIUM,
            reason="The treatment plan review is due and no primary counselor can be reminded.",
            target_role=Role.COUNSELOR,
            dedupe_key=f"plan_review:{plan.pk}:{plan.next_review_at.isoformat()}",
        )
    plan.review_reminded_for = plan.next_review_at
    plan.save(update_fields=["review_reminded_for"])
    audit_record(actor=None, action="review_reminder", instance=plan)
    return True


# --- Progress notes -------------------------------------------------------------------------------------


def _section_problems(note_format: str, values: Mapping[str, str], *, complete: bool, prefix: str = "") -> dict:
    sections = NOTE_SECTIONS.get(note_format)
    if sections is None:
        return {f"{prefix}format": [f"Choose one of {', '.join(NOTE_SECTIONS)}."]}
    problems = {}
    for name in ALL_SECTIONS:
        value = (values.get(name) or "").strip()
        if name not in sections and value:
            problems[f"{prefix}{name}"] = [f"Not a section of a {note_format.upper()} note."]
        elif name in sections and complete and not value:
            problems[f"{prefix}{name}"] = ["Write this section before signing."]
    return problems


def _note_payload(note: ProgressNote, shared_summary: str | None) -> dict:
    payload = {
        "id": str(note.pk),
        "patient": str(note.patient_id),
        "format": note.format,
        "author": note.author_id,
        "signed_at": note.signed_at.isoformat(),
        **{name: getattr(note, name) for name in ALL_SECTIONS},
    }
    if note.group_note_id is not None:
        payload.update(participation=note.participation, shared_summary=shared_summary)
    return payload


def note_signature_valid(note: ProgressNote) -> bool:
    """True when a signed note still hashes to what was signed (its content is as its author signed it)."""
    if not note.is_signed:
        return False
    shared = note.group_note.summary if note.group_note_id else None
    return note.content_hash == _signature(_note_payload(note, shared))


def _locked_note(note: ProgressNote) -> ProgressNote:
    return ProgressNote.objects.select_for_update(of=("self",)).select_related("group_note", "author").get(pk=note.pk)


def _editable_by(actor: User, note: ProgressNote | GroupNote) -> None:
    if note.is_signed:
        raise Conflict(
            "A signed note is locked; add an addendum instead.",
            code="note_signed",
            details={"signed_at": str(note.signed_at)},
        )
    if note.author_id != actor.pk:
        raise NotAllowed("Only the author of a note may change it.")


@transaction.atomic
def progress_note_create(*, actor: User, session: TherapySession, format: str, **sections: str) -> ProgressNote:
    """Start the progress note of an attended individual or family session (one per session)."""
    _require(actor, "progress_note.write")
    unknown = set(sections) - set(ALL_SECTIONS)
    if unknown:
        raise ValueError(f"Not note sections: {', '.join(sorted(unknown))}")
    session = TherapySession.objects.select_for_update(of=("self",)).get(pk=session.pk)
    if session.status != AttendanceStatus.ATTENDED:
        raise Conflict("A progress note is written for an attended session.", code="session_not_attended")
    existing = ProgressNote.objects.filter(session=session).values_list("pk", flat=True).first()
    if existing is not None:
        raise Conflict(
            "This session already has its progress note.", code="note_exists", details={"note": str(existing)}
        )
    _raise_problems(_section_problems(format, sections, complete=False), "Check the note.")
    note = ProgressNote(
        patient_id=session.patient_id,
        episode_id=session.episode_id,
        session=session,
        format=format,
        author=actor,
        **{name: (value or "").strip() for name, value in sections.items()},
    )
    _full_clean(note, validate_constraints=False)
    try:
        with transaction.atomic():
            note.save(force_insert=True)
    except IntegrityError:
        raise Conflict("This session already has its progress note.", code="note_exists") from None
    audit_record(actor=actor, action="create", instance=note, detail={"format": format})
    return note


@transaction.atomic
def progress_note_update(*, actor: User, note: ProgressNote, data: Mapping[str, Any]) -> ProgressNote:
    """Change a draft note (its author only). A signed note is locked: 409, write an addendum."""
    _require(actor, "progress_note.write")
    allowed = {"format", *ALL_SECTIONS, "participation"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"Not note fields: {', '.join(sorted(unknown))}")
    note = _locked_note(note)
    _editable_by(actor, note)
    problems: dict[str, list[str]] = {}
    if note.group_note_id is not None and "format" in data and data["format"] != note.format:
        problems["format"] = ["A group note's format is set on the group note."]
    if note.group_note_id is None and data.get("participation"):
        problems["participation"] = ["Only a part of a group note records participation."]
    values = {name: data.get(name, getattr(note, name)) for name in allowed}
    problems.update(_section_problems(values["format"], values, complete=False))
    _raise_problems(problems, "Check the note.")
    changed = sorted(name for name, value in data.items() if getattr(note, name) != value)
    for name, value in data.items():
        setattr(note, name, value.strip() if isinstance(value, str) else value)
    _full_clean(note, validate_constraints=False)
    note.save()
    audit_record(actor=actor, action="update", instance=note, detail={"fields": changed})
    return note


@transaction.atomic
def progress_note_sign(*, actor: User, note: ProgressNote) -> ProgressNote:
    """Sign a complete note (its author only). From then on it is locked, in the database too."""
    _require(actor, "progress_note.write")
    note = _locked_note(note)
    if note.group_note_id is not None:
        raise Conflict("A group note is signed as a whole, on its group session.", code="sign_group_note")
    _editable_by(actor, note)
    _raise_problems(
        _section_problems(note.format, {name: getattr(note, name) for name in ALL_SECTIONS}, complete=True),
        "Complete the note before signing it.",
    )
    note.signed_at = timezone.now()
    note.content_hash = _signature(_note_payload(note, None))
    note.save(update_fields=["signed_at", "content_hash", "updated_at"])
    reminder_cancel_for_subject(subject_type=PROGRESS_NOTE_SUBJECT, subject_id=note.pk, actor=actor)
    audit_record(actor=actor, action="sign", instance=note)
    return note


@transaction.atomic
def addendum_add(*, actor: User, note: ProgressNote, text: str) -> NoteAddendum:
    """Add a change to a signed note, signed by its author as it is written (a draft is simply edited)."""
    _require(actor, "progress_note.write")
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Write the addendum.", fields={"text": ["This field is required."]})
    note = _locked_note(note)
    if not note.is_signed:
        raise Conflict("The note is still a draft: change it instead.", code="note_not_signed")
    now = timezone.now()
    addendum = NoteAddendum(note=note, text=text, author=actor, signed_at=now)
    addendum.content_hash = _signature(
        {
            "note": str(note.pk),
            "note_hash": note.content_hash,
            "text": text,
            "author": actor.pk,
            "signed_at": now.isoformat(),
        }
    )
    addendum.save(force_insert=True)
    ProgressNote.objects.filter(pk=note.pk).update(updated_at=now)  # offline clients see the note changed
    audit_record(actor=actor, action="create", instance=addendum)
    return addendum


# --- Group notes ----------------------------------------------------------------------------------------


@transaction.atomic
def group_note_write(
    *, actor: User, group: GroupSession, format: str, summary: str, parts: Sequence[Mapping[str, Any]]
) -> GroupNote:
    """Write (or rewrite, while a draft) the note of a held group: the shared `summary` and one part per
    attendee (`patient`, `participation`, the format's sections). Parts are for patients who attended;
    parts left out of a rewrite are removed."""
    _require(actor, "progress_note.write")
    group = _locked_group(group)
    attended = {
        str(entry.patient_id): entry
        for entry in GroupAttendance.objects.filter(group_session=group, status=AttendanceStatus.ATTENDED)
    }
    if not attended:
        raise Conflict("Record who attended before writing the group note.", code="no_attendees")
    note = GroupNote.objects.select_for_update().filter(group_session=group).first()
    if note is not None:
        _editable_by(actor, note)
    problems: dict[str, list[str]] = {}
    if format not in NOTE_SECTIONS:
        problems["format"] = [f"Choose one of {', '.join(NOTE_SECTIONS)}."]
    seen: set[str] = set()
    for index, part in enumerate(parts):
        patient_id = str(part.get("patient"))
        if patient_id not in attended:
            problems[f"parts.{index}.patient"] = ["Not a patient who attended this group."]
        elif patient_id in seen:
            problems[f"parts.{index}.patient"] = ["One part per attendee."]
        seen.add(patient_id)
        if format in NOTE_SECTIONS:
            problems.update(_section_problems(format, part, complete=False, prefix=f"parts.{index}."))
    _raise_problems(problems, "Check the group note.")
    created = note is None
    if created:
        note = GroupNote(group_session=group, author=actor)
    note.format, note.summary = format, (summary or "").strip()
    _full_clean(note, exclude=["summary"], validate_constraints=False)
    note.save()
    audit_record(actor=actor, action="create" if created else "update", instance=note)
    existing = {str(part.patient_id): part for part in ProgressNote.objects.filter(group_note=note)}
    for part in parts:
        patient_id = str(part["patient"])
        entry = attended[patient_id]
        row = existing.pop(patient_id, None)
        action = "update" if row is not None else "create"
        if row is None:
            row = ProgressNote(patient_id=entry.patient_id, episode_id=entry.episode_id, group_note=note, author=actor)
        row.format = format
        row.participation = part.get("participation") or ""
        for name in ALL_SECTIONS:
            setattr(row, name, (part.get(name) or "").strip())
        _full_clean(row, validate_constraints=False)
        row.save()
        audit_record(actor=actor, action=action, instance=row, detail={"group_note": str(note.pk)})
    for row in existing.values():
        audit_record(actor=actor, action="delete", instance=row, detail={"group_note": str(note.pk)})
        tombstone_record(instance=row, reason=Tombstone.Reason.DELETED)
        row.delete()
    return note


def _name_pattern(*words: str) -> re.Pattern | None:
    words = tuple(word.strip() for word in words if word and len(word.strip()) > 1)
    if not words:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(word) for word in words) + r")\b")


def _attendees_named(texts: Mapping[str, str], people: Mapping[str, Patient], own: Mapping[str, str]) -> dict:
    """Which texts mention another attendee by first name, last name (as written, capitalised) or MRN.
    `own`: text key -> the patient whose chart it lands in (not "another" for that text)."""
    named: dict[str, list[str]] = {}
    for key, text in texts.items():
        for patient_id, person in people.items():
            if own.get(key) == patient_id:
                continue
            names = _name_pattern(person.first_name, person.last_name)
            mrn = re.search(r"\b" + re.escape(person.mrn) + r"\b", text, re.IGNORECASE) if person.mrn else None
            if mrn or (names is not None and names.search(text)):
                named.setdefault(key, []).append(patient_id)
    return named


@transaction.atomic
def group_note_sign(*, actor: User, note: GroupNote, names_reviewed: bool = False) -> GroupNote:
    """Sign the group note and every part at once (its author only). Each attendee must have a complete part.

    Because the shared summary goes to every attendee's chart and each part to its attendee's, a text that
    names another attendee (first or last name, MRN) is refused (409 `attendee_named`, listing where) until
    the author confirms with `names_reviewed` that it is not about that person."""
    _require(actor, "progress_note.write")
    group = _locked_group(note.group_session)
    note = GroupNote.objects.select_for_update().get(pk=note.pk)
    _editable_by(actor, note)
    parts = list(ProgressNote.objects.select_for_update(of=("self",)).filter(group_note=note).select_related("patient"))
    roster = {str(entry.patient_id): entry.patient for entry in _active_roster(group).select_related("patient")}
    attended = set(
        GroupAttendance.objects.filter(group_session=group, status=AttendanceStatus.ATTENDED).values_list(
            "patient_id", flat=True
        )
    )
    problems: dict[str, list[str]] = {}
    if not note.summary.strip():
        problems["summary"] = ["Write the shared part before signing."]
    missing = sorted(str(patient_id) for patient_id in attended - {part.patient_id for part in parts})
    if missing:
        problems["parts"] = [f"Write the part of every attendee; missing: {', '.join(missing)}."]
    for part in parts:
        values = {name: getattr(part, name) for name in ALL_SECTIONS}
        problems.update(_section_problems(note.format, values, complete=True, prefix=f"parts.{part.patient_id}."))
    _raise_problems(problems, "Complete the group note before signing it.")
    if not names_reviewed:
        texts = {"summary": note.summary}
        own = {}
        for part in parts:
            key = f"parts.{part.patient_id}"
            texts[key] = " ".join(getattr(part, name) for name in ALL_SECTIONS)
            own[key] = str(part.patient_id)
        named = _attendees_named(texts, roster, own)
        if named:
            raise Conflict(
                "The note seems to name another attendee where it would land in someone else's chart. Remove "
                "the name, or confirm with names_reviewed that the text is not about that person.",
                code="attendee_named",
                details={"named": named},
            )
    now = timezone.now()
    note.signed_at = now
    note.content_hash = _signature(
        {
            "id": str(note.pk),
            "format": note.format,
            "summary": note.summary,
            "author": note.author_id,
            "signed_at": now.isoformat(),
        }
    )
    note.save(update_fields=["signed_at", "content_hash", "updated_at"])
    for part in parts:
        part.signed_at = now
        part.content_hash = _signature(_note_payload(part, note.summary))
        part.save(update_fields=["signed_at", "content_hash", "updated_at"])
        audit_record(actor=actor, action="sign", instance=part, detail={"group_note": str(note.pk)})
    reminder_cancel_for_subject(subject_type=GROUP_NOTE_SUBJECT, subject_id=note.pk, actor=actor)
    audit_record(actor=actor, action="sign", instance=note, detail={"names_reviewed": names_reviewed})
    return note


# --- Unsigned notes -------------------------------------------------------------------------------------


def notes_remind_unsigned(*, now: datetime | None = None, limit: int = 500) -> int:
    """Remind each author of their notes still unsigned 72 hours after they were started, once per note
    (beat runs this; see tasks). Group notes count once, not once per part."""
    now = now or timezone.now()
    cutoff = now - UNSIGNED_NOTE_REMINDER_AFTER
    waiting = {"signed_at__isnull": True, "unsigned_reminded_at__isnull": True, "created_at__lte": cutoff}
    notes = ProgressNote.objects.filter(group_note__isnull=True, **waiting).values_list("pk", flat=True)[:limit]
    groups = GroupNote.objects.filter(**waiting).values_list("pk", flat=True)[:limit]
    reminded = sum(note_unsigned_remind(model=ProgressNote, note_id=pk, now=now) for pk in list(notes))
    return reminded + sum(note_unsigned_remind(model=GroupNote, note_id=pk, now=now) for pk in list(groups))


@transaction.atomic
def note_unsigned_remind(*, model: type[ProgressNote] | type[GroupNote], note_id, now: datetime) -> bool:
    note = (
        model.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("author")
        .filter(pk=note_id, signed_at__isnull=True, unsigned_reminded_at__isnull=True)
        .first()
    )
    if note is None:
        return False
    if model is GroupNote:
        facility_id, subject = note.group_session.facility_id, GROUP_NOTE_SUBJECT
    else:
        facility_id, subject = note.patient.facility_id, PROGRESS_NOTE_SUBJECT
    author = note.author
    if author.is_active and facility_id in author.facility_ids():
        reminder_schedule(
            facility=Facility.objects.get(pk=facility_id),
            kind=Reminder.Kind.NOTE_UNSIGNED,
            send_at=now,
            staff=author,
            subject=(subject, note.pk),
        )
    note.unsigned_reminded_at = now
    note.save(update_fields=["unsigned_reminded_at"])
    audit_record(actor=None, action="unsigned_reminder", instance=note)
    return True


# --- Psychotherapy notes --------------------------------------------------------------------------------


@transaction.atomic
def psychotherapy_note_create(
    *, actor: User, episode: Episode, content: str, session: TherapySession | None = None
) -> PsychotherapyNote:
    """A psychotherapy note, readable and changeable by its author alone."""
    _require(actor, "psychotherapy_note.write")
    content = (content or "").strip()
    problems: dict[str, list[str]] = {}
    if not content:
        problems["content"] = ["This field is required."]
    if session is not None and session.episode_id != episode.pk:
        problems["session"] = ["Choose a session of this episode."]
    _raise_problems(problems, "Check the note.")
    note = PsychotherapyNote(
        patient_id=episode.patient_id, episode=episode, session=session, content=content, author=actor
    )
    _full_clean(note)
    note.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=note)
    return note


@transaction.atomic
def psychotherapy_note_update(*, actor: User, note: PsychotherapyNote, content: str) -> PsychotherapyNote:
    _require(actor, "psychotherapy_note.write")
    note = PsychotherapyNote.objects.select_for_update().get(pk=note.pk)
    if note.author_id != actor.pk:
        raise NotAllowed("Only the author of a psychotherapy note may change it.")
    content = (content or "").strip()
    if not content:
        raise ValidationFailed("Write the note.", fields={"content": ["This field is required."]})
    note.content = content
    note.save(update_fields=["content", "updated_at"])
    audit_record(actor=actor, action="update", instance=note, detail={"fields": ["content"]})
    return note


# --- Stage machine -------------------------------------------------------------------------------------


def episode_discharged_cancel_sessions(episode: Episode, transition: EpisodeTransition) -> None:
    """Registered with the stage machine (apps.py): a discharge cancels the episode's sessions and group
    places still to come, with their appointments and reminders, in the discharge's transaction."""
    now = timezone.now()
    actor = transition.actor
    for session in TherapySession.objects.filter(
        episode=episode, status=AttendanceStatus.SCHEDULED, starts_at__gt=now
    ).order_by("starts_at"):
        session_cancel(actor=actor, session=session, reason="The episode of care ended.")
    places = GroupAttendance.objects.filter(
        episode=episode, status=AttendanceStatus.SCHEDULED, group_session__starts_at__gt=now
    ).select_related("group_session")
    for place in places.order_by("group_session__starts_at"):
        group_roster_remove(actor=actor, group=place.group_session, patient=episode.patient)
