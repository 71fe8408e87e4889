"""The Planner page's cards, the Activity page and the password gate, through AppTest:
replies first, runs followed until they finish, one clock, plain words, links that fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Expander

from core.agents import registry
from core.automations import jobs, triggers
from core.automations.jobs import JobFields
from core.automations.shared import card_link
from core.automations.triggers import TriggerFields
from core.errors import ValidationError
from core.events.catalog import sample_events
from core.events.deliveries import inbox_row, store_rows
from core.events.inbox import ACCOUNT_EXPIRED_REASON, fire_test_event, replay_event
from core.events.processing import process_event
from core.running.heartbeats import beat
from core.scheduling.tick import plan_soon
from core.store.db import read_session
from core.store.models import (
    EventTrigger,
    Run,
    RunSource,
    RunStatus,
    ScheduledJob,
    SyncState,
    WebhookEvent,
    utcnow,
)
from core.views.overview import last_test_in_words, local_time, moment_in_words, relative
from core.views.words import error_in_words, run_in_words
from support.fakes import Reply
from support.flights import execute_run
from support.processes import ROOT, free_port
from support.queues import RecordingQueue
from support.screens import activity_page, briefing, stored_jobs, texts, triage
from support.stored import snapshot

LONG_REPLY = "Good morning! " + "Here is today's agenda, point by point. " * 20 + "THE END"


def main_view(app: AppTest) -> str:
    """What the page says without opening anything: every text outside an expander."""

    def walk(node) -> list[str]:
        if isinstance(node, Expander):
            return []
        if isinstance(node, Block):
            return [text for child in node.children.values() for text in walk(child)]
        value = getattr(node, "value", None)
        return [value] if node.type in ("markdown", "caption", "info", "warning") else []

    return "\n".join(walk(app.main)).replace("\\", "")


def history_of(app: AppTest, index: int = 0) -> str:
    """What the History expander of the `index`-th card says."""
    history = [e for e in app.expander if e.label == "History"][index]
    said = [*history.markdown, *history.caption]
    return "\n".join(str(part.value) for part in said).replace("\\", "")


def links(app: AppTest) -> list[tuple[str, str]]:
    """Each page link as (label, the url path of the page it opens)."""
    return [(link.value, link.proto.page) for link in app.page_link]


def execute_all(settings, queue: RecordingQueue) -> None:
    """Execute the submitted runs as the worker does (one attempt each)."""
    for run_id in queue.run_ids:
        execute_run(run_id, queue, settings)


def daily(session, name: str, timezone: str, **action) -> jobs.ScheduledJob:
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", **(action or {"chat": "Hi"}))
    job = jobs.create_job(session, name, fields, utcnow(), timezone)
    session.commit()
    return job


def planner_and_its_refresh() -> None:
    """The Planner page, saying how often its cards are read (AppTest runs this alone)."""
    import streamlit as st

    from dashboard import planner_page

    planner_page.render()
    st.text(f"refresh every {planner_page.refresh_seconds()} s")


def test_without_agents_the_planner_links_to_the_agents_page(dashboard):
    app = dashboard()
    assert not app.exception
    assert "No agents yet" in texts(app)
    assert ("Add an agent on Agents & workflows", "agents") in links(app)
    assert "Nothing will run until the worker is started" in texts(app)


def test_empty_states_say_what_to_do(dashboard, agent):
    app = dashboard()
    assert "No jobs yet — add one to have Assistant start a chat on a schedule." in texts(app)
    assert "No triggers yet" in texts(app)


def test_card_buttons_pause_resume_and_run_now(dashboard, agent, settings, session):
    job = briefing(session)
    app = dashboard()
    assert "**Active**" in texts(app)
    app.button(key=f"pause_{job.id}").click().run()
    assert stored_jobs(settings)[0].status == "paused"
    assert "**Paused**" in texts(app)
    assert "Next run: none while paused" in texts(app)
    app.button(key=f"resume_{job.id}").click().run()
    assert stored_jobs(settings)[0].status == "active"
    app.button(key=f"run_{job.id}").click().run()
    with read_session(settings.database_url) as db:
        [run] = db.exec(select(Run)).all()
    assert (run.job_id, run.source) == (job.id, "run_now")
    assert [toast.value for toast in app.toast] == [
        "Briefing started — its reply shows on the card\\."
    ]


def test_a_test_event_says_tested_just_now_on_its_card(dashboard, agent, settings, session):
    """A test is no event that fired the trigger: "Last fired" stays, "Tested" tells."""
    trigger = triage(session, settings)
    app = dashboard()
    assert "Tested" not in main_view(app)
    app.button(key=f"test_{trigger.id}").click().run()
    with read_session(settings.database_url) as db:
        [run] = db.exec(select(Run)).all()
    assert (run.trigger_id, run.source) == (trigger.id, "test")
    shown = main_view(app)
    assert "Last fired: never\nTested just now" in shown.replace("  \n", "\n")


def test_a_test_is_said_with_how_long_ago_it_was():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    runs = [Run(source="event", due_at=now, created_at=now),
            Run(source="test", due_at=now, created_at=now - timedelta(minutes=5))]  # fmt: skip
    assert last_test_in_words(runs, now) == "Tested 5 min ago"
    assert last_test_in_words(runs[:1], now) == ""


def test_a_card_shows_the_latest_reply_and_history_shows_each_run_in_full(
    dashboard, agent, settings, session, target
):
    job = briefing(session)
    target.script("/v1/chat/completions", Reply(503), Reply(200, _completion(LONG_REPLY)))
    queue = RecordingQueue()
    run = jobs.run_job_now(session, job.id, queue, utcnow())
    execute_run(run.id, queue, settings)
    with read_session(settings.database_url) as db:
        retrying = db.get(Run, run.id)
    execute_run(run.id, queue, settings, clock=lambda: retrying.due_at)

    app = dashboard()
    shown = main_view(app)
    assert "Latest reply" in shown and "ran by hand — succeeded in" in shown
    assert "Good morning! Here is today's agenda" in shown and "THE END" not in shown
    assert not app.dataframe
    full = history_of(app)
    assert LONG_REPLY in full
    assert "Sent:" in full and "Hi" in full
    assert (
        "Try 1: failed —" in full
        and "ttempt" not in full
        and "had a problem of its own (HTTP 503)" in full
    )
    assert "answered HTTP" not in full


def test_a_run_planned_ahead_does_not_hide_the_reply_that_just_came(
    dashboard, agent, settings, session, target
):
    """The worker plans a run up to a minute before its moment; until then the card's
    latest is still the run that answered (its next run is said above it)."""
    moment = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    fields = JobFields(agent="Assistant", schedule=f"{moment:%M %H} * * *", chat="Hi")
    job = jobs.create_job(session, "Daily", fields, utcnow(), "UTC")
    session.commit()
    target.script("/v1/chat/completions", Reply(200, _completion("Here you are")))
    queue = RecordingQueue()
    execute_run(jobs.run_job_now(session, job.id, queue, utcnow()).id, queue, settings)
    plan_soon(session, job.id, queue, moment - timedelta(seconds=30))  # as a tick just before
    with read_session(settings.database_url) as db:
        [planned] = db.exec(select(Run).where(Run.source == RunSource.schedule)).all()
    assert (planned.status, planned.due_at) == (RunStatus.queued, moment)

    shown = main_view(dashboard())
    assert "Latest reply" in shown and "Here you are" in shown
    assert "waiting to start" not in shown


def _completion(text: str) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


def test_a_failed_run_says_what_went_wrong_on_the_card(dashboard, agent, settings, session,
                                                        target):  # fmt: skip
    job = briefing(session)
    target.script("/v1/chat/completions", Reply(400, {"error": "model not found"}))
    queue = RecordingQueue()
    jobs.run_job_now(session, job.id, queue, utcnow())
    execute_all(settings, queue)

    shown = main_view(dashboard())
    assert "**Failed**" in shown and "Latest run failed" in shown
    assert "refused the request (HTTP 400): model not found" in shown
    assert "answered HTTP 400" not in shown and "{" not in shown


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ('{"error": {"message": "fake agent is broken", "code": 7}}', "fake agent is broken"),
        ('{"error": "model not found"}', "model not found"),
        ('{"message": "busy"}', "busy"),
        ('{"detail": "Not Found"}', "Not Found"),
        ('{"error": {"code": 7}}', '{"error": {"code": 7}}'),  # nothing to say: kept
        ('{"error": "cut off', '{"error": "cut off'),  # not JSON (cut off): kept
        ("plain words", "plain words"),
    ],
)
def test_an_error_body_is_said_by_its_message(body, said):
    error = f"http://127.0.0.1:9/v1/chat/completions answered HTTP 500: {body}"
    assert error_in_words(error) == (
        f"http://127.0.0.1:9/v1/chat/completions had a problem of its own (HTTP 500): {said}"
    )


NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "started", "tries", "said"),
    [
        (RunStatus.queued, False, 1, "on schedule — waiting to start"),
        (RunStatus.queued, True, 2, "on schedule — waiting to start"),  # tried again
        (RunStatus.running, True, 2, "on schedule — running now (try 2)"),
        (RunStatus.skipped, False, 0, "on schedule — skipped"),
        (RunStatus.failed, True, 3, "ran on schedule — failed after 3 tries"),
        (RunStatus.succeeded, True, 1, "ran on schedule — succeeded in 0.0 s"),
    ],
)
def test_a_run_is_said_in_its_tense_and_in_tries(status, started, tries, said):
    """A run that has not run is not said to have (a retry waiting again neither); a
    person reads "tries", as alerts say."""
    finished = NOW if status == RunStatus.succeeded else None
    run = Run(key="k", source=RunSource.schedule, status=status, due_at=NOW, attempt=tries,
              started_at=NOW if started else None, finished_at=finished)  # fmt: skip
    assert run_in_words(run, NOW) == said


def test_a_workflow_run_reads_as_key_value_lines(dashboard, agent, workflow, settings, session):
    job = daily(session, "Weekly report", "UTC", workflow="analyze-email", input={"scope": "week"})
    queue = RecordingQueue()
    jobs.run_job_now(session, job.id, queue, utcnow())
    execute_all(settings, queue)

    full = history_of(dashboard())
    assert "scope: week" in full
    assert "received.input.scope: week" in full and "ok: yes" in full
    assert "{" not in full and "'scope'" not in full


def test_a_run_started_on_a_card_is_followed_until_it_finishes(page, agent, settings, session):
    job = briefing(session)
    beat(settings, "worker-1", utcnow())  # a worker is there to finish it
    app = page(planner_and_its_refresh)
    assert "refresh every 5 s" in texts(app)

    app.button(key=f"run_{job.id}").click().run()
    assert "refresh every 0.5 s" in texts(app)
    assert "by hand — waiting to start" in main_view(app)
    assert "ran by hand" not in main_view(app)  # it has not run yet
    assert "the reply shows here as soon as it arrives" in main_view(app)

    with read_session(settings.database_url) as db:
        [run] = db.exec(select(Run)).all()
    execute_run(run.id, RecordingQueue(), settings)  # what the worker does
    app.run()
    assert "reply to: Hi" in main_view(app)
    assert "refresh every 5 s" in texts(app)


def test_a_run_waits_for_the_worker_without_fast_polling(page, agent, session):
    job = briefing(session)
    job.next_run_at = utcnow() - timedelta(minutes=2)
    session.add(job)
    session.commit()
    app = page(planner_and_its_refresh)
    assert "— waiting for the worker" in main_view(app)
    app.button(key=f"run_{job.id}").click().run()
    assert "by hand — waiting for the worker" in main_view(app)
    assert "ran by hand" not in main_view(app)
    assert "refresh every 5 s" in texts(app)


def test_times_are_on_one_labelled_clock(dashboard, agent, settings, session, queue):
    daily(session, "Berlin briefing", "Europe/Berlin")
    trigger = triage(session, settings)
    fire_test_event(session, settings, trigger.id, queue, utcnow())
    with read_session(settings.database_url) as db:
        fired = db.get(EventTrigger, trigger.id)
    fired.last_fired_at = utcnow()
    session.merge(fired)
    session.commit()

    app = dashboard()
    app.context = {"timezone": "America/New_York"}
    app.run()
    shown = main_view(app)
    assert "· Berlin" in shown
    assert "(Berlin)" in shown  # the job's next run, on its own clock
    assert "Last fired: just now — " in shown and "(New York)" in shown
    assert "UTC" not in shown


def test_a_local_trigger_says_why_and_links_to_settings(dashboard, agent, settings, session):
    triage(session, settings)
    app = dashboard()
    assert "**Not connected to Composio** — add the Composio key in Settings" in texts(app)
    assert ("Open Settings", "settings") in links(app)


def test_a_trigger_whose_sign_in_expired_says_reconnect(dashboard, agent, settings, session):
    trigger = triage(session, settings)
    trigger.sync_state, trigger.sync_error = SyncState.error, ACCOUNT_EXPIRED_REASON
    session.add(trigger)
    session.commit()
    app = dashboard()
    assert "**Gmail sign-in expired — reconnect**" in texts(app)
    assert ("Sign in to Gmail again in Settings", "settings") in links(app)


def test_a_local_trigger_is_connected_to_composio_from_its_card(dashboard, agent, settings,
                                                                composio, session):  # fmt: skip
    trigger = triage(session, settings)
    app = dashboard()
    assert not [b for b in app.button if b.key == f"sync_{trigger.id}"]  # no key yet
    app = dashboard(COMPOSIO_API_KEY="test-key", COMPOSIO_BASE_URL=composio.url)
    assert "**Not connected to Composio** — press Connect to Composio" in texts(app)
    app.button(key=f"sync_{trigger.id}").click().run()
    with read_session(settings.database_url) as db:
        synced = db.get(EventTrigger, trigger.id)
    assert (synced.sync_state, synced.composio_trigger_id) == ("registered", "ti_0001")
    assert "Not connected to Composio" not in texts(app)


GMAIL = sample_events()["GMAIL_NEW_GMAIL_MESSAGE"]


def _delivered(settings, event_id: str = "msg_1") -> str:
    """The sample Gmail event, stored as the webhook stores a delivery (of user-42)."""
    from core.events.envelope import read_envelope

    metadata = {k: v for k, v in GMAIL["metadata"].items() if k != "trigger_id"}
    payload = GMAIL | {"id": event_id, "metadata": metadata}
    store_rows(settings.database_url, [inbox_row(event_id, read_envelope(payload), utcnow())])
    return event_id


def _listening(session, settings, name: str, **action) -> EventTrigger:
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", user_id="user-42",
                           **(action or {"chat": "New mail: {emailSubject}"}))  # fmt: skip
    return triggers.create_trigger(session, name, fields, settings, utcnow())


def test_activity_reads_like_a_log(page, settings, session, agent):
    job = briefing(session)
    queue = RecordingQueue()
    jobs.run_job_now(session, job.id, queue, utcnow())
    execute_all(settings, queue)
    _listening(session, settings, "Triage")
    process_event(settings, _delivered(settings), queue, utcnow())

    app = page(activity_page)
    assert not app.exception
    shown = main_view(app)
    assert "**Briefing** — ran by hand — succeeded in " in shown
    assert "— reply: reply to: Hi" in shown
    assert "**Gmail · new email from Jane Doe: Q4 planning doc** — started Triage" in shown
    assert "**Triage** — for an event — waiting for the worker" in shown  # none is online
    for raw in ("run_now", "dispatched", "GMAIL_NEW_GMAIL_MESSAGE", "msg_1", "composio."):
        assert raw not in shown
    assert not app.dataframe
    assert "(UTC)" in shown  # the viewer's clock, named

    app.selectbox(key="activity_status").set_value("failed").run()
    assert "No runs match these choices." in main_view(app)
    assert [o for o in app.selectbox(key="activity_status").options][:3] == [
        "All runs", "Waiting", "Running",
    ]  # fmt: skip


def said_in(node, skip: str = "Technical details") -> str:
    """What a block says, without what the expanders whose label starts with `skip` fold
    away (none when `skip` is "")."""

    def walk(part) -> list[str]:
        if isinstance(part, Expander) and skip and part.label.startswith(skip):
            return []
        if isinstance(part, Block):
            return [text for child in part.children.values() for text in walk(child)]
        value = getattr(part, "value", None)
        return [str(value)] if part.type in ("markdown", "caption", "code") else []

    return "\n".join(walk(node)).replace("\\", "")


def test_activity_details_say_it_in_words_and_fold_the_ids_away(page, settings, session, agent):
    """Details are words; ids, enum values, event types, field paths and UTC times only
    under each entry's Technical details."""
    _listening(session, settings, "Triage")
    queue = RecordingQueue()
    process_event(settings, _delivered(settings), queue, utcnow())
    execute_all(settings, queue)
    [run_id] = queue.run_ids

    app = page(activity_page)
    run_details, event_details = [e for e in app.expander if e.label == "Details"]
    words = said_in(run_details) + "\n" + said_in(event_details)
    assert "ran for an event — succeeded" in words
    assert "Composio delivered it from the app." in words
    assert "What happened: Gmail · New Gmail Message Received." in words
    assert "It started Triage: their runs are under What ran." in words
    for raw in ("msg_1", f"Run {run_id}", "source:", "status:", "dispatched", "event:",
                "GMAIL_NEW_GMAIL_MESSAGE", "composio.", "preview.subject", "+00:00"):  # fmt: skip
        assert raw not in words, raw
    technical = [e for e in app.expander if e.label.startswith("Technical details of the ")]
    assert len(technical) == 2  # the run's and the event's
    facts = "\n".join(said_in(e, skip="") for e in technical)
    assert f"Run {run_id} · key " in facts and "source: event · status: succeeded" in facts
    assert "event: msg_1" in facts and "Event msg_1" in facts
    assert "type: composio.trigger.message · event type: GMAIL_NEW_GMAIL_MESSAGE" in facts
    assert "status: dispatched · note: Started: Triage." in facts
    assert "preview.subject: Q4 planning doc" in facts and "(UTC)" in facts


