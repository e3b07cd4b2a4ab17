import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.tests.factories import UserFactory
from treatment.detox.models import (
    DetoxCourse,
    Drug,
    Frequency,
    MedicationAdministration,
    MedicationOrder,
    ObservationRound,
)
from treatment.detox.services import drug_catalogue_ensure
from treatment.tests.factories import EpisodeFactory


def catalogue_drug(code: str) -> Drug:
    drug_catalogue_ensure()
    return Drug.objects.get(code=code)


class DrugFactory(factory.django.DjangoModelFactory):
    """A drug a clinic added to the catalogue (the seed list comes from the data migration)."""

    class Meta:
        model = Drug

    code = factory.Sequence(lambda n: f"drug_{n}")
    name = factory.Sequence(lambda n: f"Drug {n}")
    drug_class = "supplement"


class DetoxCourseFactory(factory.django.DjangoModelFactory):
    """A course going on (use the stage machine to start one for real: entering detox is the rule)."""

    class Meta:
        model = DetoxCourse

    episode = factory.SubFactory(EpisodeFactory)
    started_at = factory.LazyFunction(timezone.now)
    started_by = factory.SubFactory(UserFactory, role=Role.PHYSICIAN)


class ObservationRoundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ObservationRound

    course = factory.SubFactory(DetoxCourseFactory)
    episode = factory.LazyAttribute(lambda round_: round_.course.episode)
    sequence = factory.Sequence(lambda n: n + 1)
    due_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(hours=4))


class MedicationOrderFactory(factory.django.DjangoModelFactory):
    """A scheduled clonidine order every 6 hours (pass frequency="prn" with PRN fields to vary)."""

    class Meta:
        model = MedicationOrder

    episode = factory.SubFactory(EpisodeFactory)
    drug = factory.LazyFunction(lambda: catalogue_drug("clonidine"))
    dose = Decimal("0.1")
    dose_unit = "mg"
    route = "oral"
    frequency = Frequency.Q6H
    starts_at = factory.LazyFunction(lambda: timezone.now().replace(second=0, microsecond=0))
    prescriber = factory.SubFactory(UserFactory, role=Role.PHYSICIAN)


class MedicationAdministrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MedicationAdministration

    order = factory.SubFactory(MedicationOrderFactory)
    episode = factory.LazyAttribute(lambda administration: administration.order.episode)
    outcome = MedicationAdministration.Outcome.GIVEN
    scheduled_for = factory.LazyAttribute(lambda administration: administration.order.starts_at)
    administered_at = factory.LazyFunction(timezone.now)
    dose = Decimal("0.1")
    dose_unit = "mg"
    route = "oral"
    recorded_by = factory.SubFactory(UserFactory, role=Role.NURSE)


# How the route-walking scope test makes one record of each detox model for a given patient. The drug catalogue
# is reference data without a patient (its routes are listed in the scope walk's NOT_PATIENT_DATA).
SCOPED_OBJECT_MAKERS = {
    DetoxCourse: lambda patient: DetoxCourseFactory(episode__patient=patient),
    ObservationRound: lambda patient: ObservationRoundFactory(course__episode__patient=patient),
    MedicationOrder: lambda patient: MedicationOrderFactory(episode__patient=patient),
    MedicationAdministration: lambda patient: MedicationAdministrationFactory(order__episode__patient=patient),
}
