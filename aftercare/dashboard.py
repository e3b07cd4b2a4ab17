"""Aftercare on the staff admin (clinic.staffadmin): provider check-ins due this week, overdue and missed on the
dashboard; the relapse-prevention plan, the provider check-ins and the patient's own check-ins (with a chart
of craving and mood) on the patient page."""

from __future__ import annotations

import datetime

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from clinic.accounts.roles import role_may
from clinic.scoping import scope_queryset
from clinic.staffadmin.charts import Series, line_chart
from clinic.staffadmin.registry import (
    Section,
    Tile,
    changelist_url,
    register_dashboard_tile,
    register_patient_page_section,
)
from patients.models import Patient
from treatment.dashboard import current_episode

from .models import CheckIn, CopingStrategy, ProviderCheckIn, RelapsePreventionPlan, RelapseTrigger

WEEK = datetime.timedelta(days=7)
CHECK_IN_DAYS = 30


def check_in_tiles(request) -> list[Tile]:
    """Provider check-ins due in the next 7 days, past due (not yet missed) and missed: one query."""
    now = timezone.now().replace(second=0, microsecond=0)
    scheduled, missed = ProviderCheckIn.Status.SCHEDULED, ProviderCheckIn.Status.MISSED
    counts = scope_queryset(ProviderCheckIn.objects.all(), request.user).aggregate(
        week=Count("pk", filter=Q(status=scheduled, due_at__gte=now, due_at__lt=now + WEEK)),
        late=Count("pk", filter=Q(status=scheduled, due_at__lt=now)),
        missed=Count("pk", filter=Q(status=missed)),
    )
    return [
        Tile(
            title="Check-ins due this week",
            figure=counts["week"],
            url=changelist_url(
                request,
                ProviderCheckIn,
                status__exact=scheduled,
                due_at__gte=now.isoformat(),
                due_at__lt=(now + WEEK).isoformat(),
            ),
            group="Aftercare follow-up",
        ),
        Tile(
            title="Check-ins past due",
            figure=counts["late"],
            url=changelist_url(request, ProviderCheckIn, status__exact=scheduled, due_at__lt=now.isoformat()),
            severity="attention" if counts["late"] else "ok",
            group="Aftercare follow-up",
            note="Due, not yet done or missed.",
        ),
        Tile(
            title="Check-ins missed",
            figure=counts["missed"],
            url=changelist_url(request, ProviderCheckIn, status__exact=missed),
            severity="urgent" if counts["missed"] else "ok",
            group="Aftercare follow-up",
        ),
    ]


def plan_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    plan = (
        scope_queryset(RelapsePreventionPlan.objects.filter(episode=episode), request.user)
        .prefetch_related(
            Prefetch(
                "triggers",
                queryset=RelapseTrigger.objects.order_by("position").prefetch_related(
                    Prefetch("coping_strategies", queryset=CopingStrategy.objects.order_by("position"))
                ),
            )
        )
        .first()
    )
    if plan is None:
        return None
    triggers = list(plan.triggers.all())
    strategies = [strategy for trigger in triggers for strategy in trigger.coping_strategies.all()]
    return Section(
        title="Relapse-prevention plan",
        template="staffadmin/aftercare/plan.html",
        context={"plan": plan, "triggers": triggers},
        records=[plan, *triggers, *strategies],
        anchor="aftercare-plan",
    )


def check_ins_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    provider_check_ins = list(
        scope_queryset(ProviderCheckIn.objects.filter(episode=episode), request.user)
        .select_related("provider")
        .order_by("due_at")
    )
    self_check_ins = []
    if role_may(getattr(request.user, "role", None), "check_in.view"):
        since = timezone.now() - datetime.timedelta(days=CHECK_IN_DAYS)
        self_check_ins = list(
            scope_queryset(CheckIn.objects.filter(patient=patient, checked_in_at__gte=since), request.user).order_by(
                "checked_in_at"
            )
        )
    if not (provider_check_ins or self_check_ins):
        return None
    chart = line_chart(
        series=[
            Series("Craving", [(c.checked_in_at, c.craving) for c in self_check_ins]),
            Series("Mood", [(c.checked_in_at, c.mood) for c in self_check_ins]),
        ],
        y_max=10,
        title="Craving and mood, last 30 days",
    )
    return Section(
        title="Aftercare check-ins",
        template="staffadmin/aftercare/check_ins.html",
        context={
            "provider_check_ins": provider_check_ins,
            "self_check_ins": list(reversed(self_check_ins))[:7],
            "uses": sum(1 for c in self_check_ins if c.used),
            "chart": chart,
            "days": CHECK_IN_DAYS,
            "now": timezone.now(),
        },
        records=[*provider_check_ins, *self_check_ins],
        anchor="check-ins",
    )


register_dashboard_tile(check_in_tiles, action="provider_check_in.view", order=70)
register_patient_page_section(plan_section, action="relapse_prevention_plan.view", order=70)
register_patient_page_section(check_ins_section, action="provider_check_in.view", order=72)