def test_replay_asks_which_triggers_and_says_what_it_starts(page, settings, session, agent,
                                                            workflow, queue):  # fmt: skip
    first = _listening(session, settings, "Triage")
    second = _listening(session, settings, "Analyze", workflow="analyze-email")
    event_id = _delivered(settings)
    process_event(settings, event_id, queue, utcnow())

    app = page(activity_page)
    app.button(key=f"replay_{event_id}").click().run()
    chooser = app.multiselect(key="replay_triggers")
    assert chooser.value == [second.id, first.id]  # those it started, by name
    shown = main_view(app)
    assert "**Analyze** — Runs workflow analyze-email" in shown
    assert "**Triage** — Starts a chat: New mail: {emailSubject}" in shown

    chooser.set_value([first.id]).run()
    assert "Analyze** — Runs workflow" not in main_view(app)
    app.button(key="replay_confirm").click().run()
    with read_session(settings.database_url) as db:
        replayed = db.exec(select(Run).where(Run.event_id != event_id)).all()
        copy_ = db.get(WebhookEvent, replayed[0].event_id)
    assert [(run.trigger_id, run.source) for run in replayed] == [(first.id, "event")]
    assert (copy_.status, copy_.id.startswith(event_id)) == ("dispatched", True)
    assert "**Replayed · Gmail · new email from Jane Doe: Q4 planning doc** — started Triage" in (
        main_view(app)
    )


