"""Therapy on the staff admin (clinic.staffadmin): today's sessions, unsigned notes and plan reviews due on the
dashboard; the treatment plan, the sessions and appointments, and the progress notes (their status, never
their text) on the patient page. Psychotherapy notes are never shown here: only their author reads them."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from clinic.scoping import scope_queryset
from clinic.staffadmin.registry import (
    Section,
    Tile,
    changelist_url,
    local_today,
    register_dashboard_tile,
    register_patient_page_section,
)
from patients.models import Patient
from treatment.dashboard import current_episode

from .models import (
    CANCELLED_STATUSES,
    Appointment,
    AttendanceStatus,
    GroupSession,
    PlanGoal,
    PlanProblem,
    ProgressNote,
    TherapySession,
    TreatmentPlan,
)

NOT_CANCELLED = [status for status in AttendanceStatus.values if status not in CANCELLED_STATUSES]
RECENT = 5


def session_tiles(request) -> list[Tile]:
    """Today's individual and family sessions and group sessions (not cancelled): one query each."""
    start, end = local_today(request)
    # "day=all": the lists' own day filter steps aside for this exact window (today in the facility's zone).
    window = {"day": "all", "starts_at__gte": start.isoformat(), "starts_at__lt": end.isoformat()}
    sessions = scope_queryset(
        TherapySession.objects.filter(starts_at__gte=start, starts_at__lt=end, status__in=NOT_CANCELLED), request.user
    ).count()
    groups = scope_queryset(
        GroupSession.objects.filter(starts_at__gte=start, starts_at__lt=end).exclude(
            status=GroupSession.Status.CANCELLED
        ),
        request.user,
    ).count()
    not_cancelled_groups = ",".join(s for s in GroupSession.Status.values if s != GroupSession.Status.CANCELLED)
    return [
        Tile(
            title="Sessions today",
            figure=sessions,
            url=changelist_url(request, TherapySession, status__in=",".join(NOT_CANCELLED), **window),
            group="Today",
            note="Individual and family sessions.",
        ),
        Tile(
            title="Group sessions today",
            figure=groups,
            url=changelist_url(request, GroupSession, status__in=not_cancelled_groups, **window),
            group="Today",
        ),
    ]


def note_tiles(request) -> list[Tile]:
    """Unsigned progress notes (all, and the user's own) and treatment plans due for review: two queries."""
    user = request.user
    notes = scope_queryset(ProgressNote.objects.filter(signed_at__isnull=True), user).aggregate(
        all=Count("pk"), mine=Count("pk", filter=Q(author=user))
    )
    reviews = scope_queryset(TreatmentPlan.objects.filter(next_review_at__lte=timezone.now()), user).count()
    return [
        Tile(
            title="Your unsigned notes",
            figure=notes["mine"],
            url=changelist_url(request, ProgressNote, signed_at__isnull="True", author__id__exact=user.pk),
            severity="attention" if notes["mine"] else "ok",
            group="Paperwork",
        ),
        Tile(
            title="Unsigned notes",
            figure=notes["all"],
            url=changelist_url(request, ProgressNote, signed_at__isnull="True"),
            group="Paperwork",
        ),
        Tile(
            title="Plan reviews due",
            figure=reviews,
            url=changelist_url(request, TreatmentPlan, review="due"),
            severity="attention" if reviews else "ok",
            group="Paperwork",
        ),
    ]


def plan_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    plan = (
        scope_queryset(TreatmentPlan.objects.filter(episode=episode), request.user)
        .prefetch_related(
            Prefetch(
                "problems",
                queryset=PlanProblem.objects.order_by("position").prefetch_related(
                    Prefetch("goals", queryset=PlanGoal.objects.order_by("position").prefetch_related("objectives"))
                ),
            ),
            "interventions",
        )
        .first()
    )
    if plan is None:
        return None
    problems = list(plan.problems.all())
    goals = [goal for problem in problems for goal in problem.goals.all()]
    objectives = [objective for goal in goals for objective in goal.objectives.all()]
    interventions = list(plan.interventions.all())
    return Section(
        title="Treatment plan",
        template="staffadmin/therapy/plan.html",
        context={"plan": plan, "problems": problems, "interventions": interventions, "now": timezone.now()},
        records=[plan, *problems, *goals, *objectives, *interventions],
        anchor="treatment-plan",
    )


def sessions_section(request, patient: Patient) -> Section | None:
    now = timezone.now()
    sessions = scope_queryset(TherapySession.objects.filter(patient=patient), request.user).select_related("counselor")
    upcoming = list(sessions.filter(starts_at__gte=now).order_by("starts_at")[:RECENT])
    past = list(sessions.filter(starts_at__lt=now).order_by("-starts_at")[:RECENT])
    appointments = list(
        scope_queryset(Appointment.objects.filter(patient=patient, starts_at__gte=now), request.user).order_by(
            "starts_at"
        )[:RECENT]
    )
    if not (upcoming or past or appointments):
        return None
    return Section(
        title="Sessions and appointments",
        template="staffadmin/therapy/sessions.html",
        context={"upcoming": upcoming, "past": past, "appointments": appointments},
        records=[*upcoming, *past, *appointments],
        anchor="sessions",
    )


def notes_section(request, patient: Patient) -> Section | None:
    notes = list(
        scope_queryset(ProgressNote.objects.filter(patient=patient), request.user)
        .select_related("author", "session")
        .order_by("-created_at")[:RECENT]
    )
    if not notes:
        return None
    return Section(
        title="Progress notes",
        template="staffadmin/therapy/notes.html",
        context={"notes": notes, "notes_url": changelist_url(request, ProgressNote, patient__id__exact=patient.pk)},
        records=notes,
        anchor="notes",
    )


register_dashboard_tile(session_tiles, action="session.view", order=50)
register_dashboard_tile(note_tiles, action="progress_note.view", order=60)
register_patient_page_section(plan_section, action="treatment_plan.view", order=60)
register_patient_page_section(sessions_section, action="session.view", order=62)
register_patient_page_section(notes_section, action="progress_note.view", order=64)
