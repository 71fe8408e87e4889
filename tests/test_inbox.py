"""From inbox row to runs: matching, exactly once, system events, test events, replays —
and trigger runs executed by the same runner as jobs, against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from core.automations import triggers
from core.automations.fields import UNCHANGED
from core.automations.triggers import TriggerFields
from core.events.catalog import sample_events
from core.events.deliveries import inbox_row, store_rows
from core.events.envelope import parse
from core.events.inbox import fire_test_event, replay_event, sample_payload
from core.events.processing import process_event, process_events
from core.running.sweeps import EVENT_SWEEP_AFTER
from core.scheduling.tick import tick
from core.store.db import session as open_session
from core.store.models import EventTrigger, Run, WebhookEvent
from core.views.overview import late_in_words
from queueing import HueyQueue, make_huey
from support.cli import planner_cli
from support.fakes import Reply
from support.flights import execute_run
from support.stored import snapshot
from support.waiting import wait_until
from worker.consumer import Worker

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GMAIL = sample_events()["GMAIL_NEW_GMAIL_MESSAGE"]
TEMPLATE = "From {emailFrom}: {emailSubject} | {sender} | {preview.subject} | {nothing}."


def gmail(event_id: str, instance: str | None = None, user: str = "user-42") -> dict:
    """The sample Gmail event with its own ids, from `instance` (or naming none)."""
    metadata = {k: v for k, v in GMAIL["metadata"].items() if k != "trigger_id"}
    metadata |= {"user_id": user} | ({"trigger_id": instance} if instance else {})
    data = GMAIL["data"] | {"message_id": event_id, "id": event_id}
    return GMAIL | {"id": event_id, "metadata": metadata, "data": data}


# The sample from no instance, for the tests' local triggers (of user-42, see add_trigger).
LOCAL = gmail(GMAIL["id"])


def store(settings, payload: dict, event_id: str) -> bool:
    """Stored as the webhook stores a delivery; False when nothing new was pending."""
    row = inbox_row(event_id, parse(json.dumps(payload).encode()), NOW)
    return bool(store_rows(settings.database_url, [row]))


def receive(settings, payload: dict, event_id: str | None = None) -> str:
    event_id = event_id or payload["id"]
    assert store(settings, payload, event_id)
    return event_id


def add_trigger(session, settings, name: str, **fields) -> EventTrigger:
    base = {"agent": "Assistant", "event": "GMAIL_NEW_GMAIL_MESSAGE", "chat": TEMPLATE,
            "user_id": "user-42"}  # fmt: skip
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


def run_all(settings, queue) -> list[Run]:
    for run_id in queue.run_ids:
        execute_run(run_id, queue, settings, clock=lambda: NOW)
    return runs(settings)


def test_a_gmail_event_starts_a_chat_with_the_event_variables(settings, session, agent, target,
                                                              queue):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, LOCAL), queue, NOW)

    [run] = run_all(settings, queue)
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
    settings, session, agent, workflow, target, queue
):
    add_trigger(session, settings, "Analyze", chat=UNCHANGED, workflow="analyze-email")
    process_event(settings, receive(settings, LOCAL), queue, NOW)

    [run] = run_all(settings, queue)
    [request] = target.received("/hooks/analyze")
    assert request.body["input"] == LOCAL["data"]
    assert request.body["source"]["type"] == "event"
    assert request.body["source"]["event"] == "GMAIL_NEW_GMAIL_MESSAGE"
    assert request.body["source"]["eventId"] == GMAIL["id"]
    assert run.status == "succeeded"


def registered(session, settings, name: str, instance: str, **fields) -> EventTrigger:
    trigger_ = add_trigger(session, settings, name, **fields)
    trigger_.composio_trigger_id = instance
    session.add(trigger_)
    session.commit()
    return trigger_


def test_an_event_of_an_instance_starts_only_its_trigger(settings, session, agent, queue):
    automation = registered(session, settings, "Registered", GMAIL["metadata"]["trigger_id"])
    add_trigger(session, settings, "Same event, local")
    process_event(settings, receive(settings, GMAIL), queue, NOW)
    assert [run.trigger_id for run in runs(settings)] == [automation.id]


def test_an_event_of_an_unknown_instance_starts_nothing(settings, session, agent, queue):
    add_trigger(session, settings, "Same event, same user")
    process_event(settings, receive(settings, gmail("msg_x", instance="ti_unknown")), queue, NOW)
    assert runs(settings) == []
    stored = event(settings, "msg_x")
    assert (stored.status, stored.note) == (
        "unmatched", "No trigger here is Composio instance ti_unknown. Started nothing."
    )  # fmt: skip


def test_an_event_without_an_instance_goes_to_its_users_triggers_only(settings, session, agent,
                                                                      queue):  # fmt: skip
    mine = add_trigger(session, settings, "Mine")
    add_trigger(session, settings, "Someone else's", user_id="user-7")
    add_trigger(session, settings, "Other event", user_id="user-42", event="GITHUB_COMMIT_EVENT",
                filters={"owner": "o", "repo": "r"})  # fmt: skip
    process_event(settings, receive(settings, gmail("msg_a")), queue, NOW)
    process_event(settings, receive(settings, gmail("msg_b", user="user-9")), queue, NOW)
    assert [(run.event_id, run.trigger_id) for run in runs(settings)] == [("msg_a", mine.id)]
    assert event(settings, "msg_b").status == "unmatched"


def test_paused_triggers_do_not_match_and_unmatched_events_are_kept(settings, session, agent,
                                                                    queue):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    triggers.pause_trigger(session, "Email triage", settings, NOW)
    process_event(settings, receive(settings, LOCAL), queue, NOW)
    assert runs(settings) == []
    assert event(settings, GMAIL["id"]).status == "unmatched"


def test_an_event_is_processed_once_however_often_it_comes(settings, session, agent, queue):
    add_trigger(session, settings, "One")
    add_trigger(session, settings, "Two")
    event_id = receive(settings, LOCAL)
    assert not store(settings, LOCAL, event_id)
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


def test_test_events_fire_only_that_trigger_with_a_sample(settings, session, agent, target, queue):
    add_trigger(session, settings, "Email triage")
    add_trigger(session, settings, "Other")
    run = fire_test_event(session, settings, "Email triage", queue, NOW)
    assert (run.source, run.trigger_id) == (
        "test",
        trigger(settings, "Email triage").id,
    )
    [done] = run_all(settings, queue)
    assert done.input.startswith("From Jane Doe <jane@example.com>: Q4 planning doc")


def test_replay_runs_a_stored_event_again_as_a_new_entry(settings, session, agent, queue):
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, LOCAL), queue, NOW)
    copy_ = replay_event(session, GMAIL["id"], queue, NOW)
    assert queue.events == [copy_.id] and copy_.id.startswith(GMAIL["id"] + ":replay:")
    process_event(settings, copy_.id, queue, NOW)
    assert [run.event_id for run in runs(settings)] == [GMAIL["id"], copy_.id]


def test_the_tick_resubmits_events_whose_message_was_lost(settings, session, queue):
    event_id = receive(settings, LOCAL)
    tick(settings, queue, NOW + EVENT_SWEEP_AFTER / 2, "w")
    assert queue.events == []
    tick(settings, queue, NOW + EVENT_SWEEP_AFTER + timedelta(seconds=1), "w")
    assert queue.events == [event_id]


def test_trigger_runs_retry_and_colour_like_jobs(settings, session, agent, target, queue):
    target.script("/v1/chat/completions", Reply(503), Reply(400, {"error": "bad"}))
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, LOCAL), queue, NOW)
    [run_id] = queue.run_ids
    execute_run(run_id, queue, settings, clock=lambda: NOW)
    [retrying] = runs(settings)
    assert retrying.status == "retrying"
    execute_run(run_id, queue, settings, clock=lambda: retrying.due_at)
    [failed] = runs(settings)
    assert (failed.status, failed.attempt) == ("failed", 2)
    assert trigger(settings, "Email triage").health == "red"


EXAMPLES = {event["metadata"]["trigger_slug"]: event for event in sample_events().values()}


@pytest.mark.parametrize(
    ("slug", "keyed"),
    [("GMAIL_NEW_GMAIL_MESSAGE", True), ("GITHUB_COMMIT_EVENT", True),
     ("SLACK_RECEIVE_MESSAGE", True), ("GOOGLECALENDAR_GOOGLE_CALENDAR_EVENT_SYNC_TRIGGER", False)],
)  # fmt: skip
def test_the_same_event_under_a_new_webhook_id_is_kept_as_a_duplicate(settings, queue, slug,
                                                                       keyed):  # fmt: skip
    example = EXAMPLES[slug]
    first = receive(settings, example)
    assert store(settings, example | {"id": "msg_again"}, "msg_again") is not keyed
    again = event(settings, "msg_again")
    if keyed:
        assert (again.status, again.dedupe_key) == ("duplicate", None)
        assert again.note == f"The same event as {first}, announced again; started nothing."
    else:  # a calendar event's id repeats on every update: each announcement is new
        assert (again.status, again.dedupe_key) == ("pending", None)


def test_the_same_message_from_another_instance_is_not_a_duplicate(settings):
    receive(settings, gmail("msg_1", instance="ti_a") | {"data": GMAIL["data"]})
    assert receive(settings, gmail("msg_2", instance="ti_b") | {"data": GMAIL["data"]})


def test_replays_and_test_events_do_not_collide_with_the_original(settings, session, agent,
                                                                  queue):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, LOCAL), queue, NOW)
    fire_test_event(session, settings, "Email triage", queue, NOW, payload=LOCAL)
    replayed = replay_event(session, LOCAL["id"], queue, NOW)
    process_event(settings, replayed.id, queue, NOW)
    assert len(runs(settings)) == 3
    assert event(settings, replayed.id).status == "dispatched"


def legacy_row(settings, event_id: str, payload: dict, received_at: datetime) -> str:
    """A pending row as an earlier version stored it, before envelopes were checked."""
    with open_session(settings.database_url) as session:
        session.add(WebhookEvent(id=event_id, type=payload["type"], payload=payload,
                                 received_at=received_at))  # fmt: skip
        session.commit()
    return event_id


POISON_DISABLED = {"type": "composio.trigger.disabled",
                   "data": {"id": {"a": 1}, "disabled_reason": ["odd"]}}  # fmt: skip


def test_a_poison_event_fails_alone_and_the_sweep_leaves_it(settings, session, agent, queue):
    add_trigger(session, settings, "Email triage")
    poison = legacy_row(settings, "msg_poison", POISON_DISABLED, NOW - timedelta(hours=1))
    good = [receive(settings, gmail(f"msg_{n}")) for n in range(20)]
    process_events(settings, [good[0], poison, *good[1:]], queue, NOW)

    failed = event(settings, poison)
    assert (failed.status, failed.note) == ("failed", "Could not process this event (not a "
            "Composio event: 'data.id' is not a string); it started nothing.")  # fmt: skip
    assert {event(settings, event_id).status for event_id in good} == {"dispatched"}
    assert len(runs(settings)) == 20
    tick(settings, queue, NOW + EVENT_SWEEP_AFTER * 2, "w")
    assert queue.events == []


def test_a_disabled_event_without_an_instance_marks_no_trigger(settings, session, agent, queue):
    add_trigger(session, settings, "Local")
    payload = {"id": "msg_d", "type": "composio.trigger.disabled", "data": {}}
    process_event(settings, receive(settings, payload), queue, NOW)
    assert trigger(settings, "Local").sync_state == "local"


def test_a_test_payload_whose_data_is_not_an_object_is_refused(settings, session, agent, tmp_path,
                                                              monkeypatch, capsys):  # fmt: skip
    add_trigger(session, settings, "Email triage")
    session.close()
    before = snapshot(settings.database_url)
    for text in ['{"data": 3}', '{"data": [1]}', '{"subject": NaN}', '{"data": {"x": "\\u0000"}}']:
        payload = tmp_path / "payload.json"
        payload.write_text(text)
        with planner_cli(settings, monkeypatch) as cli:
            assert cli("triggers", "test", "Email triage", "--payload", str(payload)) == 2
        err = capsys.readouterr().err
        assert err.startswith("planner: The payload") and err.count("\n") == 1, err
    assert snapshot(settings.database_url) == before


def test_the_tick_prunes_old_inbox_rows_but_not_unfinished_ones(settings, session, agent, queue):
    add_trigger(session, settings, "Email triage")
    old = NOW - timedelta(days=settings.inbox_days, seconds=1)
    done, waiting = receive(settings, gmail("msg_done")), receive(settings, gmail("msg_waiting"))
    for event_id in (done, waiting):
        process_event(settings, event_id, queue, NOW)
    execute_run(queue.run_ids[0], queue, settings, clock=lambda: NOW)
    pending = legacy_row(settings, "msg_pending", LOCAL, old)
    young = receive(settings, gmail("msg_young"))
    with open_session(settings.database_url) as db:
        for event_id in (done, waiting):
            db.get(WebhookEvent, event_id).received_at = old
        db.commit()

    tick(settings, queue, NOW, "w")

    with open_session(settings.database_url) as db:
        left = sorted(db.exec(select(WebhookEvent.id)).all())
    assert left == sorted([waiting, pending, young])


def test_a_test_event_is_no_sample_for_the_next_one(settings, session, agent, queue):
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="x")
    trigger = triggers.create_trigger(session, "Mail", fields, settings, NOW)
    custom = {"type": "composio.trigger.message", "data": {"custom": "value"}}
    fire_test_event(session, settings, trigger.id, queue, NOW, custom)
    assert sample_payload(session, trigger.event) == sample_events()["GMAIL_NEW_GMAIL_MESSAGE"]


def test_an_event_taken_in_while_the_worker_was_down_says_its_run_ran_late(
    settings, session, agent, target, queue
):
    """The event arrived at NOW; the worker came back five minutes later and made its run
    then: the run is due at the arrival, so the card and Activity say it ran late, and why."""
    add_trigger(session, settings, "Email triage")
    back = NOW + timedelta(minutes=5)
    process_event(settings, receive(settings, LOCAL), queue, back)
    [run_id] = queue.run_ids
    execute_run(run_id, queue, settings, clock=lambda: back)

    [run] = runs(settings)
    assert (run.status, run.due_at, run.created_at) == ("succeeded", NOW, back)
    assert late_in_words(run) == "ran 5 min late — the worker was down"


def test_an_event_taken_in_at_once_is_not_called_late(settings, session, agent, target, queue):
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, LOCAL), queue, NOW + timedelta(seconds=1))
    [run_id] = queue.run_ids
    execute_run(run_id, queue, settings, clock=lambda: NOW + timedelta(seconds=2))
    [run] = runs(settings)
    assert (run.status, run.due_at, late_in_words(run)) == ("succeeded", NOW, "")


def test_an_event_stamped_ahead_of_the_workers_clock_is_due_now(settings, session, agent,
                                                                 queue):  # fmt: skip
    """An intake whose clock runs ahead never makes a run the flight would hold back."""
    add_trigger(session, settings, "Email triage")
    process_event(settings, receive(settings, LOCAL), queue, NOW - timedelta(seconds=3))
    [run] = runs(settings)
    assert run.due_at == NOW - timedelta(seconds=3)


# A database trigger that refuses the runs of event msg_bad, in each dialect.
REFUSE_BAD = {
    "sqlite": ["CREATE TRIGGER refuse_bad BEFORE INSERT ON run WHEN NEW.event_id = 'msg_bad' "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    "postgresql": ["CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN IF NEW.event_id = "
                   "'msg_bad' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; "
                   "END $$ LANGUAGE plpgsql",
                   "CREATE TRIGGER refuse_bad BEFORE INSERT ON run FOR EACH ROW EXECUTE "
                   "FUNCTION refuse_bad()"],
}  # fmt: skip


def test_a_group_whose_insert_is_refused_fails_only_the_event_at_fault(
    settings, session, agent, queue
):
    """The database refuses one event's run (a database trigger stands for what a real
    refusal may be, such as the trigger deleted meanwhile): the group's other event still
    gets its run, and the refused one is failed with the reason, not left "dispatched"."""
    add_trigger(session, settings, "One")
    session.commit()
    with open_session(settings.database_url) as db:
        for statement in REFUSE_BAD[db.get_bind().dialect.name]:
            db.connection().exec_driver_sql(statement)
        db.commit()
    good, bad = receive(settings, gmail("msg_good")), receive(settings, gmail("msg_bad"))

    process_events(settings, [good, bad], queue, NOW)

    assert [run.event_id for run in runs(settings)] == ["msg_good"]
    assert len(queue.run_ids) == 1
    assert event(settings, "msg_good").status == "dispatched"
    refused = event(settings, "msg_bad")
    assert (refused.status, "refused by the test" in refused.note) == ("failed", True)


def test_events_handed_to_a_busy_worker_go_with_its_next_group(settings, session, agent):
    """While a worker thread processes a group (held up here by another writer on SQLite),
    events handed over meanwhile are left to it: once done, it takes them as the next
    group. None is left pending, none gets two runs."""
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("held up by SQLite's write lock; the hand-over is the same on any database")
    add_trigger(session, settings, "One")
    session.commit()
    queue = HueyQueue(make_huey(settings.queue_url))
    worker = Worker(queue, settings)  # not consuming: its runs go to the queue as messages
    first, *later = [receive(settings, gmail(f"msg_{n}")) for n in range(6)]
    with open_session(settings.database_url) as other_writer:
        other_writer.exec(select(Run.id)).all()  # a writer: it holds the write lock
        busy = threading.Thread(target=worker.process_events, args=([first],))
        busy.start()
        wait_until(worker._events_lock.locked, what="a thread processing the first group")
        for event_id in later:
            worker.process_events([event_id])  # returns at once: left to the busy thread
        other_writer.rollback()
    busy.join(timeout=60)

    event_ids = [first, *later]
    assert {event(settings, event_id).status for event_id in event_ids} == {"dispatched"}
    made = [run.id for run in runs(settings)]
    handed = [run_id for message in queue.huey.pending() for run_id in message.args[0]]
    assert len(made) == 6 and sorted(handed) == sorted(made)
    assert len(queue.huey.pending()) == 2  # the first group, then the five as one