def test_replay_with_no_trigger_chosen_is_refused_and_changes_nothing(page, settings, session,
                                                                      agent, queue):  # fmt: skip
    _listening(session, settings, "Triage")
    event_id = _delivered(settings)
    process_event(settings, event_id, queue, utcnow())
    app = page(activity_page)
    app.button(key=f"replay_{event_id}").click().run()
    app.multiselect(key="replay_triggers").set_value([]).run()
    before = snapshot(settings.database_url)
    app.button(key="replay_confirm").click().run()
    assert "Choose at least one trigger for the event to start." in texts(app)
    assert snapshot(settings.database_url) == before


def test_replay_starts_only_triggers_that_listen_to_the_event(settings, session, agent, queue):
    triage(session, settings)  # a test event of Triage names no user: no delivery matches it
    calendar = triggers.create_trigger(
        session, "Calendar", TriggerFields(agent="Assistant", chat="x",
        event="GOOGLECALENDAR_GOOGLE_CALENDAR_EVENT_SYNC_TRIGGER"), settings, utcnow(),
    )  # fmt: skip
    test_run = fire_test_event(session, settings, "Triage", queue, utcnow())
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError, match="Only an active trigger that listens"):
        replay_event(session, test_run.event_id, queue, utcnow(), [calendar.id])
    assert snapshot(settings.database_url) == before

    copy_ = replay_event(session, test_run.event_id, queue, utcnow(), [test_run.trigger_id])
    with read_session(settings.database_url) as db:
        [run] = db.exec(select(Run).where(Run.event_id == copy_.id)).all()
    assert (run.trigger_id, run.status) == (test_run.trigger_id, "queued")
    assert queue.run_ids[-1] == run.id


