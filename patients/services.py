"""Every write to a patient's record. Each service validates, writes and records its audit event in one
transaction; audit details hold field names and codes, never patient data."""

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import Role, role_may
from clinic.api.models import Tombstone
from clinic.api.sync import tombstone_patient_records, tombstone_record
from clinic.audit.services import audit_record, audit_record_reads
from clinic.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from clinic.scoping import scope_queryset

from .disclosure import REDISCLOSURE_NOTICE, consent_summary
from .extensions import transfer_refusals
from .models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    Disclosure,
    DisclosureConsent,
    MrnSequence,
    Patient,
    PatientContact,
    SubstanceUseHistory,
    normalise_phone,
)
from .selectors import DisclosureDecision, disclosure_consent_refusal, disclosure_decision, recipient_key

MRN_PREFIX_LENGTH = 3

# What a patient may change about themself from the app (GET/PATCH /api/v1/me/profile/).
PATIENT_PROFILE_FIELDS = frozenset(
    {"phone", "email", "timezone", "preferred_channel", "quiet_hours_start", "quiet_hours_end"}
)


def _next_mrn(facility: Facility) -> str:
    sequence, _ = MrnSequence.objects.select_for_update().get_or_create(facility=facility)
    number = sequence.next_number
    sequence.next_number = number + 1
    sequence.save(update_fields=["next_number"])
    prefix = "".join(word[0] for word in facility.name.split()[:MRN_PREFIX_LENGTH]).upper() or "P"
    return f"{prefix}-{number:06d}"


def _facility_for(actor: User, facility: Facility | None) -> Facility:
    allowed = actor.facility_ids()
    if facility is None:
        if len(allowed) != 1:
            raise ValidationFailed("Choose the facility.", fields={"facility": ["This field is required."]})
        return Facility.objects.get(id=allowed[0])
    if facility.id not in allowed:
        raise ValidationFailed(
            "You do not work in that facility.", fields={"facility": ["You do not work in this facility."]}
        )
    return facility


def _normalised_phone(value: str | None, field: str = "phone") -> str:
    try:
        return normalise_phone(value or "")
    except ValidationError as error:
        raise ValidationFailed(f"{field}: {error.messages[0]}", fields={field: error.messages}) from error


def _normalise_contact_fields(data: dict) -> dict:
    data = dict(data)
    if "phone" in data:
        data["phone"] = _normalised_phone(data["phone"])
    if data.get("email"):
        data["email"] = data["email"].strip().lower()
    return data


def _apply_changes(instance: models.Model, data: dict) -> list[str]:
    """Set `data` on `instance` and return the names of the fields whose value changed."""
    changed = sorted(name for name, value in data.items() if getattr(instance, name) != value)
    for name, value in data.items():
        setattr(instance, name, value)
    return changed


def _save_change(*, actor: User, instance: models.Model, data: dict) -> models.Model:
    changed = _apply_changes(instance, data)
    instance.full_clean()
    instance.save()
    audit_record(actor=actor, action="update", instance=instance, detail={"fields": changed})
    return instance


def _create(*, actor: User, instance: models.Model) -> models.Model:
    instance.full_clean()
    instance.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=instance)
    return instance


# Patients


def patient_duplicate_candidates(
    *, facility: Facility, last_name: str, date_of_birth: datetime.date | None, phone: str
) -> list[Patient]:
    """Patients of `facility` who may be the same person: same last name and date of birth, or same phone."""
    same_person = Q(pk__in=[])
    if last_name and date_of_birth:
        same_person |= Q(last_name__iexact=last_name.strip(), date_of_birth=date_of_birth)
    if phone:
        same_person |= Q(phone=phone)
    return list(Patient.objects.filter(same_person, facility=facility).order_by("created_at"))


def patient_register(
    *, actor: User, facility: Facility | None = None, confirm_new_person: bool = False, **fields: Any
) -> Patient:
    """Register a patient with the next MRN of the facility.

    A possible duplicate (same facility, same last name and date of birth, or same phone) is a 409 listing
    the candidates' ids, unless the caller confirms it is a different person. The refusal is audited as a
    read of the candidates, outside the registration's transaction so the event stays.
    """
    facility = _facility_for(actor, facility)
    fields = _normalise_contact_fields(fields)
    if not confirm_new_person:
        candidates = patient_duplicate_candidates(
            facility=facility,
            last_name=fields.get("last_name", ""),
            date_of_birth=fields.get("date_of_birth"),
            phone=fields.get("phone", ""),
        )
        if candidates:
            audit_record_reads(actor=actor, action="duplicate_check", instances=candidates)
            raise Conflict(
                "A patient who may be the same person is already registered. Check the candidates, or "
                "confirm that this is a different person (confirm_new_person).",
                code="possible_duplicate",
                details={"candidates": [str(candidate.pk) for candidate in candidates]},
            )
    return _patient_create(actor=actor, facility=facility, fields=fields)


