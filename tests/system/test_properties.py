"""Property tests: arbitrary input never makes the template renderer or the cron
validator raise anything but their documented validation error, and every expression the
validator accepts can be described and scheduled, matching cron's own day rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core.automations.templates import missing_variables, render, variable_names
from core.errors import ValidationError
from core.scheduling.cron import FIELDS, Field, parse_field
from core.scheduling.occurrences import (
    describe,
    next_occurrence,
    next_occurrences,
    timezone_names,
    validate_cron,
    zone,
)

CRON_PIECES = st.sampled_from(
    ["*", "*/5", "0", "59", "60", "1-5", "5-1", "MON", "JAN", "L", "#", "?", "H", ",", "/",
     "-", "1,2", "@daily", "@often", "0 9", " ", "\t", "99999999999", "-1", "½", "\x00",
     "R", "W", "15W", "5L", "1#2", "*/60", "*/0", "1-5/0", "0-70", "FRI-MON", "sun", "7",
     "²", "5/15", "@reboot"]
)  # fmt: skip
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(st.text() | st.lists(CRON_PIECES, max_size=8).map(" ".join))
def test_cron_validation_accepts_or_says_why(expression):
    try:
        valid = validate_cron(expression)
    except ValidationError as error:
        assert str(error) and error.field == "schedule"
        return
    assert describe(valid)
    assert next_occurrence(valid, "UTC", datetime(2026, 1, 1, tzinfo=UTC)) > datetime(
        2026, 1, 1, tzinfo=UTC
    )


@st.composite
def cron_item(draw: st.DrawFn, field: Field) -> str:
    """One list item of a field in cron's grammar: a value, a range or a stepped `*` or range."""
    names = {value: name for value, name in enumerate(field.names, field.first_name)}

    def value(number: int) -> str:
        named = number in names and draw(st.booleans())
        return (
            draw(st.sampled_from([names[number].lower(), names[number]])) if named else str(number)
        )

    first = draw(st.integers(field.low, field.high))
    last = draw(st.integers(first, field.high))
    step = f"/{draw(st.integers(1, field.high))}"
    return draw(
        st.sampled_from(
            [f"*{step}", value(first), f"{value(first)}-{value(last)}",
             f"{value(first)}-{value(last)}{step}"]
        )
    )  # fmt: skip


def cron_field(field: Field) -> st.SearchStrategy[str]:
    """A whole field: `*` alone, or a list of items."""
    return st.just("*") | st.lists(cron_item(field), min_size=1, max_size=3).map(",".join)


CRON_EXPRESSIONS = st.tuples(*(cron_field(field) for field in FIELDS)).map(" ".join)
TIMEZONES = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
)
MOMENTS = st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC))


def fires_on(fields: list[str], local: datetime) -> bool:
    """Vixie cron's rule, said again independently: the day fields AND when either starts
    with `*`, else OR."""
    minute, hour, day, month, weekday = (
        parse_field(text, field) for text, field in zip(fields, FIELDS, strict=True)
    )
    by_day = local.day in day
    by_weekday = local.isoweekday() % 7 in {value % 7 for value in weekday}
    either_star = fields[2].startswith("*") or fields[4].startswith("*")
    days = by_day and by_weekday if either_star else by_day or by_weekday
    return local.minute in minute and local.hour in hour and local.month in month and days


@settings(max_examples=300, deadline=None)
@given(CRON_EXPRESSIONS, TIMEZONES, MOMENTS)
def test_every_valid_expression_is_described_and_scheduled_as_cron_does(
    expression, timezone, after
):
    try:
        valid = validate_cron(expression)
    except ValidationError as error:  # only a date that never happens, like 30 February
        assert "never happens" in str(error)
        return
    assert describe(valid)
    found = next_occurrences(valid, timezone, after, 5)
    assert found[0] > after
    assert all(a < b for a, b in itertools.pairwise(found))
    tz = zone(timezone)
    for moment in found:
        local = moment.astimezone(tz)
        if local.second == 0:  # else a time skipped by a spring change, run after the jump
            assert fires_on(valid.split(), local)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(timezone_names()), MOMENTS)
def test_every_offered_timezone_schedules(timezone, after):
    assert next_occurrence("30 2 * * *", timezone, after) - after <= timedelta(days=2)


@settings(max_examples=400, deadline=None)
@given(st.text(), st.dictionaries(st.text(), JSONISH, max_size=5))
def test_templates_render_anything_without_raising(template, variables):
    rendered = render(template, variables)
    assert isinstance(rendered, str)
    assert set(missing_variables(template, variables)) <= set(variable_names(template))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}ab. _1\\"))
def test_braces_alone_never_break_a_template(template):
    assert render(template, {}) == render(template, {"unrelated": 1})
