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
# patient.transfer: move a patient (no open episode) to another facility the administrator also works in.
# disclosure.*: the accounting of disclosures made under those consents. Every role that reads consents reads
# it, and a patient reads their own (the accounting is theirs to see); recording one (the release of records
# outside the clinic) is for physicians and case managers, who coordinate care and release records.
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
    "disclosure.view",
}
DISCLOSURE_RECORD = {"disclosure.record"}
CLINICAL_RECORD_WRITE = {"patient_clinical.change", "consent.change", "consent.revoke"}
OWN_ACCOUNT = {"me.view", "device.view", "device.revoke", "sync.view"}
OWN_PATIENT_RECORD = {
    "patient.view",  # scoped to their own record; they change it only through patient_profile.change
    "patient_profile.view",
    "patient_profile.change",
    "communication_consent.view",
    "communication_consent.change",
    "consent.view",
    "consent.revoke",
    "disclosure.view",
}
# Treatment (episodes, instruments, assessments, alerts). episode.view: an episode's stage and setting, for
# everyone who books or is treated; episode_clinical.view: its care team, transitions and their reasons.
# observation.create lets a role record the instrument kinds it also holds "observation.record_<kind>" for.
# assessment.change: create, fill in and ask for the recommendation; assessment.complete: accept or override
# it (a physician's level-of-care decision). episode.skip_detox: assessment -> therapy (physicians).
EPISODE_STAGE_READ = {"episode.view"}
TREATMENT_READ = {"episode_clinical.view", "observation.view", "assessment.view", "alert.view"}
TREATMENT_WORK = {"episode.open", "episode.change", "episode.transition", "episode.discharge", "alert.acknowledge"}
TREATMENT_BY_ROLE = {
    Role.PHYSICIAN: {
        "episode.skip_detox",
        "observation.create",
        "observation.record_withdrawal",
        "observation.record_screening",
        "observation.record_diagnosis",
        "assessment.change",
        "assessment.complete",
        "instrument_configuration.view",
        "instrument_configuration.change",
    },
    Role.NURSE: {
        "observation.create",
        "observation.record_withdrawal",
        "observation.record_screening",
        "assessment.change",
    },
    Role.COUNSELOR: {
        "observation.create",
        "observation.record_screening",
        "observation.record_diagnosis",
        "assessment.change",
    },
    Role.CASE_MANAGER: set(),
}
TREATMENT = {
    role: EPISODE_STAGE_READ | TREATMENT_READ | TREATMENT_WORK | extra for role, extra in TREATMENT_BY_ROLE.items()
}
# Reminders (clinic.notifications): staff follow delivery and retry failed ones; a patient reads their own.
REMINDERS_STAFF = {"reminder.view", "reminder.retry"}
REMINDERS_PATIENT = {"reminder.view"}
# Detox (treatment.detox): courses and their observation rounds, the drug catalogue, medication orders and the
# MAR. Physicians and nurses only. Nurses and physicians record rounds and administer; only physicians
# prescribe, discontinue orders and set the round interval (detox_course.change).
DETOX_READ = {
    "detox_course.view",
    "observation_round.view",
    "drug.view",
    "medication_order.view",
    "medication_administration.view",
}
DETOX_NURSING = {"observation_round.record", "medication_administration.create"}
DETOX_PRESCRIBING = {"detox_course.change", "medication_order.create", "medication_order.discontinue"}

