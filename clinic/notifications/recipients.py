"""Who a reminder goes to: time zone, quiet hours, an address per channel and the channels consented to.

The platform knows no patient model. The patients app registers a resolver at start-up
(`register_patient_resolver` in its AppConfig.ready), and may register a bulk one that resolves many patients
with a constant number of queries (`register_patient_bulk_resolver`), which the batch send uses; staff
recipients are resolved here from the user.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time

from clinic.accounts.models import Facility, User

CHANNELS = frozenset({"email", "sms", "push"})


@dataclass(frozen=True)
class Recipient:
    timezone: str
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    addresses: Mapping[str, str] = field(default_factory=dict)  # channel -> email, phone or push target
    consented_channels: frozenset[str] = frozenset()
    preferred_channel: str | None = None  # None: no preference (or "no messages" for a patient)
    reachable: bool = True  # False for a deceased patient or a deactivated account

    def address(self, channel: str) -> str:
        return self.addresses.get(channel, "")


class NoPatientResolver(RuntimeError):
    pass


_patient_resolver: Callable[[object], Recipient] | None = None
# Takes a sequence of patients, returns {patient pk: Recipient} for every one of them.
_patient_bulk_resolver: Callable[[Sequence], Mapping[object, Recipient]] | None = None


def register_patient_resolver(resolver: Callable[[object], Recipient]) -> None:
    global _patient_resolver  # noqa: PLW0603 - one registry set once at start-up
    _patient_resolver = resolver


def register_patient_bulk_resolver(resolver: Callable[[Sequence], Mapping[object, Recipient]]) -> None:
    """Optional: resolve many patients at once (e.g. their consents in one query) for the batch send.
    Without it, `resolve_recipients` calls the single resolver once per patient."""
    global _patient_bulk_resolver  # noqa: PLW0603 - one registry set once at start-up
    _patient_bulk_resolver = resolver


def staff_recipient(user: User, facility: Facility) -> Recipient:
    """Staff get work messages by email, in the time zone of the facility the reminder is about, at any hour."""
    return Recipient(
        timezone=facility.timezone,
        addresses={"email": user.email},
        consented_channels=frozenset({"email"}),
        preferred_channel="email",
        reachable=user.is_active,
    )


def resolve_recipient(*, facility: Facility, patient=None, staff: User | None = None) -> Recipient:
    if patient is not None:
        if _patient_resolver is None:
            raise NoPatientResolver("No patient resolver is registered (the patients app registers one).")
        return _patient_resolver(patient)
    assert staff is not None
    return staff_recipient(staff, facility)


def _resolve_patients(patients: Sequence) -> Mapping[object, Recipient]:
    if _patient_bulk_resolver is not None:
        return _patient_bulk_resolver(patients)
    if _patient_resolver is None:
        raise NoPatientResolver("No patient resolver is registered (the patients app registers one).")
    return {patient.pk: _patient_resolver(patient) for patient in patients}


def resolve_recipients(reminders: Iterable) -> dict:
    """{reminder pk: Recipient} for reminders loaded with their facility, patient and staff, with the bulk
    patient resolver when one is registered (a constant number of queries whatever the number of reminders)."""
    reminders = list(reminders)
    patients = list({reminder.patient_id: reminder.patient for reminder in reminders if reminder.patient_id}.values())
    by_patient = _resolve_patients(patients) if patients else {}
    return {
        reminder.pk: by_patient[reminder.patient_id]
        if reminder.patient_id
        else staff_recipient(reminder.staff, reminder.facility)
        for reminder in reminders
    }
