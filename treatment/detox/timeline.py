"""The expected course of withdrawal, as data, and the trend of a series of scores.

Kratom withdrawal (like that of short-acting opioids) usually starts 12-24 hours after the last dose, peaks on
days 2-3 and eases after about a week; psychological symptoms (craving, low mood, poor sleep) may last weeks.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    code: str
    label: str
    from_hour: float
    until_hour: float | None  # None: open-ended
    expect: str


# fmt: off
PHASES: tuple[Phase, ...] = (
    Phase("before_onset", "Before onset", 0, 12,
          "Withdrawal usually starts 12-24 hours after the last dose; symptoms may not have begun yet."),
    Phase("onset", "Onset", 12, 24,
          "Early symptoms: anxiety, restlessness, yawning, runny nose, sweating, aches."),
    Phase("peak", "Peak (days 2-3)", 24, 72,
          "Symptoms are usually at their worst: watch scores, vitals, hydration and sleep closely."),
    Phase("easing", "Easing (days 4-7)", 72, 168,
          "Physical symptoms usually ease over the rest of the first week."),
    Phase("post_acute", "After the first week", 168, None,
          "Physical withdrawal has usually eased; craving, low mood and poor sleep may last weeks."),
)
# fmt: on


def phase_at(hours_since_last_use: float) -> Phase:
    for phase in PHASES:
        if phase.until_hour is None or hours_since_last_use < phase.until_hour:
            return phase
    raise AssertionError("PHASES ends open-ended")


@dataclass(frozen=True)
class Trend:
    """The direction of the latest value against the one before it, with the peak so far."""

    direction: str  # "rising", "falling", "stable" or "insufficient_data"
    latest: int | None
    latest_at: datetime.datetime | None
    previous: int | None
    change: int | None
    peak: int | None
    peak_at: datetime.datetime | None
    count: int


def trend(points: Sequence[tuple[datetime.datetime, int]]) -> Trend:
    """Trend of (time, value) points in time order."""
    if not points:
        return Trend("insufficient_data", None, None, None, None, None, None, 0)
    latest_at, latest = points[-1]
    peak_at, peak = max(points, key=lambda point: (point[1], point[0]))
    if len(points) == 1:
        return Trend("insufficient_data", latest, latest_at, None, None, peak, peak_at, 1)
    previous = points[-2][1]
    change = latest - previous
    direction = "rising" if change > 0 else "falling" if change < 0 else "stable"
    return Trend(direction, latest, latest_at, previous, change, peak, peak_at, len(points))
