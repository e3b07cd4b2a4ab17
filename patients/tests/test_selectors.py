"""The plain reads other apps build their rules on, and the disclosure decision."""

import datetime

import pytest
import time_machine

from patients.models import DisclosureConsent
from patients.selectors import (
    disclosure_decision,
    patient_active_condition_names,
    patient_allergy_substances,
    patient_consented_channels,
    patient_last_use,
    patient_substances,
)
from patients.tests.factories import (
    AllergyFactory,
    CommunicationConsentFactory,
    CoOccurringConditionFactory,
    DisclosureConsentFactory,
    PatientFactory,
    SubstanceUseHistoryFactory,
)

NOW = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC)
pytestmark = pytest.mark.django_db


def test_substances_and_last_use():
    patient, other = PatientFactory(), PatientFactory()
    SubstanceUseHistoryFactory(patient=patient, substance="kratom", last_use=NOW - datetime.timedelta(hours=30))
    SubstanceUseHistoryFactory(patient=patient, substance="alcohol", last_use=NOW - datetime.timedelta(hours=6))
    SubstanceUseHistoryFactory(patient=patient, substance="cannabis", last_use=None)
    SubstanceUseHistoryFactory(patient=other, substance="fentanyl", last_use=NOW)

    assert patient_substances(patient) == {"kratom", "alcohol", "cannabis"}
    assert patient_last_use(patient) == NOW - datetime.timedelta(hours=6)


def test_no_history_means_no_substances_and_no_last_use():
    patient = PatientFactory()
    SubstanceUseHistoryFactory(patient=patient, last_use=None)

    assert patient_substances(PatientFactory()) == set()
    assert patient_last_use(PatientFactory()) is None
    assert patient_last_use(patient) is None


def test_active_condition_names_leave_out_resolved_ones():
    patient = PatientFactory()
    CoOccurringConditionFactory(patient=patient, name="Major depressive disorder")
    CoOccurringConditionFactory(patient=patient, name="Generalized anxiety disorder")
    CoOccurringConditionFactory(patient=patient, name="PTSD", status="resolved")
    CoOccurringConditionFactory(name="Bipolar disorder")

    assert patient_active_condition_names(patient) == ["Generalized anxiety disorder", "Major depressive disorder"]


def test_consented_channels_follow_the_latest_event_per_channel():
    patient = PatientFactory()
    day = datetime.timedelta(days=1)
    CommunicationConsentFactory(patient=patient, channel="sms", action="opt_in", occurred_at=NOW - 3 * day)
    CommunicationConsentFactory(patient=patient, channel="sms", action="opt_out", occurred_at=NOW - 2 * day)
    CommunicationConsentFactory(patient=patient, channel="email", action="opt_out", occurred_at=NOW - 3 * day)
    CommunicationConsentFactory(patient=patient, channel="email", action="opt_in", occurred_at=NOW - day)
    CommunicationConsentFactory(patient=patient, channel="push", action="opt_in", occurred_at=NOW - day)
    CommunicationConsentFactory(channel="sms", action="opt_in")

    assert patient_consented_channels(patient) == {"email", "push"}
    assert patient_consented_channels(PatientFactory()) == set()


def test_an_opt_in_recorded_later_for_an_earlier_time_does_not_override_a_newer_opt_out():
    patient = PatientFactory()
    CommunicationConsentFactory(patient=patient, channel="sms", action="opt_out", occurred_at=NOW)
    CommunicationConsentFactory(
        patient=patient, channel="sms", action="opt_in", occurred_at=NOW - datetime.timedelta(days=5)
    )

    assert patient_consented_channels(patient) == set()


def test_allergy_substances_are_lower_cased_and_stripped():
    patient = PatientFactory()
    AllergyFactory(patient=patient, substance="Penicillin")
    AllergyFactory(patient=patient, substance=" NSAIDs ")
    AllergyFactory(substance="Latex")

    assert patient_allergy_substances(patient) == {"penicillin", "nsaids"}


# The disclosure decision, at a given time


@pytest.fixture
def consent():
    return DisclosureConsentFactory(
        signed_at=NOW - datetime.timedelta(days=1),
        expires_at=NOW + datetime.timedelta(days=30),
        recipients=["County Probation Office", "Dr. Lee"],
        purpose=DisclosureConsent.Purpose.LEGAL,
        information_categories=["attendance", "drug_screens"],
    )


def decide(consent, at=NOW, **overrides):
    question = {"recipient": "Dr. Lee", "purpose": "legal", "information": ["drug_screens"], **overrides}
    return disclosure_decision(patient=consent.patient, at=at, **question)


def test_decision_in_force(consent):
    decision = decide(consent)
    assert (decision.allowed, decision.consent, decision.reason) == (True, consent, "consent_in_force")


def test_decision_before_signing_and_at_expiry(consent):
    assert decide(consent, at=NOW - datetime.timedelta(days=2)).reason == "not_yet_signed"
    assert decide(consent, at=consent.expires_at).reason == "consent_expired"
    assert decide(consent, at=consent.expires_at - datetime.timedelta(seconds=1)).allowed is True


def test_decision_after_revocation_but_not_before_it(consent):
    consent.revoked_at = NOW
    consent.save()

    assert decide(consent, at=NOW - datetime.timedelta(minutes=1)).allowed is True
    assert decide(consent, at=NOW).reason == "consent_revoked"


def test_the_closest_consent_gives_the_reason(consent):
    DisclosureConsentFactory(patient=consent.patient, recipients=["Someone else"], purpose="treatment")

    assert decide(consent, purpose="treatment").reason == "purpose_not_covered"
    assert decide(consent, recipient="Nobody").reason == "recipient_not_named"
    assert decide(consent, information=["diagnoses"]).reason == "information_not_covered"


def test_decisions_are_per_patient(consent):
    stranger = PatientFactory(facility=consent.patient.facility)

    decision = disclosure_decision(patient=stranger, recipient="Dr. Lee", purpose="legal", information=["attendance"])

    assert (decision.allowed, decision.reason) == (False, "no_consent")


def test_now_is_the_default_time(consent):
    with time_machine.travel(consent.expires_at + datetime.timedelta(days=1), tick=False):
        decision = disclosure_decision(
            patient=consent.patient, recipient="Dr. Lee", purpose="legal", information=["attendance"]
        )
    assert decision.reason == "consent_expired"
