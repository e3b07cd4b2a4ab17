from django.db import transaction

from clinic.accounts.models import Facility, User
from clinic.audit.services import audit_record
from clinic.errors import ValidationFailed

from .models import MrnSequence, Patient

MRN_PREFIX_LENGTH = 3


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


@transaction.atomic
def patient_register(*, actor: User, facility: Facility | None = None, **fields) -> Patient:
    facility = _facility_for(actor, facility)
    patient = Patient(facility=facility, **fields)
    patient.mrn = _next_mrn(facility)
    patient.full_clean()
    patient.save(force_insert=True)
    audit_record(actor=actor, action="create", instance=patient)
    return patient


@transaction.atomic
def patient_update(*, actor: User, patient: Patient, data: dict) -> Patient:
    changed = sorted(name for name, value in data.items() if getattr(patient, name) != value)
    for name, value in data.items():
        setattr(patient, name, value)
    patient.full_clean()
    patient.save()
    audit_record(actor=actor, action="update", instance=patient, detail={"fields": changed})
    return patient
