from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, QuerySet
from django.utils import timezone

from clinic.accounts.models import User
from clinic.db import CompiledOnce
from clinic.errors import NotFound
from clinic.scoping import scope_queryset

from .models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    DisclosureConsent,
    Patient,
    SubstanceUseHistory,
)


def patient_list(*, actor: User) -> QuerySet[Patient]:
    return scope_queryset(Patient.objects.select_related("facility"), actor)


def patient_get(*, actor: User, patient_id) -> Patient:
    """The patient with this id if `actor` may see them; otherwise 404, exactly like a missing patient."""
    patient = patient_list(actor=actor).filter(pk=patient_id).first()
    if patient is None:
        raise NotFound("Patient not found.")
    return patient


# The caller's own record, read on every patient-app write (check-ins first): compiled once (see clinic.db).
_OWN_RECORD = CompiledOnce(lambda user_id: Patient.objects.filter(user_id=user_id).order_by()[:1], 0)
_OWN_RECORD_FOR_UPDATE = CompiledOnce(
    lambda user_id: Patient.objects.select_for_update().filter(user_id=user_id).order_by()[:1], 0
)


def own_patient_record(*, actor: User, for_update: bool = False) -> Patient:
    """The patient record linked to a patient's own account (404 when there is none); `for_update` locks the
    row until the caller's transaction ends."""
    patient = (_OWN_RECORD_FOR_UPDATE if for_update else _OWN_RECORD).first(actor.pk)
    if patient is None:
        raise NotFound("No patient record is linked to this account.")
    return patient


def linked_patient_profile(user: User) -> dict:
    """The `patient` entry of GET /api/v1/me/: the patient record a patient account belongs to."""
    patient_id = Patient.objects.filter(user=user).values_list("id", flat=True).first()
    return {"patient": patient_id}


# Plain reads for other apps' rules. The caller has already scoped `patient` to the person asking.


def patient_substances(patient: Patient) -> set[str]:
    """The substance codes (SubstanceUseHistory.Substance) in the patient's history."""
    return set(SubstanceUseHistory.objects.filter(patient=patient).values_list("substance", flat=True))


def patient_last_use(patient: Patient) -> datetime | None:
    """The latest recorded last use of any substance, or None when no entry records one."""
    return SubstanceUseHistory.objects.filter(patient=patient).aggregate(latest=Max("last_use"))["latest"]


def patient_active_condition_names(patient: Patient) -> list[str]:
    return list(
        CoOccurringCondition.objects.filter(patient=patient, status=CoOccurringCondition.Status.ACTIVE)
        .order_by("name")
        .values_list("name", flat=True)
    )


def patient_consented_channels(patient: Patient) -> set[str]:
    """Channels whose latest consent event is an opt-in (a handful of rows per patient; portable SQL)."""
    latest: dict[str, str] = {}
    events = CommunicationConsent.objects.filter(patient=patient).order_by("-occurred_at", "-created_at")
    for channel, action in events.values_list("channel", "action"):
        latest.setdefault(channel, action)
    return {channel for channel, action in latest.items() if action == CommunicationConsent.Action.OPT_IN}


def patient_allergy_substances(patient: Patient) -> set[str]:
    """Allergy substances or classes, lower-cased and stripped, for matching against drug names."""
    return {s.strip().lower() for s in Allergy.objects.filter(patient=patient).values_list("substance", flat=True)}


# 42 CFR Part 2 disclosure decisions


def disclosure_consent_get(*, actor: User, consent_id) -> DisclosureConsent:
    """The consent with this id if `actor` may see it; otherwise 404, exactly like a missing consent."""
    consent = scope_queryset(DisclosureConsent.objects.all(), actor).filter(pk=consent_id).first()
    if consent is None:
        raise NotFound("Consent not found.")
    return consent


@dataclass(frozen=True)
class DisclosureDecision:
    allowed: bool
    consent: DisclosureConsent | None
    reason: str


# Why a consent does not cover a disclosure, in the order the checks run. With no consent that covers it,
# the reason given is that of the consent that came closest (passed the most checks): "the consent for this
# recipient and purpose was revoked" says more than "no consent".
DISCLOSURE_REASONS = (
    "no_consent",
    "recipient_not_named",
    "purpose_not_covered",
    "information_not_covered",
    "not_yet_signed",
    "consent_revoked",
    "consent_expired",
)


def recipient_key(name: str) -> str:
    """A recipient's name as compared: case and spacing do not matter."""
    return " ".join(name.split()).casefold()


def disclosure_consent_refusal(
    consent: DisclosureConsent, *, recipient: str, purpose: str, information: set[str], at: datetime
) -> str | None:
    """Why `consent` does not cover this disclosure at `at` (one of DISCLOSURE_REASONS), or None when it does."""
    if recipient_key(recipient) not in {recipient_key(name) for name in consent.recipients}:
        return "recipient_not_named"
    if consent.purpose != purpose:
        return "purpose_not_covered"
    covered = set(consent.information_categories)
    if DisclosureConsent.Information.ALL_RECORDS not in covered and not information <= covered:
        return "information_not_covered"
    if consent.signed_at > at:
        return "not_yet_signed"
    if consent.revoked_at is not None and consent.revoked_at <= at:
        return "consent_revoked"
    if consent.expires_at <= at:
        return "consent_expired"
    return None


def disclosure_decision(
    *, patient: Patient, recipient: str, purpose: str, information: Iterable[str], at: datetime | None = None
) -> DisclosureDecision:
    """Whether the patient's consents allow disclosing `information` to `recipient` for `purpose` at `at`
    (now by default). Allowed only under a signed, unexpired, unrevoked consent naming the recipient, the
    purpose and every kind of information asked for (or all records)."""
    at = at or timezone.now()
    wanted = set(information)
    closest = "no_consent"
    consents = DisclosureConsent.objects.filter(patient=patient).order_by("-signed_at", "-created_at")
    for consent in consents:
        failed = disclosure_consent_refusal(consent, recipient=recipient, purpose=purpose, information=wanted, at=at)
        if failed is None:
            return DisclosureDecision(allowed=True, consent=consent, reason="consent_in_force")
        if DISCLOSURE_REASONS.index(failed) > DISCLOSURE_REASONS.index(closest):
            closest = failed
    return DisclosureDecision(allowed=False, consent=None, reason=closest)