@transaction.atomic
def _patient_create(*, actor: User, facility: Facility, fields: dict) -> Patient:
    patient = Patient(facility=facility, **fields)
    patient.full_clean(exclude=["mrn"])
    patient.mrn = _next_mrn(facility)
    patient.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=patient)
    return patient


@transaction.atomic
def patient_update(*, actor: User, patient: Patient, data: dict) -> Patient:
    if "facility" in data and data["facility"] != patient.facility:
        raise ValidationFailed(
            "A patient cannot be moved to another facility here.",
            fields={"facility": ["A patient's facility cannot be changed."]},
        )
    data = {name: value for name, value in data.items() if name != "facility"}
    return _save_change(actor=actor, instance=patient, data=_normalise_contact_fields(data))


@transaction.atomic
def patient_transfer(*, actor: User, patient: Patient, facility: Facility, reason: str) -> Patient:
    """Move a patient's record to another facility of the network, with a new MRN there (the old one is kept in
    the audit event). The actor must work in both facilities. Later apps may refuse (treatment: an open episode
    must be discharged, as transferred, first). Everything about the patient leaves the old facility's scope,
    so its staff's offline copies drop it through the deletions feed (left_scope tombstones)."""
    patient = Patient.objects.select_for_update(of=("self",)).select_related("facility").get(pk=patient.pk)
    problems: dict[str, list[str]] = {}
    if facility.pk == patient.facility_id:
        problems["facility"] = ["The patient is already registered at this facility."]
    elif facility.pk not in actor.facility_ids():
        problems["facility"] = ["You do not work in this facility."]
    if not (reason or "").strip():
        problems["reason"] = ["Say why the patient moves."]
    if problems:
        raise ValidationFailed("Check the transfer.", fields=problems)
    refusals = transfer_refusals(patient)
    if refusals:
        raise Conflict(" ".join(refusals), code="transfer_refused")
    old_facility_id, old_mrn = patient.facility_id, patient.mrn
    tombstone_patient_records(patient_pk=patient.pk, facility_id=old_facility_id)
    patient.facility = facility
    patient.mrn = _next_mrn(facility)
    patient.save(update_fields=["facility", "mrn", "updated_at"])
    if patient.user is not None:  # a patient account belongs to its patient's facility (devices, administration)
        patient.user.facilities.remove(old_facility_id)
        patient.user.facilities.add(facility)
    audit_record(
        actor=actor,
        action="transfer",
        instance=patient,
        detail={"from_facility": str(old_facility_id), "to_facility": str(facility.pk), "previous_mrn": old_mrn},
    )
    return patient


@transaction.atomic
def patient_profile_update(*, actor: User, patient: Patient, data: dict) -> Patient:
    """A patient changes their own contact details and preferences; any other field is refused by name."""
    refused = sorted(set(data) - PATIENT_PROFILE_FIELDS)
    if refused:
        raise ValidationFailed(
            "Only contact details and preferences can be changed here.",
            fields={name: ["This field cannot be changed from the patient app."] for name in refused},
        )
    return _save_change(actor=actor, instance=patient, data=_normalise_contact_fields(data))


# Clinical parts of the record


@transaction.atomic
def substance_use_record(*, actor: User, patient: Patient, **fields: Any) -> SubstanceUseHistory:
    return _create(actor=actor, instance=SubstanceUseHistory(patient=patient, **fields))


@transaction.atomic
def substance_use_update(*, actor: User, entry: SubstanceUseHistory, data: dict) -> SubstanceUseHistory:
    return _save_change(actor=actor, instance=entry, data=data)


def _normalise_condition_fields(data: dict) -> dict:
    data = dict(data)
    if data.get("icd10_code"):
        data["icd10_code"] = data["icd10_code"].strip().upper()
    return data


@transaction.atomic
def condition_record(*, actor: User, patient: Patient, **fields: Any) -> CoOccurringCondition:
    condition = CoOccurringCondition(patient=patient, **_normalise_condition_fields(fields))
    return _create(actor=actor, instance=condition)


