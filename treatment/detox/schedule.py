"""Time rules of detox as data and small pure functions: when rounds are overdue, when scheduled doses fall,
how long a score may justify a symptom-triggered dose."""

import datetime
from collections.abc import Iterator

from .models import FREQUENCY_INTERVALS, Frequency, MedicationOrder

# A round not recorded this long after it was due is flagged overdue and its nurse alerted (once).
OVERDUE_AFTER = datetime.timedelta(minutes=30)
# Devices' clocks drift; a time a little "in the future" is a clock, not a prediction.
CLOCK_SKEW = datetime.timedelta(minutes=1)
# A scheduled dose may be given from this long before its time (medication pass window).
EARLY_DOSE_WINDOW = datetime.timedelta(hours=1)
# A symptom-triggered PRN dose needs a score observed at most this long before the dose.
PRN_SCORE_MAX_AGE = datetime.timedelta(hours=2)
PRN_DAY = datetime.timedelta(hours=24)
# A benzodiazepine is a short course: a stop date at most this long after the start.
BENZODIAZEPINE_MAX_COURSE = datetime.timedelta(days=14)


def whole_minute(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(second=0, microsecond=0)


def dose_times(
    order: MedicationOrder, *, since: datetime.datetime | None = None, until: datetime.datetime
) -> Iterator[datetime.datetime]:
    """The scheduled dose times of a scheduled order from `since` (its start) up to `until`, while it applies."""
    if order.frequency == Frequency.PRN:
        return
    ends_at = order.ends_at()
    if order.frequency == Frequency.ONCE:
        moments: Iterator[datetime.datetime] = iter([order.starts_at])
    else:
        interval = FREQUENCY_INTERVALS[order.frequency]
        first = 0
        if since is not None and since > order.starts_at:
            first = -(-(since - order.starts_at) // interval)  # ceiling: the first dose at or after `since`
        moments = (order.starts_at + n * interval for n in range(first, 10_000))
    for moment in moments:
        if moment > until or (ends_at is not None and moment >= ends_at):
            return
        if since is None or moment >= since:
            yield moment


def is_dose_time(order: MedicationOrder, moment: datetime.datetime) -> bool:
    """True when `moment` is one of the order's scheduled dose times (while it applies)."""
    if order.frequency == Frequency.PRN or moment < order.starts_at:
        return False
    ends_at = order.ends_at()
    if ends_at is not None and moment >= ends_at:
        return False
    if order.frequency == Frequency.ONCE:
        return moment == order.starts_at
    return (moment - order.starts_at) % FREQUENCY_INTERVALS[order.frequency] == datetime.timedelta(0)
