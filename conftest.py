"""Shared fixtures: two facilities, a user per role, a patient with an app login, and API clients."""

import pytest
from rest_framework.test import APIClient

from clinic.accounts.roles import Role
from clinic.tests.factories import FacilityFactory, UserFactory
from patients.tests.factories import patient_with_login


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


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
