"""The Planner page: an agent's scheduled jobs and event triggers, as cards.

A card says what it does, when, how it is doing and what its latest run answered; a run
started from a card is followed (the cards are read every half second) until it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import streamlit as st
from sqlmodel import Session

from core.agents import registry
from core.automations import jobs, shared, triggers
from core.events import inbox
from core.running.runs import NOT_HANDED_ON, latest_run
from core.scheduling import timing
from core.store.models import (
    TERMINAL_STATUSES,
    Agent,
    Automation,
    EventTrigger,
    Run,
    RunStatus,
    ScheduledJob,
    Status,
    SyncState,
    Workflow,
)
from core.views.overview import (
    PAGE_SIZE,
    WorkerStatus,
    action_in_words,
    automations_page,
    clock_of,
    last_test_in_words,
    moment_in_words,
    recent_runs,
    unfinished,
    waiting_for_worker,
    worker_status,
    zone_label,
)
from core.views.words import error_in_words, event_type_in_words, trigger_trouble
from dashboard import history, navigation
from dashboard.context import (
    apply,
    chosen_page,
    now,
    plain,
    queue,
    reading,
    settings,
    viewer_timezone,
)
from dashboard.dialogs import open_dialog

CHOSEN_AGENT = "chosen_agent"  # not a widget's key: Streamlit forgets those on other pages
AGENT_PICKER = "agent"
OPENED_LINK = "opened_link"  # the key of the job or trigger a link last opened
DOTS = {"green": ":green[●]", "yellow": ":orange[●]", "red": ":red[●]", "grey": ":gray[●]"}
# Session state: ids of the runs started from a card, followed until they finish.
FOLLOWING = "following_runs"
FOLLOW_SECONDS = 0.5
REFRESH_SECONDS = 5  # a run an event started shows within seconds, not a reload


@dataclass(frozen=True)
class CardContext:
    """What every card needs to say when and how: the time, the viewer's clock, the
    worker, and whether Planner has a Composio key."""

    now: datetime
    viewer_timezone: str
    worker: WorkerStatus
    has_composio_key: bool


def status_label(item: Automation, ctx: CardContext, latest: Run | None) -> tuple[str, str]:
    """The status dot and word — green Active, yellow Paused / Not connected, red Failed
    or an expired sign-in, grey Done once a job's last run has ended — with why; and the
    label of a link to Settings when that is where it is fixed, else "". `latest`: the
    latest run, shown on the card (its error too)."""
    error_below = latest is not None and latest.status == RunStatus.failed
    trouble = (
        trigger_trouble(item, ctx.has_composio_key) if isinstance(item, EventTrigger) else None
    )
    settings_link = (
        f"{trouble.advice[0].upper()}{trouble.advice[1:]} in Settings" if trouble else ""
    )
    if trouble and trouble.red and trouble.fixed_in_settings:
        return f"{DOTS['red']} **{plain(trouble.headline)}**", settings_link
    if trouble and trouble.red:
        return f"{DOTS['red']} **{plain(trouble.headline)}** — {plain(trouble.advice)}", ""
    if item.health == "red":
        reason = error_in_words((item.last_outcome or "").removeprefix("failed: "))
        said = "" if error_below or not reason else f" — {plain(reason.splitlines()[0])}"
        return f"{DOTS['red']} **Failed**{said}", ""
    if item.status == Status.paused:
        return f"{DOTS['yellow']} **Paused**", ""
    if trouble:
        label = f"{DOTS['yellow']} **{plain(trouble.headline)}** — {plain(trouble.advice)}"
        return label, ("Open Settings" if trouble.fixed_in_settings else "")
    if item.health == "grey" and (latest is None or latest.status in TERMINAL_STATUSES):
        return f"{DOTS['grey']} **Done**", ""
    return f"{DOTS['green']} **Active**", ""


def _out_of_step(item: Automation, ctx: CardContext) -> bool:
    """A trigger Composio does not know yet, or disabled, while Planner has a key."""
    return (
        isinstance(item, EventTrigger)
        and item.sync_state != SyncState.registered
        and ctx.has_composio_key
    )


def _follow(run_id: int) -> None:
    st.session_state[FOLLOWING] = {*st.session_state.get(FOLLOWING, set()), run_id}


def refresh_seconds() -> float:
    """How often the cards are read: every half second while a run started here has not
    finished and a worker is there to finish it, else every five seconds."""
    following = st.session_state.get(FOLLOWING) or set()
    if not following:
        return REFRESH_SECONDS
    with reading() as session:
        following = unfinished(session, following)
        online = worker_status(session, now()).online
    st.session_state[FOLLOWING] = following
    return FOLLOW_SECONDS if following and online else REFRESH_SECONDS


def _act(change: Callable[[Session], object], message: str, follow: bool = False) -> None:
    """A button's change through core; then a toast and the cards read afresh. A run the
    change started (`follow`) is followed until it finishes."""
    made: list = []
    if apply(lambda session: made.append(change(session))):
        if follow:
            _follow(made[0].id)
            if made[0].waiting_reason == NOT_HANDED_ON:
                # saved, but the queue did not take it: pressing again would be a second run
                message = f"{NOT_HANDED_ON} Don't press again: that would be a second run."
        st.session_state.toast = plain(message)
        st.rerun()


@dataclass(frozen=True)
class CardKind:
    """What differs between jobs and triggers on the page; card and list are one."""

    model: type[Automation]
    title: str
    empty: str  # what an empty list says, with {agent}
    key: str  # prefix of the widget keys
    dialog: str  # also names the add button and the list's page
    primary: str  # the button that makes it act now
    primary_key: str
    act_now: Callable[[Session, Automation], object]
    acted: str  # what the toast says, with {name}
    pause: Callable[[Session, Automation], object]
    resume: Callable[[Session, Automation], object]
    # (in bold, small print), from the item, the context and its newest runs
    when: Callable[[Automation, CardContext, list[Run]], tuple[str, str]]

    @property
    def page_key(self) -> str:
        return f"{self.dialog}s_page"


def _job_when(job: ScheduledJob, ctx: CardContext, runs: list[Run]) -> tuple[str, str]:
    if job.status == Status.paused:
        next_run = "none while paused"
    elif job.next_run_at is None:
        next_run = "none, it has no run left"
    else:
        next_run = moment_in_words(job.next_run_at, job.timezone, ctx.now)
        if waiting_for_worker(job, ctx.worker, ctx.now):
            next_run += " — waiting for the worker"
    delay = timing.jitter_in_words(job.jitter_seconds)
    return (
        f"**{plain(job.timing.describe())}** · {zone_label(job.timezone)}",
        (f"Starts {delay}  \n" if delay else "") + f"Next run: {next_run}  \n"
        f"Last run: {moment_in_words(job.last_run_at, job.timezone, ctx.now)}",
    )


def _trigger_when(trigger: EventTrigger, ctx: CardContext, runs: list[Run]) -> tuple[str, str]:
    """What fires it, when an event last did, and — after *Send test event* — that the
    test was sent ("Tested just now"), which "Last fired" leaves out."""
    tested = last_test_in_words(runs, ctx.now)
    return (
        f"**When:** {plain(event_type_in_words(trigger.event))}",
        f"Last fired: {moment_in_words(trigger.last_fired_at, ctx.viewer_timezone, ctx.now)}"
        + (f"  \n{tested}" if tested else ""),
    )


JOB = CardKind(
    model=ScheduledJob, title="Scheduled jobs",
    empty="No jobs yet — add one to have {agent} start a chat on a schedule.",
    key="", dialog="job", primary="Run now", primary_key="run_",
    act_now=lambda s, job: jobs.run_job_now(s, job.id, queue(), now()),
    acted="{name} started — its reply shows on the card.",
    pause=lambda s, job: jobs.pause_job(s, job.id, now()),
    resume=lambda s, job: jobs.resume_job(s, job.id, now(), queue()),
    when=_job_when,
)  # fmt: skip
TRIGGER = CardKind(
    model=EventTrigger, title="Event triggers",
    empty="No triggers yet — add one to have {agent} act when an email or message arrives.",
    key="t", dialog="trigger", primary="Send test event", primary_key="test_",
    act_now=lambda s, t: inbox.fire_test_event(s, settings(), t.id, queue(), now()),
    acted="Test event sent to {name} — its reply shows on the card.",
    pause=lambda s, t: triggers.pause_trigger(s, t.id, settings(), now()),
    resume=lambda s, t: triggers.resume_trigger(s, t.id, settings(), now()),
    when=_trigger_when,
)  # fmt: skip


def _buttons(item: Automation, kind: CardKind, ctx: CardContext) -> None:
    full = {"use_container_width": True}
    if st.button(kind.primary, key=f"{kind.primary_key}{item.id}", **full):
        _act(lambda s: kind.act_now(s, item), kind.acted.format(name=item.name), follow=True)
    paused = item.status == Status.paused
    label, change = ("Resume", kind.resume) if paused else ("Pause", kind.pause)
    if st.button(label, key=f"{kind.key}{label.lower()}_{item.id}", **full):
        _act(lambda s: change(s, item), f"{item.name}: {label.lower()}d.")
    # Kept here while there was no key: register it; switched off by Composio (say, an
    # expired sign-in, since reconnected on Settings): switch it on there again.
    local = isinstance(item, EventTrigger) and item.sync_state == SyncState.local
    sync = "Connect to Composio" if local else "Switch on again"
    if _out_of_step(item, ctx) and st.button(sync, key=f"sync_{item.id}", **full):
        _act(
            lambda s: triggers.sync_trigger(s, item.id, settings(), now()),
            f"{item.name} is connected to Composio.",
        )
    edit, delete = st.columns(2)
    if edit.button("Edit", key=f"{kind.key}edit_{item.id}", **full):
        open_dialog(kind.dialog, item.id)
        st.rerun()
    if delete.button("Delete", key=f"{kind.key}delete_{item.id}", **full):
        open_dialog(f"delete_{kind.dialog}", item.id)
        st.rerun()


def card(
    item: Automation, kind: CardKind, runs: list, workflows: dict[int, Workflow],
    ctx: CardContext,
) -> None:  # fmt: skip
    """One job or trigger: what it does, when, its status, its latest reply, its history."""
    timezone = clock_of(item, ctx.viewer_timezone)
    latest = latest_run(runs, ctx.now)
    with st.container(border=True):
        words, timing, buttons = st.columns([5, 4, 3])
        with words:
            label, fix = status_label(item, ctx, latest)
            st.markdown(f"#### {plain(item.name)}\n{label}")
            if fix:
                navigation.link(navigation.SETTINGS, fix)
            st.caption(plain(action_in_words(item, workflows)))
        headline, details = kind.when(item, ctx, runs)
        timing.markdown(headline)
        timing.caption(details)
        with buttons:
            _buttons(item, kind, ctx)
        if latest is not None:
            history.latest(latest, timezone, ctx.now, ctx.worker.online)
            history.late_caption(latest)
        else:
            st.caption(f"No runs yet — press *{kind.primary}* to try it.")
        with st.expander("History"):
            history.runs_in_full(runs, timezone, ctx.now, ctx.worker.online)


def _items(
    session: Session, model: type, agent_id: int, key: str, linked: Automation | None
) -> tuple[list, int]:
    """The chosen page of the agent's items, or only the one a link opened (an alert's)."""
    if linked is not None:
        return ([linked], 1) if isinstance(linked, model) else ([], 0)
    return chosen_page(key, lambda number: automations_page(session, model, agent_id, number))


def _page(key: str, total: int) -> int:
    pages = max(1, -(-total // PAGE_SIZE))
    return st.pagination(pages, key=key) if pages > 1 else 1


def _section(kind: CardKind, agent: Agent, items: list, total: int, runs: dict[int, list],
             workflows: dict[int, Workflow], ctx: CardContext, linked: bool) -> None:  # fmt: skip
    if linked and not items:
        return
    head, add = st.columns([5, 1])
    head.subheader(kind.title)
    if add.button(f"+ Add {kind.dialog}", key=f"add_{kind.dialog}", use_container_width=True):
        open_dialog(kind.dialog, agent_id=agent.id)
        st.rerun()
    if not items:
        st.info(kind.empty.format(agent=plain(agent.name)))
    for item in items:
        card(item, kind, runs[item.id], workflows, ctx)
    _page(kind.page_key, total)


def _cards(agent_id: int, every: float) -> None:
    """The lists, read afresh on every refresh; an open dialog is not part of them."""
    if refresh_seconds() != every:
        st.rerun()  # a followed run finished: back to the usual refresh (or the reverse)
    with reading() as session:
        agent = session.get(Agent, agent_id)
        workflows = {w.id: w for w in registry.list_all(session, Workflow)}
        ctx = CardContext(
            now(), viewer_timezone(), worker_status(session, now()),
            bool(settings().composio_api_key),
        )  # fmt: skip
        linked = _linked(session, agent_id)
        lists = []
        for kind in (JOB, TRIGGER):
            items, total = _items(session, kind.model, agent_id, kind.page_key, linked)
            runs = recent_runs(session, kind.model, [item.id for item in items])
            lists.append((kind, items, total, runs))
    for kind, items, total, runs in lists:
        _section(kind, agent, items, total, runs, workflows, ctx, linked is not None)


def _linked(session: Session, agent_id: int) -> Automation | None:
    """The agent's job or trigger the page's link names (an alert's), if any."""
    linked = shared.linked_automation(session, st.query_params.to_dict())
    return linked if linked is not None and linked.agent_id == agent_id else None


def cards(agent_id: int) -> None:
    """The lists refresh on their own, faster while a run started here is on its way."""
    every = refresh_seconds()
    st.fragment(_cards, run_every=every)(agent_id, every)


def render() -> None:
    st.title("Planner")
    with reading() as session:
        known = registry.list_all(session, Agent)
        linked = shared.linked_automation(session, st.query_params.to_dict())
    if not known:
        st.info("No agents yet — add the agent Planner should talk to first.")
        navigation.link(navigation.AGENTS, "Add an agent on Agents & workflows")
        return
    names = [agent.name for agent in known]
    if linked is None and any(st.query_params.get(w) for w in shared.AUTOMATION_WORDS.values()):
        st.info("The job or trigger this link was made for has been deleted.")
    if linked is not None and st.session_state.get(OPENED_LINK) != linked.key:
        # a link opens its card once; the sidebar then chooses as usual
        st.session_state[OPENED_LINK] = linked.key
        st.session_state[CHOSEN_AGENT] = st.session_state[AGENT_PICKER] = next(
            agent.name for agent in known if agent.id == linked.agent_id
        )
    chosen = st.session_state.get(CHOSEN_AGENT)
    name = st.sidebar.selectbox(
        "Agent", names, index=names.index(chosen) if chosen in names else 0, key=AGENT_PICKER
    )
    st.session_state[CHOSEN_AGENT] = name  # outlives the widget while other pages show
    agent_id = known[names.index(name)].id
    showing_one = linked is not None and linked.agent_id == agent_id
    if showing_one and st.button(f"Show all of {plain(name)}'s jobs and triggers"):
        st.query_params.clear()
        st.rerun()
    cards(agent_id)
