import datetime

import factory
from django.utils import timezone

from clinic.accounts.roles import Role
from clinic.tests.factories import FacilityFactory, UserFactory
from patients.disclosure import REDISCLOSURE_NOTICE, consent_summary
from patients.models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    Disclosure,
    DisclosureConsent,
    Patient,
    PatientContact,
    SubstanceUseHistory,
)


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


class SubstanceUseHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubstanceUseHistory

    patient = factory.SubFactory(PatientFactory)
    substance = SubstanceUseHistory.Substance.KRATOM
    route = SubstanceUseHistory.Route.ORAL
    amount = 15
    amount_unit = SubstanceUseHistory.AmountUnit.GRAMS
    frequency = SubstanceUseHistory.Frequency.SEVERAL_TIMES_DAILY
    years_of_use = 3
    age_at_first_use = 30
    last_use = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(hours=18))


class CoOccurringConditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CoOccurringCondition

    patient = factory.SubFactory(PatientFactory)
    name = "Generalized anxiety disorder"
    icd10_code = "F41.1"
    status = CoOccurringCondition.Status.ACTIVE


class AllergyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Allergy

    patient = factory.SubFactory(PatientFactory)
    substance = "Penicillin"
    reaction = "Hives"
    severity = Allergy.Severity.MODERATE


class PatientContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientContact

    patient = factory.SubFactory(PatientFactory)
    kind = PatientContact.Kind.EMERGENCY
    name = factory.Faker("name")
    relationship = "Sister"
    phone = "+16175550142"
    may_contact = True


class CommunicationConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CommunicationConsent

    patient = factory.SubFactory(PatientFactory)
    channel = CommunicationConsent.Channel.SMS
    action = CommunicationConsent.Action.OPT_IN
    source = CommunicationConsent.Source.PAPER_FORM
    occurred_at = factory.LazyFunction(timezone.now)


class DisclosureConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DisclosureConsent

    patient = factory.SubFactory(PatientFactory)
    disclosing_party = "Demo Recovery Center"
    information_categories = factory.LazyFunction(lambda: [DisclosureConsent.Information.ATTENDANCE])
    information_description = "Dates of attendance and enrollment status"
    recipients = factory.LazyFunction(lambda: ["Dr. Sam Rivera, Family Health Clinic"])
    purpose = DisclosureConsent.Purpose.CARE_COORDINATION
    right_to_revoke_acknowledged = True
    signed_by_name = "The patient"
    signed_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    expires_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=180))


class DisclosureFactory(factory.django.DjangoModelFactory):
    """A disclosure as disclosure_record writes it (made directly: tests of the service go through it)."""

    class Meta:
        model = Disclosure

    patient = factory.SubFactory(PatientFactory)
    consent = factory.SubFactory(DisclosureConsentFactory, patient=factory.SelfAttribute("..patient"))
    recipient = factory.LazyAttribute(lambda disclosure: disclosure.consent.recipients[0])
    information_categories = factory.LazyAttribute(lambda disclosure: list(disclosure.consent.information_categories))
    purpose = factory.LazyAttribute(lambda disclosure: disclosure.consent.purpose)
    description = "Attendance record, January to March"
    method = Disclosure.Method.FAX
    disclosed_at = factory.LazyFunction(timezone.now)
    disclosed_by = factory.LazyAttribute(
        lambda disclosure: UserFactory(role=Role.CASE_MANAGER, facility=disclosure.patient.facility)
    )
    notice = REDISCLOSURE_NOTICE
    consent_summary = factory.LazyAttribute(lambda disclosure: consent_summary(disclosure.consent))


# How the route-walking scope test (clinic/tests/api/test_scope_walk.py) makes one record of each model
# served by the API, belonging to a given patient. Every app's factories module provides this mapping.
SCOPED_OBJECT_MAKERS = {
    Patient: lambda patient: patient,
    SubstanceUseHistory: lambda patient: SubstanceUseHistoryFactory(patient=patient),
    CoOccurringCondition: lambda patient: CoOccurringConditionFactory(patient=patient),
    Allergy: lambda patient: AllergyFactory(patient=patient),
    PatientContact: lambda patient: PatientContactFactory(patient=patient),
    CommunicationConsent: lambda patient: CommunicationConsentFactory(patient=patient),
    DisclosureConsent: lambda patient: DisclosureConsentFactory(patient=patient),
    Disclosure: lambda patient: DisclosureFactory(patient=patient),
}
