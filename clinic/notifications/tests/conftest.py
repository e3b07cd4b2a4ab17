import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from clinic.celery import app as celery_app
from clinic.notifications import services
from patients.tests.factories import CommunicationConsentFactory, patient_with_login

NOW = datetime(2026, 5, 11, 16, 0, tzinfo=UTC)  # a Monday, 12:00 in New York


@pytest.fixture
def clock():
    """Time stands still at NOW until a test moves it (`clock.move_to(...)`)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


class Outbox:
    """The file backend's JSON lines, for assertions."""

    def __init__(self, path: Path):
        self.path = path

    def lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def reminder_ids(self) -> list[str]:
        return [line["reminder_id"] for line in self.lines()]


@pytest.fixture
def notifications_settings(settings, tmp_path):
    """The file backend at a fresh path, and the engine's defaults; tests change single entries."""
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "BACKEND": "file",
        "CHANNEL_BACKENDS": {},
        "FILE_PATH": str(tmp_path / "outbox.jsonl"),
        "MAX_ATTEMPTS": 5,
        "BACKOFF_SECONDS": 30,
        "CLAIM_LEASE_SECONDS": 600,
        "SEND_LEASE_SECONDS": 120,
        "BATCH_SIZE": 500,
    }
    return settings


@pytest.fixture
def outbox(notifications_settings, tmp_path):
    return Outbox(tmp_path / "outbox.jsonl")


def configure(settings, **entries):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, **entries}


@pytest.fixture
def eager_tasks():
    """Run enqueued tasks in-process (the real code path up to the broker)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def failure_handler():
    """A delivery-failure handler registered for the test: the list of reminders it was called with."""
    calls = []

    def handler(reminder):
        calls.append(reminder)

    services.register_delivery_failure_handler(handler)
    yield calls
    services.unregister_delivery_failure_handler(handler)


@pytest.fixture
def reachable_patient(facility):
    """A patient who prefers SMS, has a phone and an email, and opted in to SMS and email."""
    patient = patient_with_login(
        facility=facility,
        first_name="Zebulon",
        last_name="Quixworth",
        phone="+16175550123",
        email="zq@example.org",
        preferred_channel="sms",
        timezone="America/New_York",
    )
    for channel in ("sms", "email"):
        CommunicationConsentFactory(patient=patient, channel=channel)
    return patient