def test_one_clock_names_its_zone_and_the_year_only_when_it_differs():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert local_time(now, "Europe/Berlin", now) == "Fri 27 Nov, 13:00 (Berlin)"
    earlier = datetime(2025, 11, 30, 14, 0, tzinfo=UTC)
    assert local_time(earlier, "America/New_York", now) == "Sun 30 Nov 2025, 09:00 (New York)"
    assert moment_in_words(None, "UTC", now) == "never"


def test_an_empty_activity_page_links_to_what_fills_it(page, settings):
    app = page(activity_page)
    assert "Nothing has run yet" in texts(app)
    assert links(app) == [
        ("Add a job or a trigger on the Planner page", ""),  # the default page's path
        ("Set up Composio in Settings", "settings"),
    ]


def test_a_password_keeps_everything_hidden_until_entered(dashboard, agent):
    app = dashboard(DASHBOARD_PASSWORD="open sesame")
    assert "No jobs yet" not in texts(app)
    app.text_input[0].input("guess")
    app.button[0].click().run()
    assert "That password is not right." in texts(app)
    app.text_input[0].input("open sesame")
    app.button[0].click().run()
    assert "No jobs yet" in texts(app)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(-10, "just now"), (-50, "just now"), (-59, "just now"), (-60, "1 min ago"),
     (50, "in a few seconds"), (90, "in 2 min"), (3 * 3600, "in 3 h"), (-2 * 86400, "2 d ago")],
)  # fmt: skip
def test_a_relative_time_always_says_something(seconds, said):
    now = utcnow()
    assert relative(now + timedelta(seconds=seconds), now) == said


