"""Cron expressions as Debian (Vixie) cron reads them: the grammar, the words, the times.

Only the standard 5 fields, each a list of numbers, names (JAN-DEC, SUN-SAT), `*`, ranges
`a-b` and steps `*/n` or `a-b/n`, plus the `@hourly`-style nicknames. Our own parser, not
croniter's: croniter also accepts extensions (`R`, `H`, `L`, `W`, `#`, `?`) that cron
does not, and ORs the day fields even when one of them starts with `*`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from cron_descriptor import DescriptionTypeEnum, ExpressionDescriptor, Options

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


# The words of a schedule. cron-descriptor says the time of day; the days and months are
# said here, from the values the scheduler uses, because cron-descriptor reads the text as
# written: it names Sunday twice for `0,7`, reads `*/5,7` as "every 5 minutes and 7 minutes",
# and always joins the day fields with "or", where Vixie cron needs both when one starts
# with `*`.
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_WORDS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
ODD_DAYS = frozenset(range(1, 32, 2))
EVEN_DAYS = frozenset(range(2, 32, 2))


def _listed(items: list[str], last: str = "and") -> str:
    """Items as a person lists them: a; a and b; a, b, and c."""
    if len(items) < 3:
        return f" {last} ".join(items)
    return f"{', '.join(items[:-1])}, {last} {items[-1]}"


def _runs(values: list[int]) -> list[list[int]]:
    """Sorted values grouped into runs of consecutive numbers."""
    return [
        [value for _, value in run]
        for _, run in itertools.groupby(enumerate(values), lambda pair: pair[1] - pair[0])
    ]


def _spans(values: list[int], name: Callable[[int], str], last: str = "and") -> str:
    """Values in the order given, named, three or more in a row said once (a through b)."""
    items = []
    for run in _runs(values):
        if len(run) >= 3:
            items.append(f"{name(run[0])} through {name(run[-1])}")
        else:
            items.extend(name(value) for value in run)
    return _listed(items, last)


def _weekday_order(weekdays: frozenset[int]) -> list[int]:
    """Cron's weekday numbers (0 Sunday) as 1-7, Monday first, as the dialog's pickers."""
    return sorted(7 if day == 0 else day for day in weekdays)


def _only(ordered: list[int], name: Callable[[int], str], only: str) -> str:
    """Each value once: one span reads alone (Monday through Friday), else after `only`
    (only on Saturday and Sunday), as cron-descriptor words them."""
    said = _spans(ordered, name)
    one_span = len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1))
    return f", {said}" if one_span else f", {only} {said}"


def _day_name(day: int) -> str:
    return DAY_NAMES[day - 1]


def _days_of_month(days: frozenset[int]) -> str:
    """The days of the month as a person says them (odd days, day 10, days 1 through 15)."""
    if days == ODD_DAYS:
        return "odd days of the month"
    if days == EVEN_DAYS:
        return "even days of the month"
    if len(days) == 1:
        return f"day {min(days)} of the month"
    return f"days {_spans(sorted(days), str)} of the month"


def _day_words(cron: Cron) -> str:
    """The days a schedule fires on, as the scheduler combines the two day fields (see
    Cron.on_day); empty when that is every day."""
    every_day_of_month = cron.days == frozenset(range(1, 32))
    every_weekday = cron.weekdays == frozenset(range(7))
    if cron.days_and_weekdays:
        if every_day_of_month:
            return (
                "" if every_weekday else _only(_weekday_order(cron.weekdays), _day_name, "only on")
            )
        if every_weekday:
            return f", on {_days_of_month(cron.days)}"
        # Both restricted, one written with `*`: a day must be both (odd days that are Mondays).
        days = _days_of_month(cron.days)
        if len(cron.days) == 1:
            weekdays = _spans(_weekday_order(cron.weekdays), _day_name, last="or")
            return f", on {days} if it is a {weekdays}"
        plural = _spans(_weekday_order(cron.weekdays), lambda day: _day_name(day) + "s", "or")
        return f", on {days} that are {plural}"
    if every_day_of_month or every_weekday:
        return ""  # either field alone matches every day
    # Both restricted, neither written with `*`: either one will do.
    every = _spans(_weekday_order(cron.weekdays), _day_name)
    return f", on {_days_of_month(cron.days)} and every {every}"


def _month_words(months: frozenset[int]) -> str:
    """The months, each once (only in January and July; June through August); empty for
    every month."""
    if months == frozenset(range(1, 13)):
        return ""
    return _only(sorted(months), lambda month: MONTH_WORDS[month - 1], "only in")


def _options() -> Options:
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return options


def _words(expression: str, part: DescriptionTypeEnum = DescriptionTypeEnum.FULL) -> str:
    return ExpressionDescriptor(expression, _options()).get_description(part)


def _tidy(text: str, values: tuple[int, ...], field: Field) -> tuple[str, list[int]]:
    """A minute or hour field as cron-descriptor reads it right, and the values that text
    leaves out: a list that mixes steps and values (`*/5,7`) becomes its widest step
    (`*/5`) and the rest (7), which cron-descriptor would run together otherwise."""
    every = range(field.low, field.high + 1)
    if set(values) == set(every):
        return "*", []
    step = values[1] - values[0] if len(values) > 1 else 0
    if values[0] == field.low and step > 1 and set(values) == set(every[::step]):
        return f"*/{step}", []  # `0,*/20` is `*/20`
    if "," not in text:
        return text, []
    steps = [item for item in text.split(",") if item.startswith("*/")]
    if not steps:  # values, ranges and steps on ranges: a short list, each value once
        return ",".join(_compact_list(values, 3 if field is FIELDS[0] else 2)), []
    widest = min(steps, key=lambda item: int(item[2:]))
    rest = sorted(set(values) - set(_item(widest, field, text)))
    return widest, rest


def _compact_list(values: tuple[int, ...], span: int = 3) -> list[str]:
    """Values as cron list items, `span` or more in a row as one range."""
    return [
        f"{run[0]}-{run[-1]}" if len(run) >= span else str(value)
        for run in _runs(list(values))
        for value in (run if len(run) < span else run[:1])
    ]


def _time_words(cron: Cron, minute_text: str, hour_text: str) -> str:
    """When in the day: cron-descriptor's words, with the values a mixed list adds after
    its step ("Every 5 minutes, and at 7 minutes past the hour")."""
    minute, extra_minutes = _tidy(minute_text, cron.minutes, FIELDS[0])
    hour, extra_hours = _tidy(hour_text, cron.hours, FIELDS[1])
    if extra_minutes and extra_hours:  # both mixed: every value, as a list
        minute = ",".join(_compact_list(cron.minutes))
        hour = ",".join(str(value) for value in cron.hours)
        extra_minutes = extra_hours = []
    if extra_hours and not minute.isdigit():  # "every 5 minutes ... and at 09:00" misleads
        hour, extra_hours = ",".join(_compact_list(cron.hours, 2)), []
    if minute.isdigit() and "," in hour:  # at one minute of listed hours: a list of times
        hour = ",".join(str(value) for value in cron.hours)
    text = _words(f"{minute} {hour} * * *")
    said = _words(f"{minute} {hour} * * *", DescriptionTypeEnum.MINUTES)
    if extra_minutes and text.lower().startswith(said.lower()):
        plural = "minute" if extra_minutes == [1] else "minutes"
        more = f", and at {_spans(extra_minutes, str)} {plural} past the hour"
        text = text[: len(said)] + more + text[len(said) :]
    elif extra_minutes:  # worded otherwise than expected: every minute, as a list
        text = _words(f"{','.join(_compact_list(cron.minutes))} {hour} * * *")
    if extra_hours:
        times = [f"{h:02d}:{int(minute):02d}" for h in extra_hours]
        text += f", and at {_listed(times)}"
    one_hour = f"{int(hour):02d}" if hour.isdigit() else ""
    if one_hour and not minute.isdigit() and text.endswith(f", at {one_hour}:00"):
        # several minutes of one hour: cron-descriptor's "at 09:00" says only the first
        text = (
            text.removesuffix(f", at {one_hour}:00") + f", between {one_hour}:00 and {one_hour}:59"
        )
    # cron-descriptor says minute 0 of a range of hours as "At 0 minutes past the hour".
    return re.sub(r"^At 0 minutes past the hour\b", "Every hour", text)


def describe(expression: str) -> str:
    """The schedule in words ("At 09:00, every day"), saying what the scheduler does: each
    day once, a list's step and its other values apart, and both day fields as they
    combine. A stored expression that is no longer valid says why instead, so one old row
    cannot break a page that lists them all."""
    try:
        cron = parse(expression)
    except ValidationError as error:
        return f"Not a valid schedule: {error}"
    minute_text, hour_text, *_ = expand(expression).split()
    days = _day_words(cron)
    text = _time_words(cron, minute_text, hour_text) + days + _month_words(cron.months)
    every_month = cron.months == frozenset(range(1, 13))
    if not days and every_month and "*" not in _tidy(hour_text, cron.hours, FIELDS[1])[0]:
        text += ", every day"
    return text
