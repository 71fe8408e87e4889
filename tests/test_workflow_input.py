"""A workflow's input: a template of the fields a person picks, rendered exactly (a whole
`{variable}` keeps its JSON type), refused when it names what no run can fill; without
one, what runs sent before; and rows, the form's way to fill one in."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.agents.check import TEST_INPUT, check_workflow
from core.automations import jobs, triggers
from core.automations.jobs import JobFields
from core.automations.triggers import TriggerFields
from core.automations.workflow_input import (
    as_rows,
    checked_template,
    from_rows,
    rendered,
    ticked,
    ticked_names,
    used_variables,
)
from core.errors import ValidationError
from core.events.catalog import sample_events
from core.events.inbox import fire_test_event
from core.store.models import EventTrigger, Run, ScheduledJob, utcnow
from core.views.words import answer_in_words
from support.fakes import Reply
from support.flights import execute_run
from support.queues import RecordingQueue

GMAIL = "GMAIL_NEW_GMAIL_MESSAGE"
VARIABLES = {
    "emailFrom": "Jane Doe <jane@example.com>",
    "count": 3,
    "ratio": 0.5,
    "unread": True,
    "labels": ["INBOX", "UNREAD"],
    "preview": {"subject": "Q4", "body": "Hi"},
    "empty": None,
}


@pytest.mark.parametrize(
    ("template", "sent"),
    [
        ({"from": "{emailFrom}"}, {"from": "Jane Doe <jane@example.com>"}),
        ({"n": "{count}", "r": "{ratio}", "u": "{unread}"}, {"n": 3, "r": 0.5, "u": True}),
        ({"labels": "{labels}"}, {"labels": ["INBOX", "UNREAD"]}),
        ({"preview": "{preview}"}, {"preview": {"subject": "Q4", "body": "Hi"}}),
        ({"subject": "{preview.subject}"}, {"subject": "Q4"}),
        ({"spaced": " {{ count }} "}, {"spaced": 3}),
        ({"gone": "{empty}", "never": "{missing}"}, {"gone": None, "never": None}),
        ({"nested": {"list": ["{count}", "of {count}"]}}, {"nested": {"list": [3, "of 3"]}}),
        ({"fixed": 7, "yes": False, "none": None}, {"fixed": 7, "yes": False, "none": None}),
        ({"{count}": "keys stay"}, {"{count}": "keys stay"}),
    ],
)
def test_a_whole_variable_keeps_its_json_type(template, sent):
    assert rendered(template, VARIABLES) == sent


@pytest.mark.parametrize(
    ("template", "sent"),
    [
        ({"line": "From {emailFrom}"}, {"line": "From Jane Doe <jane@example.com>"}),
        ({"line": "{count} new"}, {"line": "3 new"}),
        ({"line": "{unread}!"}, {"line": "true!"}),
        ({"line": "in {labels}"}, {"line": 'in ["INBOX", "UNREAD"]'}),
        ({"line": "{count}{count}"}, {"line": "33"}),
        ({"line": "[{missing}]"}, {"line": "[]"}),
        ({"json": '{"a": 1}'}, {"json": '{"a": 1}'}),
    ],
)
def test_other_text_is_rendered_as_text(template, sent):
    assert rendered(template, VARIABLES) == sent


def test_the_variables_a_template_uses_are_found_in_nested_values():
    template = {"a": "{emailFrom}", "b": ["{count} and {emailFrom}", {"c": "{{ date }}"}], "d": 1}
    assert used_variables(template) == ["emailFrom", "count", "date"]


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        (
            {"from": "{emailFrm}"},
            "The workflow input uses the unknown variable {emailFrm} — did you mean {emailFrom}?",
        ),
        (
            {"from": "{EMAILFROM}", "day": "{dayofweek}"},
            "The workflow input uses the unknown variables {EMAILFROM}, {dayofweek} — did you "
            "mean {emailFrom} for {EMAILFROM}, {dayOfWeek} for {dayofweek}?",
        ),
        (
            {"x": "{agenda}"},
            "The workflow input uses the unknown variable {agenda}; the ones there are: "
            "{emailFrom}, {dayOfWeek}, {sender}.",
        ),
    ],
)
def test_unknown_variables_are_refused_in_one_line_with_the_names_meant(template, refusal):
    with pytest.raises(ValidationError) as refused:
        checked_template(template, ["emailFrom", "dayOfWeek", "sender"])
    assert str(refused.value) == refusal and "\n" not in refusal
    assert refused.value.field == "input"


def test_known_names_and_paths_into_them_are_taken_and_unknown_events_take_any():
    template = {"a": "{emailFrom}", "b": "{sender.email}", "c": "no variable"}
    assert checked_template(template, ["emailFrom", "sender"]) == template
    assert checked_template({"a": "{anything}"}, None) == {"a": "{anything}"}


def test_ticked_fields_make_a_template_a_form_can_tick_again():
    template = ticked(["emailFrom", "emailSubject"])
    assert template == {"emailFrom": "{emailFrom}", "emailSubject": "{emailSubject}"}
    assert ticked_names(template) == ["emailFrom", "emailSubject"]
    assert ticked_names({}) == []
    assert ticked_names({"from": "{emailFrom}"}) is None
    assert ticked_names({"emailFrom": "From {emailFrom}"}) is None
    assert ticked_names({"count": 3}) is None


# Jobs and triggers: what the workflow receives.


def _sent(target) -> list:
    return [request.body["input"] for request in target.received("/hooks/analyze")]


def _run_all(settings, queue: RecordingQueue) -> None:
    for run_id in queue.run_ids:
        execute_run(run_id, queue, settings)


def test_a_job_sends_its_template_rendered_for_the_run(settings, session, agent, workflow, target):
    template = {"report": "{jobName}", "day": "{dayOfWeek}", "scope": "week", "top": 5}
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", workflow=workflow.name,
                       input=template)  # fmt: skip
    job = jobs.create_job(session, "Weekly report", fields, utcnow(), "UTC")
    queue = RecordingQueue()
    jobs.run_job_now(session, job.id, queue, utcnow())
    _run_all(settings, queue)
    [sent] = _sent(target)
    assert sent == {"report": "Weekly report", "day": utcnow().strftime("%A"), "scope": "week",
                    "top": 5}  # fmt: skip


def test_a_job_without_a_template_sends_an_empty_input_as_before(
    settings, session, agent, workflow, target
):
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", workflow=workflow.name)
    job = jobs.create_job(session, "Plain", fields, utcnow(), "UTC")
    queue = RecordingQueue()
    jobs.run_job_now(session, job.id, queue, utcnow())
    _run_all(settings, queue)
    assert _sent(target) == [{}]


def _trigger(session, settings, **action) -> EventTrigger:
    fields = TriggerFields(agent="Assistant", event=GMAIL, **action)
    return triggers.create_trigger(session, "Email triage", fields, settings, utcnow())


def test_a_trigger_sends_exactly_the_ticked_fields_of_the_event(
    settings, session, agent, workflow, target
):
    template = {"from": "{emailFrom}", "subject": "{emailSubject}", "labels": "{label_ids}"}
    trigger = _trigger(session, settings, workflow=workflow.name, input=template)
    queue = RecordingQueue()
    fire_test_event(session, settings, trigger.id, queue, utcnow())
    _run_all(settings, queue)
    data = sample_events()[GMAIL]["data"]
    assert _sent(target) == [
        {"from": data["sender"], "subject": data["subject"], "labels": data["label_ids"]}
    ]


def test_a_trigger_without_a_template_sends_the_events_data_as_before(
    settings, session, agent, workflow, target
):
    trigger = _trigger(session, settings, workflow=workflow.name)
    queue = RecordingQueue()
    fire_test_event(session, settings, trigger.id, queue, utcnow())
    _run_all(settings, queue)
    assert _sent(target) == [sample_events()[GMAIL]["data"]]


@pytest.mark.parametrize(
    ("action", "refusal"),
    [
        ({"input": {"from": "{emailFrm}"}}, "did you mean {emailFrom}?"),
        ({"input": {"n": "{nope}"}}, "uses the unknown variable {nope}; the ones there are:"),
        ({"input": ["{emailFrom}"]}, "The workflow input must be a JSON object"),
    ],
)
def test_a_trigger_whose_template_no_event_fills_is_refused_and_nothing_is_saved(
    settings, session, agent, workflow, action, refusal
):
    with pytest.raises(ValidationError, match=refusal.replace("{", r"\{").replace("?", r"\?")):
        _trigger(session, settings, workflow=workflow.name, **action)
    assert session.exec(select(EventTrigger)).all() == []


def test_a_job_template_takes_only_the_variables_every_job_has(session, agent, workflow):
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", workflow=workflow.name,
                       input={"from": "{emailFrom}"})  # fmt: skip
    with pytest.raises(ValidationError, match=r"unknown variable \{emailFrom\}; the ones"):
        jobs.create_job(session, "Weekly report", fields, utcnow(), "UTC")
    assert session.exec(select(ScheduledJob)).all() == []


def test_a_new_event_its_template_no_longer_fits_is_refused_and_the_trigger_kept(
    settings, session, agent, workflow
):
    trigger = _trigger(session, settings, workflow=workflow.name, input={"s": "{emailSubject}"})
    change = TriggerFields(event="SLACK_RECEIVE_MESSAGE")
    with pytest.raises(ValidationError, match=r"unknown variable \{emailSubject\}"):
        triggers.update_trigger(session, trigger.id, change, settings, utcnow())
    session.rollback()
    assert session.get(EventTrigger, trigger.id).event == GMAIL


def test_the_input_of_a_chat_is_refused(settings, session, agent):
    with pytest.raises(ValidationError, match="Input only applies to workflow triggers"):
        _trigger(session, settings, chat="Hi", input={"a": "{emailFrom}"})
    assert session.exec(select(Run)).all() == []


# The answer in words.


@pytest.mark.parametrize(
    ("answer", "lines", "details"),
    [
        ("Filed it.", ("Filed it.",), ""),
        (
            {"summary": "Two emails need you.", "ids": [1, 2]},
            ("Two emails need you.",),
            "ids: 1, 2",
        ),
        ({"text": "Done", "message": "also"}, ("Done",), "message: also"),
        ({"answer": "  ", "message": "Sent"}, ("Sent",), "answer:   "),
        ({"ok": True, "count": 2}, ("ok: yes", "count: 2"), ""),
        (
            {"ok": True, "received": {"input": {"scope": "week"}}},
            ("ok: yes",),
            "received.input.scope: week",
        ),
        (
            {"got": {"input": {"a": 1}}},
            ("The answer holds data only; see Technical details.",),
            "got.input.a: 1",
        ),
        (
            {"note": "x" * 81},
            ("The answer holds data only; see Technical details.",),
            "note: " + "x" * 81,
        ),
        (42, ("42",), ""),
        (None, (), ""),
    ],
)
def test_an_answer_reads_as_text_and_the_rest_as_technical_details(answer, lines, details):
    said = answer_in_words(answer)
    assert (said.lines, said.details) == (lines, details)


def test_a_workflow_test_sends_a_small_input_and_says_the_answer_in_words(
    settings, workflow, target
):
    target.script("/hooks/analyze", Reply(body={"summary": "All good.", "run": {"id": 7}}))
    check = check_workflow(workflow, settings)
    assert (check.succeeded, check.text, check.details) == (True, "All good.", "run.id: 7")
    [request] = target.received("/hooks/analyze")
    assert request.body["input"] == TEST_INPUT
    assert request.body["source"] == {"type": "workflow_test", "workflowName": "analyze-email"}


def test_a_workflow_test_that_fails_says_why_in_words(settings, workflow, target):
    target.script("/hooks/analyze", Reply(404, {"error": "no such hook"}))
    check = check_workflow(workflow, settings)
    assert not check.succeeded
    assert check.text.endswith("answered 404 (not found): check the address.")


# Rows.


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
