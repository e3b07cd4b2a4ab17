from datetime import datetime

from django.db.models import Max, QuerySet

from clinic.accounts.models import User
from clinic.scoping import scope_queryset

from .models import Allergy, CommunicationConsent, CoOccurringCondition, Patient, SubstanceUseHistory


def patient_list(*, actor: User) -> QuerySet[Patient]:
    return scope_queryset(Patient.objects.select_related("facility"), actor)


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
    """Channels whose latest consent event is an opt-in."""
    latest = (
        CommunicationConsent.objects.filter(patient=patient)
        .order_by("channel", "-occurred_at", "-created_at")
        .distinct("channel")
        .values_list("channel", "action")
    )
    return {channel for channel, action in latest if action == CommunicationConsent.Action.OPT_IN}


def patient_allergy_substances(patient: Patient) -> set[str]:
    """Allergy substances or classes, lower-cased and stripped, for matching against drug names."""
    return {s.strip().lower() for s in Allergy.objects.filter(patient=patient).values_list("substance", flat=True)}
