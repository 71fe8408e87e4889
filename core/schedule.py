"""Cron schedules: validation, words for people, and occurrences in a job's timezone.

Occurrences follow Debian cron across daylight-saving changes. A job with a fixed minute
and hour (`30 2 * * *`) whose local time is skipped by the spring change runs once, right
after the jump; one whose local time repeats in autumn runs once, at the first pass.
A job with `*` in its minute or hour field (`0 * * * *`) simply follows the clock: nothing
for the skipped hour, and both passes of the repeated one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

from core.errors import ValidationError

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT"),
)
# Wider than any daylight-saving shift, so a window this size around a time sees it whole.
TRANSITION_MARGIN = timedelta(hours=3)


def expand(expression: str) -> str:
    """The 5-field form of an expression (aliases replaced, spaces normalized)."""
    text = " ".join(expression.split())
    return ALIASES.get(text.lower(), text)


def validate_cron(expression: str) -> str:
    """Return the expression, normalized, or raise ValidationError saying what is wrong."""
    text = " ".join(expression.split())
    if not text:
        raise ValidationError(
            "Enter a schedule, for example '0 9 * * *' (every day at 09:00).", "schedule"
        )
    if text.startswith("@") and text.lower() not in ALIASES:
        names = ", ".join(sorted(ALIASES))
        raise ValidationError(f"Unknown shortcut {text!r}; use one of {names}.", "schedule")
    fields = expand(text).split()
    if len(fields) in (6, 7):
        raise ValidationError(
            f"{text!r} has {len(fields)} fields; use the standard 5 "
            "(minute hour day-of-month month day-of-week): seconds and years are not supported.",
            "schedule",
        )
    if len(fields) != 5:
        raise ValidationError(
            f"{text!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}; a schedule needs "
            "5: minute hour day-of-month month day-of-week.",
            "schedule",
        )
    for index, (name, allowed) in enumerate(FIELDS):
        probe = ["*"] * 5
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe)):
            raise ValidationError(
                f"The {name} field {fields[index]!r} is not valid (allowed: {allowed}).",
                "schedule",
            )
    if not croniter.is_valid(" ".join(fields)):
        raise ValidationError(f"{text!r} is not a valid cron expression.", "schedule")
    try:
        croniter(" ".join(fields), datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValidationError(f"{text!r} never happens (no such date).", "schedule") from None
    return text


def validate_timezone(name: str) -> str:
    """Return the IANA timezone name, or raise ValidationError."""
    text = name.strip()
    if text and text in _timezone_names():
        return text
    raise ValidationError(
        f"{name!r} is not a known timezone; use an IANA name such as Europe/Berlin.", "timezone"
    )


@lru_cache(maxsize=1)
def _timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_names() -> list[str]:
    """All IANA timezone names, sorted, for pickers."""
    return sorted(_timezone_names())


def describe(expression: str) -> str:
    """The schedule in words ("At 09:00, every day"); assumes a valid expression."""
    fields = expand(expression).split()
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    text = ExpressionDescriptor(" ".join(fields), options).get_description()
    if fields[2:] == ["*", "*", "*"] and "*" not in fields[1]:
        text += ", every day"
    return text


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{name!r} is not a known timezone.", "timezone") from None


def _near_transition(naive: datetime, tz: ZoneInfo) -> bool:
    before = (naive - TRANSITION_MARGIN).replace(tzinfo=tz).utcoffset()
    after = (naive + TRANSITION_MARGIN).replace(tzinfo=tz).utcoffset()
    return before != after


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    return local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None)


def _jump_instant(naive: datetime, tz: ZoneInfo) -> datetime:
    """The instant the clocks jumped over `naive`, a local time that does not exist."""
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    low, high = min(low, high), max(low, high)
    offset = low.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _instants(naive: datetime, tz: ZoneInfo, follows_clock: bool) -> list[datetime]:
    """The UTC instants at which a matching local wall-clock time fires."""
    first = naive.replace(tzinfo=tz, fold=0)
    if not _exists(first, tz):
        return [] if follows_clock else [_jump_instant(naive, tz)]
    second = naive.replace(tzinfo=tz, fold=1)
    if follows_clock and first.utcoffset() != second.utcoffset():
        return [first.astimezone(UTC), second.astimezone(UTC)]
    return [first.astimezone(UTC)]


def occurrences(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Every firing instant (aware UTC) strictly after `after`, in order, without end."""
    fields = expand(expression).split()
    follows_clock = fields[0].startswith("*") or fields[1].startswith("*")
    tz = zone(timezone)
    local_after = after.astimezone(tz).replace(tzinfo=None)
    start = local_after - TRANSITION_MARGIN if _near_transition(local_after, tz) else local_after
    times = croniter(" ".join(fields), start - timedelta(seconds=1))
    pending: list[datetime] = []
    last: datetime | None = None
    while True:
        naive = times.get_next(datetime)
        for instant in _instants(naive, tz, follows_clock):
            if instant > after and instant not in pending:
                heapq.heappush(pending, instant)
        # Instants of later wall-clock times can only be later than this floor.
        floor_time = naive - TRANSITION_MARGIN if _near_transition(naive, tz) else naive
        floor = floor_time.replace(tzinfo=tz).astimezone(UTC)
        while pending and pending[0] <= floor:
            instant = heapq.heappop(pending)
            if instant != last:
                last = instant
                yield instant


def next_occurrence(expression: str, timezone: str, after: datetime) -> datetime:
    """The first firing instant strictly after `after` (aware UTC)."""
    return next(occurrences(expression, timezone, after))


def next_occurrences(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` firing instants after `after` (aware UTC)."""
    found = occurrences(expression, timezone, after)
    return [next(found) for _ in range(count)]


PRESETS = {
    "Every hour": "0 * * * *",
    "Every day at 9:00": "0 9 * * *",
    "Every Monday at 9:00": "0 9 * * 1",
    "First day of the month at 9:00": "0 9 1 * *",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def custom_cron(hour: int, minute: int, weekdays: list[str]) -> str:
    """The cron for "at HH:MM on these weekdays" (every day when none or all are chosen)."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValidationError("Choose a time of day between 00:00 and 23:59.", "time")
    unknown = [day for day in weekdays if day not in WEEKDAYS]
    if unknown:
        raise ValidationError(f"Unknown weekday {unknown[0]!r}.", "weekdays")
    chosen = [str((WEEKDAYS.index(day) + 1) % 7) for day in WEEKDAYS if day in weekdays]
    days = ",".join(chosen) if 0 < len(chosen) < 7 else "*"
    return f"{minute} {hour} * * {days}"


def preset_of(expression: str) -> str | None:
    """The preset whose cron this is, if any (to reopen a job's dialog on it)."""
    text = " ".join(expression.split())
    return next((name for name, cron in PRESETS.items() if cron == text), None)


def changes_clock(moment: datetime, timezone: str) -> bool:
    """Whether the local day of `moment` has a daylight-saving change."""
    tz = zone(timezone)
    local = moment.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    end = start.replace(hour=23, minute=59)
    return start.utcoffset() != end.utcoffset()
