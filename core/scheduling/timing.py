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
from functools import partial

from core.errors import Checks, ValidationError
from core.scheduling import occurrences

ONCE = "once"
ONCE_FORMAT = "%Y-%m-%d %H:%M"
MAX_JITTER_SECONDS = 3600
# A date and time as written: to the minute, or with seconds or an offset, which
# `once_schedule` then refuses in words.
MOMENT_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
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
        return _local_moment(moment_from_text(rest))

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


def moment_from_text(text: str) -> datetime:
    """A date and time as people write it: 2026-12-24 09:00 (or with a `T`); seconds and
    an offset are read too, so that `once_schedule` can say why it refuses them."""
    written = text.strip()
    try:
        if not MOMENT_TEXT.fullmatch(written):
            raise ValueError(written)
        return datetime.fromisoformat(written)
    except ValueError:
        raise ValidationError(
            f"{written!r} is not a date and time like 2026-12-24 09:00.", "schedule"
        ) from None


def _local_moment(at: datetime) -> datetime:
    """`at` as a one-off's time: on the job's own clock (no offset), to the minute, in
    the years a schedule may use."""
    shown = at.isoformat(sep=" ", timespec="auto" if at.second or at.microsecond else "minutes")
    if at.tzinfo is not None:
        raise ValidationError(
            f"Give the time {shown!r} without an offset: it is read on the job's own clock "
            "(its timezone).",
            "schedule",
        )
    if at.second or at.microsecond:
        raise ValidationError(f"Give the time {shown!r} to the minute.", "schedule")
    return _in_years(at, "schedule")


def _in_years(moment: datetime, field: str) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValidationError(
            f"Choose a date between the years {FIRST_YEAR} and {LAST_YEAR}.", field
        )
    return moment


def once_schedule(at: datetime) -> str:
    """The schedule of a job that runs once at `at`, a date and time on its own clock."""
    return f"{ONCE} {_local_moment(at):{ONCE_FORMAT}}"


def normalized_schedule(text: str) -> str:
    """A cron expression or a one-off as stored, or the ValidationError saying why not."""
    head, _, rest = text.strip().partition(" ")
    if head.lower() == ONCE:
        return once_schedule(moment_from_text(rest))
    return occurrences.validate_cron(text)


def whole_seconds(length: timedelta, what: str, field: str, longest: int) -> int:
    """`length` in whole seconds, from none to `longest`; else the ValidationError that
    says why (`what` names it: "A random delay")."""
    seconds = length.total_seconds()
    if seconds < 0 or not seconds.is_integer():
        raise ValidationError(
            f"{what} must be a whole number of seconds, 0 or more, not {seconds:g} s.", field
        )
    if seconds > longest:
        raise ValidationError(
            f"{what} of {length_in_words(int(seconds))} is longer than "
            f"{length_in_words(longest)}, the longest it can be.",
            field,
        )
    return int(seconds)


def length_in_words(seconds: int) -> str:
    """ "90 s", "5 min", "1 hour": a length of time for people."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def duration_text(seconds: int) -> str:
    """A length of time as core.automations.text reads it: "5m", "90s", "0"."""
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
    checks = Checks()  # the schedule, the timezone and the days, each said if wrong
    schedule = checks.check(partial(normalized_schedule, timing.schedule))
    timezone = checks.check(partial(occurrences.validate_timezone, timing.timezone))
    for day, field in ((timing.starts_on, "starts_on"), (timing.ends_on, "ends_on")):
        if day is not None:
            checks.check(partial(_in_years, datetime.combine(day, time(0)), field))
    checks.raise_any()
    timing = Timing(schedule, timezone, timing.starts_on, timing.ends_on)
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
