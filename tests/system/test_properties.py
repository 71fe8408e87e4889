"""Property tests: arbitrary input never makes the template renderer or the cron
validator raise anything but their documented validation error."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ValidationError
from core.schedule import describe, next_occurrence, validate_cron
from core.templates import missing_variables, render, variable_names

CRON_PIECES = st.sampled_from(
    ["*", "*/5", "0", "59", "60", "1-5", "5-1", "MON", "JAN", "L", "#", "?", "H", ",", "/",
     "-", "1,2", "@daily", "@often", "0 9", " ", "\t", "99999999999", "-1", "½", "\x00"]
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
