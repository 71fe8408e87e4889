"""When a job runs: a cron schedule or one moment, in the job's timezone, between an
optional first and last day; each run up to a random delay after its time.

A one-off job's schedule is written `once 2026-12-24 09:00` (a time on the job's own
clock), so it is stored, exported, planned and shown like a cron schedule, and its run
is keyed by that moment as any occurrence is. Once its last occurrence is planned a job
has no next run: it is done.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.errors import ValidationError
from core.scheduling import occurrences

ONCE = "once"
ONCE_FORMAT = "%Y-%m-%d %H:%M"
MAX_JITTER_SECONDS = 3600
DURATION = re.compile(r"(?P<amount>[0-9]{1,5}) *(?P<unit>s|sec|m|min|h)?", re.IGNORECASE)
UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
CLEARED = ("", "none")
DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ONCE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:00)?")
SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]+)?")
OFFSET = re.compile(r"[0-9]{2}:[0-9]{2}(:[0-9]{2})?([.,][0-9]+)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$")
# The years a date may fall in: beyond them, local midnight or a day's end in UTC can
# fall outside what a datetime holds.
FIRST_YEAR, LAST_YEAR = 1970, 9000


@dataclass(frozen=True)
class Timing:
    """A job's schedule and timezone with its first and last day (local, inclusive)."""

    schedule: str
    timezone: str
    starts_on: date | None = None
    ends_on: date | None = None

    @property
    def once_at(self) -> datetime | None:
        """A one-off's local wall-clock time (naive); None for a cron schedule."""
        head, _, rest = self.schedule.partition(" ")
        if head.lower() != ONCE:
            return None
        return _once_moment(rest)

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        """Every firing instant (aware UTC) strictly after `after` within the days, in
        order; it ends after the last one (a one-off's only one, or the last day's)."""
        tz = occurrences.zone(self.timezone)
        once = self.once_at
        if once is not None:
            local = once.replace(tzinfo=tz)
            # a time the clocks skip (a zone's rules changed since it was set) runs as a
            # skipped cron time does: a second after the jump
            instant = (
                local.astimezone(UTC)
                if occurrences.exists(local)
                else occurrences.jump_instant(once, tz) + timedelta(seconds=1)
            )
            if instant > after:
                yield instant
            return
        if self.starts_on is not None:
            first_day = datetime.combine(self.starts_on, time(0), tzinfo=tz)
            after = max(after, first_day - timedelta(microseconds=1))
        for moment in occurrences.occurrences(self.schedule, self.timezone, after):
            if self.ends_on is not None and moment.astimezone(tz).date() > self.ends_on:
                return
            yield moment

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence after `after`, or None when there is none any more."""
        return next(self.occurrences(after), None)

    def describe(self) -> str:
        """In words: "Once, on Thu 24 Dec 2026 at 09:00", or the cron's words with its days."""
        once = self.once_at
        if once is not None:
            return f"Once, on {once:%a %d %b %Y} at {once:%H:%M}"
        words = occurrences.describe(self.schedule)
        if self.starts_on and self.ends_on:
            return f"{words}, from {_day(self.starts_on)} to {_day(self.ends_on)}"
        if self.starts_on:
            return f"{words}, from {_day(self.starts_on)}"
        if self.ends_on:
            return f"{words}, until {_day(self.ends_on)}"
        return words


def _day(day: date) -> str:
    return f"{day:%a %d %b %Y}"


def _once_moment(text: str) -> datetime:
    """The local time of a one-off, written `2026-12-24 09:00` (or with a `T`)."""
    written = text.strip()
    if OFFSET.search(written):
        raise ValidationError(
            f"Give the time {written!r} without an offset: it is read on the job's own clock "
            "(its timezone).",
            "schedule",
        )
    if SECONDS.fullmatch(written) and not ONCE_TEXT.fullmatch(written):
        raise ValidationError(f"Give the time {written!r} to the minute.", "schedule")
    try:
        if not ONCE_TEXT.fullmatch(written):
            raise ValueError(written)
        moment = datetime.fromisoformat(written)
    except ValueError:
        raise ValidationError(
            f"{written!r} is not a date and time like 2026-12-24 09:00.", "schedule"
        ) from None
    return _in_years(moment, "schedule")


def _in_years(moment: datetime, field: str) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValidationError(
            f"Choose a date between the years {FIRST_YEAR} and {LAST_YEAR}.", field
        )
    return moment


