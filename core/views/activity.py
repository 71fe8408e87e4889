"""The Activity page's read model: what ran and what arrived, newest first, a page at a
time, each with the names people know it by (its job or trigger, the triggers it started).

An entry's details come in two parts: words for everyone (`event_in_words`), and the
system's own names — ids, statuses, event types, field paths, UTC times — for the
technical (`run_facts`, `event_facts`), which the page folds away under *Technical
details* so that nobody has to read them to know what happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.events.envelope import ACCOUNT_EXPIRED, TRIGGER_DISABLED, TRIGGER_MESSAGE
from core.events.inbox import event_origin
from core.store.models import EventStatus, EventTrigger, Run, ScheduledJob, WebhookEvent
from core.views.words import event_type_in_words, value_lines

ACTIVITY_PAGE = 25


@dataclass(frozen=True)
class RunEntry:
    run: Run
    name: str  # of its job or trigger
    timezone: str | None  # its job's; None for a trigger's run (shown on the viewer's clock)


@dataclass(frozen=True)
class EventEntry:
    event: WebhookEvent
    started: list[str]  # the names of the triggers it started


def run_entries(
    session: Session,
    status: str | None = None,
    agent_id: int | None = None,
    page: int = 1,
    size: int = ACTIVITY_PAGE,
) -> tuple[list[RunEntry], int]:
    """One page of runs of every job and trigger (or one agent's, or of one status),
    and how many there are."""
    query = (
        select(Run, ScheduledJob.name, ScheduledJob.timezone, EventTrigger.name)
        .outerjoin(ScheduledJob, col(Run.job_id) == ScheduledJob.id)
        .outerjoin(EventTrigger, col(Run.trigger_id) == EventTrigger.id)
    )
    if status is not None:
        query = query.where(Run.status == status)
    if agent_id is not None:
        query = query.where(
            (ScheduledJob.agent_id == agent_id) | (EventTrigger.agent_id == agent_id)
        )
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Run.id).desc()).offset((page - 1) * size).limit(size)
    ).all()
    entries = [
        RunEntry(run, job_name or trigger_name or "(deleted)", timezone)
        for run, job_name, timezone, trigger_name in rows
    ]
    return entries, total


def event_entries(
    session: Session, page: int = 1, size: int = ACTIVITY_PAGE
) -> tuple[list[EventEntry], int]:
    """One page of the inbox, newest first, with the triggers each event started."""
    total = session.exec(select(sa.func.count()).select_from(WebhookEvent)).one()
    events = session.exec(
        select(WebhookEvent)
        .order_by(col(WebhookEvent.received_at).desc(), col(WebhookEvent.id))
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    started: dict[str, list[str]] = {event.id: [] for event in events}
    if events:
        names = session.exec(
            select(Run.event_id, EventTrigger.name)
            .join(EventTrigger, col(Run.trigger_id) == EventTrigger.id)
            .where(col(Run.event_id).in_(list(started)))
            .order_by(EventTrigger.name)
        ).all()
        for event_id, name in names:
            started[event_id].append(name)
    return [EventEntry(event, started[event.id]) for event in events], total


ORIGIN_WORDS = {
    "delivery": "Composio delivered it from the app.",
    "test": "A test event: made up from an example to try a trigger, not from the app.",
    "replay": "A replay: an earlier event, processed again on purpose.",
}
NOTICE_WORDS = {
    ACCOUNT_EXPIRED: "Composio said the sign-in of an app account expired.",
    TRIGGER_DISABLED: "Composio said it turned one of your triggers off.",
}


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


STATUS_SENTENCES = {
    EventStatus.pending: "It is waiting to be processed.",
    EventStatus.unmatched: "It started nothing: no active trigger listens to it.",
    EventStatus.failed: "It could not be processed, so it started nothing; why is under "
    "Technical details.",
    EventStatus.duplicate: "Composio sent it again; only the first time counted.",
}


def _what_became(entry: EventEntry, worker_online: bool) -> str:
    event = entry.event
    if event.status == EventStatus.pending and not worker_online:
        return "It is waiting for the worker, which is not running."
    if event.status != EventStatus.dispatched:
        return STATUS_SENTENCES.get(event.status, "It started nothing.")
    if entry.started:
        return f"It started {_names(entry.started)}: their runs are under What ran."
    if event.type in NOTICE_WORDS:
        return "Planner marked the triggers it concerns; their cards say so."
    return "It started nothing."


def event_in_words(entry: EventEntry, worker_online: bool) -> list[str]:
    """An event's details for everyone, a sentence each: where it came from, what kind of
    event it is, and what became of it — none of the system's own names."""
    event = entry.event
    said = [ORIGIN_WORDS[event_origin(event)]]
    if event.type == TRIGGER_MESSAGE:
        said.append(f"What happened: {event_type_in_words(event.trigger_slug)}.")
    else:
        said.append(
            NOTICE_WORDS.get(event.type, "A notice from Composio that Planner does not act on.")
        )
    return [*said, _what_became(entry, worker_online)]


def _utc(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment.isoformat(timespec='seconds')} (UTC)"


def run_facts(run: Run) -> str:
    """A run as the system names it, for *Technical details*: its number (what `planner
    runs` and the API take), key (sent as Idempotency-Key), source, status, event and
    target, and its times in UTC — one per line."""
    facts = [
        f"Run {run.id} · key {run.key}",
        f"source: {run.source} · status: {run.status} · attempt: {run.attempt}",
        f"due: {_utc(run.due_at)} · made: {_utc(run.created_at)}",
    ]
    if run.scheduled_for is not None:
        facts.append(f"scheduled for: {_utc(run.scheduled_for)}")
    if run.event_id:
        facts.append(f"event: {run.event_id}")
    if run.target:
        facts.append(f"target: {run.target}")
    return "\n".join(facts)


def event_facts(event: WebhookEvent) -> str:
    """An event as the system names it, for *Technical details*: its id, type, event type,
    Composio trigger instance, status and note, its times in UTC, and its data as field
    paths ("preview.subject: …", the names a template uses)."""
    facts = [
        f"Event {event.id}",
        f"type: {event.type} · event type: {event.trigger_slug or '—'}",
        f"Composio trigger: {event.composio_trigger_id or '—'}",
        f"status: {event.status}" + (f" · note: {event.note}" if event.note else ""),
        f"received: {_utc(event.received_at)} · processed: {_utc(event.processed_at)}",
    ]
    data = event.payload.get("data") or {}
    if data:
        facts += ["data:", *value_lines(data)]
    return "\n".join(facts)
