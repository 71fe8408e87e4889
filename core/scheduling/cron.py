"""Cron expressions as Debian (Vixie) cron reads them: the grammar, the words, the times.

Only the standard 5 fields, each a list of numbers, names (JAN-DEC, SUN-SAT), `*`, ranges
`a-b` and steps `*/n` or `a-b/n`, plus the `@hourly`-style nicknames. Our own parser, not
croniter's: croniter also accepts extensions (`R`, `H`, `L`, `W`, `#`, `?`) that cron
does not, and ORs the day fields even when one of them starts with `*`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from cron_descriptor import ExpressionDescriptor, FormatError, Options

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
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# The longest each month can be (February in a leap year), to refuse dates that never happen.
LONGEST_MONTH = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}
# A number is at most two digits after leading zeros; anything longer is out of range.
NUMBER = re.compile(r"0*([0-9]{1,2})|[0-9]+")


@dataclass(frozen=True)
class Field:
    """One of the five fields: its name, its range and the names it accepts."""

    name: str
    low: int
    high: int
    allowed: str
    names: tuple[str, ...] = ()
    first_name: int = 0

    def refuse(self, text: str, reason: str | None = None) -> ValidationError:
        """The one-line refusal naming this field and the text at fault."""
        why = reason or f"is not valid (allowed: {self.allowed})"
        return ValidationError(f"The {self.name} field {text!r} {why}.", "schedule")


FIELDS = (
    Field("minute", 0, 59, "0-59"),
    Field("hour", 0, 23, "0-23"),
    Field("day-of-month", 1, 31, "1-31"),
    Field("month", 1, 12, "1-12 or JAN-DEC", MONTH_NAMES, 1),
    # Like Debian cron, 7 is Sunday as well as 0.
    Field("day-of-week", 0, 7, "0-7 or SUN-SAT, 0 and 7 are Sunday", WEEKDAY_NAMES),
)


def _value(token: str, field: Field, text: str) -> int:
    """A single number or name of a field, checked against the field's range."""
    if token.isascii() and token.upper() in field.names:
        return field.names.index(token.upper()) + field.first_name
    number = NUMBER.fullmatch(token)
    if (
        number is None
        or number.group(1) is None
        or not (field.low <= int(number.group(1)) <= field.high)
    ):
        raise field.refuse(text)
    return int(number.group(1))


def _item(item: str, field: Field, text: str) -> range:
    """The values of one list item: `*`, `n`, `a-b`, each optionally `/step` (not `n`)."""
    base, slash, step_text = item.partition("/")
    if base == "*":
        first, last = field.low, field.high
    elif "-" in base:
        start, _, end = base.partition("-")
        first, last = _value(start, field, text), _value(end, field, text)
        if first > last:
            raise field.refuse(text, f"is an empty range ({start} comes after {end})")
    elif slash:
        write = f"{base}-{field.high}/{step_text}"
        raise field.refuse(text, f"has a step without a range; write {write!r}")
    else:
        first = last = _value(base, field, text)
    step = 1
    if slash:
        if not step_text.isascii() or not step_text.isdigit() or len(step_text) > 2:
            raise field.refuse(text, f"has step {step_text!r}; use a number from 1 to {field.high}")
        step = int(step_text)
        if not 1 <= step <= field.high:
            raise field.refuse(text, f"has step {step}; use a step from 1 to {field.high}")
    return range(first, last + 1, step)


