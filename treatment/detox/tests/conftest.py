"""Fixtures for detox: the drug catalogue, an episode in detox with its course and first round, and helpers
for valid vitals and scores of a chosen total. The treatment fixtures (care team, `episode_in`, ...) are reused."""

import datetime

import pytest

from treatment.detox import services
from treatment.detox.models import DetoxCourse, Drug, ObservationRound
from treatment.models import Stage
from treatment.tests.conftest import (  # noqa: F401 - fixtures reused from the treatment app
    audited,
    counselor,
    decide,
    episode_in,
    nurse,
    open_episode,
    physician,
    responses_totalling,
)

NORMAL_VITALS = {
    "pulse": 88,
    "systolic_bp": 128,
    "diastolic_bp": 82,
    "temperature_c": 36.9,
    "respiratory_rate": 16,
    "spo2": 98,
}


@pytest.fixture(autouse=True)
def drug_catalogue(db):
    """The seed list, as the data migration leaves it (again after tests that flush the database)."""
    services.drug_catalogue_ensure()
    return {drug.code: drug for drug in Drug.objects.all()}


@pytest.fixture
def drug(drug_catalogue):
    return drug_catalogue.__getitem__


@pytest.fixture
def detox_episode(open_episode, decide, physician, nurse, patient):  # noqa: F811 - the imported fixtures
    """detox_episode(patient=..., **care_team) -> an episode moved into detox (nurse and physician assigned)."""
    from treatment import services as treatment_services

    def make(patient=patient, **team):
        team = {"physician": physician, "nurse": nurse, **team}
        episode = open_episode(patient, **team)
        decide(episode)
        return treatment_services.episode_transition(actor=physician, episode=episode, to=Stage.DETOX)

    return make


@pytest.fixture
def episode(detox_episode):
    return detox_episode()


@pytest.fixture
def course(episode) -> DetoxCourse:
    return DetoxCourse.objects.get(episode=episode)


def open_round(course) -> ObservationRound:
    return ObservationRound.objects.get(course=course, status__in=ObservationRound.OPEN_STATUSES)


@pytest.fixture
def first_round(course) -> ObservationRound:
    return open_round(course)


def record(observation_round, actor, *, cows=8, ciwa_ar=None, vitals=None, observed_at=None, **extra):
    """Record a round through the service with COWS (and CIWA-Ar) of the given totals."""
    return services.round_record(
        actor=actor,
        observation_round=observation_round,
        cows=responses_totalling("cows", cows),
        ciwa_ar=None if ciwa_ar is None else responses_totalling("ciwa_ar", ciwa_ar),
        vitals=vitals or dict(NORMAL_VITALS),
        observed_at=observed_at,
        **extra,
    )


def minutes(n: float) -> datetime.timedelta:
    return datetime.timedelta(minutes=n)
