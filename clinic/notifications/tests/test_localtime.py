from datetime import UTC, date, datetime, time

import pytest

from clinic.notifications.localtime import first_moment_outside_quiet_hours, local_to_utc, quiet_hours_end

NY = "America/New_York"
NIGHT = (time(22, 0), time(7, 0))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 7), utc(2026, 3, 7, 14, 0)),  # EST, the day before clocks go forward
        (date(2026, 3, 9), utc(2026, 3, 9, 13, 0)),  # EDT, the day after
        (date(2026, 10, 31), utc(2026, 10, 31, 13, 0)),  # EDT, the day before clocks go back
        (date(2026, 11, 2), utc(2026, 11, 2, 14, 0)),  # EST, the day after
    ],
)
def test_nine_local_is_the_right_instant_on_both_sides_of_each_change(day, expected):
    assert local_to_utc(day, time(9, 0), NY) == expected


def test_a_wall_time_in_the_spring_gap_lands_just_after_it():
    assert local_to_utc(date(2026, 3, 8), time(2, 30), NY) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT


@pytest.mark.parametrize(
    ("moment", "expected_end"),
    [
        (utc(2026, 6, 1, 3, 0), utc(2026, 6, 1, 11, 0)),  # 23:00 EDT -> 07:00 EDT next morning
        (utc(2026, 6, 1, 9, 0), utc(2026, 6, 1, 11, 0)),  # 05:00 EDT -> 07:00 EDT the same morning
        (utc(2026, 6, 1, 11, 0), None),  # 07:00 exactly: quiet hours are over
        (utc(2026, 6, 1, 1, 59), None),  # 21:59 EDT: not yet
        (utc(2026, 6, 1, 2, 0), utc(2026, 6, 1, 11, 0)),  # 22:00 EDT: quiet hours begin
    ],
)
def test_quiet_hours_wrapping_past_midnight(moment, expected_end):
    assert quiet_hours_end(moment, NY, *NIGHT) == expected_end


def test_quiet_hours_within_one_day():
    window = (time(12, 0), time(14, 0))
    assert quiet_hours_end(utc(2026, 6, 1, 17, 0), NY, *window) == utc(2026, 6, 1, 18, 0)  # 13:00 -> 14:00 EDT
    assert quiet_hours_end(utc(2026, 6, 1, 19, 0), NY, *window) is None


def test_quiet_hours_across_the_spring_forward_night_end_at_seven_daylight_time():
    # 23:00 EST on 7 March; the night loses an hour; 07:00 EDT on 8 March is 11:00 UTC, not 12:00.
    assert quiet_hours_end(utc(2026, 3, 8, 4, 0), NY, *NIGHT) == utc(2026, 3, 8, 11, 0)


def test_quiet_hours_across_the_fall_back_night_end_at_seven_standard_time():
    # 23:00 EDT on 31 October; the night gains an hour; 07:00 EST on 1 November is 12:00 UTC.
    assert quiet_hours_end(utc(2026, 11, 1, 3, 0), NY, *NIGHT) == utc(2026, 11, 1, 12, 0)


def test_quiet_hours_ending_in_the_repeated_autumn_hour():
    window = (time(0, 0), time(1, 30))
    first_0115 = utc(2026, 11, 1, 5, 15)  # 01:15 EDT
    second_0115 = utc(2026, 11, 1, 6, 15)  # 01:15 EST, an hour later
    assert quiet_hours_end(first_0115, NY, *window) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert quiet_hours_end(second_0115, NY, *window) == utc(2026, 11, 1, 6, 30)  # 01:30 EST


def test_quiet_hours_ending_in_the_spring_gap_end_just_after_it():
    window = (time(1, 0), time(2, 30))
    assert quiet_hours_end(utc(2026, 3, 8, 6, 30), NY, *window) == utc(2026, 3, 8, 7, 30)  # 01:30 EST -> 03:30 EDT


@pytest.mark.parametrize("window", [(None, None), (time(7, 0), None), (None, time(7, 0)), (time(7, 0), time(7, 0))])
def test_no_quiet_hours(window):
    moment = utc(2026, 6, 1, 3, 0)
    assert quiet_hours_end(moment, NY, *window) is None
    assert first_moment_outside_quiet_hours(moment, NY, *window) == moment


def test_quiet_hours_are_read_in_the_patients_own_zone():
    moment = utc(2026, 6, 1, 12, 0)  # 08:00 in New York, 05:00 in Los Angeles
    assert quiet_hours_end(moment, NY, *NIGHT) is None
    assert quiet_hours_end(moment, "America/Los_Angeles", *NIGHT) == utc(2026, 6, 1, 14, 0)
