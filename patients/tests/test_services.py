"""Rules the services and the database hold, beyond what the API tests show."""

import datetime
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from clinic.accounts.models import User
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from patients import services
from patients.models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    Disclosure,
    DisclosureConsent,
    Patient,
    PatientContact,
    SubstanceUseHistory,
    normalise_phone,
    validate_icd10_code,
)
from patients.selectors import (
    patient_active_condition_names,
    patient_consented_channels,
    patient_substances,
)
from patients.tests.factories import (
    DisclosureConsentFactory,
    DisclosureFactory,
    PatientFactory,
    SubstanceUseHistoryFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("(617) 555-0123", "+16175550123"),
        ("617.555.0123", "+16175550123"),
        ("+1 617 555 0123", "+16175550123"),
        ("1-617-555-0123", "+16175550123"),
        ("+44 20 7183 8750", "+442071838750"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_phones_are_normalised_to_e164_with_us_as_the_default_region(written, e164):
    assert normalise_phone(written) == e164


@pytest.mark.parametrize("written", ["12345", "+1 555 555 0101", "call me", "617-555-01234"])
def test_invalid_phones_are_refused(written):
    with pytest.raises(ValidationError):
        normalise_phone(written)


@pytest.mark.parametrize("code", ["F11.20", "F41.1", "F32", "C4A.0", "T40.2X1A", "U07.1", "Z3A.12", "f33.1"])
def test_icd10_shapes_accepted(code):
    validate_icd10_code(code)


@pytest.mark.parametrize("code", ["F1", "11.20", "F11.", "F11.20000", "FF1.2", "F11-20"])
def test_icd10_shapes_refused(code):
    with pytest.raises(ValidationError):
        validate_icd10_code(code)


def test_register_refuses_a_phone_that_does_not_validate_naming_the_field(staff):
    with pytest.raises(ValidationFailed) as error:
        services.patient_register(
            actor=staff["front_desk"],
            first_name="A",
            last_name="B",
            date_of_birth=datetime.date(1990, 1, 1),
            phone="555",
        )
    assert list(error.value.fields) == ["phone"]
    assert not Patient.objects.exists()


def test_a_refused_registration_takes_no_mrn(staff, facility):
    with pytest.raises(ValidationError):
        services.patient_register(actor=staff["nurse"], first_name="A", last_name="", date_of_birth=None)
    patient = services.patient_register(
        actor=staff["nurse"], first_name="A", last_name="B", date_of_birth=datetime.date(1990, 1, 1)
    )
    assert patient.mrn == "DRC-000001"


def test_mrn_is_unique_per_facility_in_the_database(facility, other_facility):
    PatientFactory(facility=facility, mrn="DRC-000009")
    PatientFactory(facility=other_facility, mrn="DRC-000009")
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(facility=facility, mrn="DRC-000009")


def test_duplicate_candidates_match_case_insensitively_within_the_facility(facility, other_facility):
    dob = datetime.date(1980, 1, 1)
    same = PatientFactory(facility=facility, last_name="O'Brien", date_of_birth=dob)
    PatientFactory(facility=other_facility, last_name="O'Brien", date_of_birth=dob)
    PatientFactory(facility=facility, last_name="O'Brien", date_of_birth=datetime.date(1981, 1, 1))

    found = services.patient_duplicate_candidates(facility=facility, last_name=" o'brien ", date_of_birth=dob, phone="")

    assert found == [same]


def test_a_patient_cannot_be_moved_to_another_facility(staff, patient, other_facility):
    with pytest.raises(ValidationFailed) as error:
        services.patient_update(actor=staff["nurse"], patient=patient, data={"facility": other_facility})
    assert list(error.value.fields) == ["facility"]


def test_the_database_refuses_incomplete_rows_that_bypass_validation(patient):
    with pytest.raises(IntegrityError), transaction.atomic():
        SubstanceUseHistory.objects.create(patient=patient, substance="other", substance_other="")
    with pytest.raises(IntegrityError), transaction.atomic():
        SubstanceUseHistory.objects.create(patient=patient, substance="kratom", amount=5, amount_unit="")
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureConsentFactory(patient=patient, right_to_revoke_acknowledged=False)
    signed = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureConsentFactory(patient=patient, signed_at=signed, expires_at=signed)


def test_records_with_history_protect_the_patient_from_deletion(patient):
    SubstanceUseHistoryFactory(patient=patient)
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).delete()


def test_revocation_keeps_the_consent_and_what_it_allowed(staff, patient):
    consent = DisclosureConsentFactory(patient=patient)

    revoked = services.disclosure_consent_revoke(actor=staff["nurse"], consent=consent, reason="  asked  ")

    stored = DisclosureConsent.objects.get(pk=consent.pk)
    assert stored.revoked_at == revoked.revoked_at is not None
    assert stored.revocation_reason == "asked"
    assert stored.recipients == consent.recipients
    assert stored.information_categories == consent.information_categories


def test_disclosure_consent_defaults_the_disclosing_party_to_the_program(staff, patient):
    now = datetime.datetime.now(tz=datetime.UTC)
    consent = services.disclosure_consent_record(
        actor=staff["nurse"],
        patient=patient,
        information_categories=["attendance"],
        information_description="Attendance",
        recipients=["  Dr.   Lee  "],
        purpose="treatment",
        right_to_revoke_acknowledged=True,
        expires_at=now + datetime.timedelta(days=30),
        signed_by_name="Pat",
        signed_at=now,
    )
    assert consent.disclosing_party == patient.facility.name
    assert consent.recipients == ["Dr. Lee"]


# Demo data


def test_seed_demo_builds_a_realistic_record_once(db):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    models = [Patient, SubstanceUseHistory, CoOccurringCondition, Allergy, PatientContact]
    models += [CommunicationConsent, DisclosureConsent]
    counts = {model: model.objects.count() for model in models}
    creations = AuditEvent.objects.filter(action="create").count()

    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115

    assert {model: model.objects.count() for model in models} == counts
    assert AuditEvent.objects.filter(action="create").count() == creations
    jordan = Patient.objects.get(user=User.objects.get(username="patient"))
    assert patient_substances(jordan) == {"kratom", "alcohol"}
    assert patient_active_condition_names(jordan) == ["Generalized anxiety disorder"]
    assert patient_consented_channels(jordan) == {"sms"}
    assert DisclosureConsent.objects.filter(patient=jordan, revoked_at__isnull=True).exists()
    taylor = Patient.objects.get(last_name="Brooks")
    assert "prescription_opioids" in patient_substances(taylor)
    assert DisclosureConsent.objects.get(patient=taylor).revoked_at is not None
    assert patient_consented_channels(Patient.objects.get(last_name="Ellis")) == set()
    assert all(count > 0 for count in counts.values())


def test_allergy_substance_is_stored_stripped_on_correction(staff, patient):
    allergy = services.allergy_record(actor=staff["nurse"], patient=patient, substance=" Latex ")

    services.allergy_update(actor=staff["nurse"], allergy=allergy, data={"substance": "  Latex gloves "})

    assert Allergy.objects.get().substance == "Latex gloves"


# The accounting of disclosures


def _disclose(actor, consent, **overrides) -> Disclosure:
    fields = {
        "recipient": consent.recipients[0],
        "information_categories": list(consent.information_categories),
        "purpose": consent.purpose,
        "description": "Attendance record",
        "method": Disclosure.Method.MAIL,
        **overrides,
    }
    return services.disclosure_record(actor=actor, consent=consent, **fields)


def test_a_disclosure_made_before_a_revocation_may_still_be_recorded_after_it(staff, patient):
    """The accounting records what happened: a fax sent on Monday under a consent revoked on Tuesday is logged
    on Wednesday. One dated after the revocation is refused."""
    consent = DisclosureConsentFactory(patient=patient, signed_at=timezone.now() - datetime.timedelta(days=5))
    sent = timezone.now() - datetime.timedelta(days=2)
    services.disclosure_consent_revoke(actor=staff["physician"], consent=consent)

    recorded = _disclose(staff["physician"], consent, disclosed_at=sent)
    with pytest.raises(Conflict) as refused:
        _disclose(staff["physician"], consent)

    assert recorded.disclosed_at == sent
    assert refused.value.code == "consent_revoked"
    assert refused.value.fields == {"consent": ["The consent was revoked before the time of the disclosure."]}


def test_the_service_refuses_a_role_that_may_not_disclose_and_a_consent_out_of_scope(staff, other_staff, patient):
    consent = DisclosureConsentFactory(patient=patient)

    with pytest.raises(NotAllowed):
        _disclose(staff["nurse"], consent)
    with pytest.raises(NotAllowed):
        _disclose(patient.user, consent)
    with pytest.raises(NotFound):
        _disclose(other_staff["physician"], consent)
    assert not Disclosure.objects.exists()
    assert not AuditEvent.objects.filter(action="disclose").exists()


def test_a_disclosure_is_never_changed_or_deleted(patient):
    disclosure = DisclosureFactory(patient=patient)
    disclosure.method = Disclosure.Method.PHONE

    with pytest.raises(ValidationError):
        disclosure.save()
    with pytest.raises(ValidationError):
        disclosure.delete()
    with pytest.raises(ProtectedError):  # the consent cannot go from under it
        DisclosureConsent.objects.filter(pk=disclosure.consent_id).delete()

    assert Disclosure.objects.get().method == Disclosure.Method.FAX
