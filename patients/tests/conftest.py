"""Fixtures for the patients app's tests."""

import pytest

from clinic.audit.models import AuditEvent


@pytest.fixture
def audit():
    """audit(**filters) -> the matching audit events, newest first."""

    def events(**filters):
        return AuditEvent.objects.filter(**filters).order_by("-id")

    return events
