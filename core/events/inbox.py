"""The webhook inbox: turning stored events into runs, test events, replays, pruning.

An event row is processed once: its runs are inserted with `ON CONFLICT DO NOTHING` on
(trigger, event) in the same transaction that marks it dispatched, so a duplicate queue
message, a second worker or the sweep can never start a second run for one event. A group
of events is routed by reading and written in one short transaction: an event that
raises is `failed`, the others go on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select, update

from core.automations.triggers import find_trigger
from core.config import Settings
from core.errors import NotFoundError, ValidationError
from core.events.catalog import offline_catalog, sample_events
from core.events.envelope import (
    ACCOUNT_EXPIRED,
    TRIGGER_DISABLED,
    TRIGGER_MESSAGE,
    Envelope,
    Rejected,
    read_envelope,
)
from core.running.queue import RunQueue, handed_on
from core.running.runs import hand_on, run_row
from core.store import standard_json
from core.store.db import get_engine, insert_ignoring_conflicts, read_session
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
EVENT_TABLE: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
TRIGGER_TABLE: sa.Table = EventTrigger.__table__  # type: ignore[assignment]
Starts = list[tuple[str, datetime, list[int]]]  # an event, when its runs are due, its triggers
# The triggers found for (Composio instance, event type, user), and why none, per group.
Matches = dict[tuple[str, str, str], tuple[list[EventTrigger], str]]
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


def _matching_triggers(session: Session, envelope: Envelope) -> tuple[list[EventTrigger], str]:
    """The triggers an event belongs to, or why none: the one registered as its Composio
    instance; only an event that names no instance goes to the active triggers of its
    event type and user — never to another user's triggers."""
    if envelope.trigger_id:
        automation = session.exec(
            select(EventTrigger).where(EventTrigger.composio_trigger_id == envelope.trigger_id)
        ).first()
        if automation is None:
            return [], f"No trigger here is Composio instance {envelope.trigger_id}."
        if automation.status != Status.active:
            return [], f"{automation.name} is paused."
        return [automation], ""
    if not (envelope.trigger_slug and envelope.user_id):
        return [], "The event names no trigger instance, or no event type and user."
    found = session.exec(
        select(EventTrigger)
        .where(
            EventTrigger.event == envelope.trigger_slug,
            EventTrigger.user_id == envelope.user_id,
            EventTrigger.status == Status.active,
        )
        .order_by(EventTrigger.id)
    ).all()
    return list(found), f"No active trigger of {envelope.user_id} listens to this event."


def _affected(session: Session, envelope: Envelope) -> tuple[list[int], str]:
    """The triggers a system event turns red (Composio disabled one, or an app account's
    sign-in expired), and why."""
    if envelope.type == TRIGGER_DISABLED:
        if not envelope.trigger_id:
            return [], ""
        query = select(EventTrigger.id).where(
            EventTrigger.composio_trigger_id == envelope.trigger_id
        )
        return list(session.exec(query)), (
            f"Composio disabled this trigger ({envelope.reason or 'no reason'})."
        )
    query = select(EventTrigger.id).where(col(EventTrigger.composio_trigger_id).is_not(None))
    if envelope.user_id:
        query = query.where(EventTrigger.user_id == envelope.user_id)
    if envelope.toolkit:
        query = query.where(EventTrigger.toolkit == envelope.toolkit.upper())
    return list(session.exec(query)), ACCOUNT_EXPIRED_REASON


def _finish(event: WebhookEvent, status: EventStatus, note: str, now: datetime) -> None:
    event.status, event.note, event.processed_at = status, note, now


@dataclass
class _Routed:
    """What a pending event does, decided by reading: what it becomes and why, the
    triggers it starts and those it turns red (with the reason)."""

    event_id: str
    due: datetime
    status: EventStatus
    note: str
    starts: list[int] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    reason: str = ""


def _route(session: Session, event: WebhookEvent, now: datetime, matches: Matches) -> _Routed:
    """What a pending event does; the matches of one trigger instance are looked up once
    per group (`matches`).

    The stored payload is checked again as the webhook checks it: a row stored by an
    earlier version (or replayed from one) that fails raises `Rejected`."""
    envelope = read_envelope(event.payload)
    due = event_due(event, now)
    if envelope.type in (TRIGGER_DISABLED, ACCOUNT_EXPIRED):
        marks, reason = _affected(session, envelope)
        note = f"Marked {len(marks)} trigger(s)."
        return _Routed(event.id, due, EventStatus.dispatched, note, marks=marks, reason=reason)
    if envelope.type != TRIGGER_MESSAGE:
        note = f"Not a trigger event: {envelope.type}."
        return _Routed(event.id, due, EventStatus.unmatched, note)
    key = (envelope.trigger_id or "", envelope.trigger_slug or "", envelope.user_id or "")
    if key not in matches:
        matches[key] = _matching_triggers(session, envelope)
    triggers, why_none = matches[key]
    if not triggers:
        return _Routed(event.id, due, EventStatus.unmatched, f"{why_none} Started nothing.")
    names = ", ".join(trigger.name for trigger in triggers)
    note = f"Started: {names}."
    return _Routed(event.id, due, EventStatus.dispatched, note, [t.id for t in triggers])