def once_schedule(at: str) -> str:
    """The schedule of a job that runs once at `at` (a local date and time)."""
    return f"{ONCE} {_once_moment(at):{ONCE_FORMAT}}"


def normalized_schedule(text: str) -> str:
    """A cron expression or a one-off as stored, or the ValidationError saying why not."""
    head, _, rest = text.strip().partition(" ")
    if head.lower() == ONCE:
        return once_schedule(rest)
    return occurrences.validate_cron(text)


def day_from_text(text: str, field: str) -> date | None:
    """A first or last day given as 2026-12-24; "" or "none" for no such day."""
    if text.strip().lower() in CLEARED:
        return None
    try:
        if not DAY_TEXT.fullmatch(text.strip()):
            raise ValueError(text)
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{text.strip()!r} is not a date like 2026-12-24.", field) from None
    _in_years(datetime.combine(day, time(0)), field)
    return day


def duration_from_text(text: str, field: str, most_seconds: int) -> int:
    """A length of time as seconds: 90, 30s, 5m, 5 min, 1h; at most `most_seconds`."""
    written = DURATION.fullmatch(text.strip())
    if written is None:
        raise ValidationError(
            f"{text.strip()!r} is not a length of time like 30s, 5m or 1h.", field
        )
    seconds = int(written["amount"]) * UNIT_SECONDS[(written["unit"] or "s").lower()]
    if seconds > most_seconds:
        raise ValidationError(
            f"{text.strip()!r} is longer than {length_in_words(most_seconds)}.", field
        )
    return seconds


def length_in_words(seconds: int) -> str:
    """ "90 s", "5 min", "1 hour": a length of time for people."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def jitter_from_text(text: str) -> int:
    """A random delay of at most 1 h, as seconds; 0 or none for none."""
    if text.strip().lower() in CLEARED:
        return 0
    return duration_from_text(text, "jitter", MAX_JITTER_SECONDS)


def duration_text(seconds: int) -> str:
    """A length of time as `duration_from_text` reads it: "5m", "90s", "0"."""
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s" if seconds else "0"


def jitter_in_words(seconds: int) -> str:
    """ "up to 5 min later, at random" (empty for none)."""
    return f"up to {length_in_words(seconds)} later, at random" if seconds else ""


def delay(key: str, occurrence: datetime, jitter_seconds: int) -> timedelta:
    """How much after `occurrence` a job's run starts: random across jobs and occurrences,
    the same each time it is worked out (a run planned twice gets one start time)."""
    if not jitter_seconds:
        return timedelta(0)
    digest = hashlib.blake2b(f"{key}/{occurrence.isoformat()}".encode(), digest_size=8).digest()
    return timedelta(seconds=int.from_bytes(digest, "big") % (jitter_seconds + 1))


def checked(timing: Timing, now: datetime, finished_ok: bool = False) -> Timing:
    """The timing of a job being saved, with its schedule normalized; refused when it
    could never run from now on (a one-off in the past, days that end before the next
    occurrence) — said when it is set, rather than shown as done at once — unless
    `finished_ok` (a setup restored from a file, with jobs that ran already)."""
    timing = Timing(
        normalized_schedule(timing.schedule),
        occurrences.validate_timezone(timing.timezone),
        timing.starts_on,
        timing.ends_on,
    )
    once = timing.once_at
    if once is not None and (timing.starts_on or timing.ends_on):
        raise ValidationError("A job that runs once has no first or last day.", "starts_on")
    if timing.starts_on and timing.ends_on and timing.ends_on < timing.starts_on:
        raise ValidationError("The last day comes before the first day.", "ends_on")
    if once is not None and not occurrences.exists(
        once.replace(tzinfo=occurrences.zone(timing.timezone))
    ):
        raise ValidationError(
            f"{once:{ONCE_FORMAT}} does not happen in {timing.timezone}: the clocks jump over "
            "it that night; choose another time.",
            "schedule",
        )
    if finished_ok or timing.next_after(now) is not None:
        return timing
    if once is not None:
        raise ValidationError(
            f"{once:{ONCE_FORMAT}} ({timing.timezone}) is in the past; choose a later time.",
            "schedule",
        )
    raise ValidationError(
        f"{timing.describe()} has no run left after now; choose later days.", "ends_on"
    )
