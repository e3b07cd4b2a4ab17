"""Shared fixtures: two facilities, a user per role, a patient with an app login, and API clients."""

import pytest
from rest_framework.test import APIClient

from clinic.accounts.roles import Role
from clinic.tests.factories import FacilityFactory, UserFactory
from patients.tests.factories import patient_with_login


@pytest.fixture(autouse=True)
def _clear_cache(monkeypatch):
    from django.core.cache import cache

    from clinic.api import sync

    cache.clear()
    # Each test starts without the sync position a previous test read less than a second ago (clinic.api.sync
    # serves it again), so its first list page always reads one and statement counts do not depend on order.
    monkeypatch.setattr(sync, "_last_position", None)


@pytest.fixture
def facility(db):
    return FacilityFactory(name="Demo Recovery Center")


@pytest.fixture
def other_facility(db):
    return FacilityFactory(name="Other Clinic")


@pytest.fixture
def make_staff(facility):
    def make(role: str = Role.NURSE, *, at=None, **kwargs):
        return UserFactory(role=role, facility=at or facility, **kwargs)

    return make


@pytest.fixture
def staff(make_staff):
    """One staff member of each role at `facility`, e.g. staff["physician"]."""
    return {role.value: make_staff(role, username=role.value) for role in Role if role != Role.PATIENT}


@pytest.fixture
def other_staff(make_staff, other_facility):
    """One staff member of each role at `other_facility`."""
    return {
        role.value: make_staff(role, at=other_facility, username=f"other_{role.value}")
        for role in Role
        if role != Role.PATIENT
    }


@pytest.fixture
def patient(facility):
    return patient_with_login(facility=facility)


@pytest.fixture
def other_patient(facility):
    """Another patient of the same facility, with their own login."""
    return patient_with_login(facility=facility)


@pytest.fixture
def api():
    """api(user) -> an APIClient authenticated as that user; api() -> anonymous."""

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def list_page_queries(api, django_assert_max_num_queries, monkeypatch):
    """get(user, url, bound, page_size, rows, **params) -> the number of queries one page of `url` took as
    `user`, within `bound`; the page must hold `rows` rows. The user is reloaded for each call so no
    per-instance cache (facility ids) hides a query, and every page reads its own sync position."""
    import datetime

    from clinic.accounts.models import User
    from clinic.api import sync

    monkeypatch.setattr(sync, "POSITION_REUSE", datetime.timedelta(0))

    def get(user, url: str, bound: int, page_size: int, rows: int, **params) -> int:
        client = api(User.objects.get(pk=user.pk))
        with django_assert_max_num_queries(bound) as captured:
            response = client.get(url, {"page_size": page_size, **params})
        assert response.status_code == 200, response.content
        assert len(response.json()["results"]) == rows
        return len(captured)

    return get


@pytest.fixture
def assert_same_budget_for_3_and_15_rows(list_page_queries):
    """Lists `url` as `user` with 3 rows, then with 15 (each make_row() adds one the user sees): both within
    `bound` queries, and the same number, so nothing is fetched per row."""

    def check(user, url: str, make_row, *, bound: int, **params) -> None:
        counts, made = [], 0
        for rows in (3, 15):
            for _ in range(rows - made):
                make_row()
            made = rows
            counts.append(list_page_queries(user, url, bound, 50, rows, **params))
        assert counts[0] == counts[1], f"queries grow with the rows: {counts}"

    return check


@pytest.fixture
def assert_constant_list_queries(list_page_queries):
    """Lists a page of 1 row and a page of 50 rows of `url` as `user`: both within `bound` queries and the same
    number. The caller has made at least 50 rows visible to `user`."""

    def check(user, url: str, bound: int, **params) -> None:
        counts = [list_page_queries(user, url, bound, rows, rows, **params) for rows in (1, 50)]
        assert counts[0] == counts[1], f"queries grow with the page size: {counts}"

    return check


@pytest.fixture
def assert_list_queries_constant(django_assert_max_num_queries):
    """Lists a page of 1 row (client already authenticated), then of `rows` rows: the bigger page stays within
    the queries the first one took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def check(client, url: str, make_row, *, rows: int = 50) -> None:
        make_row()
        with CaptureQueriesContext(connection) as first:
            response = client.get(url)
        assert response.status_code == 200, response.content
        for _ in range(rows - 1):
            make_row()
        with django_assert_max_num_queries(len(first)):
            response = client.get(url)
        assert response.status_code == 200, response.content
        assert len(response.json()["results"]) == rows

    return check
