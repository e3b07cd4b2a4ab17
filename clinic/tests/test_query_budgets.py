"""Budgets the code keeps, checked without timing anything (bench/ measures the time).

1. Every list endpoint costs the same number of SQL statements for a page of 1 and a page of 50: nothing is
   fetched per row. Routes are found by the route walker of test_scope_walk, so a new list is covered as soon
   as it is registered (its records come from the apps' SCOPED_OBJECT_MAKERS, else a factory of the model in an
   app's tests/factories.py; VISIBLE_MAKERS covers lists that show a fresh staff member none of those).
2. Every filter a list offers can be served by an index: with sequential scans switched off, the planner
   still finds an index path for the list's table (a filter no index serves leaves PostgreSQL nothing but a
   sequential scan, whatever the setting).
3. The hot queries use the index meant for them, read from EXPLAIN: patient search by name, patient detail,
   observations by episode, open alerts of a facility, the reminders' due scan, and sync pages by updated_at.
4. The indexes bench/RESULTS.md found missing at clinic-network scale exist (open alerts, trigram search) and
   the reminder filters add no DISTINCT.
"""

import datetime
import importlib
import json
import uuid

import django_filters
import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from factory.django import DjangoModelFactory
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from clinic.accounts.models import Device
from clinic.accounts.roles import Role, role_may
from clinic.api import sync
from clinic.api.models import Tombstone
from clinic.audit.models import AuditEvent
from clinic.audit.services import _subjects, audit_record_system
from clinic.errors import DomainError
from clinic.notifications.delivery import due_reminders
from clinic.notifications.models import Reminder
from clinic.tests.api.test_scope_walk import NOT_PATIENT_DATA, _object_makers, _role_for, api_routes
from clinic.tests.factories import UserFactory
from patients.models import Patient
from patients.selectors import patient_list
from patients.tests.factories import PatientFactory, patient_with_login
from treatment.models import Alert, Episode, Observation

pytestmark = pytest.mark.django_db

LIST_ROUTES = [
    (path, entry)
    for path, entry in api_routes()
    if "<" not in path and (getattr(entry.callback, "actions", None) or {}).get("get") == "list"
]
# Lists of records that are not patient data (no SCOPED_OBJECT_MAKERS entry): how to make one for the caller.
PLATFORM_MAKERS = {
    Device: lambda caller, patient: Device.objects.create(user=caller, name="phone"),
    AuditEvent: lambda caller, patient: audit_record_system(
        actor=caller, action="login", model_label="accounts.user", facility_id=patient.facility_id
    ),
    Tombstone: lambda caller, patient: Tombstone.objects.create(
        model="patients.allergy", object_id=str(uuid.uuid4()), facility_id=patient.facility_id, reason="deleted"
    ),
}


# Lists whose records a fresh staff member does not see from the generic makers: how to make one they see.
# (module of factories, how to make a record for `caller` about `patient` with it)
VISIBLE_MAKERS = {
    # Psychotherapy notes are read by their author only.
    "psychotherapy-notes/": (
        "treatment.therapy.tests.factories",
        lambda factories, caller, patient: factories.PsychotherapyNoteFactory(episode__patient=patient, author=caller),
    ),
    # Outcomes list the episodes that have entered aftercare.
    "aftercare-outcomes/": (
        "aftercare.tests.factories",
        lambda factories, caller, patient: factories.RelapsePreventionPlanFactory(
            episode__patient=patient, aftercare_started_at=timezone.now()
        ),
    ),
    # The staff app's work lists (me/...): what is assigned or addressed to the caller.
    "me/patients/": (
        "treatment.tests.factories",
        lambda factories, caller, patient: factories.EpisodeFactory(patient=patient, physician=caller, nurse=caller),
    ),
    "me/due-rounds/": (
        "treatment.detox.tests.factories",
        lambda factories, caller, patient: factories.ObservationRoundFactory(
            course__episode__patient=patient, course__episode__physician=caller, course__episode__nurse=caller
        ),
    ),
    "me/check-ins-due/": (
        "aftercare.tests.factories",
        lambda factories, caller, patient: factories.ProviderCheckInFactory(episode__patient=patient, provider=caller),
    ),
    # The patient app's lists (me/...) show the caller's own records; check-ins all go to their one open episode.
    "me/check-ins/": (
        "aftercare.tests.factories",
        lambda factories, caller, patient: factories.CheckInFactory(
            episode=patient.episodes.filter(closed_at__isnull=True).first() or factories.EpisodeFactory(patient=patient)
        ),
    ),
}


