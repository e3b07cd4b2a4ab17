"""clinic.db.CompiledOnce: the ORM's SQL compiled once, then run with other values, giving the same rows."""

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clinic.db import CompiledOnce
from patients.models import Patient
from patients.tests.factories import PatientFactory, patient_with_login

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_rows_are_the_querysets_rows_with_every_column(facility, other_facility):
    builds = []

    def build(facility_id, last_name):
        builds.append((facility_id, last_name))
        return Patient.objects.filter(facility_id=facility_id, last_name=last_name).order_by("mrn")

    by_name = CompiledOnce(build, uuid.UUID(int=0), "")
    ours = [PatientFactory(facility=facility, last_name="Rivera") for _ in range(3)]
    PatientFactory(facility=other_facility, last_name="Rivera")
    PatientFactory(facility=facility, last_name="Okafor")

    rows = by_name.rows(facility.pk, "Rivera")
    expected = list(Patient.objects.filter(facility=facility, last_name="Rivera").order_by("mrn"))
    assert [_fields(row) for row in rows] == [_fields(row) for row in expected]
    assert {row.pk for row in rows} == {p.pk for p in ours}
    assert all(not row._state.adding for row in rows)
    assert by_name.rows(facility.pk, "Nobody") == []
    assert len(builds) == 1  # compiled with the sample values, never again


def test_first_runs_one_statement_with_the_compiled_limit(facility):
    patient = patient_with_login(facility=facility)
    own = CompiledOnce(lambda user_id: Patient.objects.filter(user_id=user_id).order_by()[:1], 0)
    own.first(patient.user_id)
    with CaptureQueriesContext(connection) as queries:
        found = own.first(patient.user_id)
    assert found.pk == patient.pk
    assert len(queries) == 1
    assert queries[0]["sql"].endswith("LIMIT 1")
    assert own.first(patient.user_id + 1000) is None


def test_a_locking_read_keeps_its_for_update(facility):
    patient = PatientFactory(facility=facility)
    locked = CompiledOnce(lambda pk: Patient.objects.select_for_update().filter(pk=pk), uuid.UUID(int=0))
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert locked.first(patient.pk).pk == patient.pk
    assert "FOR UPDATE" in queries[0]["sql"]


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda pk: Patient.objects.select_related("facility").filter(pk=pk), "no related rows"),
        (lambda pk: Patient.objects.only("id").filter(pk=pk), "every column"),
        (lambda pk: Patient.objects.filter(pk=pk, last_name="Rivera"), "not its values"),
    ],
)
def test_what_it_cannot_run_again_is_refused_when_compiled(build, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        CompiledOnce(build, uuid.UUID(int=0)).rows(uuid.uuid4())


def test_the_number_of_values_is_checked():
    with pytest.raises(TypeError):
        CompiledOnce(lambda pk: Patient.objects.filter(pk=pk), uuid.UUID(int=0)).rows()
