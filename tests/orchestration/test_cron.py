"""Cron expressions and zones: golden fire times across DST in both directions, cron's own
day-of-week numbering and day OR rule, and errors that name the field and the fix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.orchestration import cron


def fires(expr: str, tz: str, after: str, n: int) -> list[str]:
    start = datetime.fromisoformat(after).astimezone(UTC)
    return [t.isoformat() for t in cron.next_fire_times(expr, tz, start, n)]


def test_spring_forward_a_missing_local_time_fires_once_at_the_same_offset():
    # 02:30 does not exist in New York on 2027-03-14 (02:00 EST → 03:00 EDT).
    assert fires("30 2 * * *", "America/New_York", "2027-03-13T12:00:00+00:00", 3) == [
        "2027-03-14T03:30:00-04:00",
        "2027-03-15T02:30:00-04:00",
        "2027-03-16T02:30:00-04:00",
    ]
    # Berlin jumps 02:00 CET → 03:00 CEST on 2027-03-28.
    assert fires("30 2 * * *", "Europe/Berlin", "2027-03-27T12:00:00+00:00", 2) == [
        "2027-03-28T03:30:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]


def test_fall_back_a_repeated_local_time_fires_once_when_the_hour_is_fixed():
    # 02:30 happens twice in Berlin on 2027-10-31 (CEST, then CET): only the first fires.
    assert fires("30 2 * * *", "Europe/Berlin", "2027-10-30T12:00:00+00:00", 3) == [
        "2027-10-31T02:30:00+02:00",
        "2027-11-01T02:30:00+01:00",
        "2027-11-02T02:30:00+01:00",
    ]
    # 01:30 happens twice in New York on 2027-11-07 (EDT, then EST).
    assert fires("30 1 * * *", "America/New_York", "2027-11-06T12:00:00+00:00", 2) == [
        "2027-11-07T01:30:00-04:00",
        "2027-11-08T01:30:00-05:00",
    ]
    # Every 20 minutes of the (fixed) 1 o'clock hour: one 01:xx hour, not two.
    assert fires("*/20 1 * * *", "America/New_York", "2027-11-07T04:00:00+00:00", 4) == [
        "2027-11-07T01:00:00-04:00",
        "2027-11-07T01:20:00-04:00",
        "2027-11-07T01:40:00-04:00",
        "2027-11-08T01:00:00-05:00",
    ]


def test_fall_back_a_wildcard_or_step_hour_fires_in_both_occurrences():
    assert fires("30 * * * *", "America/New_York", "2027-11-07T04:00:00+00:00", 4) == [
        "2027-11-07T00:30:00-04:00",
        "2027-11-07T01:30:00-04:00",
        "2027-11-07T01:30:00-05:00",
        "2027-11-07T02:30:00-05:00",
    ]
    assert fires("30 * * * *", "Europe/Berlin", "2027-10-30T23:00:00+00:00", 4) == [
        "2027-10-31T01:30:00+02:00",
        "2027-10-31T02:30:00+02:00",
        "2027-10-31T02:30:00+01:00",
        "2027-10-31T03:30:00+01:00",
    ]
    assert fires("0 */2 * * *", "Europe/Berlin", "2027-10-30T23:30:00+00:00", 3) == [
        "2027-10-31T02:00:00+02:00",
        "2027-10-31T02:00:00+01:00",
        "2027-10-31T04:00:00+01:00",
    ]


def test_spring_forward_an_hourly_schedule_fires_once_per_real_hour():
    assert fires("30 * * * *", "America/New_York", "2027-03-14T05:00:00+00:00", 3) == [
        "2027-03-14T00:30:00-05:00",
        "2027-03-14T01:30:00-05:00",
        "2027-03-14T03:30:00-04:00",
    ]


def test_day_of_week_numbers_follow_cron_not_apscheduler():
    # 2027-01-03 is a Sunday: 0 and 7 are Sunday, 1 is Monday (APScheduler alone: 0 = Monday).
    sunday = ["2027-01-03T09:00:00+00:00", "2027-01-10T09:00:00+00:00"]
    assert fires("0 9 * * 0", "UTC", "2027-01-01T00:00:00+00:00", 2) == sunday
    assert fires("0 9 * * 7", "UTC", "2027-01-01T00:00:00+00:00", 2) == sunday
    assert fires("0 9 * * sun", "UTC", "2027-01-01T00:00:00+00:00", 2) == sunday
    assert fires("0 9 * * 1-5", "UTC", "2027-01-01T00:00:00+00:00", 3) == [
        "2027-01-01T09:00:00+00:00",  # Friday
        "2027-01-04T09:00:00+00:00",  # Monday
        "2027-01-05T09:00:00+00:00",
    ]


def test_day_of_month_and_day_of_week_match_either():
    # Cron's rule: with both restricted, the 13th *or* a Friday (not only Friday the 13th).
    assert fires("0 0 13 * 5", "UTC", "2027-01-01T12:00:00+00:00", 4) == [
        "2027-01-08T00:00:00+00:00",  # Friday
        "2027-01-13T00:00:00+00:00",  # the 13th, a Wednesday
        "2027-01-15T00:00:00+00:00",
        "2027-01-22T00:00:00+00:00",
    ]


def test_macros_steps_and_descriptions():
    assert fires("@daily", "UTC", "2027-01-01T12:00:00+00:00", 1) == ["2027-01-02T00:00:00+00:00"]
    assert fires("5/20 * * * *", "UTC", "2027-01-01T12:00:00+00:00", 3) == [
        "2027-01-01T12:05:00+00:00",
        "2027-01-01T12:25:00+00:00",
        "2027-01-01T12:45:00+00:00",
    ]
    assert cron.describe("*/15 9-17 * * 1-5") == (
        "Every 15 minutes, between 09:00 and 17:59, Monday through Friday"
    )
    assert cron.describe("30 2 * * *") == "At 02:30"


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("", "is required"),
        ("* * * *", "has 4 fields; cron needs 5"),
        ("0 0 * * * *", "has 6 fields; cron needs 5"),
        ("61 * * * *", "minute field: 61 is outside 0-59"),
        ("0 24 * * *", "hour field: 24 is outside 0-23"),
        ("0 0 0 * *", "day of month field: 0 is outside 1-31"),
        ("0 0 * 13 *", "month field: 13 is outside 1-12"),
        ("0 0 * * 8", "day of week field: 8 is outside 0-7"),
        ("0 0 * * funday", "day of week field: 'funday' is not a number"),
        ("5-1 * * * *", "the range '5-1' runs backwards"),
        ("*/0 * * * *", "the step in '*/0' must be at least 1"),
        ("0 0 L * *", "day of month field: 'l' is not a number"),
        ("0 0 30 2 *", "day 30 never occurs in feb"),
        ("@often", "'@often' is not a known macro"),
    ],
)
def test_invalid_cron_names_the_field_and_the_problem(expr, says):
    with pytest.raises(ValidationFailed) as caught:
        cron.parse(expr)
    assert caught.value.errors[0]["field"] == "cron"
    assert says in caught.value.errors[0]["message"]


def test_invalid_time_zone_names_the_field_and_a_fix():
    with pytest.raises(ValidationFailed) as caught:
        cron.zone("europe/berlin")
    assert caught.value.errors == [
        {
            "field": "timezone",
            "message": "'europe/berlin' is not an IANA time zone; did you mean 'Europe/Berlin'?",
        }
    ]
    with pytest.raises(ValidationFailed) as caught:
        cron.zone("CEST")
    assert caught.value.errors[0]["field"] == "timezone"
    assert "like Europe/Berlin" in caught.value.errors[0]["message"]
    assert cron.zone("America/New_York").key == "America/New_York"
