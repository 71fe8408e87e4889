"""Schedules in a job's timezone: timezone names, and occurrences of a cron expression.

Occurrences follow Debian cron across daylight-saving changes. A job with a fixed minute
and hour (`30 2 * * *`) whose local time is skipped by the spring change runs once, right
after the jump; one whose local time repeats in autumn runs once, at the first pass.
Several fixed times skipped together (`15,45 2 * * *`) each run once, one second apart.
A job with `*` in its minute or hour field (`0 * * * *`) simply follows the clock: nothing
for the skipped hour, and both passes of the repeated one. The cron grammar and day rules
are core.scheduling.cron's.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from core.errors import ValidationError
from core.scheduling.cron import Cron, describe, parse, validate_cron

__all__ = [
    "describe",
    "next_occurrence",
    "next_occurrences",
    "occurrences",
    "timezone_names",
    "validate_cron",
    "validate_timezone",
    "zone",
]

# Wider than any daylight-saving shift, so a window this size around a time sees it whole.
TRANSITION_MARGIN = timedelta(hours=3)
# Files in the zoneinfo directory that are not places: the host's own zone, tzcode's
# internals and the "no zone" placeholder; `posix/` and `right/` are copies (`right/`
# counts leap seconds, so its clock is off by half a minute).
NOT_IANA_NAMES = frozenset({"localtime", "posixrules", "Factory"})
NOT_IANA_PREFIXES = ("posix/", "right/")
IANA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*")


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
    """The installed zones that are IANA places, never a path or a host-specific file."""
    return frozenset(
        name
        for name in available_timezones()
        if name not in NOT_IANA_NAMES
        and not name.startswith(NOT_IANA_PREFIXES)
        and IANA_NAME.fullmatch(name)
    )


def timezone_names() -> list[str]:
    """All IANA timezone names, sorted, for pickers."""
    return sorted(_timezone_names())


def zone(name: str) -> ZoneInfo:
    """The zone of a stored name. Lenient on purpose: a row saved before validate_timezone
    got stricter keeps working; new input goes through validate_timezone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{name!r} is not a known timezone.", "timezone") from None


def _near_transition(naive: datetime, tz: ZoneInfo) -> bool:
    before = (naive - TRANSITION_MARGIN).replace(tzinfo=tz).utcoffset()
    after = (naive + TRANSITION_MARGIN).replace(tzinfo=tz).utcoffset()
    return before != after


def exists(local: datetime) -> bool:
    """Whether an aware local time is on the clock (not skipped by a spring change)."""
    tz = local.tzinfo
    return local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None)


def jump_instant(naive: datetime, tz: ZoneInfo) -> datetime:
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


def _instants(local: datetime, tz: ZoneInfo, follows_clock: bool) -> list[datetime]:
    """The UTC instants at which an existing local wall-clock time fires."""
    second = local.replace(fold=1)
    if follows_clock and local.utcoffset() != second.utcoffset():
        return [local.astimezone(UTC), second.astimezone(UTC)]
    return [local.astimezone(UTC)]


def _firings(
    cron: Cron, tz: ZoneInfo, after: datetime
) -> Iterator[tuple[datetime, list[datetime]]]:
    """Each matching wall-clock time after naive `after`, with the UTC instants it fires at.

    Fixed times skipped by a spring change run right after the jump, one second apart in
    their order (the first at jump + 1 s): each keeps its own instant, so the dispatcher's
    unique (job, scheduled_for) key gives each its run, and none meets a time on the minute.
    """
    skipped: Counter[datetime] = Counter()
    for naive in cron.times_after(after):
        local = naive.replace(tzinfo=tz, fold=0)
        if exists(local):
            yield naive, _instants(local, tz, cron.follows_clock)
        elif cron.follows_clock:
            yield naive, []
        else:
            jump = jump_instant(naive, tz)
            skipped[jump] += 1
            yield naive, [jump + timedelta(seconds=skipped[jump])]


def occurrences(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Every firing instant (aware UTC) strictly after `after`, in order, without end."""
    cron = parse(expression)
    tz = zone(timezone)
    local_after = after.astimezone(tz).replace(tzinfo=None)
    start = local_after - TRANSITION_MARGIN if _near_transition(local_after, tz) else local_after
    pending: list[datetime] = []
    last: datetime | None = None
    for naive, instants in _firings(cron, tz, start - timedelta(seconds=1)):
        for instant in instants:
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
    "Weekdays at 9:00": "0 9 * * 1-5",
    "Every Monday at 9:00": "0 9 * * 1",
    "First day of the month at 9:00": "0 9 1 * *",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EVERY_MONTH = frozenset(range(1, 13))
EVERY_DAY_OF_MONTH = frozenset(range(1, 32))
EVERY_WEEKDAY = frozenset(range(7))


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


def _parsed(expression: str) -> Cron | None:
    try:
        return parse(expression)
    except ValidationError:
        return None


def preset_of(expression: str) -> str | None:
    """The preset whose times this schedule has, however it is written (`@hourly` is
    "Every hour"), to reopen a job's dialog on it."""
    cron = _parsed(expression)
    return next((name for name, text in PRESETS.items() if cron and parse(text) == cron), None)


def time_and_weekdays(expression: str) -> tuple[int, int, list[str]] | None:
    """The inverse of `custom_cron`: (hour, minute, weekdays) when the schedule fires once
    a day at one fixed time on some weekdays (none listed: every day), so a dialog can
    reopen it in its time and weekday pickers; None when those pickers can't say it."""
    cron = _parsed(expression)
    if (
        cron is None
        or len(cron.minutes) != 1
        or len(cron.hours) != 1
        or cron.follows_clock
        or cron.months != EVERY_MONTH
    ):
        return None
    every_day_of_month = cron.days == EVERY_DAY_OF_MONTH
    if cron.days_and_weekdays and every_day_of_month:
        weekdays = cron.weekdays  # the weekdays alone decide
    elif not cron.days_and_weekdays and (every_day_of_month or cron.weekdays == EVERY_WEEKDAY):
        weekdays = EVERY_WEEKDAY  # either field matches every day
    else:
        return None
    chosen = [day for number, day in enumerate(WEEKDAYS, 1) if number % 7 in weekdays]
    return cron.hours[0], cron.minutes[0], [] if len(chosen) == len(WEEKDAYS) else chosen


def changes_clock(moment: datetime, timezone: str) -> bool:
    """Whether the local day of `moment` has a daylight-saving change."""
    tz = zone(timezone)
    local = moment.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    end = start.replace(hour=23, minute=59)
    return start.utcoffset() != end.utcoffset()
