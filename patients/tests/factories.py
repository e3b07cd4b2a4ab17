import datetime

import factory

from clinic.accounts.roles import Role
from clinic.tests.factories import FacilityFactory, UserFactory
from patients.models import Patient


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    facility = factory.SubFactory(FacilityFactory)
    mrn = factory.Sequence(lambda n: f"T-{n:06d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = datetime.date(1985, 5, 17)
    sex = Patient.Sex.FEMALE
    timezone = "America/New_York"


def patient_with_login(**kwargs) -> Patient:
    """A patient whose own app account is linked to their record."""
    patient = PatientFactory(**kwargs)
    patient.user = UserFactory(role=Role.PATIENT, facility=patient.facility)
    patient.save(update_fields=["user"])
    return patient


# How the route-walking scope test (clinic/tests/api/test_scope_walk.py) makes one record of each model
# served by the API, belonging to a given patient. Every app's factories module provides this mapping.
SCOPED_OBJECT_MAKERS = {Patient: lambda patient: patient}
