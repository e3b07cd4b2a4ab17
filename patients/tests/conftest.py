"""Fixtures for the patients app's tests."""

import pytest

from clinic.accounts.models import User
from clinic.audit.models import AuditEvent


@pytest.fixture
def audit():
    """audit(**filters) -> the matching audit events, newest first."""

    def events(**filters):
        return AuditEvent.objects.filter(**filters).order_by("-id")

    return events


@pytest.fixture
def assert_constant_list_queries(api, django_assert_max_num_queries):
    """Lists a page of 1 row and a page of 50 rows of `url` as `user`: both stay within `bound` queries and
    take the same number. The caller has made at least 50 rows visible to `user`.

    The user is reloaded for every call so no per-instance cache (facility ids) hides a query.
    """

    def check(user, url: str, bound: int, **params) -> None:
        counts = []
        for rows in (1, 50):
            fresh = User.objects.get(pk=user.pk)
            with django_assert_max_num_queries(bound) as queries:
                response = api(fresh).get(url, {"page_size": rows, **params})
            assert response.status_code == 200, response.content
            assert len(response.json()["results"]) == rows
            counts.append(len(queries))
        assert counts[0] == counts[1], f"queries grow with the page size: {counts}"

    return check
