"""Walks every registered API route and proves that staff of another facility and another patient see
nothing of a record: lists come back without it, details and actions are 404 (or 403 where the role may
not do the action at all), and nothing is written. New endpoints are covered automatically; an endpoint
whose model has no maker in an app's SCOPED_OBJECT_MAKERS fails this test until it gets one. Routes of the
caller's own record without an id (`me/...`) are walked too: what another patient gets there must show nothing
of this record or patient."""

import importlib
import re
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from clinic.accounts.roles import PERMISSIONS, Role, role_may

# Routes that serve no patient records, with the reason.
NOT_PATIENT_DATA = {
    "auth/token/": "login",
    "auth/token/refresh/": "token rotation",
    "auth/logout/": "own session",
    "me/": "own account",
    "me/profile/": "own patient record, no id in the URL (tested in patients/tests/api/test_me.py)",
    "devices/": "own devices (scoped by clinic.accounts.selectors.device_list, tested in test_devices)",
    "devices/<pk>/revoke/": "own devices (tested in test_devices)",
    "audit-events/": "admins' audit log (scoped by facility, tested in test_audit)",
    "sync/deletions/": "tombstones, ids only (scoped by facility / own account, tested in test_sync)",
    "drugs/": "drug catalogue, reference data (tested in treatment/detox/tests/api/test_drugs.py)",
    "drugs/<pk>/": "drug catalogue, reference data (tested in treatment/detox/tests/api/test_drugs.py)",
}


def _routes(resolver: URLResolver | None = None, prefix: str = ""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


# Actions on a route without an id that serve the caller's own record (e.g. GET/PATCH me/reminder-settings/):
# another patient gets their own, so the check is that nothing of this record or patient shows up in it.
OWN_RECORD_ACTIONS = ("retrieve", "partial_update")


def api_routes():
    routes = []
    for pattern, entry in _routes():
        if not pattern.startswith("api/v1/"):
            continue
        if "(?P<format>" in pattern:
            continue
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern.removeprefix("api/v1/"))
        path = path.replace("^", "").replace("$", "")
        routes.append((path, entry))
    return routes


def _object_makers():
    makers = {}
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.tests.factories")
        except ModuleNotFoundError:
            continue
        makers.update(getattr(module, "SCOPED_OBJECT_MAKERS", {}))
    return makers


def _role_for(action: str | None) -> str | None:
    """A staff role allowed to do `action`, so a refusal proves scoping rather than a missing permission."""
    for role in PERMISSIONS:
        if role != Role.PATIENT and action and role_may(role, action):
            return role
    return None


ROUTES = [(path, entry) for path, entry in api_routes() if path not in NOT_PATIENT_DATA]


def test_every_api_route_is_classified():
    assert ROUTES, "no API routes found"
    for path, entry in ROUTES:
        view = entry.callback
        assert getattr(view, "cls", None) is not None, f"{path}: not a DRF view"
        assert getattr(view, "actions", None), f"{path}: not a viewset; scope it or list it in NOT_PATIENT_DATA"


@pytest.mark.parametrize(("path", "entry"), ROUTES, ids=[path for path, _ in ROUTES])
def test_other_facility_and_other_patient_get_nothing(path, entry, patient, other_patient, other_facility, api):
    from clinic.tests.factories import UserFactory

    view = entry.callback
    model = view.cls.queryset.model
    makers = _object_makers()
    assert model in makers, f"{path}: add a maker for {model._meta.label} to its app's SCOPED_OBJECT_MAKERS"
    record = makers[model](patient)
    before = model.objects.filter(pk=record.pk).values().first()

    for method, viewset_action in list(view.actions.items()):
        if method in ("head", "options"):
            continue
        action = view.cls.action_permissions.get(viewset_action)
        role = _role_for(action)
        outsider = UserFactory(role=role or Role.NURSE, facility=other_facility)
        callers = {
            "other facility staff": (outsider, role is not None),
            "other patient": (other_patient.user, bool(action) and role_may(Role.PATIENT, action)),
        }
        url = "/api/v1/" + path.replace("<pk>", str(record.pk))
        for label, (caller, permitted) in callers.items():
            response = getattr(api(caller), method)(url, data={}, format="json")
            where = f"{method.upper()} {url} as {label}"
            if "<pk>" not in path and viewset_action == "list":
                assert response.status_code in (200, 403), where
                if response.status_code == 200:
                    ids = {str(row["id"]) for row in response.json()["results"]}
                    assert str(record.pk) not in ids, f"{where}: sees the record"
            elif "<pk>" in path:
                expected = {404} if permitted else {403, 404}
                assert response.status_code in expected, f"{where}: {response.status_code}"
            elif viewset_action in OWN_RECORD_ACTIONS:  # me/...: always the caller's own, never this record
                assert response.status_code in (200, 400, 403, 404), f"{where}: {response.status_code}"
                body = response.content.decode()
                assert str(record.pk) not in body, f"{where}: shows the record"
                assert str(patient.pk) not in body, f"{where}: shows the patient"
            else:  # create on the collection: must not be able to attach to this patient's record
                assert response.status_code in (400, 403, 404), f"{where}: {response.status_code}"
    assert model.objects.filter(pk=record.pk).values().first() == before, f"{path}: record changed"


def test_unknown_id_is_404_like_out_of_scope(api, staff):
    response = api(staff["nurse"]).get(f"/api/v1/patients/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
