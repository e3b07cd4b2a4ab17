"""Races decided under row locks: two bookings of one counselor (or one patient) for overlapping times, and
more patients than places racing for a group. Each contender runs in its own thread with its own connection
and real transactions; the first to lock the calendars holds them long enough for the others to arrive."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from clinic.errors import Conflict
from treatment.therapy import selectors, services
from treatment.therapy.models import Appointment, GroupAttendance, Modality, TherapySession

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


@pytest.fixture
def slow_conflict_check(monkeypatch):
    """Hold the winner inside its transaction (after reading the calendars) so the others must wait."""
    original = selectors.calendar_conflicts

    def slow(**kwargs):
        found = original(**kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(selectors, "calendar_conflicts", slow)


def race(*contenders):
    barrier = threading.Barrier(len(contenders))
    outcomes: list[object] = [None] * len(contenders)

    def run(index, contender):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = contender()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def booking(episode, counselor, actor, offset_minutes=0):
    def book():
        starts = START + timedelta(minutes=offset_minutes)
        return services.session_schedule(
            actor=actor,
            episode=episode,
            counselor=counselor,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            modality=Modality.CBT,
            location="Room 2",
        )

    return book


@pytest.mark.usefixtures("slow_conflict_check")
def test_one_counselor_booked_twice_at_once_gets_one_session(episode, other_episode, counselor, staff):
    outcomes = race(
        booking(episode, counselor, staff["front_desk"]),
        booking(other_episode, counselor, staff["case_manager"], offset_minutes=20),
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Conflict", "TherapySession"], outcomes
    assert TherapySession.objects.count() == 1
    assert Appointment.objects.count() == 1


@pytest.mark.usefixtures("slow_conflict_check")
def test_one_patient_booked_twice_at_once_gets_one_session(episode, counselor, counselor_b, staff):
    outcomes = race(
        booking(episode, counselor, staff["front_desk"]),
        booking(episode, counselor_b, staff["case_manager"], offset_minutes=10),
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Conflict", "TherapySession"], outcomes
    assert TherapySession.objects.filter(patient=episode.patient).count() == 1


@pytest.mark.usefixtures("slow_conflict_check")
def test_more_patients_than_places_racing_fill_the_group_exactly(facility, counselor, attendee, staff):
    group = services.group_session_schedule(
        actor=staff["front_desk"],
        facility=facility,
        title="Relapse prevention group",
        modality=Modality.RELAPSE_PREVENTION,
        facilitator=counselor,
        starts_at=START,
        ends_at=START + timedelta(minutes=90),
        capacity=2,
        location="Group room",
    )
    people = [attendee() for _ in range(4)]
    outcomes = race(
        *(
            lambda p=person: services.group_roster_add(actor=staff["front_desk"], group=group, patient=p)
            for person in people
        )
    )
    assert sum(isinstance(outcome, GroupAttendance) for outcome in outcomes) == 2, outcomes
    assert all(isinstance(o, GroupAttendance | Conflict) for o in outcomes), outcomes
    assert {o.code for o in outcomes if isinstance(o, Conflict)} == {"group_full"}
    assert GroupAttendance.objects.filter(group_session=group).count() == 2
