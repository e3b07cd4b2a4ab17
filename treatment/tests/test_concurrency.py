"""Races decided by the database: two transitions of one episode, two opens for one patient, two raises of
one alert. Each contender runs in its own thread with its own connection and real transactions."""

import threading
import time

import pytest
from django.db import connection

from clinic.errors import Conflict
from treatment import services, stages
from treatment.models import Alert, Episode, EpisodeTransition, Stage

pytestmark = pytest.mark.django_db(transaction=True)


def race(*contenders, hold: float = 0.3):
    """Run each callable in its own thread, all released together. A handler that waits `hold` seconds
    inside the winner's transaction makes sure the others arrive while it still holds its locks."""
    barrier = threading.Barrier(len(contenders))
    outcomes: list[object] = [None] * len(contenders)

    def slow(episode, transition):
        time.sleep(hold)

    def run(index, contender):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = contender()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = error
        finally:
            connection.close()

    stages.register_transition_handler("*", slow)
    try:
        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contenders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stages.unregister("*", slow)
    return outcomes


def test_two_concurrent_transitions_of_one_episode_cannot_both_win(episode, decide, physician, nurse):
    decide(episode)
    outcomes = race(
        lambda: services.episode_transition(actor=physician, episode=episode, to=Stage.DETOX),
        lambda: services.episode_transition(actor=nurse, episode=episode, to=Stage.DETOX),
    )
    winners = [outcome for outcome in outcomes if isinstance(outcome, Episode)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    assert losers[0].details == {"stage": Stage.DETOX, "allowed": [Stage.THERAPY, Stage.DISCHARGED]}
    assert EpisodeTransition.objects.filter(episode=episode, to_stage=Stage.DETOX).count() == 1
    episode.refresh_from_db()
    assert episode.stage == Stage.DETOX


def test_two_concurrent_opens_for_one_patient_leave_one_open_episode(patient, physician, nurse):
    outcomes = race(
        lambda: services.episode_open(actor=physician, patient=patient),
        lambda: services.episode_open(actor=nurse, patient=patient),
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Conflict", "Episode"], outcomes
    assert Episode.objects.filter(patient=patient, closed_at__isnull=True).count() == 1


def test_concurrent_raises_of_one_alert_make_one_alert(patient):
    def raise_alert():
        return services.alert_raise(
            patient=patient, kind="observation_round_overdue", severity="high",
            reason="Observation round overdue by 30 minutes.", target_role="nurse", dedupe_key="round:42",
        )  # fmt: skip

    outcomes = race(raise_alert, raise_alert, raise_alert)
    assert all(isinstance(outcome, Alert) for outcome in outcomes), outcomes
    assert len({outcome.pk for outcome in outcomes}) == 1
    assert Alert.objects.filter(dedupe_key="round:42").count() == 1


def test_the_database_refuses_a_second_open_episode_even_without_the_service(episode, physician):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Episode.objects.create(patient=episode.patient, opened_by=physician)
