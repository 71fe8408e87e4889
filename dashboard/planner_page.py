"""The Planner page: an agent's scheduled jobs and event triggers, as cards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import streamlit as st
from sqlmodel import Session

from core import agents, inbox, jobs, schedule, triggers
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
from dashboard.context import apply, now, plain, queue, reading, settings
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
        return f"{DOTS['red']} **Failed** — {plain(reason.splitlines()[0]) if reason else ''}"
    if item.status == Status.paused:
        return f"{DOTS['yellow']} **Paused**"
    if isinstance(item, EventTrigger) and item.sync_state == SyncState.local:
        return f"{DOTS['yellow']} **Not connected to Composio**"
    return f"{DOTS['green']} **Active**"


def _out_of_step(item: ActionOwner) -> bool:
    """A trigger Composio does not know yet, or disabled, while Planner has a key."""
    return (
        isinstance(item, EventTrigger)
        and item.sync_state != SyncState.registered
        and bool(settings().composio_api_key)
    )


def _act(change, message: str) -> None:
    """A button's change through core, and a toast once it is made."""
    if apply(change):
        st.toast(plain(message))


def _local(moment: datetime | None, timezone: str) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(schedule.zone(timezone))
    return f"{relative(moment, now())} ({local:%a %d %b, %H:%M})"


@dataclass(frozen=True)
class CardKind:
    """What differs between jobs and triggers on the page; card and list are one."""

    model: type[ActionOwner]
    title: str
    empty: str  # what an empty list says, with {agent}
    key: str  # prefix of the widget keys
    dialog: str  # also names the add button and the list's page
    primary: str  # the button that makes it act now
    primary_key: str
    act_now: Callable[[Session, ActionOwner], object]
    acted: str  # what the toast says, with {name}
    pause: Callable[[Session, ActionOwner], object]
    resume: Callable[[Session, ActionOwner], object]
    timezone: Callable[[ActionOwner], str]
    when: Callable[[ActionOwner], tuple[str, str]]  # (in bold, small print)

    @property
    def page_key(self) -> str:
        return f"{self.dialog}s_page"


def _job_when(job: ScheduledJob) -> tuple[str, str]:
    return (
        f"**{schedule.describe(job.schedule)}** · {job.timezone}",
        f"Next run: {_local(job.next_run_at, job.timezone)}  \n"
        f"Last run: {_local(job.last_run_at, job.timezone)}",
    )


def _trigger_when(trigger: EventTrigger) -> tuple[str, str]:
    return (
        f"**When:** {plain(event_in_words(trigger))}",
        f"Last fired: {_local(trigger.last_fired_at, settings().timezone)}",
    )


JOB = CardKind(
    model=ScheduledJob, title="Scheduled jobs",
    empty="No jobs yet — add one to have {agent} start a chat on a schedule.",
    key="", dialog="job", primary="Run now", primary_key="run_",
    act_now=lambda s, job: jobs.run_job_now(s, job.id, queue(), now()), acted="{name} queued.",
    pause=lambda s, job: jobs.pause_job(s, job.id, now()),
    resume=lambda s, job: jobs.resume_job(s, job.id, now(), queue()),
    timezone=lambda job: job.timezone, when=_job_when,
)  # fmt: skip
TRIGGER = CardKind(
    model=EventTrigger, title="Event triggers",
    empty="No triggers yet — add one to have {agent} act when an email or message arrives.",
    key="t", dialog="trigger", primary="Send test event", primary_key="test_",
    act_now=lambda s, t: inbox.fire_test_event(s, settings(), t.id, queue(), now()),
    acted="Test event sent to {name}.",
    pause=lambda s, t: triggers.pause_trigger(s, t.id, settings(), now()),
    resume=lambda s, t: triggers.resume_trigger(s, t.id, settings(), now()),
    timezone=lambda t: settings().timezone, when=_trigger_when,
)  # fmt: skip


def card(item: ActionOwner, kind: CardKind, runs: list, workflows: dict[int, Workflow]) -> None:
    with st.container(border=True):
        words, timing, buttons = st.columns([5, 4, 3])
        words.markdown(f"#### {plain(item.name)}\n{status_label(item)}")
        words.caption(plain(action_in_words(item, workflows)))
        headline, details = kind.when(item)
        timing.markdown(headline)
        timing.caption(details)
        full = {"use_container_width": True}
        if buttons.button(kind.primary, key=f"{kind.primary_key}{item.id}", **full):
            _act(lambda s: kind.act_now(s, item), kind.acted.format(name=item.name))
        paused = item.status == Status.paused
        label, change = ("Resume", kind.resume) if paused else ("Pause", kind.pause)
        if buttons.button(label, key=f"{kind.key}{label.lower()}_{item.id}", **full):
            _act(lambda s: change(s, item), f"{item.name}: {label.lower()}d.")
            st.rerun()
        if _out_of_step(item) and buttons.button(
            "Connect to Composio", key=f"sync_{item.id}", **full
        ):
            _act(
                lambda s: triggers.sync_trigger(s, item.id, settings(), now()),
                f"{item.name} is connected to Composio.",
            )
            st.rerun()
        edit, delete = buttons.columns(2)
        if edit.button("Edit", key=f"{kind.key}edit_{item.id}", **full):
            open_dialog(kind.dialog, item.id)
            st.rerun()
        if delete.button("Delete", key=f"{kind.key}delete_{item.id}", **full):
            open_dialog(f"delete_{kind.dialog}", item.id)
            st.rerun()
        with st.expander("History"):
            if runs:
                zone = schedule.zone(kind.timezone(item))
                st.dataframe(history_rows(runs, zone), hide_index=True)
            else:
                st.caption("No runs yet.")


def _items(session: Session, model: type, agent_id: int, key: str) -> tuple[list, int]:
    """The chosen page of the agent's items; back to page 1 when it is past the end
    (another agent, or items deleted)."""
    items, total = page_of(session, model, agent_id, st.session_state.get(key) or 1)
    if not items and total:
        st.session_state[key] = 1
        items, total = page_of(session, model, agent_id, 1)
    return items, total


def _page(key: str, total: int) -> int:
    pages = max(1, -(-total // PAGE_SIZE))
    return st.pagination(pages, key=key) if pages > 1 else 1


def _section(kind: CardKind, agent: Agent, items: list, total: int, runs: dict[int, list],
             workflows: dict[int, Workflow]) -> None:  # fmt: skip
    head, add = st.columns([5, 1])
    head.subheader(kind.title)
    if add.button(f"+ Add {kind.dialog}", key=f"add_{kind.dialog}", use_container_width=True):
        open_dialog(kind.dialog, agent_id=agent.id)
        st.rerun()
    if not items:
        st.info(kind.empty.format(agent=plain(agent.name)))
    for item in items:
        card(item, kind, runs[item.id], workflows)
    _page(kind.page_key, total)


@st.fragment(run_every=10)
def cards(agent_id: int) -> None:
    """The lists refresh on their own; an open dialog is not part of them."""
    with reading() as session:
        agent = session.get(Agent, agent_id)
        workflows = {w.id: w for w in agents.list_all(session, Workflow)}
        lists = []
        for kind in (JOB, TRIGGER):
            items, total = _items(session, kind.model, agent_id, kind.page_key)
            runs = recent_runs(session, kind.model, [item.id for item in items])
            lists.append((kind, items, total, runs))
    for kind, items, total, runs in lists:
        _section(kind, agent, items, total, runs, workflows)


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
