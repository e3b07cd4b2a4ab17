"""The expected phase of withdrawal and the score trend (pure rules), and the episode's timeline."""

import datetime

import pytest
import time_machine

from patients.tests.factories import SubstanceUseHistoryFactory
from treatment.detox import selectors
from treatment.detox.timeline import phase_at, trend

from .conftest import open_round, record

T0 = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("hours", "phase"),
    [
        (0, "before_onset"), (11.9, "before_onset"), (12, "onset"), (23.9, "onset"), (24, "peak"), (71.9, "peak"),
        (72, "easing"), (167.9, "easing"), (168, "post_acute"), (24 * 40, "post_acute"),
    ],
)  # fmt: skip
def test_the_phase_follows_hours_since_last_use(hours, phase):
    assert phase_at(hours).code == phase


def test_the_trend_compares_the_latest_value_with_the_one_before():
    at = [T0 + datetime.timedelta(hours=4 * n) for n in range(4)]
    assert trend([]).direction == "insufficient_data"
    assert trend([(at[0], 9)]).direction == "insufficient_data"
    rising = trend([(at[0], 9), (at[1], 14), (at[2], 26), (at[3], 21)])
    assert (rising.direction, rising.latest, rising.previous, rising.change) == ("falling", 21, 26, -5)
    assert (rising.peak, rising.peak_at, rising.count) == (26, at[2], 4)
    assert trend([(at[0], 9), (at[1], 14)]).direction == "rising"
    assert trend([(at[0], 9), (at[1], 9)]).direction == "stable"


def test_the_episode_timeline_reads_last_use_from_the_history_and_scores_from_the_rounds(patient, detox_episode, nurse):
    with time_machine.travel(T0, tick=False) as clock:
        SubstanceUseHistoryFactory(patient=patient, last_use=T0 - datetime.timedelta(hours=30))
        SubstanceUseHistoryFactory(patient=patient, substance="alcohol", amount=4, amount_unit="standard_drinks",
                                   last_use=T0 - datetime.timedelta(hours=50))  # fmt: skip
        episode = detox_episode()
        course = episode.detox_course
        for hour, cows, ciwa, pulse in [(4, 12, 10, 104), (8, 18, 8, 112), (12, 15, 6, 100)]:
            clock.move_to(T0 + datetime.timedelta(hours=hour))
            vitals = {"pulse": pulse, "systolic_bp": 130, "diastolic_bp": 80, "temperature_c": 37.0,
                      "respiratory_rate": 18, "spo2": 97}  # fmt: skip
            record(open_round(course), nurse, cows=cows, ciwa_ar=ciwa, vitals=vitals)
        timeline = selectors.withdrawal_timeline(episode)
    assert timeline.last_use == T0 - datetime.timedelta(hours=30)
    assert timeline.hours_since_last_use == 42.0
    assert timeline.phase.code == "peak"
    cows = timeline.trends["cows"]
    assert (cows.direction, cows.latest, cows.previous, cows.peak) == ("falling", 15, 18, 18)
    assert timeline.trends["ciwa_ar"].direction == "falling"
    assert (timeline.pulse_trend.latest, timeline.pulse_trend.peak) == (100, 112)


def test_without_a_recorded_last_use_there_is_no_phase(episode):
    timeline = selectors.withdrawal_timeline(episode)
    assert (timeline.last_use, timeline.hours_since_last_use, timeline.phase) == (None, None, None)
    assert timeline.trends["cows"].direction == "insufficient_data"
