"""Roles and what each may do: the one table every API view and admin page consults.

An action is "<resource>.<verb>". A role may do exactly the actions in its row; anything else, including
an action nobody declared yet, is refused (fail closed). Domain apps name their actions here as strings,
so the platform never imports them.
"""

from django.db import models


class Role(models.TextChoices):
    PHYSICIAN = "physician", "Physician"
    NURSE = "nurse", "Nurse"
    COUNSELOR = "counselor", "Counselor"
    CASE_MANAGER = "case_manager", "Case manager"
    FRONT_DESK = "front_desk", "Front desk"
    CLINIC_ADMIN = "clinic_admin", "Clinic administrator"
    PATIENT = "patient", "Patient"


STAFF_ROLES = frozenset(Role) - {Role.PATIENT}
CLINICIANS = frozenset({Role.PHYSICIAN, Role.NURSE, Role.COUNSELOR, Role.CASE_MANAGER})

# Actions grouped by what they touch. Roles below are built from these groups so the table stays readable.
# patient.*: demographics; patient_contact.*: emergency and support contacts; communication_consent.*:
# per-channel opt-in/out; patient_clinical.*: substance-use history, co-occurring conditions, allergies;
# consent.*: 42 CFR Part 2 disclosure consents (their text describes clinical records, so clinicians only);
# patient_profile.*: a patient's own contact details and preferences (GET/PATCH /api/v1/me/profile/).
DEMOGRAPHICS_READ = {"patient.view"}
DEMOGRAPHICS_WRITE = {
    "patient.create",
    "patient.change",
    "patient_contact.view",
    "patient_contact.change",
    "communication_consent.view",
    "communication_consent.change",
}
CLINICAL_RECORD_READ = {
    "patient_clinical.view",
    "consent.view",
    "consent.check",
}
CLINICAL_RECORD_WRITE = {"patient_clinical.change", "consent.change", "consent.revoke"}
OWN_ACCOUNT = {"me.view", "device.view", "device.revoke", "sync.view"}
OWN_PATIENT_RECORD = {
    "patient_profile.view",
    "patient_profile.change",
    "communication_consent.view",
    "communication_consent.change",
    "consent.view",
    "consent.revoke",
}

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PHYSICIAN: frozenset(
        OWN_ACCOUNT | DEMOGRAPHICS_READ | DEMOGRAPHICS_WRITE | CLINICAL_RECORD_READ | CLINICAL_RECORD_WRITE
    ),
    Role.NURSE: frozenset(
        OWN_ACCOUNT | DEMOGRAPHICS_READ | DEMOGRAPHICS_WRITE | CLINICAL_RECORD_READ | CLINICAL_RECORD_WRITE
    ),
    Role.COUNSELOR: frozenset(
        OWN_ACCOUNT | DEMOGRAPHICS_READ | DEMOGRAPHICS_WRITE | CLINICAL_RECORD_READ | CLINICAL_RECORD_WRITE
    ),
    Role.CASE_MANAGER: frozenset(
        OWN_ACCOUNT | DEMOGRAPHICS_READ | DEMOGRAPHICS_WRITE | CLINICAL_RECORD_READ | CLINICAL_RECORD_WRITE
    ),
    Role.FRONT_DESK: frozenset(OWN_ACCOUNT | DEMOGRAPHICS_READ | DEMOGRAPHICS_WRITE),
    Role.CLINIC_ADMIN: frozenset(
        OWN_ACCOUNT | DEMOGRAPHICS_READ | {"audit_event.view", "device.revoke_any", "device.view_any"}
    ),
    Role.PATIENT: frozenset(OWN_ACCOUNT | OWN_PATIENT_RECORD),
}


def role_may(role: str | None, action: str) -> bool:
    """True when `role` may perform `action`. Unknown roles and undeclared actions are refused."""
    if role is None:
        return False
    try:
        return action in PERMISSIONS[Role(role)]
    except ValueError:
        return False
