"""Cron validation, words, and occurrences across daylight-saving changes (Debian cron rules)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import ValidationError
from core.schedule import (
    describe,
    next_occurrence,
    next_occurrences,
    validate_cron,
    validate_timezone,
)


def local_day(expression: str, timezone: str, day: datetime) -> list[str]:
    """The firing times during one local calendar day, as local 'HH:MM+offset' strings."""
    tz = ZoneInfo(timezone)
    start = day.replace(tzinfo=tz)
    end = (day + timedelta(days=1)).replace(tzinfo=tz)
    found = next_occurrences(expression, timezone, start - timedelta(seconds=1), 30)
    return [m.astimezone(tz).strftime("%H:%M%z") for m in found if m < end.astimezone(UTC)]


# (timezone, transition day, expression) -> what fires on that local day
DST_CASES = [
    # Spring forward: 02:00 -> 03:00. A skipped fixed time runs once, right after the jump.
    ("America/New_York", datetime(2026, 3, 8), "30 1 * * *", ["01:30-0500"]),
    ("America/New_York", datetime(2026, 3, 8), "30 2 * * *", ["03:00-0400"]),
    ("America/New_York", datetime(2026, 3, 8), "0 9 * * *", ["09:00-0400"]),
    ("Europe/Berlin", datetime(2026, 3, 29), "30 1 * * *", ["01:30+0100"]),
    ("Europe/Berlin", datetime(2026, 3, 29), "30 2 * * *", ["03:00+0200"]),
    ("Europe/Berlin", datetime(2026, 3, 29), "0 9 * * *", ["09:00+0200"]),
    # Fall back: a repeated fixed time runs once, at its first pass.
    ("America/New_York", datetime(2026, 11, 1), "30 1 * * *", ["01:30-0400"]),
    ("America/New_York", datetime(2026, 11, 1), "30 2 * * *", ["02:30-0500"]),
    ("America/New_York", datetime(2026, 11, 1), "0 9 * * *", ["09:00-0500"]),
    ("Europe/Berlin", datetime(2026, 10, 25), "30 1 * * *", ["01:30+0200"]),
    ("Europe/Berlin", datetime(2026, 10, 25), "30 2 * * *", ["02:30+0200"]),
    ("Europe/Berlin", datetime(2026, 10, 25), "0 9 * * *", ["09:00+0100"]),
]


@pytest.mark.parametrize(("timezone", "day", "expression", "expected"), DST_CASES)
def test_fixed_times_run_once_on_dst_days(timezone, day, expression, expected):
    assert local_day(expression, timezone, day) == expected


@pytest.mark.parametrize(
    ("timezone", "day", "hours"),
    [
        ("America/New_York", datetime(2026, 3, 8), 23),
        ("America/New_York", datetime(2026, 11, 1), 25),
        ("Europe/Berlin", datetime(2026, 3, 29), 23),
        ("Europe/Berlin", datetime(2026, 10, 25), 25),
    ],
)
def test_hourly_jobs_follow_the_clock_on_dst_days(timezone, day, hours):
    fired = local_day("0 * * * *", timezone, day)
    assert len(fired) == hours
    assert len(set(fired)) == hours


def test_occurrences_come_in_order_through_the_repeated_hour():
    after = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT, two hours before fall back
    found = next_occurrences("*/20 * * * *", "America/New_York", after, 12)
    assert found == sorted(found)
    assert [b - a for a, b in itertools.pairwise(found)] == [timedelta(minutes=20)] * 11


def test_a_job_at_nine_stays_at_nine_local_time_across_the_change():
    found = next_occurrences("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC), 4)
    local = [m.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for m in found]
    assert local == ["09:00"] * 4
    assert [m.hour for m in found] == [8, 8, 7, 7]  # UTC hour moves, local time does not


def test_next_occurrence_is_strictly_after():
    at_nine = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    assert next_occurrence("0 9 * * *", "UTC", at_nine) == at_nine + timedelta(days=1)
    assert next_occurrence("0 9 * * *", "UTC", at_nine - timedelta(microseconds=1)) == at_nine


@pytest.mark.parametrize(
    ("alias", "expanded"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_aliases_mean_their_five_field_forms(alias, expanded):
    after = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    assert validate_cron(alias) == alias
    assert next_occurrences(alias, "UTC", after, 3) == next_occurrences(expanded, "UTC", after, 3)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "Enter a schedule"),
        ("0 9 * * * *", "has 6 fields; use the standard 5"),
        ("0 0 9 * * * 2026", "has 7 fields; use the standard 5"),
        ("0 9 *", "has 3 fields; a schedule needs 5"),
        ("61 * * * *", "The minute field '61' is not valid (allowed: 0-59)"),
        ("0 24 * * *", "The hour field '24' is not valid (allowed: 0-23)"),
        ("0 9 32 * *", "The day-of-month field '32' is not valid"),
        ("0 9 * 13 *", "The month field '13' is not valid"),
        ("0 9 * * 8", "The day-of-week field '8' is not valid"),
        ("a b c d e", "The minute field 'a' is not valid"),
        ("@often", "Unknown shortcut '@often'"),
        ("0 9 31 2 *", "never happens"),
    ],
)
def test_invalid_expressions_are_refused_with_the_reason(expression, message):
    with pytest.raises(ValidationError, match=re.escape(message)) as refused:
        validate_cron(expression)
    assert refused.value.field == "schedule"


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * *", "At 09:00, every day"),
        ("0 9 * * 1", "At 09:00, only on Monday"),
        ("30 8 * * 1-5", "At 08:30, Monday through Friday"),
        ("@hourly", "Every hour"),
        ("*/15 * * * *", "Every 15 minutes"),
    ],
)
def test_describe_says_it_in_words(expression, words):
    assert describe(expression) == words


def test_timezones_are_iana_names():
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    for bad in ["Mars/Olympus", "", "CEST+2"]:
        with pytest.raises(ValidationError, match="not a known timezone"):
            validate_timezone(bad)
