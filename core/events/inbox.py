"""The webhook inbox: turning stored events into runs, test events, replays, pruning.

An event row is processed once: its runs are inserted with `ON CONFLICT DO NOTHING` on
(trigger, event) in the same transaction that marks it dispatched, so a duplicate queue
message, a second worker or the sweep can never start a second run for one event. Each
group of events shares one transaction, each event in a savepoint: one that raises is
`failed`, the others go on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

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
Result = TypeVar("Result")
Start = tuple[WebhookEvent, list[EventTrigger]]  # an event and the triggers it starts
Item = TypeVar("Item", WebhookEvent, Start)


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


def _mark_affected(session: Session, envelope: Envelope) -> int:
    """A trigger Composio disabled, or whose account expired, turns red with the reason."""
    if envelope.type == TRIGGER_DISABLED:
        if not envelope.trigger_id:
            return 0
        query = select(EventTrigger).where(EventTrigger.composio_trigger_id == envelope.trigger_id)
        reason = f"Composio disabled this trigger ({envelope.reason or 'no reason'})."
    else:
        query = select(EventTrigger).where(col(EventTrigger.composio_trigger_id).is_not(None))
        if envelope.user_id:
            query = query.where(EventTrigger.user_id == envelope.user_id)
        if envelope.toolkit:
            query = query.where(EventTrigger.toolkit == envelope.toolkit.upper())
        reason = ACCOUNT_EXPIRED_REASON
    affected = list(session.exec(query))
    for trigger in affected:
        trigger.sync_state, trigger.sync_error = SyncState.error, reason
        session.add(trigger)
    return len(affected)


def _finish(event: WebhookEvent, status: EventStatus, note: str, now: datetime) -> None:
    event.status, event.note, event.processed_at = status, note, now


def _route(
    session: Session,
    event: WebhookEvent,
    now: datetime,
    matches: dict[tuple[str, str, str], tuple[list[EventTrigger], str]],
) -> list[EventTrigger]:
    """The triggers a pending event starts, with the event marked as it goes (or what else
    it does: a trigger Composio disabled turns red, an event that starts nothing says why).

    The stored payload is checked again as the webhook checks it: a row stored by an
    earlier version (or replayed from one) that fails raises `Rejected`."""
    envelope = read_envelope(event.payload)
    if envelope.type in (TRIGGER_DISABLED, ACCOUNT_EXPIRED):
        count = _mark_affected(session, envelope)
        _finish(event, EventStatus.dispatched, f"Marked {count} trigger(s).", now)
        return []
    if envelope.type != TRIGGER_MESSAGE:
        _finish(event, EventStatus.unmatched, f"Not a trigger event: {envelope.type}.", now)
        return []
    key = (envelope.trigger_id or "", envelope.trigger_slug or "", envelope.user_id or "")
    if key not in matches:
        matches[key] = _matching_triggers(session, envelope)
    triggers, why_none = matches[key]
    if not triggers:
        _finish(event, EventStatus.unmatched, f"{why_none} Started nothing.", now)
        return []
    for trigger in triggers:
        trigger.last_fired_at = now
    names = ", ".join(trigger.name for trigger in triggers)
    _finish(event, EventStatus.dispatched, f"Started: {names}.", now)
    return triggers


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
    events on a group commit at a time) in one transaction, one insert and one hand-on
    to the queue, so a group takes the write lock once, as one event did.

    The group is routed, then its runs inserted, each step in one savepoint; if an event
    makes a step raise, the step is undone and taken again event by event, so the event
    at fault alone is `failed` and never holds back the others. A database that does not
    answer fails no event: they stay `pending` for the tick's sweep."""
    run_ids: list[int] = []
    try:
        with open_session(settings.database_url) as session:
            pending = session.exec(
                select(WebhookEvent).where(
                    col(WebhookEvent.id).in_(event_ids), WebhookEvent.status == EventStatus.pending
                )
            ).all()
            order = {event_id: n for n, event_id in enumerate(event_ids)}
            events = sorted(pending, key=lambda row: order[row.id])
            starts = _together(session, events, partial(_routes, session, now), _itself, now)
            insert = partial(_insert_runs, session, settings, source=RunSource.event, now=now)
            run_ids = _together(session, starts, insert, _first, now)
            session.commit()
    except sa.exc.OperationalError:
        log.warning("events %s left pending: the database did not answer", ", ".join(event_ids))
        return
    if run_ids:
        queue.submit(run_ids)


def _isolated(
    session: Session, event: WebhookEvent, now: datetime, work: Callable[[], Result]
) -> Result | None:
    """`work` on `event` in a savepoint; if it raises, it is undone and the event is
    `failed` with the reason (None), whatever `work` had marked it. A database that does
    not answer is not the event's fault: that goes on up."""
    try:
        with session.begin_nested():
            return work()
    except sa.exc.OperationalError:
        raise
    except Exception as error:  # a poison event, whatever it raised
        log.exception("event %s failed", event.id)
        session.exec(
            update(WebhookEvent)
            .where(col(WebhookEvent.id) == event.id)
            .values(status=EventStatus.failed, note=_failure_reason(error), processed_at=now)
        )
        return None


def _routes(session: Session, now: datetime, events: list[WebhookEvent]) -> list[Start]:
    """The events that start triggers, with them (`_route`); the matches of one trigger
    instance are looked up once for the group, and nothing is flushed while routing."""
    matches: dict[tuple[str, str, str], tuple[list[EventTrigger], str]] = {}
    with session.no_autoflush:
        return [
            (event, triggers)
            for event in events
            if (triggers := _route(session, event, now, matches))
        ]


def _itself(event: WebhookEvent) -> WebhookEvent:
    return event


def _first(start: Start) -> WebhookEvent:
    return start[0]


def _together(
    session: Session,
    items: list[Item],
    work: Callable[[list[Item]], list[Result]],
    event_of: Callable[[Item], WebhookEvent],
    now: datetime,
) -> list[Result]:
    """`work` on all of `items` in one savepoint; if the database or an event refuses it,
    on each item alone (`_isolated`), so only the event at fault fails."""
    if not items:
        return []
    try:
        with session.begin_nested():
            return work(items)
    except sa.exc.OperationalError:
        raise
    except Exception:  # some event is at fault: find which
        log.warning("a group of %d events was refused; each goes on alone", len(items))
    done: list[Result] = []
    for item in items:
        done += _isolated(session, event_of(item), now, partial(work, [item])) or []
    return done


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
    session: Session, settings: Settings, starts: list[Start], source: RunSource, now: datetime
) -> list[int]:
    """One run per (event, trigger), in one statement; a pair that has its run already
    (a second worker, a duplicate message) gets none."""
    rows = [
        run_row(source, event_due(event, now), now, trigger_id=trigger.id, event_id=event.id)
        for event, triggers in starts
        for trigger in triggers
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
    [run_id] = _insert_runs(session, settings, [(event, [trigger])], RunSource.test, now)
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
