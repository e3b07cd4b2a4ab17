"""Fixtures for the therapy app: a frozen clock, a care team, open episodes, and helpers that book sessions and
groups through the services (the services are the rules, so tests never set a status by hand)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from clinic.audit.models import AuditEvent
from clinic.notifications.models import Reminder
from patients.tests.factories import CommunicationConsentFactory, patient_with_login
from treatment import services as treatment_services
from treatment.therapy import services
from treatment.therapy.models import Modality

# A Monday afternoon, well away from any DST change.
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def at(hours: float = 0, *, days: float = 0) -> datetime:
    """A moment relative to the frozen NOW."""
    return NOW + timedelta(days=days, hours=hours)


@pytest.fixture
def clock():
    """Time frozen at NOW; `clock.shift(timedelta)` or `clock.move_to(datetime)` moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def reachable_patient(facility, **fields):
    """A patient with an app login who takes reminders by SMS (opted in), so reminders are really scheduled."""
    patient = patient_with_login(facility=facility, phone="+16175550123", preferred_channel="sms", **fields)
    CommunicationConsentFactory(patient=patient, channel="sms")
    return patient


@pytest.fixture
def patient(facility):
    return reachable_patient(facility)


@pytest.fixture
def other_patient(facility):
    return reachable_patient(facility)


@pytest.fixture
def physician(staff):
    return staff["physician"]


@pytest.fixture
def open_episode(physician):
    """open_episode(patient, **care_team) -> a new open episode (stage assessment)."""

    def make(patient, **team):
        return treatment_services.episode_open(actor=physician, patient=patient, **team)

    return make


@pytest.fixture
def counselor(staff):
    """The demo-like counselor "Rowan Lee" (reminders call them "R. Lee")."""
    user = staff["counselor"]
    user.first_name, user.last_name = "Rowan", "Lee"
    user.save(update_fields=["first_name", "last_name"])
    return user


@pytest.fixture
def counselor_b(make_staff):
    return make_staff("counselor", username="counselor_b", first_name="Sam", last_name="Ortiz")


@pytest.fixture
def episode(open_episode, patient, counselor):
    """The patient's open episode, with `counselor` as their primary counselor."""
    return open_episode(patient, primary_counselor=counselor)


@pytest.fixture
def other_episode(open_episode, other_patient, counselor):
    return open_episode(other_patient, primary_counselor=counselor)


@pytest.fixture
def book(counselor, staff):
    """book(episode, starts_in_hours, **overrides) -> a session booked through the service (50 minutes)."""

    def make(episode, hours: float = 24, *, minutes: int = 50, actor=None, **fields):
        values = {
            "counselor": counselor,
            "starts_at": at(hours),
            "ends_at": at(hours) + timedelta(minutes=minutes),
            "modality": Modality.CBT,
            "location": "Room 2",
            **fields,
        }
        return services.session_schedule(actor=actor or staff["front_desk"], episode=episode, **values)

    return make


@pytest.fixture
def group(facility, counselor, staff, clock):
    """A relapse-prevention group tomorrow at 16:00 UTC for 90 minutes, capacity 3, led by `counselor`."""
    return services.group_session_schedule(
        actor=staff["front_desk"],
        facility=facility,
        title="Relapse prevention group",
        modality=Modality.RELAPSE_PREVENTION,
        facilitator=counselor,
        starts_at=at(26),
        ends_at=at(27.5),
        capacity=3,
        location="Group room",
    )


@pytest.fixture
def attendee(facility, open_episode, counselor):
    """attendee(**patient_fields) -> a new patient of `facility` with an open episode."""

    def make(**fields):
        patient = reachable_patient(facility, **fields)
        open_episode(patient, primary_counselor=counselor)
        return patient

    return make


def audited(*, action: str, model: str, object_id) -> bool:
    return AuditEvent.objects.filter(action=action, model=model, object_id=str(object_id)).exists()


def pending_reminders(**filters):
    return Reminder.objects.filter(status=Reminder.Status.SCHEDULED, **filters)