# Aftercare: relapse-prevention plans (staff write them; a patient reads theirs, adds their own triggers and
# coping strategies and chooses their daily check-in prompt time), follow-up check-ins held by providers, the
# patient's own daily check-ins (staff read them), relapses and readmission, and the outcome figures
# (aftercare_outcome.view: per episode; aftercare_outcome.view_facility: a facility's totals, nobody's data).
AFTERCARE_READ = {
    "relapse_prevention_plan.view",
    "provider_check_in.view",
    "check_in.view",
    "relapse.view",
    "aftercare_outcome.view",
    "aftercare_outcome.view_facility",
    "provider_check_in_schedule.view",
}
AFTERCARE_PLAN_WRITE = {
    "relapse_prevention_plan.change",
    "relapse_prevention_plan.add_trigger",
    "relapse_prevention_plan.add_coping_strategy",
    "check_in_prompt.change",
}
AFTERCARE_FOLLOW_UP = {"provider_check_in.change", "provider_check_in.complete", "relapse.record", "episode.readmit"}
AFTERCARE = {
    Role.PHYSICIAN: AFTERCARE_READ | AFTERCARE_PLAN_WRITE | AFTERCARE_FOLLOW_UP,
    Role.NURSE: AFTERCARE_READ | {"provider_check_in.complete", "relapse.record"},
    Role.COUNSELOR: AFTERCARE_READ | AFTERCARE_PLAN_WRITE | AFTERCARE_FOLLOW_UP,
    Role.CASE_MANAGER: AFTERCARE_READ | AFTERCARE_PLAN_WRITE | AFTERCARE_FOLLOW_UP,
    Role.CLINIC_ADMIN: {
        "aftercare_outcome.view_facility",
        "provider_check_in_schedule.view",
        "provider_check_in_schedule.change",
    },
    Role.PATIENT: {
        "relapse_prevention_plan.view",
        "relapse_prevention_plan.add_trigger",
        "relapse_prevention_plan.add_coping_strategy",
        "check_in_prompt.change",
        "check_in.view",
        "check_in.create",
    },
}

# Therapy (treatment.therapy): treatment plans, sessions and groups, the patient's appointments, progress notes
# and psychotherapy notes. Front desk books (sessions, groups, rosters, attendance, appointments) but never
# reads a note; counselors and physicians write plans and notes (only a note's author changes or signs it);
# psychotherapy notes are read by their author alone, whatever the role; a patient reads their appointments.
THERAPY_SCHEDULING = {
    "session.view",
    "session.schedule",
    "session.cancel",
    "session.record_attendance",
    "group_session.view",
    "group_session.schedule",
    "group_session.cancel",
    "group_session.manage_roster",
    "group_session.record_attendance",
    "appointment.view",
    "appointment.schedule",
    "appointment.cancel",
}
THERAPY_CALENDAR_READ = {"session.view", "group_session.view", "appointment.view"}
THERAPY_CLINICAL_READ = {"treatment_plan.view", "progress_note.view"}
THERAPY_WRITING = {
    "treatment_plan.change",
    "progress_note.write",
    "psychotherapy_note.view",
    "psychotherapy_note.write",
}
THERAPY = {
    Role.PHYSICIAN: THERAPY_SCHEDULING | THERAPY_CLINICAL_READ | THERAPY_WRITING,
    Role.NURSE: THERAPY_CALENDAR_READ | THERAPY_CLINICAL_READ,
    Role.COUNSELOR: THERAPY_SCHEDULING | THERAPY_CLINICAL_READ | THERAPY_WRITING,
    Role.CASE_MANAGER: THERAPY_SCHEDULING | THERAPY_CLINICAL_READ,
    Role.FRONT_DESK: THERAPY_SCHEDULING,
    Role.CLINIC_ADMIN: THERAPY_CALENDAR_READ,
    Role.PATIENT: {"appointment.view"},
}

