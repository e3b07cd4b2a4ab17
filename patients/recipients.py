"""How the reminders engine (clinic.notifications) reaches a patient; registered in PatientsConfig.ready."""

from clinic.notifications.recipients import Recipient

from .models import Patient
from .selectors import patient_consented_channels


def patient_recipient(patient: Patient) -> Recipient:
    return Recipient(
        timezone=patient.timezone,
        quiet_hours_start=patient.quiet_hours_start,
        quiet_hours_end=patient.quiet_hours_end,
        addresses={
            "email": patient.email,
            "sms": patient.phone,
            # Push goes to the devices signed in to the patient's own account.
            "push": str(patient.user_id) if patient.user_id else "",
        },
        consented_channels=frozenset(patient_consented_channels(patient)),
        preferred_channel=None if patient.preferred_channel == Patient.Channel.NONE else patient.preferred_channel,
        reachable=patient.status != Patient.Status.DECEASED,
    )