def parse_field(text: str, field: Field) -> frozenset[int]:
    """The values a field matches, or the field-level refusal."""
    items = text.split(",")
    if len(items) > 1 and "*" in items:
        raise field.refuse(text, "lists '*' with other values; '*' alone means every value")
    values: set[int] = set()
    for item in items:
        values.update(_item(item, field, text))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the values of each field and how the day fields combine."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    # Vixie cron: when either day field starts with `*`, a day must match both, else either.
    days_and_weekdays: bool
    # Debian cron: `*` first in the minute or hour field follows the clock across DST changes.
    follows_clock: bool

    def on_day(self, day: date) -> bool:
        """Whether the schedule fires at all on this calendar day."""
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = day.isoweekday() % 7 in self.weekdays
        return by_day and by_weekday if self.days_and_weekdays else by_day or by_weekday

    def ever_fires(self) -> bool:
        """Whether some date matches: both day fields must fit one of the months."""
        longest = max(LONGEST_MONTH.get(month, 31) for month in self.months)
        return not self.days_and_weekdays or min(self.days) <= longest

    def times_after(self, after: datetime) -> Iterator[datetime]:
        """Every matching wall-clock time (naive) strictly after naive `after`, in order."""
        day = after.date()
        while True:
            if day.month not in self.months:  # skip the month whole: yearly jobs stay cheap
                day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                continue
            if self.on_day(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        moment = datetime.combine(day, time(hour, minute))
                        if moment > after:
                            yield moment
            day += timedelta(days=1)


def expand(expression: str) -> str:
    """The 5-field form of an expression (nicknames replaced, spaces normalized)."""
    text = " ".join(expression.split())
    return ALIASES.get(text.lower(), text)


def _fields(text: str) -> list[str]:
    """The five fields of a non-empty expression, or why it does not have them."""
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
    return fields


@lru_cache(maxsize=4096)
def parse(expression: str) -> Cron:
    """The parsed expression, or a ValidationError saying which field is wrong and why."""
    text = " ".join(expression.split())
    if not text:
        raise ValidationError(
            "Enter a schedule, for example '0 9 * * *' (every day at 09:00).", "schedule"
        )
    fields = _fields(text)
    minutes, hours, days, months, weekdays = (
        parse_field(value, field) for value, field in zip(fields, FIELDS, strict=True)
    )
    cron = Cron(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=days,
        months=months,
        weekdays=frozenset(day % 7 for day in weekdays),
        days_and_weekdays=fields[2].startswith("*") or fields[4].startswith("*"),
        follows_clock=fields[0].startswith("*") or fields[1].startswith("*"),
    )
    if not cron.ever_fires():
        raise ValidationError(f"{text!r} never happens (no such date).", "schedule")
    return cron


def validate_cron(expression: str) -> str:
    """Return the expression, normalized, or raise ValidationError saying what is wrong."""
    parse(expression)
    return " ".join(expression.split())


def _compact(values: frozenset[int], field: Field) -> str:
    """A field's values as plain numbers and ranges ("1-5,7"), `*` when it is every value."""
    if values == frozenset(range(field.low, field.high + 1)) or (
        field is FIELDS[4] and values == frozenset(range(7))
    ):
        return "*"
    runs = [
        [value for _, value in run]
        for _, run in itertools.groupby(enumerate(sorted(values)), lambda pair: pair[1] - pair[0])
    ]
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _words(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return ExpressionDescriptor(expression, options).get_description()


def describe(expression: str) -> str:
    """The schedule in words ("At 09:00, every day"); a stored expression that is no longer
    valid says why instead, so one old row cannot break a page that lists them all."""
    try:
        cron = parse(expression)
    except ValidationError as error:
        return f"Not a valid schedule: {error}"
    fields = expand(expression).split()
    try:
        text = _words(" ".join(fields))
    except FormatError:  # cron-descriptor misreads some valid lists ("*/5,7"): say its values
        values = (cron.minutes, cron.hours, cron.days, cron.months, cron.weekdays)
        fields = [_compact(frozenset(v), f) for v, f in zip(values, FIELDS, strict=True)]
        text = _words(" ".join(fields))
    if cron.days_and_weekdays:
        # cron-descriptor always reads the day fields as "or"; here a day must match both.
        text = text.replace(", or on ", ", only on ")
    if fields[2:] == ["*", "*", "*"] and "*" not in fields[1]:
        text += ", every day"
    return text
