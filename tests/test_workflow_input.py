"""A workflow's input as rows of a name and a value: what rows can show, and what a
person's rows make."""

from __future__ import annotations

import pytest

from core.automations.workflow_input import as_rows, from_rows
from core.errors import ValidationError


def test_rows_are_the_input_when_every_value_is_text():
    assert as_rows({"scope": "week", "team": "ops"}) == [("scope", "week"), ("team", "ops")]
    assert as_rows({}) == []


@pytest.mark.parametrize("value", [3, 1.5, True, None, ["a"], {"a": "b"}])
def test_an_input_rows_would_change_is_not_made_into_rows(value):
    assert as_rows({"scope": "week", "other": value}) is None


def test_rows_make_the_input_skipping_empty_ones():
    rows = [(" scope ", "week"), ("", ""), ("team  name", " ops "), ("  ", "  ")]
    assert from_rows(rows) == {"scope": "week", "team name": " ops "}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("", "week")], "Give the value 'week' a name."),
        ([("scope", "week"), (" scope", "month")], "'scope' is given twice; keep one of them."),
        ([("scope", "we\x00ek")], "input value holds a character that cannot be stored"),
    ],
)
def test_rows_that_make_no_input_are_refused_in_words(rows, message):
    with pytest.raises(ValidationError, match=message) as refused:
        from_rows(rows)
    assert refused.value.field == "input"
