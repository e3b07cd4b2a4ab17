"""What the dashboard and the patient page show, contributed by the domain apps at start-up.

A domain app registers, from its own `dashboard.py` imported in its `AppConfig.ready`:

- dashboard tiles: `register_dashboard_tile(provider, action=...)`, where `provider(request)` returns the
  tiles it contributes (a figure, its severity and a link to the filtered admin list behind it);
- patient page sections: `register_patient_page_section(provider, action=..., order=...)`, where
  `provider(request, patient)` returns a `Section` (title, template, context and the records it shows,
  which the page audits as read) or None when there is nothing to show;
- patient page actions: `register_patient_page_action(name, handler, action=...)`, where
  `handler(request, patient)` calls one service with the POSTed values and returns what was done, or
  raises a `clinic.errors.DomainError`, whose message the page shows.

Every registration names the role-table action a user needs (fail closed: there is no default), and the
platform calls a provider or handler only for users whose role may do it. Role says nothing of
facilities, so providers still read through `scope_queryset` with `request.user`; tiles are aggregates
(one or two queries each, whatever the number of rows).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from clinic.accounts.roles import role_may
from clinic.scoping import model_scope

# How urgent a tile is; the dashboard colours it accordingly.
SEVERITIES = ("neutral", "ok", "attention", "urgent")


@dataclass(frozen=True)
class TileLink:
    """A part of a tile's figure (e.g. one setting of a stage), with the list behind it."""

    label: str
    figure: int
    url: str = ""


@dataclass(frozen=True)
class Tile:
    """One figure on the dashboard. `url` is the filtered admin list it counts ("" when the user may not
    open that list); `group` is the heading it is shown under, in the order the groups first appear."""

    title: str
    figure: int
    url: str = ""
    severity: str = "neutral"
    group: str = "Today"
    note: str = ""
    breakdown: tuple[TileLink, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"Tile severity must be one of {', '.join(SEVERITIES)}.")


@dataclass(frozen=True)
class Section:
    """One part of the patient page: `template` is rendered with `context` (plus `patient`, `request`,
    `action_error`). `records` are the model instances it shows: the page records a read of each."""

    title: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    records: Sequence[Model] = ()
    anchor: str = ""


TileProvider = Callable[[HttpRequest], Iterable[Tile]]
SectionProvider = Callable[[HttpRequest, Model], Section | None]
ActionHandler = Callable[[HttpRequest, Model], str]


@dataclass(frozen=True)
class _Registration:
    provider: Callable
    action: str
    order: int


@dataclass(frozen=True)
class PatientPageAction:
    name: str
    handler: ActionHandler
    action: str


_tiles: list[_Registration] = []
_sections: list[_Registration] = []
_actions: dict[str, PatientPageAction] = {}


def _require_action(action: str) -> None:
    if not isinstance(action, str) or "." not in action:
        raise ValueError('Name the role-table action a user needs, e.g. action="alert.view".')


def register_dashboard_tile(provider: TileProvider, *, action: str, order: int = 100) -> None:
    """Show the tiles `provider(request)` returns to users whose role may do `action`. Lower `order` first."""
    _require_action(action)
    if all(entry.provider is not provider for entry in _tiles):
        _tiles.append(_Registration(provider, action, order))
        _tiles.sort(key=lambda entry: entry.order)


def register_patient_page_section(provider: SectionProvider, *, action: str, order: int = 100) -> None:
    """Show the section `provider(request, patient)` returns to users whose role may do `action`."""
    _require_action(action)
    if all(entry.provider is not provider for entry in _sections):
        _sections.append(_Registration(provider, action, order))
        _sections.sort(key=lambda entry: entry.order)


def register_patient_page_action(name: str, handler: ActionHandler, *, action: str) -> None:
    """Accept POSTs to the patient page's action `name` from users whose role may do `action`."""
    _require_action(action)
    existing = _actions.get(name)
    if existing is not None and existing.handler is not handler:
        raise ValueError(f"A patient page action named {name!r} is already registered.")
    _actions[name] = PatientPageAction(name, handler, action)


def unregister(provider_or_name) -> None:
    """Remove a tile provider, section provider or action (for tests that register their own)."""
    _tiles[:] = [entry for entry in _tiles if entry.provider is not provider_or_name]
    _sections[:] = [entry for entry in _sections if entry.provider is not provider_or_name]
    if isinstance(provider_or_name, str):
        _actions.pop(provider_or_name, None)


def _may(request: HttpRequest, action: str) -> bool:
    return role_may(getattr(request.user, "role", None), action)


def dashboard_tiles(request: HttpRequest) -> list[Tile]:
    return [tile for entry in _tiles if _may(request, entry.action) for tile in entry.provider(request)]


def patient_page_sections(request: HttpRequest, patient: Model) -> list[Section]:
    sections = (entry.provider(request, patient) for entry in _sections if _may(request, entry.action))
    return [section for section in sections if section is not None]


def patient_page_action(name: str) -> PatientPageAction | None:
    return _actions.get(name)


def local_today(request: HttpRequest) -> tuple[datetime.datetime, datetime.datetime]:
    """Today, midnight to midnight in the time zone of the user's (first) facility, as aware UTC bounds."""
    zone_name = request.user.facilities.order_by("name").values_list("timezone", flat=True).first()
    zone = zoneinfo.ZoneInfo(zone_name or settings.TIME_ZONE)
    start = datetime.datetime.combine(timezone.now().astimezone(zone).date(), datetime.time(), tzinfo=zone)
    end = start + datetime.timedelta(days=1)
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


# --- Links ---------------------------------------------------------------------------------------------


def patient_model() -> type[Model]:
    return apps.get_model(settings.CLINIC_PATIENT_MODEL)


def patient_page_url(patient_id) -> str:
    return reverse("admin:patient_overview", args=[patient_id])


def patient_action_url(patient_id, name: str) -> str:
    return reverse("admin:patient_overview_action", args=[patient_id, name])


def changelist_url(request: HttpRequest, model: type[Model], *, facility_id=None, **filters) -> str:
    """The admin list of `model` narrowed by `filters` (query parameters the list accepts, e.g.
    `stage__exact="detox"`), and to one facility when the user works in several. "" when the user may not
    open that list."""
    model_admin = admin.site._registry.get(model)
    if model_admin is None or not model_admin.has_view_permission(request):
        return ""
    try:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    except NoReverseMatch:
        return ""
    params = {name: value for name, value in filters.items() if value is not None}
    if facility_id is not None and len(request.user.facility_ids()) > 1:
        path = model_scope(model).facility
        native = path in (model_admin.list_filter or ())  # the list's own facility filter
        params[f"{path}__id__exact" if native else "facility"] = str(facility_id)
    return f"{url}?{urlencode(params)}" if params else url
