"""The Planner page: an agent's scheduled jobs and event triggers, as cards."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core import agents, inbox, planner, schedule, triggers
from core.errors import PlannerError
from core.models import ActionOwner, Agent, EventTrigger, ScheduledJob, Status, SyncState, Workflow
from core.overview import (
    PAGE_SIZE,
    action_in_words,
    event_in_words,
    history_rows,
    page_of,
    recent_runs,
    relative,
)
from dashboard.context import now, queue, reading, settings, writing
from dashboard.dialogs import open_dialog

DOTS = {"green": ":green[●]", "yellow": ":orange[●]", "red": ":red[●]"}


def status_label(item: ActionOwner) -> str:
    """Green Active, yellow Paused / Not connected to Composio, red Failed: why."""
    health = item.health
    if health == "red":
        reason = (
            item.sync_error
            if isinstance(item, EventTrigger) and item.sync_error
            else ((item.last_outcome or "").removeprefix("failed: "))
        )
        return f"{DOTS['red']} **Failed** — {reason.splitlines()[0] if reason else ''}"
    if item.status == Status.paused:
        return f"{DOTS['yellow']} **Paused**"
    if isinstance(item, EventTrigger) and item.sync_state == SyncState.local:
        return f"{DOTS['yellow']} **Not connected to Composio**"
    return f"{DOTS['green']} **Active**"


def _act(change, message: str) -> None:
    """A button's change through core; its refusal is shown, not raised."""
    try:
        with writing() as session:
            change(session)
    except PlannerError as error:
        st.error(str(error))
        return
    st.toast(message)


def _local(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(schedule.zone(timezone))
    return f"{relative(moment, now())} ({local:%a %d %b, %H:%M})"


def job_card(job: ScheduledJob, runs: list, workflows: dict[int, Workflow]) -> None:
    with st.container(border=True):
        words, timing, buttons = st.columns([5, 4, 3])
        words.markdown(f"#### {job.name}\n{status_label(job)}")
        words.caption(action_in_words(job, workflows))
        timing.markdown(f"**{schedule.describe(job.schedule)}** · {job.timezone}")
        timing.caption(
            f"Next run: {_local(job.next_run_at, job.timezone)}  \n"
            f"Last run: {_local(job.last_run_at, job.timezone)}"
        )
        if buttons.button("Run now", key=f"run_{job.id}", use_container_width=True):
            _act(lambda s: planner.run_job_now(s, job.id, queue(), now()), f"{job.name} queued.")
        if job.status == Status.paused:
            if buttons.button("Resume", key=f"resume_{job.id}", use_container_width=True):
                _act(lambda s: planner.resume_job(s, job.id, now()), f"{job.name} resumed.")
                st.rerun()
        elif buttons.button("Pause", key=f"pause_{job.id}", use_container_width=True):
            _act(lambda s: planner.pause_job(s, job.id, now()), f"{job.name} paused.")
            st.rerun()
        edit, delete = buttons.columns(2)
        if edit.button("Edit", key=f"edit_{job.id}", use_container_width=True):
            open_dialog("job", job.id)
            st.rerun()
        if delete.button("Delete", key=f"delete_{job.id}", use_container_width=True):
            open_dialog("delete_job", job.id)
            st.rerun()
        with st.expander("History"):
            if runs:
                st.dataframe(history_rows(runs, schedule.zone(job.timezone)), hide_index=True)
            else:
                st.caption("No runs yet.")


def trigger_card(trigger: EventTrigger, runs: list, workflows: dict[int, Workflow]) -> None:
    timezone = settings().timezone
    with st.container(border=True):
        words, timing, buttons = st.columns([5, 4, 3])
        words.markdown(f"#### {trigger.name}\n{status_label(trigger)}")
        words.caption(action_in_words(trigger, workflows))
        timing.markdown(f"**When:** {event_in_words(trigger)}")
        timing.caption(f"Last fired: {_local(trigger.last_fired_at, timezone)}")
        if buttons.button("Send test event", key=f"test_{trigger.id}", use_container_width=True):
            _act(
                lambda s: inbox.fire_test_event(s, settings(), trigger.id, queue(), now()),
                f"Test event sent to {trigger.name}.",
            )
        if trigger.status == Status.paused:
            if buttons.button("Resume", key=f"tresume_{trigger.id}", use_container_width=True):
                _act(
                    lambda s: triggers.resume_trigger(s, trigger.id, settings(), now()),
                    f"{trigger.name} resumed.",
                )
                st.rerun()
        elif buttons.button("Pause", key=f"tpause_{trigger.id}", use_container_width=True):
            _act(
                lambda s: triggers.pause_trigger(s, trigger.id, settings(), now()),
                f"{trigger.name} paused.",
            )
            st.rerun()
        edit, delete = buttons.columns(2)
        if edit.button("Edit", key=f"tedit_{trigger.id}", use_container_width=True):
            open_dialog("trigger", trigger.id)
            st.rerun()
        if delete.button("Delete", key=f"tdelete_{trigger.id}", use_container_width=True):
            open_dialog("delete_trigger", trigger.id)
            st.rerun()
        with st.expander("History"):
            if runs:
                st.dataframe(history_rows(runs, schedule.zone(timezone)), hide_index=True)
            else:
                st.caption("No runs yet.")


def _page(key: str, total: int) -> int:
    pages = max(1, -(-total // PAGE_SIZE))
    return st.pagination(pages, key=key) if pages > 1 else 1


@st.fragment(run_every=10)
def cards(agent_id: int) -> None:
    """The lists refresh on their own; an open dialog is not part of them."""
    job_page = st.session_state.get("jobs_page") or 1
    trigger_page = st.session_state.get("triggers_page") or 1
    with reading() as session:
        agent = session.get(Agent, agent_id)
        jobs, job_count = page_of(session, ScheduledJob, agent_id, job_page)
        events, trigger_count = page_of(session, EventTrigger, agent_id, trigger_page)
        workflows = {w.id: w for w in agents.list_all(session, Workflow)}
        job_runs = recent_runs(session, ScheduledJob, [job.id for job in jobs])
        trigger_runs = recent_runs(session, EventTrigger, [t.id for t in events])
    head, add = st.columns([5, 1])
    head.subheader("Scheduled jobs")
    if add.button("+ Add job", key="add_job", use_container_width=True):
        open_dialog("job", agent_id=agent_id)
        st.rerun()
    if not jobs:
        st.info(f"No jobs yet — add one to have {agent.name} start a chat on a schedule.")
    for job in jobs:
        job_card(job, job_runs[job.id], workflows)
    _page("jobs_page", job_count)
    head, add = st.columns([5, 1])
    head.subheader("Event triggers")
    if add.button("+ Add trigger", key="add_trigger", use_container_width=True):
        open_dialog("trigger", agent_id=agent_id)
        st.rerun()
    if not events:
        st.info(
            f"No triggers yet — add one to have {agent.name} act when an email or message arrives."
        )
    for trigger in events:
        trigger_card(trigger, trigger_runs[trigger.id], workflows)
    _page("triggers_page", trigger_count)


def render() -> None:
    st.title("Planner")
    with reading() as session:
        known = agents.list_all(session, Agent)
    if not known:
        st.info("No agents yet — add one on the **Agents & workflows** page first.")
        return
    names = [agent.name for agent in known]
    name = st.sidebar.selectbox("Agent", names, key="agent")
    cards(known[names.index(name)].id)
