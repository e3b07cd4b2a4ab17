"""The OpenAPI schema describes what the API really answers (schemathesis checks the rest in `make fuzz`),
and the inputs the fuzzer found to give 500s are plain 400s."""

import django_filters
import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from clinic.api.filters import UtcDateTimeFilter
from clinic.api.schema import ENVELOPE_REF


def _views(resolver=None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _views(entry)
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "cls", None)
            if view is not None:
                yield view


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_date_time_filter_normalises_to_utc_and_refuses_what_postgres_cannot_hold():
    loose = []
    for view in set(_views()):
        filterset = getattr(view, "filterset_class", None)
        for name, declared in filterset.base_filters.items() if filterset else []:
            if isinstance(declared, django_filters.DateTimeFilter | django_filters.IsoDateTimeFilter) and not (
                isinstance(declared, UtcDateTimeFilter)
            ):
                loose.append(f"{view.__name__}.{name}")
    assert loose == []


def test_every_operation_documents_its_errors_in_the_envelope(schema):
    undocumented = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            statuses = {code for code in operation["responses"] if code.startswith("4")}
            if not {"403"} <= statuses:
                undocumented.append(f"{method} {path}: {sorted(statuses)}")
            if "{" in path and "404" not in statuses:
                undocumented.append(f"{method} {path}: no 404")
            for code in statuses:
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                if body != ENVELOPE_REF and body.get("allOf", [None])[0] != ENVELOPE_REF:
                    undocumented.append(f"{method} {path} {code}: not the envelope")
    assert undocumented == []


def test_a_refused_transition_is_the_envelope_with_its_details(schema):
    body = schema["paths"]["/api/v1/episodes/{id}/transition/"]["post"]["responses"]["409"]
    wrapped = body["content"]["application/json"]["schema"]["allOf"]
    assert wrapped[0] == ENVELOPE_REF
    assert wrapped[1]["properties"]["error"]["properties"]["details"] == {
        "$ref": "#/components/schemas/TransitionConflict"
    }


def test_role_dependent_episode_bodies_accept_either_view(schema):
    by_role = schema["components"]["schemas"]["EpisodeByRole"]
    assert "oneOf" not in by_role
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in by_role["anyOf"]} == {"EpisodeOutput", "EpisodeSummary"}


@pytest.mark.parametrize("body", [[None, None], "text", 5])
def test_a_login_body_that_is_not_an_object_is_a_400(db, api, body):
    response = api().post("/api/v1/auth/token/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"non_field_errors": [response.json()["error"]["message"]]}


@pytest.mark.parametrize(
    "value",
    ["7909-04-03T11:12:01-20:00", "0001-01-01T00:00:00+00:00", "2026-01-01T00:00:00+16:00"],
)
def test_an_observation_date_postgres_cannot_hold_is_a_400_naming_the_filter(staff, api, value):
    response = api(staff["nurse"]).get("/api/v1/observations/", {"observed_since": value})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["observed_since"]


def test_an_observation_date_with_an_offset_filters_in_utc(staff, api):
    response = api(staff["nurse"]).get("/api/v1/observations/", {"observed_since": "2026-01-01T00:00:00-05:00"})
    assert response.status_code == 200
