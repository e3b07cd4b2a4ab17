from django.db.models import QuerySet

from clinic.accounts.models import User
from clinic.scoping import scope_queryset

from .models import Patient


def patient_list(*, actor: User) -> QuerySet[Patient]:
    return scope_queryset(Patient.objects.select_related("facility"), actor)


def linked_patient_profile(user: User) -> dict:
    """The `patient` entry of GET /api/v1/me/: the patient record a patient account belongs to."""
    patient_id = Patient.objects.filter(user=user).values_list("id", flat=True).first()
    return {"patient": patient_id}
