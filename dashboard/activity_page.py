"""The Activity page: what ran and what arrived, newest first, as a log people read —
"Morning Briefing — ran by hand — succeeded in 0.4 s — reply: …". Each entry's Details
say more in words; the system's own names (ids, statuses, event types, field paths, UTC
times) are only under its *Technical details*, for whoever needs them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import streamlit as st

from core.agents import registry
from core.events import inbox
from core.events.envelope import TRIGGER_MESSAGE
from core.store.models import Agent, RunStatus, WebhookEvent, Workflow
from core.views.activity import (
    ACTIVITY_PAGE,
    EventEntry,
    RunEntry,
    event_entries,
    event_facts,
    event_in_words,
    run_entries,
    run_facts,
)
from core.views.overview import action_in_words, late_in_words, local_time, worker_status
from core.views.words import STATUS_WORDS, event_outcome, event_summary
from dashboard import history, navigation
from dashboard.context import apply, chosen_page, now, plain, queue, reading, viewer_timezone

RUNS_PAGE, EVENTS_PAGE = "activity_runs_page", "activity_events_page"
REPLAYING = "replaying"  # session state: the event whose replay is being set up
ORIGINS = {"test": "Test event · ", "replay": "Replayed · ", "delivery": ""}


def _listing(entries: list, total: int, key: str, show: Callable[[Any], None]) -> None:
    """Each entry of the chosen page, then the page picker when there is more than one."""
    for entry in entries:
        show(entry)
    pages = max(1, -(-total // ACTIVITY_PAGE))
    if pages > 1:
        st.pagination(pages, key=key)


def _run(entry: RunEntry, viewer: str, moment: datetime, online: bool) -> None:
    run, timezone = entry.run, entry.timezone or viewer
    st.markdown(history.log_line(entry.name, run, moment, online))
    late = late_in_words(run)
    st.caption(history.when(run, timezone, moment) + (f" · {plain(late)}" if late else ""))
    with st.expander("Details"):
        history.full(run, timezone, moment, online)
        _technical("run", run_facts(run))


def _technical(what: str, facts: str) -> None:
    """The system's own names for an entry, folded away (in a monospace block, so ids
    and paths read exactly). Named after what it describes: a workflow run's Details may
    also hold its answer's own *Technical details* (dashboard.history)."""
    with st.expander(f"Technical details of the {what}"):
        st.code(facts, language=None, wrap_lines=True)


def _runs(known: list[Agent], viewer: str, moment: datetime, online: bool) -> None:
    st.subheader("What ran")
    left, right = st.columns(2)
    status = left.selectbox(
        "Show", [None, *RunStatus], key="activity_status",
        format_func=lambda s: "All runs" if s is None else STATUS_WORDS[s],
    )  # fmt: skip
    names = {agent.id: agent.name for agent in known}
    agent_id = right.selectbox(
        "Agent", [None, *names], key="activity_agent",
        format_func=lambda a: "All agents" if a is None else names[a],
    )  # fmt: skip
    with reading() as session:
        entries, total = chosen_page(
            RUNS_PAGE, lambda number: run_entries(session, status, agent_id, number)
        )
    if not entries and (status or agent_id):
        st.info("No runs match these choices.")
    elif not entries:
        st.info("Nothing has run yet. Runs appear here as jobs and triggers fire.")
        navigation.link(navigation.PLANNER, "Add a job or a trigger on the Planner page")
    _listing(entries, total, RUNS_PAGE, lambda entry: _run(entry, viewer, moment, online))


def _event_details(entry: EventEntry, online: bool) -> None:
    with st.expander("Details"):
        st.markdown(history.lines("\n".join(event_in_words(entry, online))))
        _technical("event", event_facts(entry.event))


def _event(entry: EventEntry, viewer: str, moment: datetime, online: bool) -> None:
    event = entry.event
    what = ORIGINS[inbox.event_origin(event)] + event_summary(
        event.type, event.trigger_slug, event.payload.get("data") or {}
    )
    outcome = event_outcome(event.status, event.type, entry.started, online)
    st.markdown(f"**{plain(what)}** — {plain(outcome)}")
    st.caption(local_time(event.received_at, viewer, moment))
    if event.type == TRIGGER_MESSAGE and st.button("Replay…", key=f"replay_{event.id}"):
        st.session_state[REPLAYING] = event.id
        st.session_state.pop("replay_triggers", None)
    if st.session_state.get(REPLAYING) == event.id:
        _replay(event)
    _event_details(entry, online)


def _replay(event: WebhookEvent) -> None:
    """Asks which triggers the event starts again, says what each will do, then does it."""
    with reading() as session:
        choices, chosen = inbox.replay_choices(session, event.id)
        workflows = {w.id: w for w in registry.list_all(session, Workflow)}
    names = {trigger.id: trigger.name for trigger in choices}
    picked: list[int] = []
    with st.container(border=True):
        if not choices:
            st.warning("No active trigger listens to this kind of event: replaying starts nothing.")
        else:
            picked = st.multiselect(
                "Start these triggers again with this event", list(names), default=chosen,
                format_func=lambda trigger_id: names[trigger_id], key="replay_triggers",
            )  # fmt: skip
            plan = [f"- **{plain(t.name)}** — {plain(action_in_words(t, workflows))}"
                    for t in choices if t.id in picked]  # fmt: skip
            st.markdown("Replaying starts:\n" + "\n".join(plan) if plan else "Choose a trigger.")
        go, cancel = st.columns(2)
        replayed = (
            choices
            and go.button("Replay", key="replay_confirm", type="primary")
            and apply(lambda s: inbox.replay_event(s, event.id, queue(), now(), picked))
        )
        if replayed:
            st.session_state.pop(REPLAYING, None)
            st.session_state.toast = "Replayed — its runs appear under *What ran*."
            st.rerun()
        if cancel.button("Cancel", key="replay_cancel"):
            st.session_state.pop(REPLAYING, None)
            st.rerun()


def _events(viewer: str, moment: datetime, online: bool) -> None:
    st.subheader("What arrived")
    with reading() as session:
        entries, total = chosen_page(EVENTS_PAGE, lambda number: event_entries(session, number))
    if not entries:
        st.info("No events received yet. Events from Gmail, Slack and other apps appear here.")
        navigation.link(navigation.SETTINGS, "Set up Composio in Settings")
    _listing(entries, total, EVENTS_PAGE, lambda entry: _event(entry, viewer, moment, online))


def render() -> None:
    st.title("Activity")
    moment, viewer = now(), viewer_timezone()
    with reading() as session:
        known = registry.list_all(session, Agent)
        online = worker_status(session, moment).online
    _runs(known, viewer, moment, online)
    _events(viewer, moment, online)