def _model(entry):
    return entry.callback.cls.queryset.model


def _factory_for(model):
    """A factory_boy factory for `model` in any app's tests/factories.py (for reference data, e.g. drugs)."""
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.tests.factories")
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, DjangoModelFactory) and value._meta.model is model:
                return value
    return None


def _maker(model):
    makers = _object_makers()
    if model in makers:
        return lambda caller, patient: makers[model](patient)
    if model in PLATFORM_MAKERS:
        return PLATFORM_MAKERS[model]
    factory = _factory_for(model)
    assert factory is not None, f"add a maker for {model._meta.label} (SCOPED_OBJECT_MAKERS or a factory)"
    return lambda caller, patient: factory()


def _caller(entry, facility):
    """A staff member who may list the route; for the patient app's own lists (me/...), a patient."""
    action = entry.callback.cls.action_permissions.get("list")
    role = _role_for(action)
    if role is None and role_may(Role.PATIENT, action):
        return patient_with_login(facility=facility).user
    assert role, f"no staff role may list {action}"
    return UserFactory(role=role, facility=facility)


def _subject(caller, facility):
    """The patient a record of the page is about: the caller themself for a patient, else a new patient."""
    return caller.patient_record if caller.role == Role.PATIENT else PatientFactory(facility=facility)


def _rows(response) -> list:
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def test_list_routes_found():
    paths = {path for path, _ in LIST_ROUTES}
    assert {"patients/", "observations/", "alerts/", "reminders/", "audit-events/"} <= paths
    assert all(path in NOT_PATIENT_DATA or _model(entry) in _object_makers() for path, entry in LIST_ROUTES)
    assert all(_maker(_model(entry)) for _, entry in LIST_ROUTES)


@pytest.mark.parametrize(("path", "entry"), LIST_ROUTES, ids=[path for path, _ in LIST_ROUTES])
def test_list_query_count_is_the_same_for_a_page_of_1_and_of_50(path, entry, facility, api, monkeypatch):
    monkeypatch.setattr(sync, "POSITION_REUSE", datetime.timedelta(0))  # every page reads its sync position
    caller = _caller(entry, facility)
    if path in VISIBLE_MAKERS:
        module, make_visible = VISIBLE_MAKERS[path]
        factories = importlib.import_module(module)

        def make(caller, patient):
            return make_visible(factories, caller, patient)
    else:
        make = _maker(_model(entry))
    for _ in range(51):
        make(caller, _subject(caller, facility))
    client = api(caller)
    url = f"/api/v1/{path}"
    assert client.get(url, {"page_size": 1}).status_code == 200  # warm-up: one-time lookups are not per page

    counts = {}
    for size in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": size})
        assert response.status_code == 200, response.content
        assert len(_rows(response)) >= size, f"{path}: a page of {size} has {len(_rows(response))} rows"
        counts[size] = [query["sql"] for query in queries.captured_queries]
    assert len(counts[1]) == len(counts[50]), (
        f"{path}: {len(counts[1])} statements for a page of 1, {len(counts[50])} for a page of 50:\n"
        + "\n".join(sql[:200] for sql in counts[50] if sql not in counts[1])
    )
    # The audit takes each row's patient and facility from the page as loaded: the same ones a query gives.
    written = {
        event.object_id: (event.patient_id, event.facility_id)
        for event in AuditEvent.objects.filter(model=_model(entry)._meta.label_lower, action="list")
    }
    queried = _subjects(_model(entry), list(written)) if written else {}
    assert written == {str(pk): subject for pk, subject in queried.items()}


# --- EXPLAIN ---------------------------------------------------------------------------------------------


