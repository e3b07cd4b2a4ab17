"""Detox on the staff admin (clinic.staffadmin): observation rounds due and overdue on the dashboard; the detox
course with its rounds, and the medications with the MAR, on the patient page."""

from __future__ import annotations

import datetime

from django.db.models import Count, Q
from django.utils import timezone

from clinic.accounts.roles import role_may
from clinic.scoping import scope_queryset
from clinic.staffadmin.registry import (
    Section,
    Tile,
    changelist_url,
    register_dashboard_tile,
    register_patient_page_section,
)
from patients.models import Patient
from treatment.dashboard import current_episode

from . import selectors
from .models import DetoxCourse, MedicationOrder, ObservationRound

SOON = datetime.timedelta(hours=1)
RECENT_ROUNDS = 6


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


def round_tiles(request) -> list[Tile]:
    """Rounds due now, due within the hour and overdue: one query."""
    now = timezone.now().replace(second=0, microsecond=0)
    due = ObservationRound.Status.DUE
    counts = scope_queryset(ObservationRound.objects.all(), request.user).aggregate(
        now=Count("pk", filter=Q(status=due, due_at__lte=now)),
        soon=Count("pk", filter=Q(status=due, due_at__gt=now, due_at__lte=now + SOON)),
        overdue=Count("pk", filter=Q(status=ObservationRound.Status.OVERDUE)),
    )
    return [
        Tile(
            title="Rounds overdue",
            figure=counts["overdue"],
            url=changelist_url(request, ObservationRound, status__exact=ObservationRound.Status.OVERDUE),
            severity="urgent" if counts["overdue"] else "ok",
            group="Detox rounds",
            note="More than 30 minutes past due.",
        ),
        Tile(
            title="Rounds due now",
            figure=counts["now"],
            url=changelist_url(request, ObservationRound, status__exact=due, due_at__lte=_iso(now)),
            severity="attention" if counts["now"] else "ok",
            group="Detox rounds",
        ),
        Tile(
            title="Rounds due within the hour",
            figure=counts["soon"],
            url=changelist_url(
                request, ObservationRound, status__exact=due, due_at__gt=_iso(now), due_at__lte=_iso(now + SOON)
            ),
            group="Detox rounds",
        ),
    ]


def detox_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    course = scope_queryset(DetoxCourse.objects.filter(episode=episode), request.user).first()
    if course is None:
        return None
    rounds = list(
        scope_queryset(ObservationRound.objects.filter(course=course), request.user)
        .select_related("cows", "ciwa_ar", "recorded_by")
        .order_by("-due_at")[:RECENT_ROUNDS]
    )
    timeline = selectors.withdrawal_timeline(episode)
    return Section(
        title="Detox",
        template="staffadmin/detox/course.html",
        context={
            "course": course,
            "rounds": rounds,
            "timeline": timeline,
            "rounds_url": changelist_url(request, ObservationRound, course__id__exact=course.pk),
        },
        records=[course, *rounds],
        anchor="detox",
    )


def medication_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    if not scope_queryset(MedicationOrder.objects.filter(episode=episode), request.user).exists():
        return None
    mar = selectors.episode_mar(episode)
    show_doses = role_may(getattr(request.user, "role", None), "medication_administration.view")
    return Section(
        title="Medications and MAR",
        template="staffadmin/detox/mar.html",
        context={
            "mar": mar,
            "show_doses": show_doses,
            "orders_url": changelist_url(request, MedicationOrder, episode__id__exact=episode.pk),
        },
        records=[*mar.orders, *(mar.administrations if show_doses else [])],
        anchor="medications",
    )


register_dashboard_tile(round_tiles, action="observation_round.view", order=40)
register_patient_page_section(detox_section, action="detox_course.view", order=50)
register_patient_page_section(medication_section, action="medication_order.view", order=55)
