"""The Activity page's read model: what ran and what arrived, newest first, a page at a
time, each with the names people know it by (its job or trigger, the triggers it started)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.store.models import EventTrigger, Run, ScheduledJob, WebhookEvent

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
