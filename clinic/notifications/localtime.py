"""Local time at the edge: quiet hours and "09:00 in the patient's zone", correct across DST changes.

Storage stays in UTC; these functions convert only to decide when a message may go out and how its text
reads. Wall-clock times that do not exist (the hour skipped in spring) resolve to the instant just after the
gap; ambiguous ones (the hour repeated in autumn) to their first occurrence.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_to_utc(day: date, at: time, zone: str, *, fold: int = 0) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `zone` (e.g. 09:00 America/New_York)."""
    local = datetime.combine(day, at.replace(tzinfo=None, fold=fold), tzinfo=ZoneInfo(zone))
    # A time in the spring gap does not round-trip; fold=0 then gives the pre-transition offset, which maps
    # it to just after the gap, e.g. 02:30 -> 03:30 EDT.
    return local.astimezone(UTC)


def _in_window(moment: time, start: time, end: time) -> bool:
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # the window wraps past midnight, e.g. 22:00-07:00


def quiet_hours_end(moment: datetime, zone: str, start: time | None, end: time | None) -> datetime | None:
    """When the quiet hours containing `moment` end (UTC), or None when `moment` is outside them."""
    if start is None or end is None or start == end:
        return None
    local = moment.astimezone(ZoneInfo(zone))
    wall = local.time().replace(tzinfo=None)
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    if not _in_window(wall, start, end):
        return None
    end_day = local.date()
    if start > end and wall >= start:
        end_day += timedelta(days=1)
    ends = local_to_utc(end_day, end, zone)
    if ends <= moment:  # `moment` is in the repeated autumn hour, after the first occurrence of `end`
        ends = local_to_utc(end_day, end, zone, fold=1)
    return ends


def first_moment_outside_quiet_hours(moment: datetime, zone: str, start: time | None, end: time | None) -> datetime:
    return quiet_hours_end(moment, zone, start, end) or moment
