"""Cron validation, words, and occurrences across daylight-saving changes (Debian cron rules)."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from core.automations import jobs
from core.automations.jobs import JobFields
from core.errors import ValidationError
from core.scheduling.occurrences import (
    custom_cron,
    describe,
    next_occurrence,
    next_occurrences,
    preset_of,
    time_and_weekdays,
    validate_cron,
    validate_timezone,
    zone,
)
from core.scheduling.tick import tick
from core.store.models import Run
from support.cli import planner_cli
from support.stored import snapshot


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
        ("@reboot", "Unknown shortcut '@reboot'"),
        ("0 9 31 2 *", "never happens"),
        ("0 9 30-31/1 2 *", "never happens"),
        # croniter's extensions, which cron does not have
        ("R R * * *", "The minute field 'R' is not valid (allowed: 0-59)"),
        ("0 R * * *", "The hour field 'R' is not valid (allowed: 0-23)"),
        ("H * * * *", "The minute field 'H' is not valid"),
        ("0 9 L * *", "The day-of-month field 'L' is not valid (allowed: 1-31)"),
        ("0 9 15W * *", "The day-of-month field '15W' is not valid"),
        ("0 9 ? * 1", "The day-of-month field '?' is not valid"),
        ("0 9 * * 1#2", "The day-of-week field '1#2' is not valid"),
        ("0 9 * * 5L", "The day-of-week field '5L' is not valid"),
        # empty or out-of-range ranges and steps
        ("5-1 * * * *", "The minute field '5-1' is an empty range (5 comes after 1)"),
        ("0 9 * * FRI-MON", "The day-of-week field 'FRI-MON' is an empty range"),
        ("*/60 * * * *", "The minute field '*/60' has step 60; use a step from 1 to 59"),
        ("*/0 * * * *", "The minute field '*/0' has step 0"),
        ("0 */24 * * *", "The hour field '*/24' has step 24; use a step from 1 to 23"),
        ("0-70 * * * *", "The minute field '0-70' is not valid (allowed: 0-59)"),
        ("1-5/0 * * * *", "The minute field '1-5/0' has step 0"),
        ("*/x * * * *", "The minute field '*/x' has step 'x'"),
        ("5/15 * * * *", "The minute field '5/15' has a step without a range; write '5-59/15'"),
        ("1,,2 * * * *", "The minute field '1,,2' is not valid"),
        ("0 0 5,* * 1", "The day-of-month field '5,*' lists '*' with other values"),
        ("0 9 * JANUARY *", "The month field 'JANUARY' is not valid (allowed: 1-12 or JAN-DEC)"),
        ("99999999999 * * * *", "The minute field '99999999999' is not valid"),
        ("\u00b2 * * * *", "The minute field '\u00b2' is not valid"),
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


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5"])
def test_timezones_are_iana_names(name):
    assert validate_timezone(name) == name


@pytest.mark.parametrize(
    "name",
    ["Mars/Olympus", "", "CEST+2", "localtime", "Factory", "posixrules", "Etc/Unknown",
     "right/UTC", "posix/Europe/Berlin", "../etc/passwd", "/etc/localtime",
     "Europe/../Europe/Berlin", "Europe/Berlin\x00"],
)  # fmt: skip
def test_anything_but_an_iana_name_is_refused_as_a_timezone(name):
    with pytest.raises(ValidationError, match="is not a known timezone; use an IANA name") as no:
        validate_timezone(name)
    assert no.value.field == "timezone"


@pytest.mark.parametrize(
    ("expression", "same_as"),
    [
        ("0 9 * jan mon-fri", "0 9 * 1 1-5"),
        ("0 9 * Jan,Mar Sun", "0 9 * 1,3 0"),
        ("0 9 * * 7", "0 9 * * 0"),  # as in Debian cron, 7 is Sunday too
        ("0-30/10 9-17/4 * * *", "0,10,20,30 9,13,17 * * *"),
        ("*/15 */6 * * *", "0,15,30,45 0,6,12,18 * * *"),
        ("00 09 * * *", "0 9 * * *"),
    ],
)
def test_names_ranges_and_steps_mean_what_cron_means(expression, same_as):
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert validate_cron(expression) == expression
    assert next_occurrences(expression, "UTC", after, 40) == next_occurrences(
        same_as, "UTC", after, 40
    )


def days_fired(expression: str, month: int) -> list[str]:
    """The days of a 2026 month the schedule fires on, as 'Mon 15'."""
    after = datetime(2026, month, 1, tzinfo=UTC) - timedelta(seconds=1)
    end = datetime(2026, month + 1, 1, tzinfo=UTC)
    found = [m for m in next_occurrences(expression, "UTC", after, 31) if m < end]
    return [m.strftime("%a %d") for m in found]


# June 2026 starts on a Monday.
JUNE_MONDAYS = ["Mon 01", "Mon 08", "Mon 15", "Mon 22", "Mon 29"]
ODD_DAYS = [datetime(2026, 6, day).strftime("%a %d") for day in range(1, 31, 2)]


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        # both *: every day
        ("0 0 * * *", [datetime(2026, 6, day).strftime("%a %d") for day in range(1, 31)]),
        # one *: the other decides
        ("0 0 * * 1", JUNE_MONDAYS),
        ("0 0 */2 * *", ODD_DAYS),
        # one starts with *: AND, Mondays that are odd days of the month
        ("0 0 */2 * 1", ["Mon 01", "Mon 15", "Mon 29"]),
        ("0 0 10-20 * */3", ["Wed 10", "Sat 13", "Sun 14", "Wed 17", "Sat 20"]),
        # both restricted: OR, the 10th and every Monday
        ("0 0 10 * 1", ["Mon 01", "Mon 08", "Wed 10", "Mon 15", "Mon 22", "Mon 29"]),
        ("0 0 1-2 * SUN", ["Mon 01", "Tue 02", "Sun 07", "Sun 14", "Sun 21", "Sun 28"]),
    ],
)
def test_day_of_month_and_day_of_week_combine_as_in_vixie_cron(expression, days):
    assert days_fired(expression, 6) == days


def june(*days: int) -> list[str]:
    """Days of June 2026 as days_fired says them ('Mon 01')."""
    return [datetime(2026, 6, day).strftime("%a %d") for day in days]


# (expression, its words, the days of June 2026 it runs on): the words name exactly the
# days the scheduler picks. June 2026 starts on a Monday.
WORDS_AND_DAYS = [
    # each weekday once, however often it is written (0 and 7 are both Sunday)
    ("0 0 * * 0,7", "At 00:00, only on Sunday", june(7, 14, 21, 28)),
    ("0 0 * * 6,7,0", "At 00:00, only on Saturday and Sunday", june(6, 7, 13, 14, 20, 21, 27, 28)),
    ("0 0 * * mon,MON,1", "At 00:00, only on Monday", JUNE_MONDAYS),
    ("0 0 * * 5-7", "At 00:00, Friday through Sunday",
     june(5, 6, 7, 12, 13, 14, 19, 20, 21, 26, 27, 28)),
    ("0 0 * * 0-7", "At 00:00, every day", june(*range(1, 31))),
    ("0 0 * * */2", "At 00:00, only on Tuesday, Thursday, Saturday, and Sunday",
     june(2, 4, 6, 7, 9, 11, 13, 14, 16, 18, 20, 21, 23, 25, 27, 28, 30)),
    # each day of the month once; a step of 2 is odd or even days
    ("0 0 1,15,1 * *", "At 00:00, on days 1 and 15 of the month", june(1, 15)),
    ("0 0 */2 * *", "At 00:00, on odd days of the month", ODD_DAYS),
    ("0 0 */2,5 * *", "At 00:00, on odd days of the month", ODD_DAYS),
    ("0 0 2-31/2 * *", "At 00:00, on even days of the month", june(*range(2, 31, 2))),
    ("0 0 */15 * *", "At 00:00, on days 1, 16, and 31 of the month", june(1, 16)),
    # one day field written with *: a day must match both
    ("0 0 */2 * 1", "At 00:00, on odd days of the month that are Mondays", june(1, 15, 29)),
    ("0 0 */2 * 0,7", "At 00:00, on odd days of the month that are Sundays", june(7, 21)),
    ("0 0 10-20 * */3",
     "At 00:00, on days 10 through 20 of the month that are Wednesdays, Saturdays, or Sundays",
     june(10, 13, 14, 17, 20)),
    ("0 0 */31 * 1,5", "At 00:00, on day 1 of the month if it is a Monday or Friday", june(1)),
    ("0 0 */1 * 1", "At 00:00, only on Monday", JUNE_MONDAYS),
    # neither written with *: either will do
    ("0 0 10 * 1", "At 00:00, on day 10 of the month and every Monday",
     june(1, 8, 10, 15, 22, 29)),
    ("0 0 1-2 * SUN", "At 00:00, on days 1 and 2 of the month and every Sunday",
     june(1, 2, 7, 14, 21, 28)),
    ("0 0 2-31/2 * 1", "At 00:00, on even days of the month and every Monday",
     june(1, 2, 4, 6, 8, 10, 12, 14, 15, 16, 18, 20, 22, 24, 26, 28, 29, 30)),
    ("0 0 1-31 * 1-5", "At 00:00, every day", june(*range(1, 31))),  # the days alone: all
    ("0 0 13 * 0-6", "At 00:00, every day", june(*range(1, 31))),  # the weekdays alone: all
]  # fmt: skip


@pytest.mark.parametrize(("expression", "words", "days"), WORDS_AND_DAYS)
def test_the_words_name_each_day_once_and_the_days_the_schedule_runs_on(expression, words, days):
    assert describe(expression) == words
    assert days_fired(expression, 6) == days


def times_fired(expression: str) -> list[str]:
    """The times of Mon 1 June 2026 (UTC) the schedule fires at, as 'HH:MM'."""
    after = datetime(2026, 6, 1, tzinfo=UTC) - timedelta(seconds=1)
    found = next_occurrences(expression, "UTC", after, 400)
    return [m.strftime("%H:%M") for m in found if m < after + timedelta(days=1)]


def at(hour: int, *minutes: int) -> list[str]:
    return [f"{hour:02d}:{minute:02d}" for minute in minutes]


# (expression, its words, the times of one day it fires at): a list that mixes a step and
# values says the step, then the values the step does not already have.
WORDS_AND_TIMES = [
    ("*/5,7 9 * * *",
     "Every 5 minutes, and at 7 minutes past the hour, between 09:00 and 09:59, every day",
     at(9, 0, 5, 7, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55)),
    ("1,*/30 9 * * *",
     "Every 30 minutes, and at 1 minute past the hour, between 09:00 and 09:59, every day",
     at(9, 0, 1, 30)),
    ("1-5,*/20 9 * * *",
     "Every 20 minutes, and at 1 through 5 minutes past the hour, "
     "between 09:00 and 09:59, every day",
     at(9, 0, 1, 2, 3, 4, 5, 20, 40)),
    ("*/15,*/20 9 * * *",
     "Every 15 minutes, and at 20 and 40 minutes past the hour, between 09:00 and 09:59, every day",
     at(9, 0, 15, 20, 30, 40, 45)),
    ("0,*/20 9 * * *", "Every 20 minutes, between 09:00 and 09:59, every day", at(9, 0, 20, 40)),
    ("0,5-59/15 9 * * *",
     "At 0, 5, 20, 35, and 50 minutes past the hour, between 09:00 and 09:59, every day",
     at(9, 0, 5, 20, 35, 50)),
    ("5,5 9 * * *", "At 09:05, every day", at(9, 5)),
    ("0 */6,9 * * *", "Every 6 hours, and at 09:00", ["00:00", "06:00", "09:00", "12:00", "18:00"]),
    ("30 9,*/12 * * *", "At 30 minutes past the hour, every 12 hours, and at 09:30",
     ["00:30", "09:30", "12:30"]),
    ("0 1-3,5 * * *", "At 01:00, 02:00, 03:00 and 05:00, every day",
     ["01:00", "02:00", "03:00", "05:00"]),
    ("0 9-11 * * *", "Every hour, between 09:00 and 11:59, every day", ["09:00", "10:00", "11:00"]),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "words", "times"), WORDS_AND_TIMES)
def test_a_list_of_steps_and_values_says_the_step_then_the_other_values(expression, words, times):
    assert describe(expression) == words
    assert times_fired(expression) == times


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 0 1 1,1 *", "At 00:00, on day 1 of the month, only in January"),
        ("0 0 * 6-8 *", "At 00:00, June through August"),
        (
            "0 0 1 */3 *",
            "At 00:00, on day 1 of the month, only in January, April, July, and October",
        ),
    ],
)
def test_the_words_name_each_month_once(expression, words):
    assert describe(expression) == words


def test_two_fixed_times_skipped_in_spring_each_run_once_right_after_the_jump():
    berlin = zone("Europe/Berlin")
    after = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    found = next_occurrences("15,45 2 * * *", "Europe/Berlin", after, 4)
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 CET becomes 03:00 CEST
    assert found[:2] == [jump + timedelta(seconds=1), jump + timedelta(seconds=2)]
    assert [m.astimezone(berlin).strftime("%d %H:%M:%S") for m in found[2:]] == [
        "30 02:15:00",
        "30 02:45:00",
    ]


def test_a_skipped_time_never_takes_the_place_of_the_time_at_the_jump():
    after = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    found = next_occurrences("0 2,3 * * *", "Europe/Berlin", after, 2)
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert found == [jump, jump + timedelta(seconds=1)]  # 03:00 itself, then 02:00's run


def test_the_tick_makes_a_run_for_each_time_skipped_in_spring(settings, session, agent, queue):
    before_jump = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)
    fields = JobFields(agent="Assistant", schedule="15,45 2 * * *", chat="hi")
    job = jobs.create_job(session, "Night", fields, before_jump, "Europe/Berlin")

    tick(settings, queue, before_jump, "w1")

    session.expire_all()
    query = select(Run.scheduled_for).where(Run.job_id == job.id).order_by(Run.scheduled_for)
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert [m.replace(tzinfo=UTC) for m in session.exec(query)] == [
        jump + timedelta(seconds=1),
        jump + timedelta(seconds=2),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["cron", "R R * * *"],
        ["jobs", "add", "Random", "--agent", "Assistant", "--schedule", "R R * * *",
         "--chat", "hi"],
    ],
)  # fmt: skip
def test_the_cli_refuses_croniter_extensions_on_one_line(
    settings, monkeypatch, capsys, agent, args
):
    before = snapshot(settings.database_url)
    with planner_cli(settings, monkeypatch) as planner:
        assert planner(*args) == 2
    refused = capsys.readouterr().err
    assert refused == "planner: The minute field 'R' is not valid (allowed: 0-59).\n"
    assert snapshot(settings.database_url) == before


def test_a_stored_schedule_no_longer_valid_does_not_break_the_jobs_list(
    settings, monkeypatch, capsys, session, agent
):
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", chat="hi")
    job = jobs.create_job(session, "Old", fields, datetime(2026, 1, 1, tzinfo=UTC), "UTC")
    job.schedule = (
        "R R * * *"  # saved by an older Planner, before croniter's extensions were refused
    )
    session.add(job)
    session.commit()

    with planner_cli(settings, monkeypatch) as planner:
        assert planner("jobs", "list", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["description"].startswith("Not a valid schedule: The minute field 'R'")


@pytest.mark.parametrize("hour", [0, 8, 23])
@pytest.mark.parametrize("minute", [0, 30, 59])
@pytest.mark.parametrize(
    "days", [[], ["Mon"], ["Mon", "Tue", "Wed", "Thu", "Fri"], ["Sat", "Sun"], ["Sun"]]
)
def test_the_pickers_read_back_what_they_wrote(hour, minute, days):
    assert time_and_weekdays(custom_cron(hour, minute, days)) == (hour, minute, days)


@pytest.mark.parametrize(
    ("expression", "picked"),
    [
        ("30 8 * * 1-5", (8, 30, ["Mon", "Tue", "Wed", "Thu", "Fri"])),
        ("30 8 * * MON-FRI", (8, 30, ["Mon", "Tue", "Wed", "Thu", "Fri"])),
        ("0 9 * * 7", (9, 0, ["Sun"])),
        ("0 9 * * 0-6", (9, 0, [])),
        ("@daily", (0, 0, [])),
        ("0 9 1-31 * 1-5", (9, 0, [])),  # either day field matches: every day, as cron reads it
        ("0 9 1 * 0-6", (9, 0, [])),
        ("*/15 9 * * *", None),
        ("0 9,17 * * *", None),
        ("0 * * * *", None),
        ("0 9 1 * *", None),
        ("0 9 1 * 1", None),
        ("0 9 * 1 *", None),
        ("not a schedule", None),
    ],
)
def test_only_one_time_on_some_weekdays_is_what_the_pickers_can_say(expression, picked):
    assert time_and_weekdays(expression) == picked


@pytest.mark.parametrize(
    ("expression", "preset"),
    [
        ("0 9 * * *", "Every day at 9:00"),
        ("0  9 * * 0-7", "Every day at 9:00"),
        ("@hourly", "Every hour"),
        ("0 9 * * MON", "Every Monday at 9:00"),
        ("0 9 1 * *", "First day of the month at 9:00"),
        ("0 0-23 * * *", None),  # every hour, but not following the clock across DST changes
        ("0 9 * * MON-FRI", "Weekdays at 9:00"),
        ("0 9 * * 1-6", None),
        ("61 * * * *", None),
    ],
)
def test_a_schedule_is_its_preset_however_it_is_written(expression, preset):
    assert preset_of(expression) == preset
