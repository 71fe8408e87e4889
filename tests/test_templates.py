"""`{variable}` templates: defaults in the job's timezone, dotted paths, JSON left alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.automations.templates import (
    default_variables,
    did_you_mean,
    missing_variables,
    missing_warning,
    render,
    variable_names,
)

MOMENT = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)


def test_default_variables_are_in_the_jobs_timezone():
    variables = default_variables(MOMENT, "Europe/Berlin", "Morning Briefing", "Assistant", "k42")
    template = "{date} {time} {dayOfWeek} {datetime} {timezone} {jobName} {agentName} {runId}"
    assert render(template, variables) == (
        "2026-11-27 00:30 Friday 2026-11-27T00:30:00+01:00 Europe/Berlin "
        "Morning Briefing Assistant k42"
    )


def test_double_braces_work_like_single_ones():
    assert render("{{ name }} and {{name}} and {name}", {"name": "Ada"}) == "Ada and Ada and Ada"


def test_json_braces_are_left_alone():
    template = 'Reply as {"summary": "...", "count": 3} for {name}; {} and { spaced } stay.'
    assert render(template, {"name": "Ada"}) == (
        'Reply as {"summary": "...", "count": 3} for Ada; {} and { spaced } stay.'
    )


def test_unknown_variables_become_empty_text_and_are_reported():
    template = "Agenda: {agenda}. Day: {dayOfWeek}."
    variables = {"dayOfWeek": "Monday"}
    assert render(template, variables) == "Agenda: . Day: Monday."
    assert missing_variables(template, variables) == ["agenda"]


def test_dotted_paths_reach_into_nested_data():
    data = {"sender": {"email": "a@example.org"}, "labels": ["INBOX", "IMPORTANT"], "n": 2}
    assert render("{sender.email} {labels.1} {n} {sender}", data) == (
        'a@example.org IMPORTANT 2 {"email": "a@example.org"}'
    )
    assert render("{sender.name} {labels.7}", data) == " "


def test_variable_names_in_order_without_repeats():
    assert variable_names("{a} {{b.c}} {a} {1x} {d}") == ["a", "b.c", "d"]


VARIABLES = {
    **default_variables(MOMENT, "UTC", "Briefing", "Assistant", "k42"),
    "sender": {"email": "a@example.org"},
}


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("dayofweek", "dayOfWeek"),
        ("dayOfWek", "dayOfWeek"),
        ("JOBNAME", "jobName"),
        ("agentNme", "agentName"),
        ("sender.emial", "sender.email"),
        ("agenda", None),
        ("weather", None),
    ],
)
def test_a_near_miss_names_the_variable_meant(typed, meant):
    assert did_you_mean(typed, VARIABLES) == meant


def test_the_warning_lists_what_has_no_value_and_what_was_meant():
    assert missing_warning("{date} {agentName}", VARIABLES) is None
    assert (
        missing_warning("{agenda}", VARIABLES) == "No value for: {agenda} — it will be left empty."
    )
    assert missing_warning("Happy {dayofweek}", VARIABLES) == (
        "No value for: {dayofweek} — did you mean {dayOfWeek}? As it is, it will be left empty."
    )
    assert missing_warning("{dayOfWek} {agenda} {jobname}", VARIABLES) == (
        "No value for: {dayOfWek}, {agenda}, {jobname} — they will be left empty. "
        "Did you mean {dayOfWeek} for {dayOfWek}, {jobName} for {jobname}?"
    )