def test_a_filter_that_leaves_fewer_pages_goes_back_to_the_first(page, settings, session, agent):
    job = briefing(session)
    queue = RecordingQueue()
    started = [jobs.run_job_now(session, job.id, queue, utcnow()) for _ in range(30)]
    for run in started[:5]:
        run.status, run.error = "failed", "refused"
    session.commit()
    app = page(activity_page)
    app.session_state["activity_runs_page"] = 2
    app.run()
    app.selectbox(key="activity_status").set_value("failed").run()
    assert main_view(app).count("**Briefing** — ") == 5


def test_a_one_off_that_ran_is_done_in_grey(dashboard, agent, settings, session, queue):
    soon = (utcnow() + timedelta(minutes=1)).replace(second=0, microsecond=0, tzinfo=None)
    job = jobs.create_job(
        session, "Once", JobFields(agent="Assistant", at=soon, chat="Hi"), utcnow(), "UTC"
    )
    job.next_run_at = None  # as the tick leaves it once the occurrence is planned
    session.add(job)
    session.commit()
    jobs.run_job_now(session, job.id, queue, utcnow())
    app = dashboard()
    assert "**Active**" in texts(app)  # its run has not ended yet
    execute_all(settings, queue)
    app.run()
    assert ":gray[●] **Done**" in texts(app)
    assert "Next run: none, it has no run left" in main_view(app)


