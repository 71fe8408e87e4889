"""The webhook inbox: what the runs of an event are, test events, replays, pruning.

Turning stored events into runs is core.events.processing; both insert an event's runs
with `insert_runs`, one per (trigger, event) whatever happens twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from core.automations.triggers import find_trigger
from core.config import Settings
from core.errors import NotFoundError, ValidationError
from core.events.catalog import offline_catalog, sample_events
from core.events.envelope import (
    TRIGGER_MESSAGE,
    Rejected,
    read_envelope,
)
from core.running.queue import RunQueue, handed_on
from core.running.runs import hand_on, run_row
from core.store import standard_json
from core.store.db import get_engine, insert_ignoring_conflicts
from core.store.db import session as open_session
from core.store.models import (
    EventStatus,
    EventTrigger,
    Run,
    RunSource,
    RunStatus,
    Status,
    SyncState,
    WebhookEvent,
)

RUN_TABLE: sa.Table = Run.__table__  # type: ignore[assignment]
Starts = list[tuple[str, datetime, list[int]]]  # an event, when its runs are due, its triggers
# Runs still to finish: their event row is kept however old.
UNFINISHED_STATUSES = (RunStatus.queued, RunStatus.running, RunStatus.retrying)
PRUNE_BATCH = 1_000
# Inbox ids Planner makes itself: a test event's, and a replay's (the original id, marked).
TEST_EVENT_PREFIX = "test_"
REPLAY_MARK = ":replay:"
# Why a trigger stopped because its app account's sign-in expired: the reason Planner
# records for `composio.connected_account.expired`, and Composio's disabled_reason.
ACCOUNT_EXPIRED_REASON = "The connected account expired; reconnect it in Composio."
CONNECTION_EXPIRED = "connection_expired"
log = logging.getLogger("planner.inbox")


def _finish(event: WebhookEvent, status: EventStatus, note: str, now: datetime) -> None:
    event.status, event.note, event.processed_at = status, note, now


def prune_inbox(settings: Settings, now: datetime) -> int:
    """Delete inbox rows older than PLANNER_INBOX_DAYS, a batch per transaction; a row
    still pending, or whose runs are unfinished, stays. Returns how many went."""
    cutoff = now - timedelta(days=settings.inbox_days)
    unfinished = select(Run.event_id).where(
        col(Run.event_id).is_not(None), col(Run.status).in_(UNFINISHED_STATUSES)
    )
    removed = 0
    while True:
        with open_session(settings.database_url) as session:
            ids = session.exec(
                select(WebhookEvent.id)
                .where(
                    col(WebhookEvent.received_at) < cutoff,
                    WebhookEvent.status != EventStatus.pending,
                    col(WebhookEvent.id).not_in(unfinished),
                )
                .limit(PRUNE_BATCH)
            ).all()
            if ids:
                session.exec(delete(WebhookEvent).where(col(WebhookEvent.id).in_(ids)))
            session.commit()
        removed += len(ids)
        if len(ids) < PRUNE_BATCH:
            return removed


def event_due(event: WebhookEvent, now: datetime) -> datetime:
    """An event's runs are due when it arrived, not when a worker got to it: an event that
    waited in the inbox while the worker was down then makes runs that say they ran late
    (core.views.overview.lateness). A due time in the past is still due — the flight and
    the claim start it at once, the oldest first — and never later than `now`, whatever
    the intake's clock said."""
    return min(event.received_at, now)


def insert_runs(
    session: Session, settings: Settings, starts: Starts, source: RunSource, now: datetime
) -> list[int]:
    """One run per (event, trigger), in one statement; a pair that has its run already
    (a second worker, a duplicate message) gets none."""
    rows = [
        run_row(source, due, now, trigger_id=trigger_id, event_id=event_id)
        for event_id, due, trigger_ids in starts
        for trigger_id in trigger_ids
    ]
    statement = insert_ignoring_conflicts(get_engine(settings.database_url), RUN_TABLE)
    inserted = session.connection().execute(statement.returning(RUN_TABLE.c.id), rows)
    return [row.id for row in inserted]


