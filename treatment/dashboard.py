"""Treatment on the staff admin (clinic.staffadmin): the census and open alerts on the dashboard; the episode,
its stage history, alerts, scores with the withdrawal chart and the assessment on the patient page; and the
page's actions, which call the same services as the API (`episode_transition`, `alert_acknowledge`)."""

from __future__ import annotations

import uuid

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from clinic.accounts.models import Facility
from clinic.accounts.roles import role_may
from clinic.errors import NotFound
from clinic.scoping import scope_queryset
from clinic.staffadmin.charts import Series, Threshold, line_chart
from clinic.staffadmin.registry import (
    Section,
    Tile,
    TileLink,
    changelist_url,
    patient_action_url,
    register_dashboard_tile,
    register_patient_page_action,
    register_patient_page_section,
)
from patients.models import Patient, SubstanceUseHistory
from patients.selectors import patient_last_use

from . import selectors, services, stages
from .instruments import UnknownInstrumentError, get_definition
from .models import Alert, Assessment, DischargeReason, Episode, Observation, Setting, Stage

JOURNEY = [Stage.ASSESSMENT, Stage.DETOX, Stage.THERAPY, Stage.AFTERCARE, Stage.DISCHARGED]
SEVERITY_ORDER = [Alert.Severity.CRITICAL, Alert.Severity.HIGH, Alert.Severity.MEDIUM, Alert.Severity.LOW]
SEVERITY_TILE = {
    Alert.Severity.CRITICAL: "urgent",
    Alert.Severity.HIGH: "urgent",
    Alert.Severity.MEDIUM: "attention",
    Alert.Severity.LOW: "attention",
}
TRANSITION_ACTION = "episode-transition"
ACKNOWLEDGE_ACTION = "alert-acknowledge"


def _role(request) -> str | None:
    return getattr(request.user, "role", None)


# --- Dashboard -----------------------------------------------------------------------------------------


