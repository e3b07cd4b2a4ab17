"""The dashboard's context and the patient page: what the registered providers contribute, shown to the people
their role and facilities allow, with every record on the patient page audited as read."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse

from clinic.accounts.roles import role_may
from clinic.audit.services import audit_record_reads
from clinic.errors import DomainError
from clinic.scoping import scope_queryset

from . import registry
from .registry import Tile, changelist_url, patient_model, patient_page_url

PATIENT_PAGE_TEMPLATE = "staffadmin/patient_overview.html"
# Opening the patient page at all needs what opening the patient's record needs.
PATIENT_PAGE_ACTION = "patient.view"


# How many patients "Find a patient" lists on the dashboard; the patient list has the rest.
SEARCH_RESULTS = 20


def dashboard_context(admin_site, request: HttpRequest) -> dict:
    groups: dict[str, list[Tile]] = {}
    for tile in registry.dashboard_tiles(request):
        groups.setdefault(tile.group, []).append(tile)
    query = request.GET.get("q", "").strip()
    return {
        "tile_groups": list(groups.items()),
        "patient_search_url": changelist_url(request, patient_model()),
        "query": query,
        "found": _find_patients(admin_site, request, query) if query else None,
    }


def _find_patients(admin_site, request: HttpRequest, query: str) -> list[tuple[str, str]]:
    """Patients matching `query` with the patient list's own search (so in the user's scope), as
    (heading, patient page URL); each one shown is audited as read."""
    model_admin = admin_site._registry.get(patient_model())
    if model_admin is None or not model_admin.has_view_permission(request):
        return []
    queryset, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), query)
    patients = list(queryset.distinct()[:SEARCH_RESULTS])
    audit_record_reads(actor=request.user, action="list", instances=patients)
    return [(_heading(patient), patient_page_url(patient.pk)) for patient in patients]


@dataclass(frozen=True)
class ActionError:
    """A service's refusal of a patient page action, shown at the top of the page and by its form."""

    action: str
    message: str
    fields: dict[str, list[str]] = field(default_factory=dict)


def _scoped_patient(request: HttpRequest, object_id):
    model = patient_model()
    return scope_queryset(model._default_manager.all(), request.user).filter(pk=object_id).first()


def _not_found(admin_site, request: HttpRequest, object_id) -> HttpResponse:
    """Like the admin's change page: out of scope and missing look the same (a message and the home page)."""
    messages.warning(request, f"Patient with ID “{object_id}” doesn’t exist. Perhaps it was deleted?")
    return HttpResponseRedirect(reverse("admin:index", current_app=admin_site.name))


def _heading(patient) -> str:
    name = " ".join(part for part in (getattr(patient, "first_name", ""), getattr(patient, "last_name", "")) if part)
    return f"{name} ({patient})" if name else str(patient)


def patient_overview(
    admin_site, request: HttpRequest, object_id, *, action_error: ActionError | None = None, status: int = 200
) -> HttpResponse:
    if not role_may(getattr(request.user, "role", None), PATIENT_PAGE_ACTION):
        raise PermissionDenied
    patient = _scoped_patient(request, object_id)
    if patient is None:
        return _not_found(admin_site, request, object_id)
    sections = registry.patient_page_sections(request, patient)
    audit_record_reads(
        actor=request.user,
        action="view",
        instances=[patient, *(record for section in sections for record in section.records)],
    )
    rendered = [
        (
            section,
            render_to_string(
                section.template,
                {**section.context, "patient": patient, "action_error": action_error},
                request=request,
            ),
        )
        for section in sections
    ]
    opts = patient._meta
    patient_admin = admin_site._registry.get(type(patient))
    change_url = ""
    if patient_admin is not None and patient_admin.has_view_permission(request, patient):
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[patient.pk])
    context = {
        **admin_site.each_context(request),
        "title": _heading(patient),
        "subtitle": "Patient overview",
        "patient": patient,
        "opts": opts,
        "sections": rendered,
        "change_url": change_url,
        "changelist_url": changelist_url(request, type(patient)),
        "action_error": action_error,
    }
    return TemplateResponse(request, PATIENT_PAGE_TEMPLATE, context, status=status)


def patient_action(admin_site, request: HttpRequest, object_id, action_name: str) -> HttpResponse:
    """Run a registered action (one service call) for this patient. Done: back to the page with what was
    done. Refused: the page again, with the service's message and the status of its error."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    registered = registry.patient_page_action(action_name)
    if registered is None:
        raise Http404("No such action.")
    role = getattr(request.user, "role", None)
    if not (role_may(role, PATIENT_PAGE_ACTION) and role_may(role, registered.action)):
        raise PermissionDenied
    patient = _scoped_patient(request, object_id)
    if patient is None:
        return _not_found(admin_site, request, object_id)
    try:
        done = registered.handler(request, patient)
    except DomainError as error:
        refusal = ActionError(action=action_name, message=error.message, fields=dict(error.fields))
        return patient_overview(admin_site, request, object_id, action_error=refusal, status=error.status_code)
    messages.success(request, done)
    return HttpResponseRedirect(patient_page_url(patient.pk))
