"""How the reminders engine (clinic.notifications) reaches a patient; registered in PatientsConfig.ready."""

from collections.abc import Sequence

from clinic.notifications.recipients import Recipient

from .models import CommunicationConsent, Patient
from .selectors import patient_consented_channels


def _recipient(patient: Patient, consented_channels: set[str]) -> Recipient:
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
        consented_channels=frozenset(consented_channels),
        preferred_channel=None if patient.preferred_channel == Patient.Channel.NONE else patient.preferred_channel,
        reachable=patient.status != Patient.Status.DECEASED,
    )


def patient_recipient(patient: Patient) -> Recipient:
    return _recipient(patient, patient_consented_channels(patient))


def patient_recipients(patients: Sequence[Patient]) -> dict:
    """{patient pk: Recipient} for many patients, with the consents of all of them in one query.

    The rule is patient_consented_channels' (the latest event per channel wins), applied to the events of
    every patient at once in the same order.
    """
    latest: dict = {}
    events = (
        CommunicationConsent.objects.filter(patient__in=[patient.pk for patient in patients])
        .order_by("-occurred_at", "-created_at")
        .values_list("patient_id", "channel", "action")
    )
    for patient_id, channel, action in events:
        latest.setdefault(patient_id, {}).setdefault(channel, action)
    return {
        patient.pk: _recipient(
            patient,
            {
                channel
                for channel, action in latest.get(patient.pk, {}).items()
                if action == CommunicationConsent.Action.OPT_IN
            },
        )
        for patient in patients
    }