# The mobile apps' `/api/v1/me/...` conveniences. A patient's own corners (my_*: appointments, relapse-prevention
# plan, self check-ins, reminder settings, support contacts) are for patients only; staff read the same records
# through the resources above. A staff member's work lists (patients whose care team they are on, detox rounds
# due, alerts addressed to them, follow-up check-ins they hold) are for the roles that do that work.
MY_PATIENT_APP = {
    "my_appointment.view",
    "my_relapse_prevention_plan.view",
    "my_check_in.view",
    "my_check_in.create",
    "my_reminder_settings.view",
    "my_reminder_settings.change",
    "my_support_contact.view",
    "my_support_contact.change",
}
MY_WORK = {
    Role.PHYSICIAN: {"my_patient.view", "my_due_round.view", "my_alert.view", "my_check_in_due.view"},
    Role.NURSE: {"my_patient.view", "my_due_round.view", "my_alert.view", "my_check_in_due.view"},
    Role.COUNSELOR: {"my_patient.view", "my_alert.view", "my_check_in_due.view"},
    Role.CASE_MANAGER: {"my_patient.view", "my_alert.view", "my_check_in_due.view"},
}

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PHYSICIAN: frozenset(
        OWN_ACCOUNT
        | DEMOGRAPHICS_READ
        | DEMOGRAPHICS_WRITE
        | CLINICAL_RECORD_READ
        | CLINICAL_RECORD_WRITE
        | DISCLOSURE_RECORD
        | TREATMENT[Role.PHYSICIAN]
        | DETOX_READ
        | DETOX_NURSING
        | DETOX_PRESCRIBING
        | AFTERCARE[Role.PHYSICIAN]
        | THERAPY[Role.PHYSICIAN]
        | REMINDERS_STAFF
        | MY_WORK[Role.PHYSICIAN]
    ),
    Role.NURSE: frozenset(
        OWN_ACCOUNT
        | DEMOGRAPHICS_READ
        | DEMOGRAPHICS_WRITE
        | CLINICAL_RECORD_READ
        | CLINICAL_RECORD_WRITE
        | TREATMENT[Role.NURSE]
        | DETOX_READ
        | DETOX_NURSING
        | AFTERCARE[Role.NURSE]
        | THERAPY[Role.NURSE]
        | REMINDERS_STAFF
        | MY_WORK[Role.NURSE]
    ),
    Role.COUNSELOR: frozenset(
        OWN_ACCOUNT
        | DEMOGRAPHICS_READ
        | DEMOGRAPHICS_WRITE
        | CLINICAL_RECORD_READ
        | CLINICAL_RECORD_WRITE
        | TREATMENT[Role.COUNSELOR]
        | AFTERCARE[Role.COUNSELOR]
        | THERAPY[Role.COUNSELOR]
        | REMINDERS_STAFF
        | MY_WORK[Role.COUNSELOR]
    ),
    Role.CASE_MANAGER: frozenset(
        OWN_ACCOUNT
        | DEMOGRAPHICS_READ
        | DEMOGRAPHICS_WRITE
        | CLINICAL_RECORD_READ
        | CLINICAL_RECORD_WRITE
        | DISCLOSURE_RECORD
        | TREATMENT[Role.CASE_MANAGER]
        | AFTERCARE[Role.CASE_MANAGER]
        | THERAPY[Role.CASE_MANAGER]
        | REMINDERS_STAFF
        | MY_WORK[Role.CASE_MANAGER]
    ),
    Role.FRONT_DESK: frozenset(
        OWN_ACCOUNT
        | DEMOGRAPHICS_READ
        | DEMOGRAPHICS_WRITE
        | EPISODE_STAGE_READ
        | REMINDERS_STAFF
        | THERAPY[Role.FRONT_DESK]
    ),
    Role.CLINIC_ADMIN: frozenset(
        OWN_ACCOUNT
        | DEMOGRAPHICS_READ
        | REMINDERS_STAFF
        | {"audit_event.view", "device.revoke_any", "device.view_any", "patient.transfer"}
        | AFTERCARE[Role.CLINIC_ADMIN]
        | THERAPY[Role.CLINIC_ADMIN]
    ),
    Role.PATIENT: frozenset(
        OWN_ACCOUNT
        | OWN_PATIENT_RECORD
        | EPISODE_STAGE_READ
        | REMINDERS_PATIENT
        | AFTERCARE[Role.PATIENT]
        | THERAPY[Role.PATIENT]
        | MY_PATIENT_APP
    ),
}


def role_may(role: str | None, action: str) -> bool:
    """True when `role` may perform `action`. Unknown roles and undeclared actions are refused."""
    if role is None:
        return False
    try:
        return action in PERMISSIONS[Role(role)]
    except ValueError:
        return False