@transaction.atomic
def condition_update(*, actor: User, condition: CoOccurringCondition, data: dict) -> CoOccurringCondition:
    return _save_change(actor=actor, instance=condition, data=_normalise_condition_fields(data))


@transaction.atomic
def allergy_record(*, actor: User, patient: Patient, **fields: Any) -> Allergy:
    fields["substance"] = fields.get("substance", "").strip()
    return _create(actor=actor, instance=Allergy(patient=patient, **fields))


@transaction.atomic
def allergy_update(*, actor: User, allergy: Allergy, data: dict) -> Allergy:
    if "substance" in data:
        data = {**data, "substance": data["substance"].strip()}
    return _save_change(actor=actor, instance=allergy, data=data)


# Contacts


def _patient_manages_contact(actor: User, patient: Patient, kinds: set[str]) -> None:
    """A patient keeps their own support contacts from the app; emergency contacts are the clinic's to change
    (it relies on them in a crisis), so the app shows them read-only."""
    if actor.role != Role.PATIENT:
        return
    if patient.user_id != actor.pk:
        raise NotAllowed("Patients manage only their own contacts.")
    if kinds - {PatientContact.Kind.SUPPORT}:
        raise NotAllowed("Emergency contacts are changed by the clinic; ask the front desk.")


@transaction.atomic
def contact_add(*, actor: User, patient: Patient, **fields: Any) -> PatientContact:
    _patient_manages_contact(actor, patient, {fields.get("kind", "")})
    contact = PatientContact(patient=patient, **_normalise_contact_fields(fields))
    return _create(actor=actor, instance=contact)


@transaction.atomic
def contact_update(*, actor: User, contact: PatientContact, data: dict) -> PatientContact:
    _patient_manages_contact(actor, contact.patient, {contact.kind, data.get("kind", contact.kind)})
    return _save_change(actor=actor, instance=contact, data=_normalise_contact_fields(data))


@transaction.atomic
def contact_remove(*, actor: User, contact: PatientContact) -> None:
    _patient_manages_contact(actor, contact.patient, {contact.kind})
    audit_record(actor=actor, action="delete", instance=contact)
    tombstone_record(instance=contact, reason=Tombstone.Reason.DELETED)
    contact.delete()


# Consents


@transaction.atomic
def communication_consent_record(
    *,
    actor: User,
    patient: Patient,
    channel: str,
    action: str,
    source: str | None = None,
    occurred_at: datetime.datetime | None = None,
    note: str = "",
) -> CommunicationConsent:
    """Record an opt-in or opt-out for one channel. Earlier events stay: the latest per channel applies.

    A patient records their own choice from the app (source `patient_app`); staff record what the patient
    told or signed (any other source).
    """
    from_app = CommunicationConsent.Source.PATIENT_APP
    if actor.role == Role.PATIENT:
        if source not in (None, from_app):
            raise ValidationFailed(
                "Choices made in the app are recorded as from the app.",
                fields={"source": [f"Must be {from_app} when the patient records it."]},
            )
        source = from_app
    elif source in (None, ""):
        raise ValidationFailed("Say where the choice came from.", fields={"source": ["This field is required."]})
    elif source == from_app:
        raise ValidationFailed(
            "Only the patient records choices from the app.",
            fields={"source": ["Staff record a paper form, a verbal choice, an SMS keyword or an email link."]},
        )
    consent = CommunicationConsent(
        patient=patient,
        channel=channel,
        action=action,
        source=source,
        occurred_at=occurred_at or timezone.now(),
        recorded_by=actor,
        note=note,
    )
    return _create(actor=actor, instance=consent)


@transaction.atomic
def disclosure_consent_record(*, actor: User, patient: Patient, **fields: Any) -> DisclosureConsent:
    """Record a signed consent to disclose (not already expired); the program is the default disclosing party."""
    fields["recipients"] = [" ".join(name.split()) for name in fields.get("recipients") or []]
    if not fields.get("disclosing_party", "").strip():
        fields["disclosing_party"] = patient.facility.name
    consent = DisclosureConsent(patient=patient, recorded_by=actor, **fields)
    return _create(actor=actor, instance=consent)