def plan_nodes(queryset) -> list[dict]:
    """Every node of the plan PostgreSQL would use for `queryset`, with sequential scans switched off (in this
    test's transaction only) so that any index able to serve the query is chosen over reading the table."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    nodes, stack = [], [json.loads(queryset.explain(format="json"))[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes


def scans_of(nodes: list[dict], table: str) -> list[dict]:
    return [node for node in nodes if node.get("Relation Name") == table]


def index_conditions(nodes: list[dict], table: str) -> str:
    return " ".join(node.get("Index Cond", "") + node.get("Recheck Cond", "") for node in scans_of(nodes, table))


def list_queryset(entry, user, params: dict):
    """The queryset a list route runs for `user` with query `params`, as its view builds it, before paging."""
    view = entry.callback.cls()
    request = Request(APIRequestFactory().get("/", params))
    request.user = user
    view.request, view.args, view.kwargs, view.action, view.format_kwarg = request, (), {}, "list", None
    view.headers = {}
    return view.filter_queryset(view.get_queryset())


def sample_value(name: str, declared, caller) -> str:
    """A value the filter accepts, of the kind a client sends."""
    choices = declared.extra.get("choices")
    choices = choices() if callable(choices) else choices
    if choices:
        return str(choices[0][0])
    if name == "facility":
        return str(caller.facility_ids()[0])
    if name == "phone":
        return "+16175550123"
    if name == "stage":
        return "detox"
    if isinstance(declared, django_filters.BooleanFilter):
        return "true"
    if isinstance(declared, django_filters.UUIDFilter):
        return str(uuid.uuid4())
    if isinstance(declared, django_filters.NumberFilter):
        return "1"
    if isinstance(declared, django_filters.IsoDateTimeFilter):
        return (timezone.now() - datetime.timedelta(days=1)).isoformat()
    if isinstance(declared, django_filters.DateFilter):
        return "1985-05-17"
    return "rivera"


# Reference data (no SCOPE: e.g. the drug catalogue) is a small table read whole; it needs no index.
FILTERED_ROUTES = [
    (f"{path}?{name}", entry, name)
    for path, entry in LIST_ROUTES
    if getattr(entry.callback.cls, "filterset_class", None) is not None and hasattr(_model(entry), "SCOPE")
    for name in entry.callback.cls.filterset_class.base_filters
]


@pytest.mark.parametrize(("route", "entry", "name"), FILTERED_ROUTES, ids=[route for route, _, _ in FILTERED_ROUTES])
def test_every_list_filter_can_use_an_index(route, entry, name, facility):
    caller = _caller(entry, facility)
    declared = entry.callback.cls.filterset_class.base_filters[name]
    try:
        queryset = list_queryset(entry, caller, {name: sample_value(name, declared, caller)}).order_by()
    except (DomainError, DRFValidationError) as error:  # e.g. a filter whose provider app is not installed
        pytest.skip(f"{route} refuses the sample value: {error}")
    table = _model(entry)._meta.db_table
    scans = scans_of(plan_nodes(queryset), table)
    assert scans, f"{route}: {table} is not read at all"
    assert all(node["Node Type"] != "Seq Scan" for node in scans), f"{route}: no index serves this query"


# --- The hot queries, on a small data set the planner has statistics for -------------------------------


@pytest.fixture
def analysed(facility, other_facility, make_staff):
    """300 patients in two facilities with their episodes, observations, alerts and reminders, written a
    month ago (a few just now), and ANALYZEd: the planner then chooses between indexes as it would in a
    clinic, instead of guessing on empty tables."""
    nurse = make_staff()
    month_ago = timezone.now() - datetime.timedelta(days=30)
    with time_machine.travel(month_ago, tick=False):
        patients = Patient.objects.bulk_create(
            Patient(
                facility=facility if n % 2 else other_facility,
                mrn=f"B-{n:05d}",
                first_name="Alex",
                last_name=f"Name{n}",
                date_of_birth=datetime.date(1980, 1, 1),
            )
            for n in range(300)
        )
        episodes = Episode.objects.bulk_create(Episode(patient=patient, opened_by=nurse) for patient in patients)
        Observation.objects.bulk_create(
            Observation(
                episode=episode,
                instrument="phq9",
                responses={},
                total=3,
                band="minimal",
                definition_version="phq9@1",
                recorded_by=nurse,
            )
            for episode in episodes
            for _ in range(5)
        )
        Alert.objects.bulk_create(
            Alert(
                patient=episode.patient,
                episode=episode,
                kind="phq9_safety",
                severity="critical",
                reason="Safety item above 0.",
                target_role="physician",
                acknowledged_at=month_ago if n % 5 else None,
                acknowledged_by=nurse if n % 5 else None,
            )
            for n, episode in enumerate(episodes)
        )
        Reminder.objects.bulk_create(
            Reminder(
                facility=patient.facility,
                patient=patient,
                kind="appointment",
                channel="sms",
                send_at=month_ago,
                deliver_after=month_ago,
                status="sent" if n % 20 else "scheduled",
                sent_at=month_ago if n % 20 else None,
                idempotency_key=uuid.uuid4().hex,
            )
            for n, patient in enumerate(patients * 2)
        )
    Observation.objects.bulk_create(  # a few fresh ones, for the sync page
        Observation(
            episode=episodes[n],
            instrument="phq9",
            responses={},
            total=3,
            band="minimal",
            definition_version="phq9@1",
            recorded_by=nurse,
        )
        for n in range(3)
    )
    with connection.cursor() as cursor:
        for model in (Patient, Episode, Observation, Alert, Reminder):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return {"nurse": nurse, "patients": patients, "episodes": episodes}


def route(path: str):
    return next(entry for candidate, entry in LIST_ROUTES if candidate == path)


def paged(queryset, size: int = 50):
    """As the cursor paginator asks for a page: newest first, one row more than the page."""
    return queryset.order_by("-created_at", "-id")[: size + 1]


def test_patient_search_by_last_name_reads_the_facility_index(analysed):
    queryset = paged(list_queryset(route("patients/"), analysed["nurse"], {"search": "name12"}), 20)
    assert "facility_id" in index_conditions(plan_nodes(queryset), "patients_patient")


def test_patient_detail_is_a_primary_key_lookup(analysed):
    patient = analysed["patients"][1]
    nodes = plan_nodes(patient_list(actor=analysed["nurse"]).filter(pk=patient.pk))
    assert [node.get("Index Name") for node in scans_of(nodes, "patients_patient")] == ["patients_patient_pkey"]


def test_observations_of_an_episode_read_the_episode_index(analysed):
    episode = analysed["episodes"][1]
    queryset = paged(list_queryset(route("observations/"), analysed["nurse"], {"episode": str(episode.pk)}))
    assert "episode_id" in index_conditions(plan_nodes(queryset), "treatment_observation")


def test_open_alerts_of_a_facility_use_an_index(analysed):
    queryset = paged(list_queryset(route("alerts/"), analysed["nurse"], {"acknowledged": "false"}))
    conditions = index_conditions(plan_nodes(queryset), "treatment_alert")
    assert "patient_id" in conditions or "acknowledged_at" in conditions


def test_the_reminders_due_scan_reads_only_the_waiting_rows(analysed):
    nodes = plan_nodes(due_reminders(timezone.now())[:500])
    assert [node.get("Index Name") for node in scans_of(nodes, "notifications_reminder")] == ["reminder_due_scan"]


@pytest.mark.parametrize("path", ["patients/", "episodes/", "observations/", "alerts/", "reminders/"])
def test_sync_pages_read_the_updated_at_index(path, analysed):
    since = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    entry = route(path)
    queryset = list_queryset(entry, analysed["nurse"], {"updated_since": since}).order_by()
    table = _model(entry)._meta.db_table
    assert "updated_at" in index_conditions(plan_nodes(queryset), table), f"{path}: updated_since is not indexed"


# --- The indexes bench/RESULTS.md found missing at clinic-network scale -----------------------------------


def table_indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [definition for (definition,) in cursor.fetchall()]


def test_open_alerts_have_a_partial_index():
    assert any("WHERE (acknowledged_at IS NULL)" in index for index in table_indexes("treatment_alert"))


def test_patient_names_have_trigram_indexes():
    """On the expressions the search compares (icontains is UPPER(column) LIKE UPPER(...) on PostgreSQL)."""
    indexes = table_indexes("patients_patient")
    for expression in ("upper((first_name)::text) gin_trgm_ops", "upper((last_name)::text) gin_trgm_ops"):
        assert any("USING gin" in index and expression in index for index in indexes), expression
    assert any("upper((mrn)::text)" in index for index in indexes)


def test_patient_search_by_name_can_read_the_trigram_indexes(analysed):
    """The search's own conditions, without the facility filter that a facility's index serves first on a small
    table (at 5,000 patients a facility, bench/RESULTS.md, the planner takes the trigram indexes)."""
    search = route("patients/").callback.cls.filterset_class({"search": "name12"}, queryset=Patient.objects.all())
    used = {node.get("Index Name") for node in plan_nodes(search.qs.order_by())}  # bitmap scans name no relation
    assert {"patient_first_name_trgm", "patient_last_name_trgm", "patient_mrn_upper"} <= used, used


def test_reminder_status_filter_adds_no_distinct(facility):
    caller = _caller(route("reminders/"), facility)
    assert not list_queryset(route("reminders/"), caller, {"status": "scheduled"}).query.distinct
