"""From inbox rows to runs: each stored event becomes at most one run per trigger that
listens to it, and is processed once — its runs are inserted with `ON CONFLICT DO
NOTHING` on (trigger, event) in the transaction that marks it dispatched, so a duplicate
queue message, a second worker or the sweep can never start a second run for one event.

A group of events is routed by reading (no lock) and written in one short transaction;
an event that raises is `failed`, the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from core.config import Settings
from core.events.envelope import (
    ACCOUNT_EXPIRED,
    TRIGGER_DISABLED,
    TRIGGER_MESSAGE,
    Envelope,
    Rejected,
    read_envelope,
)
from core.events.inbox import ACCOUNT_EXPIRED_REASON, Starts, event_due, insert_runs
from core.running.queue import RunQueue
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import EventStatus, EventTrigger, RunSource, Status, SyncState, WebhookEvent

EVENT_TABLE: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
TRIGGER_TABLE: sa.Table = EventTrigger.__table__  # type: ignore[assignment]
# The triggers found for (Composio instance, event type, user), and why none, per group.
Matches = dict[tuple[str, str, str], tuple[list[EventTrigger], str]]
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
            return insert_runs(session, settings, starts, RunSource.event, now)
    except sa.exc.OperationalError:
        raise
    except Exception:  # some event's runs: find which
        log.warning("the runs of %d events were refused; inserting each event's alone", len(starts))
    run_ids: list[int] = []
    for start in starts:
        try:
            with session.begin_nested():
                run_ids += insert_runs(session, settings, [start], RunSource.event, now)
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
