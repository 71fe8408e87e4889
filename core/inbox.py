"""The webhook inbox: turning stored events into runs, test events, replays.

An event row is processed once: its runs are inserted with `ON CONFLICT DO NOTHING` on
(trigger, event) in the same transaction that marks it dispatched, so a duplicate queue
message, a second worker or the sweep can never start a second run for one event.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.catalog import offline_catalog, sample_events
from core.composio_sync import ACCOUNT_EXPIRED, TRIGGER_DISABLED, TRIGGER_MESSAGE
from core.config import Settings
from core.db import get_engine, insert_ignoring_conflicts
from core.db import session as open_session
from core.errors import NotFoundError, ValidationError, require_one_of
from core.models import (
    EventStatus,
    EventTrigger,
    Run,
    RunSource,
    Status,
    SyncState,
    WebhookEvent,
    iso,
)
from core.queue import RunQueue
from core.runs import run_row
from core.triggers import find_trigger

RUN_TABLE: sa.Table = Run.__table__  # type: ignore[assignment]


def _matching_triggers(session: Session, event: WebhookEvent) -> list[EventTrigger]:
    """By Composio trigger id, else by event slug among active triggers."""
    if event.composio_trigger_id:
        owner = session.exec(
            select(EventTrigger).where(
                EventTrigger.composio_trigger_id == event.composio_trigger_id
            )
        ).first()
        if owner is not None:
            return [owner] if owner.status == Status.active else []
    if not event.trigger_slug:
        return []
    return list(
        session.exec(
            select(EventTrigger)
            .where(EventTrigger.event == event.trigger_slug, EventTrigger.status == Status.active)
            .order_by(EventTrigger.id)
        )
    )


def _mark_affected(session: Session, event: WebhookEvent) -> int:
    """A trigger Composio disabled, or whose account expired, turns red with the reason."""
    data = event.payload.get("data") or {}
    metadata = event.payload.get("metadata") or {}
    if event.type == TRIGGER_DISABLED:
        query = select(EventTrigger).where(EventTrigger.composio_trigger_id == data.get("id"))
        reason = f"Composio disabled this trigger ({data.get('disabled_reason', 'no reason')})."
    else:
        query = select(EventTrigger).where(col(EventTrigger.composio_trigger_id).is_not(None))
        user = data.get("user_id") or metadata.get("user_id")
        if user:
            query = query.where(EventTrigger.user_id == user)
        toolkit = data.get("toolkit") or {}
        slug = toolkit.get("slug") if isinstance(toolkit, dict) else toolkit
        if slug:
            query = query.where(EventTrigger.toolkit == str(slug).upper())
        reason = "The connected account expired; reconnect it in Composio."
    affected = list(session.exec(query))
    for trigger in affected:
        trigger.sync_state, trigger.sync_error = SyncState.error, reason
        session.add(trigger)
    return len(affected)


def _finish(event: WebhookEvent, status: EventStatus, note: str, now: datetime) -> None:
    event.status, event.note, event.processed_at = status, note, now


def process_event(settings: Settings, event_id: str, queue: RunQueue, now: datetime) -> None:
    """Make one run per matching trigger for a pending event (the worker's task body)."""
    with open_session(settings.database_url) as session:
        event = session.get(WebhookEvent, event_id)
        if event is None or event.status != EventStatus.pending:
            session.rollback()
            return
        run_ids: list[int] = []
        if event.type in (TRIGGER_DISABLED, ACCOUNT_EXPIRED):
            count = _mark_affected(session, event)
            _finish(event, EventStatus.dispatched, f"Marked {count} trigger(s).", now)
        elif event.type != TRIGGER_MESSAGE:
            _finish(event, EventStatus.unmatched, f"Not a trigger event: {event.type}.", now)
        elif not (triggers := _matching_triggers(session, event)):
            _finish(event, EventStatus.unmatched, "No active trigger listens to this event.", now)
        else:
            run_ids = _insert_runs(session, settings, event, triggers, RunSource.event, now)
            for trigger in triggers:
                trigger.last_fired_at = now
                session.add(trigger)
            names = ", ".join(trigger.name for trigger in triggers)
            _finish(event, EventStatus.dispatched, f"Started: {names}.", now)
        session.add(event)
        session.commit()
    if run_ids:
        queue.submit(run_ids)


def _insert_runs(
    session: Session,
    settings: Settings,
    event: WebhookEvent,
    triggers: list[EventTrigger],
    source: RunSource,
    now: datetime,
) -> list[int]:
    rows = [
        run_row(source, now, now, trigger_id=trigger.id, event_id=event.id) for trigger in triggers
    ]
    statement = insert_ignoring_conflicts(get_engine(settings.database_url), RUN_TABLE)
    inserted = session.connection().execute(statement.returning(RUN_TABLE.c.id), rows)
    return [row.id for row in inserted]


def sample_payload(session: Session, slug: str) -> dict[str, Any]:
    """An event to test with: the last real one of this type, else a shipped example,
    else placeholders named after the event's fields."""
    last = session.exec(
        select(WebhookEvent)
        .where(WebhookEvent.trigger_slug == slug, WebhookEvent.type == TRIGGER_MESSAGE)
        .order_by(col(WebhookEvent.received_at).desc())
    ).first()
    if last is not None:
        return last.payload
    if slug in sample_events():
        return sample_events()[slug]
    known = next((t for t in offline_catalog() if t.slug == slug), None)
    fields = known.payload_fields if known else ()
    return {
        "type": TRIGGER_MESSAGE,
        "metadata": {"trigger_slug": slug},
        "data": {field: f"<{field}>" for field in fields},
    }


def read_payload(text: str) -> dict[str, Any]:
    """A test payload from a file's text: a whole envelope, or just its `data`."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(f"The payload is not valid JSON: {error}.", "payload") from None
    if not isinstance(payload, dict):
        raise ValidationError("The payload must be a JSON object.", "payload")
    return payload if "data" in payload else {"type": TRIGGER_MESSAGE, "data": payload}


def fire_test_event(
    session: Session,
    settings: Settings,
    ref: str | int,
    queue: RunQueue,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Run:
    """Fire one trigger with a sample event, through the same runner as real events."""
    trigger = find_trigger(session, ref)
    envelope = payload if payload is not None else sample_payload(session, trigger.event)
    event = WebhookEvent(
        id=f"test_{uuid.uuid4().hex}", type=TRIGGER_MESSAGE, trigger_slug=trigger.event,
        payload=envelope, status=EventStatus.dispatched, received_at=now, processed_at=now,
        note=f"Test event for {trigger.name}.",
    )  # fmt: skip
    session.add(event)
    session.flush()
    [run_id] = _insert_runs(session, settings, event, [trigger], RunSource.test, now)
    run = session.get(Run, run_id)
    session.commit()
    queue.submit([run_id])
    return run


def replay_event(session: Session, event_id: str, queue: RunQueue, now: datetime) -> WebhookEvent:
    """Process a stored event again, on purpose, as a new inbox entry."""
    original = session.get(WebhookEvent, event_id)
    if original is None:
        raise NotFoundError(f"There is no event {event_id!r} in the inbox.")
    copy = WebhookEvent(
        id=f"{original.id}:replay:{uuid.uuid4().hex[:8]}", type=original.type,
        trigger_slug=original.trigger_slug, composio_trigger_id=original.composio_trigger_id,
        payload=original.payload, received_at=now, note=f"Replay of {original.id}.",
    )  # fmt: skip
    session.add(copy)
    session.commit()
    queue.submit_events([copy.id])
    return copy


def list_events(session: Session, status: str | None = None, limit: int = 50) -> list[WebhookEvent]:
    query = select(WebhookEvent).order_by(col(WebhookEvent.received_at).desc()).limit(limit)
    if status is not None:
        wanted = require_one_of(status, EventStatus, "event status", "status")
        query = query.where(WebhookEvent.status == wanted)
    return list(session.exec(query))


def event_json(session: Session, event: WebhookEvent) -> dict[str, Any]:
    runs = session.exec(select(Run.id, Run.trigger_id).where(Run.event_id == event.id)).all()
    return {
        "id": event.id,
        "type": event.type,
        "trigger_slug": event.trigger_slug,
        "composio_trigger_id": event.composio_trigger_id,
        "status": event.status,
        "received_at": event.received_at.isoformat(),
        "processed_at": iso(event.processed_at),
        "note": event.note,
        "runs": [{"run_id": run_id, "trigger_id": trigger_id} for run_id, trigger_id in runs],
        "payload": event.payload,
    }
