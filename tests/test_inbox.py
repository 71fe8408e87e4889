"""From inbox row to runs: matching, exactly once, system events, test events, replays —
and trigger runs executed by the same runner as jobs, against a real local HTTP server."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from core import triggers
from core.catalog import sample_events
from core.db import session as open_session
from core.dispatch import EVENT_SWEEP_AFTER, tick
from core.inbox import fire_test_event, process_event, replay_event
from core.models import EventTrigger, Run, WebhookEvent
from core.runner import execute_run
from core.triggers import TriggerFields
from core.webhooks import parse, store
from tests.fakes import Reply

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GMAIL = sample_events()["GMAIL_NEW_GMAIL_MESSAGE"]
TEMPLATE = "From {emailFrom}: {emailSubject} | {sender} | {preview.subject} | {nothing}."


def receive(settings, payload: dict, event_id: str | None = None) -> str:
    event_id = event_id or payload["id"]
    assert store(settings.database_url, event_id, parse(json.dumps(payload).encode()), NOW)
    return event_id


def add_trigger(session, settings, name: str, **fields) -> EventTrigger:
    base = {"agent": "Assistant", "event": "GMAIL_NEW_GMAIL_MESSAGE", "chat": TEMPLATE}
    return triggers.create_trigger(session, name, TriggerFields(**(base | fields)), settings, NOW)


def runs(settings) -> list[Run]:
    with open_session(settings.database_url) as session:
        return list(session.exec(select(Run).order_by(Run.id)))


def event(settings, event_id: str) -> WebhookEvent:
    with open_session(settings.database_url) as session:
        return session.get(WebhookEvent, event_id)


def trigger(settings, name: str) -> EventTrigger:
    """A fresh read (the test's own session would hold SQLite's write lock while open)."""
    with open_session(settings.database_url) as session:
        return triggers.find_trigger(session, name)


def run_all(settings, queue, http) -> list[Run]:
    for run_id in queue.run_ids:
        execute_run(run_id, queue, http, settings, clock=lambda: NOW)
    return runs(settings)


def test_a_gmail_event_starts_a_chat_with_the_event_variables(settings, session, agent, target,
                                                              queue, http):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, GMAIL), queue, NOW)

    [run] = run_all(settings, queue, http)
    assert (run.source, run.status, run.event_id) == ("event", "succeeded", GMAIL["id"])
    assert run.input == (
        "From Jane Doe <jane@example.com>: Q4 planning doc | Jane Doe <jane@example.com> "
        "| Q4 planning doc | ."
    )
    assert target.received()[0].body["messages"][-1]["content"] == run.input
    assert event(settings, GMAIL["id"]).status == "dispatched"
    fired = trigger(settings, "Email triage")
    assert fired.last_fired_at == NOW and fired.last_outcome == "succeeded"


def test_a_workflow_trigger_receives_the_event_data_and_source(
    settings, session, agent, workflow, target, queue, http
):
    add_trigger(session, settings, "Analyze", chat=None, workflow="analyze-email")
    process_event(settings, receive(settings, GMAIL), queue, NOW)

    [run] = run_all(settings, queue, http)
    [request] = target.received("/hooks/analyze")
    assert request.body["input"] == GMAIL["data"]
    assert request.body["source"]["type"] == "event"
    assert request.body["source"]["event"] == "GMAIL_NEW_GMAIL_MESSAGE"
    assert request.body["source"]["eventId"] == GMAIL["id"]
    assert run.status == "succeeded"


def test_matching_prefers_the_composio_instance_then_the_slug(settings, session, agent, queue):
    owner = add_trigger(session, settings, "Registered")
    owner.composio_trigger_id = GMAIL["metadata"]["trigger_id"]
    session.add(owner)
    session.commit()
    add_trigger(session, settings, "Other gmail trigger")
    process_event(settings, receive(settings, GMAIL), queue, NOW)
    assert [run.trigger_id for run in runs(settings)] == [owner.id]

    other = copy.deepcopy(GMAIL) | {"id": "msg_other"}
    other["metadata"] = other["metadata"] | {"trigger_id": "ti_unknown"}
    process_event(settings, receive(settings, other), queue, NOW)
    others = sorted(r.trigger_id for r in runs(settings) if r.event_id == "msg_other")
    assert others == [owner.id, trigger(settings, "Other gmail trigger").id]


def test_paused_triggers_do_not_match_and_unmatched_events_are_kept(settings, session, agent,
                                                                    queue):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    triggers.pause_trigger(session, "Email triage", settings, NOW)
    process_event(settings, receive(settings, GMAIL), queue, NOW)
    assert runs(settings) == []
    assert event(settings, GMAIL["id"]).status == "unmatched"


def test_an_event_is_processed_once_however_often_it_comes(settings, session, agent, queue):
    add_trigger(session, settings, "One")
    add_trigger(session, settings, "Two")
    event_id = receive(settings, GMAIL)
    assert not store(settings.database_url, event_id, parse(json.dumps(GMAIL).encode()), NOW)
    for _ in range(3):
        process_event(settings, event_id, queue, NOW)
    assert len(runs(settings)) == 2
    assert len(queue.run_ids) == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"id": "msg_d", "type": "composio.trigger.disabled", "metadata": {"project_id": "p"},
          "data": {"id": "ti_0001", "trigger_name": "GMAIL_NEW_GMAIL_MESSAGE",
                   "disabled_at": "2026-11-26T10:00:00Z", "disabled_reason": "connection_expired"}},
         "Composio disabled this trigger (connection_expired)."),
        ({"id": "msg_e", "type": "composio.connected_account.expired",
          "metadata": {"user_id": "user-42"}, "data": {"id": "ca_1", "toolkit": {"slug": "gmail"}}},
         "The connected account expired; reconnect it in Composio."),
    ],
)  # fmt: skip
def test_disabled_and_expired_events_start_nothing_and_turn_triggers_red(
    settings, session, agent, queue, payload, reason
):
    registered = add_trigger(session, settings, "Email triage", user_id="user-42")
    registered.composio_trigger_id, registered.sync_state = "ti_0001", "registered"
    session.add(registered)
    session.commit()

    process_event(settings, receive(settings, payload), queue, NOW)

    assert runs(settings) == []
    marked = trigger(settings, "Email triage")
    assert (marked.health, marked.sync_state, marked.sync_error) == ("red", "error", reason)
    assert event(settings, payload["id"]).status == "dispatched"


def test_test_events_fire_only_that_trigger_with_a_sample(settings, session, agent, target, queue,
                                                         http):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    add_trigger(session, settings, "Other")
    run = fire_test_event(session, settings, "Email triage", queue, NOW)
    assert (run.source, run.trigger_id) == (
        "test",
        trigger(settings, "Email triage").id,
    )
    [done] = run_all(settings, queue, http)
    assert done.input.startswith("From Jane Doe <jane@example.com>: Q4 planning doc")


def test_replay_runs_a_stored_event_again_as_a_new_entry(settings, session, agent, queue):
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, GMAIL), queue, NOW)
    copy_ = replay_event(session, GMAIL["id"], queue, NOW)
    assert queue.events == [copy_.id] and copy_.id.startswith(GMAIL["id"] + ":replay:")
    process_event(settings, copy_.id, queue, NOW)
    assert [run.event_id for run in runs(settings)] == [GMAIL["id"], copy_.id]


def test_the_tick_resubmits_events_whose_message_was_lost(settings, session, queue):
    event_id = receive(settings, GMAIL)
    tick(settings, queue, NOW + EVENT_SWEEP_AFTER / 2, "w")
    assert queue.events == []
    tick(settings, queue, NOW + EVENT_SWEEP_AFTER + timedelta(seconds=1), "w")
    assert queue.events == [event_id]


def test_trigger_runs_retry_and_colour_like_jobs(settings, session, agent, target, queue, http):
    target.script("/v1/chat/completions", Reply(503), Reply(400, {"error": "bad"}))
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, GMAIL), queue, NOW)
    [run_id] = queue.run_ids
    execute_run(run_id, queue, http, settings, clock=lambda: NOW)
    [retrying] = runs(settings)
    assert retrying.status == "retrying"
    execute_run(run_id, queue, http, settings, clock=lambda: retrying.due_at)
    [failed] = runs(settings)
    assert (failed.status, failed.attempt) == ("failed", 2)
    assert trigger(settings, "Email triage").health == "red"