def test_an_alerts_link_opens_its_card_and_then_everything(dashboard, agent, settings, session):
    """An alert's link (core.automations.shared.card_link) names a job by its key: the page
    opens its
    agent and shows that card alone, until the person asks for the rest."""
    registry.save_agent(session, "Helper", "openai", agent.base_url, "test-model", "")
    fields = JobFields(agent="Helper", schedule="0 9 * * *", chat="Hi")
    linked = jobs.create_job(session, "Linked job", fields, utcnow(), "UTC")
    fields = JobFields(agent="Helper", schedule="0 10 * * *", chat="Hi")
    jobs.create_job(session, "Other job", fields, utcnow(), "UTC")
    session.commit()
    link = card_link("https://planner.example.com/", ScheduledJob, linked.key)
    assert link == f"https://planner.example.com/?job={linked.key}"

    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    dashboard()  # the environment of this test's settings
    app.query_params["job"] = linked.key
    app.run()
    assert app.sidebar.selectbox[0].value == "Helper"
    assert "Linked job" in main_view(app) and "Other job" not in main_view(app)
    assert "Event triggers" not in texts(app)

    app.button[0].click().run()  # "Show all of Helper's jobs and triggers"
    assert "Linked job" in main_view(app) and "Other job" in main_view(app)
    app.sidebar.selectbox[0].select("Assistant").run()  # the link chooses no more
    assert app.sidebar.selectbox[0].value == "Assistant"


def test_a_link_to_a_deleted_job_opens_the_page_as_usual(dashboard, agent, session):
    job = briefing(session)
    jobs.delete_job(session, job.id)
    session.commit()
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    dashboard()
    app.query_params["job"] = job.key
    app.run()
    assert not app.exception
    assert "The job or trigger this link was made for has been deleted." in texts(app)
    assert "No jobs yet" in texts(app)


def test_run_now_with_the_queue_down_says_the_run_is_saved_and_not_to_press_again(
    dashboard, agent, session, settings
):
    job = briefing(session)
    app = dashboard(QUEUE_URL=f"redis://127.0.0.1:{free_port()}/0")
    app.button(key=f"run_{job.id}").click().run()
    assert not app.exception
    said = " ".join(str(toast.value) for toast in app.toast).replace("\\", "")
    assert said.startswith("Saved, but the queue did not take it")
    assert said.endswith("Don't press again: that would be a second run.")
    with read_session(settings.database_url) as fresh:
        assert len(fresh.exec(select(Run)).all()) == 1
