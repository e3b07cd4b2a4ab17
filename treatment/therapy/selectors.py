"""Reads: scoped querysets for the API and the admin, and who is busy when (double-booking)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from clinic.accounts.models import User
from clinic.scoping import scope_queryset

from .models import (
    Appointment,
    GroupAttendance,
    GroupNote,
    GroupSession,
    NoteAddendum,
    PlanGoal,
    PlanObjective,
    PlanProblem,
    ProgressNote,
    PsychotherapyNote,
    TherapySession,
    TreatmentPlan,
)

# How other models name themselves as an appointment's or a reminder's subject.
SESSION_SUBJECT = "therapy.therapysession"
GROUP_SESSION_SUBJECT = "therapy.groupsession"
APPOINTMENT_SUBJECT = "therapy.appointment"


# --- Treatment plans -----------------------------------------------------------------------------------


def treatment_plan_queryset() -> QuerySet[TreatmentPlan]:
    goals = PlanGoal.objects.prefetch_related(Prefetch("objectives", queryset=PlanObjective.objects.all()))
    problems = PlanProblem.objects.prefetch_related(Prefetch("goals", queryset=goals))
    return TreatmentPlan.objects.select_related("episode").prefetch_related(
        Prefetch("problems", queryset=problems), "interventions", "reviews"
    )


def treatment_plan_list(*, actor: User) -> QuerySet[TreatmentPlan]:
    return scope_queryset(treatment_plan_queryset(), actor)


# --- Sessions and appointments -------------------------------------------------------------------------


def therapy_session_queryset() -> QuerySet[TherapySession]:
    return TherapySession.objects.select_related("counselor")


def therapy_session_list(*, actor: User) -> QuerySet[TherapySession]:
    return scope_queryset(therapy_session_queryset(), actor)


def group_session_queryset() -> QuerySet[GroupSession]:
    roster = GroupAttendance.objects.order_by("created_at")
    return GroupSession.objects.select_related("facilitator").prefetch_related(Prefetch("roster", queryset=roster))


def group_session_list(*, actor: User) -> QuerySet[GroupSession]:
    return scope_queryset(group_session_queryset(), actor)


def appointment_list(*, actor: User) -> QuerySet[Appointment]:
    return scope_queryset(Appointment.objects.select_related("with_staff"), actor)


# --- Notes ---------------------------------------------------------------------------------------------


def progress_note_queryset() -> QuerySet[ProgressNote]:
    """Chart entries with what each shows: its own sections, its addenda and, for a group part, the group
    note's shared part. Never the group's other parts."""
    return ProgressNote.objects.select_related("author", "group_note__group_session").prefetch_related(
        Prefetch("addenda", queryset=NoteAddendum.objects.select_related("author"))
    )


def progress_note_list(*, actor: User) -> QuerySet[ProgressNote]:
    return scope_queryset(progress_note_queryset(), actor)


def group_note_for(group: GroupSession) -> GroupNote | None:
    """The group note of a group session the caller may already see, with every part."""
    return GroupNote.objects.filter(group_session=group).prefetch_related("parts").first()


def psychotherapy_note_list(*, actor: User) -> QuerySet[PsychotherapyNote]:
    """Only the actor's own psychotherapy notes, within their scope: nobody else reads them."""
    return scope_queryset(PsychotherapyNote.objects.filter(author_id=actor.pk), actor)


# --- Who is busy when ----------------------------------------------------------------------------------

# Statuses that hold a slot: cancelled ones free it.
BUSY = Q(status__in=["scheduled", "attended", "no_show"])


@dataclass(frozen=True)
class CalendarConflict:
    """Something already booked at an overlapping time, for a staff member or a patient (ids only)."""

    resource: str  # the API resource: "appointments" or "group-sessions"
    id: str
    booked: str  # "staff" or "patient"
    starts_at: datetime
    ends_at: datetime
    subject_type: str = ""
    subject_id: str = ""

    def as_detail(self) -> dict:
        detail = {
            "resource": self.resource,
            "id": self.id,
            "booked": self.booked,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
        }
        if self.subject_type:
            detail.update(subject_type=self.subject_type, subject_id=self.subject_id)
        return detail


def calendar_conflicts(
    *,
    starts_at: datetime,
    ends_at: datetime,
    staff: User | None = None,
    patient_ids=(),
    exclude_subject: tuple[str, str] | None = None,
) -> list[CalendarConflict]:
    """What overlaps [starts_at, ends_at) for `staff` and the patients (touching end to start is fine).

    A patient is busy with any appointment that holds its slot. A staff member is busy with the appointments
    they are booked for and the groups they facilitate (a group's per-patient appointments count once, as
    the group). `exclude_subject` leaves out what is being (re)booked itself, e.g. the group gaining a patient.
    """
    overlap = Q(starts_at__lt=ends_at, ends_at__gt=starts_at)
    appointments = Appointment.objects.filter(overlap, BUSY)
    groups = GroupSession.objects.filter(overlap).exclude(status=GroupSession.Status.CANCELLED)
    if exclude_subject is not None:
        subject_type, subject_id = exclude_subject
        appointments = appointments.exclude(subject_type=subject_type, subject_id=subject_id)
        if subject_type == GROUP_SESSION_SUBJECT:
            groups = groups.exclude(pk=subject_id)
    conflicts: list[CalendarConflict] = []
    rows = Appointment.objects.none()
    if staff is not None:
        rows = appointments.filter(with_staff=staff).exclude(subject_type=GROUP_SESSION_SUBJECT)
        for group in groups.filter(facilitator=staff).order_by("starts_at"):
            conflicts.append(CalendarConflict("group-sessions", str(group.pk), "staff", group.starts_at, group.ends_at))
    patient_ids = list(patient_ids)
    if patient_ids:
        rows = rows | appointments.filter(patient_id__in=patient_ids)
    for row in rows.order_by("starts_at"):
        booked = "patient" if row.patient_id in patient_ids else "staff"
        conflicts.append(
            CalendarConflict(
                "appointments",
                str(row.pk),
                booked,
                row.starts_at,
                row.ends_at,
                row.subject_type,
                row.subject_id,
            )
        )
    return conflicts