def _routed_or_failed(
    session: Session, event: WebhookEvent, now: datetime, matches: Matches
) -> _Routed:
    """`_route`, or `failed` with the reason when the event makes it raise (a poison event
    never holds back the others). A database that does not answer goes on up."""
    try:
        return _route(session, event, now, matches)
    except sa.exc.OperationalError:
        raise
    except Exception as error:  # a poison event, whatever it raised
        log.exception("event %s failed", event.id)
        return _Routed(event.id, event.received_at, EventStatus.failed, _failure_reason(error))


def process_event(settings: Settings, event_id: str, queue: RunQueue, now: datetime) -> None:
    """One event's runs (`process_events` of one)."""
    process_events(settings, [event_id], queue, now)


def _failure_reason(error: Exception) -> str:
    said = str(error) if isinstance(error, Rejected) else f"{type(error).__name__}: {error}"
    return f"Could not process this event ({said[:400]}); it started nothing."


def process_events(
    settings: Settings, event_ids: Sequence[str], queue: RunQueue, now: datetime
) -> None:
    """The runs of a group of pending events (the worker's task body: the webhook hands
    events on a group commit at a time), handed to the queue at once.

    What each event does is decided by reading, which holds no lock; then one short
    transaction writes it all, for the events still pending: each event's state, the
    triggers it fired or turned red, and its runs in one insert. Should the database
    refuse that insert, each event's runs go in alone, so only the event at fault is
    `failed`. A database that does not answer fails no event: they stay `pending` for the
    tick's sweep."""
    try:
        with read_session(settings.database_url) as reading:
            pending = reading.exec(
                select(WebhookEvent).where(
                    col(WebhookEvent.id).in_(event_ids), WebhookEvent.status == EventStatus.pending
                )
            ).all()
            order = {event_id: n for n, event_id in enumerate(event_ids)}
            matches: Matches = {}
            routed = [
                _routed_or_failed(reading, event, now, matches)
                for event in sorted(pending, key=lambda row: order[row.id])
            ]
        with open_session(settings.database_url) as session:
            run_ids = _write(session, settings, routed, now)
            session.commit()
    except sa.exc.OperationalError:
        log.warning("events %s left pending: the database did not answer", ", ".join(event_ids))
        return
    if run_ids:
        queue.submit(run_ids)


def _write(session: Session, settings: Settings, routed: list[_Routed], now: datetime) -> list[int]:
    """What `routed` decided, for the events still pending (one another worker took in
    the meantime is left to it); the ids of the runs made."""
    ids = [one.event_id for one in routed]
    still = set(
        session.exec(
            select(WebhookEvent.id).where(
                col(WebhookEvent.id).in_(ids), WebhookEvent.status == EventStatus.pending
            )
        )
    )
    routed = [one for one in routed if one.event_id in still]
    if not routed:
        return []
    connection = session.connection()
    connection.execute(
        EVENT_TABLE.update()
        .where(EVENT_TABLE.c.id == sa.bindparam("event"))
        .values(status=sa.bindparam("new_status"), note=sa.bindparam("new_note"), processed_at=now),
        [{"event": one.event_id, "new_status": one.status, "new_note": one.note} for one in routed],
    )
    for one in routed:
        if one.marks:
            connection.execute(
                TRIGGER_TABLE.update()
                .where(TRIGGER_TABLE.c.id.in_(one.marks))
                .values(sync_state=SyncState.error, sync_error=one.reason)
            )
    fired = sorted({trigger_id for one in routed for trigger_id in one.starts})
    if fired:
        connection.execute(
            TRIGGER_TABLE.update().where(TRIGGER_TABLE.c.id.in_(fired)).values(last_fired_at=now)
        )
    starts = [(one.event_id, one.due, one.starts) for one in routed if one.starts]
    return _inserted_or_failed(session, settings, starts, now)


def _inserted_or_failed(
    session: Session, settings: Settings, starts: Starts, now: datetime
) -> list[int]:
    """The events' runs in one insert; if the database refuses it, each event's alone, and
    an event whose runs it refuses is `failed` with the reason."""
    if not starts:
        return []
    try:
        with session.begin_nested():
            return _insert_runs(session, settings, starts, RunSource.event, now)
    except sa.exc.OperationalError:
        raise
    except Exception:  # some event's runs: find which
        log.warning("the runs of %d events were refused; inserting each event's alone", len(starts))
    run_ids: list[int] = []
    for start in starts:
        try:
            with session.begin_nested():
                run_ids += _insert_runs(session, settings, [start], RunSource.event, now)
        except sa.exc.OperationalError:
            raise
        except Exception as error:
            log.exception("the runs of event %s were refused", start[0])
            session.exec(
                update(WebhookEvent)
                .where(col(WebhookEvent.id) == start[0])
                .values(status=EventStatus.failed, note=_failure_reason(error), processed_at=now)
            )
    return run_ids


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


def _insert_runs(
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
    [run_id] = _insert_runs(session, settings, [(event.id, due, [trigger.id])], RunSource.test, now)
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