def census_tiles(request) -> list[Tile]:
    """Open episodes per facility and stage, split by setting: one query for the counts, one for the names."""
    user = request.user
    rows = (
        scope_queryset(Episode.objects.filter(closed_at__isnull=True), user)
        .values_list("patient__facility_id", "stage", "setting")
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = {(facility_id, stage, setting): count for facility_id, stage, setting, count in rows}
    facilities = list(Facility.objects.filter(id__in=user.facility_ids()).values_list("id", "name"))
    settings_shown = [(value, label) for value, label in Setting.choices] + [(None, "Setting not chosen")]
    tiles = []
    for facility_id, facility_name in facilities:
        group = f"Census — {facility_name}"
        for stage in stages.OPEN_STAGES:
            by_setting = [(value, label, counts.get((facility_id, stage, value), 0)) for value, label in settings_shown]
            breakdown = tuple(
                TileLink(
                    label,
                    count,
                    changelist_url(
                        request,
                        Episode,
                        facility_id=facility_id,
                        stage__exact=stage,
                        **({"setting__exact": value} if value else {"setting__isnull": "True"}),
                    ),
                )
                for value, label, count in by_setting
                if count
            )
            tiles.append(
                Tile(
                    title=Stage(stage).label,
                    figure=sum(count for _, _, count in by_setting),
                    url=changelist_url(request, Episode, facility_id=facility_id, stage__exact=stage),
                    group=group,
                    breakdown=breakdown,
                )
            )
    return tiles


def alert_tiles(request) -> list[Tile]:
    """Open alerts by severity, and those addressed to the user or to their role: one query."""
    user = request.user
    counts = scope_queryset(Alert.objects.filter(acknowledged_at__isnull=True), user).aggregate(
        **{severity: Count("pk", filter=Q(severity=severity)) for severity in SEVERITY_ORDER},
        named=Count("pk", filter=Q(target_user=user)),
        role=Count("pk", filter=Q(target_user__isnull=True, target_role=user.role)),
    )
    tiles = [
        Tile(
            title=f"{Alert.Severity(severity).label} alerts",
            figure=counts[severity],
            url=changelist_url(request, Alert, acknowledged_at__isnull="True", severity__exact=severity),
            severity=SEVERITY_TILE[severity] if counts[severity] else "ok",
            group="Open alerts",
        )
        for severity in SEVERITY_ORDER
    ]
    tiles.append(
        Tile(
            title="Alerts naming you",
            figure=counts["named"],
            url=changelist_url(request, Alert, acknowledged_at__isnull="True", target_user__id__exact=user.pk),
            severity="attention" if counts["named"] else "ok",
            group="Open alerts",
        )
    )
    tiles.append(
        Tile(
            title="Alerts for your role",
            figure=counts["role"],
            url=changelist_url(
                request, Alert, acknowledged_at__isnull="True", target_user__isnull="True", target_role__exact=user.role
            ),
            severity="attention" if counts["role"] else "ok",
            group="Open alerts",
            note="Not addressed to a named person.",
        )
    )
    return tiles


def assessment_tiles(request) -> list[Tile]:
    drafts = scope_queryset(Assessment.objects.filter(status=Assessment.Status.DRAFT), request.user).count()
    return [
        Tile(
            title="Assessments to complete",
            figure=drafts,
            url=changelist_url(request, Assessment, status__exact=Assessment.Status.DRAFT),
            severity="attention" if drafts else "ok",
            group="Needs doing",
            note="Recommendation and level-of-care decision pending.",
        )
    ]


# --- Patient page --------------------------------------------------------------------------------------


def _episodes(request, patient: Patient) -> list[Episode]:
    """The patient's episodes the user may see, newest first; read once per request for all sections."""
    cache = request.__dict__.setdefault("_staffadmin_episodes", {})
    if patient.pk not in cache:
        cache[patient.pk] = list(
            selectors.episode_list(actor=request.user).filter(patient=patient).select_related("previous_episode")
        )
    return cache[patient.pk]


def _current(episodes: list[Episode]) -> Episode | None:
    return next((episode for episode in episodes if episode.is_open), episodes[0] if episodes else None)


def current_episode(request, patient: Patient) -> Episode | None:
    """The episode the patient page is about: the open one, else the latest (for other apps' sections)."""
    return _current(_episodes(request, patient))


def _journey(episode: Episode) -> list[tuple[str, str]]:
    """(label, "done" | "current" | "") for each stage, in journey order."""
    reached = {Stage.ASSESSMENT, *episode.transitions.values_list("to_stage", flat=True)}
    return [
        (Stage(stage).label, "current" if stage == episode.stage else ("done" if stage in reached else ""))
        for stage in JOURNEY
    ]


def _moves_for(request, episode: Episode) -> list[tuple[str, str]]:
    """The stages this user's role may move the episode to (the service still checks every rule)."""
    role = _role(request)
    moves = []
    for target in stages.allowed_targets(episode.stage):
        row = stages.transition_for(episode.stage, target)
        if row is not None and role_may(role, row.action):
            moves.append((target, Stage(target).label))
    return moves


def episode_section(request, patient: Patient) -> Section | None:
    episodes = _episodes(request, patient)
    episode = _current(episodes)
    if episode is None:
        return Section(
            title="Episode of care", template="staffadmin/treatment/episode.html", context={}, anchor="episode"
        )
    role = _role(request)
    clinical = role_may(role, "episode_clinical.view")
    transitions = list(episode.transitions.select_related("actor")) if clinical else []
    may_move = episode.is_open and role_may(role, "episode.transition")
    moves = _moves_for(request, episode) if may_move else []
    posted = request.POST if request.method == "POST" else {}
    context = {
        "episode": episode,
        "journey": _journey(episode),
        "clinical": clinical,
        "care_team": [
            (label, getattr(episode, slot))
            for slot, label in (
                ("physician", "Physician"),
                ("nurse", "Nurse"),
                ("primary_counselor", "Primary counselor"),
                ("case_manager", "Case manager"),
            )
        ],
        "transitions": transitions,
        "earlier_episodes": [other for other in episodes if other.pk != episode.pk],
        "moves": moves,
        "categories": DischargeReason.choices,
        "transition_url": patient_action_url(patient.pk, TRANSITION_ACTION) if moves else "",
        "posted": {name: posted.get(name, "") for name in ("to", "reason", "category")},
        "action_name": TRANSITION_ACTION,
    }
    return Section(
        title="Episode of care",
        template="staffadmin/treatment/episode.html",
        context=context,
        records=[*episodes, *transitions],
        anchor="episode",
    )


def alerts_section(request, patient: Patient) -> Section:
    alerts = scope_queryset(Alert.objects.filter(patient=patient), request.user).select_related(
        "target_user", "acknowledged_by"
    )
    rank = {severity: index for index, severity in enumerate(SEVERITY_ORDER)}
    open_alerts = sorted(
        alerts.filter(acknowledged_at__isnull=True),
        key=lambda alert: (rank[alert.severity], -alert.created_at.timestamp()),
    )
    recent = list(alerts.filter(acknowledged_at__isnull=False).order_by("-acknowledged_at")[:5])
    may_acknowledge = role_may(_role(request), "alert.acknowledge")
    return Section(
        title="Alerts",
        template="staffadmin/treatment/alerts.html",
        context={
            "open_alerts": open_alerts,
            "recent": recent,
            "acknowledge_url": patient_action_url(patient.pk, ACKNOWLEDGE_ACTION) if may_acknowledge else "",
            "action_name": ACKNOWLEDGE_ACTION,
        },
        records=[*open_alerts, *recent],
        anchor="alerts",
    )


def _withdrawal_charts(patient: Patient, observations: list[Observation]) -> list:
    charts = []
    for code in ("cows", "ciwa_ar"):
        points = [(obs.observed_at, obs.total) for obs in observations if obs.instrument == code]
        if not points:
            continue
        definition = selectors.instrument_definition(facility=patient.facility, code=code)
        thresholds = [Threshold(f"alert at {value}", value) for value in definition.alert_thresholds.values()]
        charts.append(
            line_chart(
                series=[Series(definition.name, points)],
                y_max=definition.max_total,
                thresholds=thresholds,
                title=f"{definition.name} over time",
            )
        )
    return charts


def _kind(code: str) -> str:
    try:
        return get_definition(code).kind
    except UnknownInstrumentError:
        return ""


def _instrument_name(code: str) -> str:
    try:
        return get_definition(code).name
    except UnknownInstrumentError:
        return code


def _substance_label(code: str) -> str:
    return SubstanceUseHistory.Substance(code).label if code in SubstanceUseHistory.Substance.values else code


def scores_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    observations = list(
        scope_queryset(Observation.objects.filter(episode=episode), request.user)
        .select_related("recorded_by")
        .order_by("-observed_at", "-created_at")
    )
    latest: dict[tuple[str, str], Observation] = {}
    for observation in observations:
        latest.setdefault((observation.instrument, observation.substance), observation)
    last_use = patient_last_use(patient)
    withdrawal = [obs for obs in observations if _kind(obs.instrument) == "withdrawal"]
    rows = [
        (_instrument_name(obs.instrument), _substance_label(obs.substance), obs)
        for obs in sorted(latest.values(), key=lambda obs: (obs.instrument, obs.substance))
    ]
    return Section(
        title="Latest scores",
        template="staffadmin/treatment/scores.html",
        context={
            "latest": rows,
            "charts": _withdrawal_charts(patient, withdrawal),
            "hours_since_last_use": (
                int((timezone.now() - last_use).total_seconds() // 3600) if last_use is not None else None
            ),
            "observations_url": changelist_url(request, Observation, episode__id__exact=episode.pk),
        },
        records=observations,
        anchor="scores",
    )


def assessment_section(request, patient: Patient) -> Section | None:
    episode = current_episode(request, patient)
    if episode is None:
        return None
    assessment = (
        scope_queryset(Assessment.objects.filter(episode=episode), request.user)
        .select_related("recommended_by", "decided_by")
        .first()
    )
    if assessment is None:
        return None
    return Section(
        title="Assessment",
        template="staffadmin/treatment/assessment.html",
        context={
            "assessment": assessment,
            "url": reverse("admin:treatment_assessment_change", args=[assessment.pk]),
        },
        records=[assessment],
        anchor="assessment",
    )


# --- Patient page actions ------------------------------------------------------------------------------


def _posted_id(request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.POST.get(name, ""))
    except ValueError:
        raise NotFound("Not found.") from None


def transition_action(request, patient: Patient) -> str:
    episode = (
        scope_queryset(Episode.objects.filter(patient=patient), request.user)
        .filter(pk=_posted_id(request, "episode"))
        .first()
    )
    if episode is None:
        raise NotFound("Episode not found.")
    target = request.POST.get("to", "")
    services.episode_transition(
        actor=request.user,
        episode=episode,
        to=target,
        reason=request.POST.get("reason", ""),
        category=request.POST.get("category") or None,
    )
    return f"Moved to {Stage(target).label.lower()}."


def acknowledge_action(request, patient: Patient) -> str:
    alert = (
        scope_queryset(Alert.objects.filter(patient=patient), request.user)
        .filter(pk=_posted_id(request, "alert"))
        .first()
    )
    if alert is None:
        raise NotFound("Alert not found.")
    services.alert_acknowledge(actor=request.user, alert=alert)
    return f"Alert acknowledged: {alert.get_severity_display().lower()} {alert.kind}."


register_dashboard_tile(census_tiles, action="episode.view", order=10)
register_dashboard_tile(alert_tiles, action="alert.view", order=20)
register_dashboard_tile(assessment_tiles, action="assessment.view", order=30)
register_patient_page_section(alerts_section, action="alert.view", order=15)
register_patient_page_section(episode_section, action="episode.view", order=20)
register_patient_page_section(scores_section, action="observation.view", order=30)
register_patient_page_section(assessment_section, action="assessment.view", order=35)
register_patient_page_action(TRANSITION_ACTION, transition_action, action="episode.transition")
register_patient_page_action(ACKNOWLEDGE_ACTION, acknowledge_action, action="alert.acknowledge")