@transaction.atomic
def disclosure_consent_revoke(*, actor: User, consent: DisclosureConsent, reason: str = "") -> DisclosureConsent:
    """Revoke a consent from now on. The row stays, with who revoked it, when and why."""
    consent = DisclosureConsent.objects.select_for_update().get(pk=consent.pk)
    now = timezone.now()
    if consent.revoked_at is not None:
        raise Conflict("This consent is already revoked.", code="already_revoked")
    if consent.expires_at <= now:
        raise Conflict("This consent has already expired.", code="already_expired")
    consent.revoked_at = now
    consent.revoked_by = actor
    consent.revocation_reason = reason.strip()
    consent.save(update_fields=["revoked_at", "revoked_by", "revocation_reason", "updated_at"])
    audit_record(actor=actor, action="revoke", instance=consent)
    return consent


@transaction.atomic
def disclosure_check(
    *, actor: User, patient: Patient, recipient: str, purpose: str, information: list[str]
) -> DisclosureDecision:
    """Decide whether a disclosure is allowed now, and record that the question was asked and the answer."""
    decision = disclosure_decision(patient=patient, recipient=recipient, purpose=purpose, information=information)
    detail = {
        "purpose": purpose,
        "information": sorted(information),
        "allowed": decision.allowed,
        "reason": decision.reason,
        "consent": str(decision.consent.pk) if decision.consent else None,
    }
    audit_record(actor=actor, action="disclosure_check", instance=patient, detail=detail)
    return decision


# Why a disclosure is refused under the consent it names (selectors.DISCLOSURE_REASONS): the error, its code,
# the request field it names and the message. What the request asks for is a 400; a consent no longer (or not
# yet) in force is a 409, the state of the consent rather than the request being wrong.
DISCLOSURE_REFUSALS = {
    "recipient_not_named": (ValidationFailed, "recipient", "The consent does not name this recipient."),
    "purpose_not_covered": (ValidationFailed, "purpose", "The consent is for another purpose."),
    "information_not_covered": (
        ValidationFailed,
        "information_categories",
        "The consent does not cover every kind of information named.",
    ),
    "not_yet_signed": (Conflict, "disclosed_at", "The consent was not yet signed at the time of the disclosure."),
    "consent_revoked": (Conflict, "consent", "The consent was revoked before the time of the disclosure."),
    "consent_expired": (Conflict, "consent", "The consent had expired by the time of the disclosure."),
}


@transaction.atomic
def disclosure_record(
    *,
    actor: User,
    consent: DisclosureConsent,
    recipient: str,
    information_categories: list[str],
    purpose: str,
    description: str,
    method: str,
    disclosed_at: datetime.datetime | None = None,
) -> Disclosure:
    """Record a disclosure outside the clinic in the accounting of disclosures, under `consent`.

    The consent row is locked first, so a revocation committing meanwhile is seen: a disclosure is recorded
    only if the consent, at `disclosed_at` (now by default; earlier for one made before it is logged), was
    signed, unexpired and unrevoked and covers the recipient, the purpose and every kind of information (the
    same rule as the disclosure question, selectors.disclosure_consent_refusal). The disclosure keeps the
    redisclosure notice and a summary of the consent as they are sent with the records.
    """
    if not role_may(actor.role, "disclosure.record"):
        raise NotAllowed("Your role may not record disclosures.")
    locked = scope_queryset(DisclosureConsent.objects.all(), actor).select_for_update(of=("self",))
    consent = locked.select_related("patient").filter(pk=consent.pk).first()
    if consent is None:
        raise NotFound("Consent not found.")
    now = timezone.now()
    disclosed_at = disclosed_at or now
    if disclosed_at > now:
        raise ValidationFailed(
            "A disclosure is recorded once it is made.", fields={"disclosed_at": ["The time cannot be in the future."]}
        )
    refusal = disclosure_consent_refusal(
        consent, recipient=recipient, purpose=purpose, information=set(information_categories), at=disclosed_at
    )
    if refusal is not None:
        error, field, message = DISCLOSURE_REFUSALS[refusal]
        raise error(message, code=refusal, fields={field: [message]})
    named = {recipient_key(name): name for name in consent.recipients}
    disclosure = Disclosure(
        patient=consent.patient,
        consent=consent,
        recipient=named[recipient_key(recipient)],
        information_categories=list(information_categories),
        purpose=purpose,
        description=description.strip(),
        method=method,
        disclosed_at=disclosed_at,
        disclosed_by=actor,
        notice=REDISCLOSURE_NOTICE,
        consent_summary=consent_summary(consent),
    )
    disclosure.full_clean()
    disclosure.save(force_insert=True)
    detail = {
        "consent": str(consent.pk),
        "purpose": purpose,
        "information": sorted(information_categories),
        "method": method,
    }
    audit_record(actor=actor, action="disclose", instance=disclosure, detail=detail)
    return disclosure