def sample_payload(session: Session, slug: str) -> dict[str, Any]:
    """An event to test with: the last real one of this type, else a shipped example,
    else placeholders named after the event's fields."""
    last = session.exec(
        select(WebhookEvent)
        .where(
            WebhookEvent.trigger_slug == slug,
            WebhookEvent.type == TRIGGER_MESSAGE,
            ~col(WebhookEvent.id).startswith(TEST_EVENT_PREFIX),  # a test's own data is no sample
        )
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
    """A test payload from a file's text (see `checked_payload`)."""
    try:
        payload = standard_json.loads(text)
    except ValueError as error:
        raise ValidationError(f"The payload is not valid JSON: {error}.", "payload") from None
    return checked_payload(payload)


def checked_payload(payload: Any) -> dict[str, Any]:
    """A test payload: a whole envelope, or just its `data` (an object). Checked as the
    webhook checks a delivery, since it is stored the same way."""
    if not isinstance(payload, dict):
        raise ValidationError("The payload must be a JSON object.", "payload")
    envelope = {"type": TRIGGER_MESSAGE} | payload if "data" in payload else {
        "type": TRIGGER_MESSAGE, "data": payload
    }  # fmt: skip
    if not isinstance(envelope["data"], dict):
        raise ValidationError("The payload's 'data' must be a JSON object.", "payload")
    try:
        read_envelope(envelope)
    except Rejected as refusal:
        raise ValidationError(f"The payload is refused: {refusal}.", "payload") from None
    return envelope


def fire_test_event(
    session: Session,
    settings: Settings,
    ref: str | int,
    queue: RunQueue,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Run:
    """Fire one trigger with a sample event, through the same runner as real events. Once
    its run is saved it is the answer, also when the queue fails (core.running.runs.hand_on)."""
    trigger = find_trigger(session, ref)
    envelope = payload if payload is not None else sample_payload(session, trigger.event)
    event = WebhookEvent(
        id=f"{TEST_EVENT_PREFIX}{uuid.uuid4().hex}", type=TRIGGER_MESSAGE,
        trigger_slug=trigger.event, payload=envelope, status=EventStatus.dispatched,
        received_at=now, processed_at=now, note=f"Test event for {trigger.name}.",
    )  # fmt: skip
    session.add(event)
    session.flush()
    due = event_due(event, now)
    [run_id] = insert_runs(session, settings, [(event.id, due, [trigger.id])], RunSource.test, now)
    run = session.get(Run, run_id)
    session.commit()
    return hand_on(session, run, queue)


def sign_in_expired(trigger: EventTrigger) -> bool:
    """Composio stopped the trigger because the sign-in of its app account expired."""
    reason = trigger.sync_error or ""
    return trigger.sync_state == SyncState.error and (
        reason == ACCOUNT_EXPIRED_REASON or CONNECTION_EXPIRED in reason
    )


def event_origin(event: WebhookEvent) -> str:
    """Where an inbox row came from: "test" (a test event), "replay" or "delivery"."""
    if event.id.startswith(TEST_EVENT_PREFIX):
        return "test"
    return "replay" if REPLAY_MARK in event.id else "delivery"


def find_event(session: Session, event_id: str) -> WebhookEvent:
    event = session.get(WebhookEvent, event_id)
    if event is None:
        raise NotFoundError(f"There is no event {event_id!r} in the inbox.")
    return event


def replay_choices(session: Session, event_id: str) -> tuple[list[EventTrigger], list[int]]:
    """The triggers a stored event can be replayed to — the active ones that listen to its
    event type, by name — and those it started the first time (chosen by default)."""
    event = find_event(session, event_id)
    if event.type != TRIGGER_MESSAGE or not event.trigger_slug:
        return [], []
    listening = session.exec(
        select(EventTrigger)
        .where(EventTrigger.event == event.trigger_slug, EventTrigger.status == Status.active)
        .order_by(EventTrigger.name)
    ).all()
    started = set(session.exec(select(Run.trigger_id).where(Run.event_id == event.id)).all())
    return list(listening), [trigger.id for trigger in listening if trigger.id in started]


def replay_event(
    session: Session,
    event_id: str,
    queue: RunQueue,
    now: datetime,
    trigger_ids: Sequence[int] | None = None,
) -> WebhookEvent:
    """Process a stored event again, on purpose, as a new inbox entry: matched afresh like
    a delivery, or — given `trigger_ids` — starting exactly those of its `replay_choices`."""
    original = find_event(session, event_id)
    copy = WebhookEvent(
        id=f"{original.id}{REPLAY_MARK}{uuid.uuid4().hex[:8]}", type=original.type,
        trigger_slug=original.trigger_slug, composio_trigger_id=original.composio_trigger_id,
        payload=original.payload, received_at=now, note=f"Replay of {original.id}.",
    )  # fmt: skip
    if trigger_ids is None:
        session.add(copy)
        session.commit()
        handed_on(lambda: queue.submit_events([copy.id]), f"event {copy.id}")
        return copy
    chosen = _chosen_triggers(session, event_id, trigger_ids)
    names = ", ".join(trigger.name for trigger in chosen)
    _finish(copy, EventStatus.dispatched, f"Replay of {original.id}, started: {names}.", now)
    session.add(copy)
    due = event_due(copy, now)
    runs = [
        Run(**run_row(RunSource.event, due, now, trigger_id=t.id, event_id=copy.id)) for t in chosen
    ]
    session.add_all([*runs, *chosen])
    for trigger in chosen:
        trigger.last_fired_at = now
    session.flush()
    run_ids = [run.id for run in runs]
    session.commit()
    handed_on(lambda: queue.submit(run_ids), f"runs {run_ids} of event {copy.id}")
    return copy


def _chosen_triggers(
    session: Session, event_id: str, trigger_ids: Sequence[int]
) -> list[EventTrigger]:
    """The triggers asked for, each one the event can be replayed to; else a refusal."""
    if not trigger_ids:
        raise ValidationError("Choose at least one trigger for the event to start.", "triggers")
    choices, _ = replay_choices(session, event_id)
    if not choices:
        raise ValidationError("No active trigger listens to this event; nothing to replay.")
    wanted = set(trigger_ids)
    chosen = [trigger for trigger in choices if trigger.id in wanted]
    if len(chosen) != len(wanted):
        raise ValidationError(
            "Only an active trigger that listens to this event can be started by it.", "triggers"
        )
    return chosen
