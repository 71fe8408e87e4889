"""The inbox as people and scripts read it: stored events a list (or a page) at a time,
and each as JSON with the runs it started."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.errors import require_one_of
from core.store.models import EventStatus, Run, WebhookEvent, iso


def events_query(status: str | None = None) -> SelectOfScalar[WebhookEvent]:
    """Stored events, only those of one status when given."""
    query = select(WebhookEvent)
    if status is not None:
        wanted = require_one_of(status, EventStatus, "event status", "status")
        query = query.where(WebhookEvent.status == wanted)
    return query


def list_events(session: Session, status: str | None = None, limit: int = 50) -> list[WebhookEvent]:
    query = events_query(status).order_by(col(WebhookEvent.received_at).desc()).limit(limit)
    return list(session.exec(query))


def event_json(session: Session, event: WebhookEvent) -> dict[str, Any]:
    runs = session.exec(select(Run.id, Run.trigger_id).where(Run.event_id == event.id)).all()
    return {
        "id": event.id,
        "type": event.type,
        "trigger_slug": event.trigger_slug,
        "composio_trigger_id": event.composio_trigger_id,
        "dedupe_key": event.dedupe_key,
        "status": event.status,
        "received_at": event.received_at.isoformat(),
        "processed_at": iso(event.processed_at),
        "note": event.note,
        "runs": [{"run_id": run_id, "trigger_id": trigger_id} for run_id, trigger_id in runs],
        "payload": event.payload,
    }
