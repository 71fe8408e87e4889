"""Composio webhook deliveries: the signature check and writing inbox rows.

The signature is checked here with the standard library (the `composio` SDK takes
seconds to import, too slow for the request path); a test checks that the SDK's own
`verify_webhook` agrees. What the event says is checked in `core.events.envelope`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.events.envelope import Envelope, Refusal, Rejected
from core.store.db import get_engine, insert_ignoring_conflicts
from core.store.models import EventStatus, WebhookEvent

TOLERANCE_SECONDS = 300
# How often at most stored events are handed to the worker (InboxWriter._hand_on_forever).
HAND_ON_EVERY_SECONDS = 0.1
# Unix seconds have 10 digits until the year 2286; a longer value is no timestamp, and a
# very long one makes `int()` or the float comparison raise.
TIMESTAMP_DIGITS = 12
WEBHOOK_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
EVENT_TABLE: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
log = logging.getLogger("planner.inbox")
# A row waiting for the group commit, and the future its delivery waits on: an event
# loop's (`store`), else a thread's (`submit`).
Answer = Future[bool] | asyncio.Future[bool]
Pending = tuple[dict[str, Any], Answer]

__all__ = ["InboxWriter", "Refusal", "Rejected", "signature", "verify"]


def signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """Composio's signature: `v1,` + base64(HMAC-SHA256(secret, "id.timestamp.body"))."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str:
    """Check a delivery's headers against its body; returns its webhook id, else refuses
    it as unsigned.

    Header values may hold any byte (Starlette decodes them as latin-1): anything but
    ASCII is refused before `int()` (`'¹'.isdigit()` is true) or `compare_digest` (which
    raises on non-ASCII text) sees it.
    """
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and offered):
        raise Rejected(
            Refusal.unsigned, "missing webhook-id, webhook-timestamp or webhook-signature"
        )
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise Rejected(Refusal.unsigned, "malformed webhook-id")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= TIMESTAMP_DIGITS):
        raise Rejected(Refusal.unsigned, "webhook-timestamp is not a number of seconds")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise Rejected(Refusal.unsigned, "timestamp outside the 5-minute tolerance")
    if not offered.isascii():
        raise Rejected(Refusal.unsigned, "signature does not match")
    expected = signature(secret, webhook_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered.split()):
        raise Rejected(Refusal.unsigned, "signature does not match")
    return webhook_id


def inbox_row(event_id: str, envelope: Envelope, now: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": envelope.type,
        "trigger_slug": envelope.trigger_slug,
        "composio_trigger_id": envelope.trigger_id,
        "dedupe_key": envelope.dedupe_key,
        "payload": envelope.payload,
        "status": EventStatus.pending,
        "received_at": now,
        "processed_at": None,
        "note": None,
    }


def store_rows(database_url: str, rows: list[dict[str, Any]]) -> set[str]:
    """Insert inbox rows in one transaction; returns the ids that are new and pending.

    A row refused for its webhook-id was delivered before and stores nothing; one refused
    for its dedupe key is the same event announced again and is kept as `duplicate`.
    """
    engine = get_engine(database_url)
    statement = insert_ignoring_conflicts(engine, EVENT_TABLE).returning(EVENT_TABLE.c.id)
    with engine.begin() as connection:
        new = set(connection.execute(statement, rows).scalars())
        refused = [row for row in rows if row["id"] not in new and row["dedupe_key"]]
        again = _announced_again(connection, refused) if refused else []
        if again:
            connection.execute(statement, again)
    return new


def _announced_again(connection: sa.Connection, refused: list[dict[str, Any]]) -> list[dict]:
    """Rows refused for their dedupe key (not their webhook-id), as `duplicate` rows that
    name the first announcement: `planner events` shows them, nothing processes them."""
    table = EVENT_TABLE.c
    ids = [row["id"] for row in refused]
    keys = [row["dedupe_key"] for row in refused]
    known = set(connection.execute(sa.select(table.id).where(table.id.in_(ids))).scalars())
    first = dict(
        connection.execute(
            sa.select(table.dedupe_key, table.id).where(table.dedupe_key.in_(keys))
        ).all()
    )
    return [
        row | {
            "dedupe_key": None, "status": EventStatus.duplicate, "processed_at": row["received_at"],
            "note": f"The same event as {first.get(row['dedupe_key'], 'an earlier one')}, "
                    "announced again; started nothing.",
        }
        for row in refused
        if row["id"] not in known
    ]  # fmt: skip


class InboxWriter:
    """Group commit for the webhook: concurrent deliveries share one transaction.

    SQLite commits one writer at a time; one commit per delivery makes request threads
    queue for the lock. Here a single writer thread takes every row waiting, inserts them
    together, then answers each delivery (new or duplicate). The new ids go to the worker
    from a thread of their own, so submitting them never holds up the next commit.
    """

    def __init__(
        self,
        database_url: str,
        on_stored: Callable[[list[str]], None],
        max_batch: int = 500,
        hand_on_every: float = HAND_ON_EVERY_SECONDS,
    ) -> None:
        self.database_url = database_url
        self.on_stored = on_stored
        self.max_batch = max_batch
        self.hand_on_every = hand_on_every
        self._waiting: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._stored: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        threading.Thread(target=self._write_forever, name="inbox", daemon=True).start()
        self._hand_on = threading.Thread(
            target=self._hand_on_forever, name="inbox-hand-on", daemon=True
        )
        self._hand_on.start()

    def close(self, timeout: float = 10.0) -> None:
        """After the last submit (a process stopping): the ids stored so far go to the
        worker before this returns, not a minute later by the sweep."""
        self._waiting.put(None)
        self._hand_on.join(timeout)

    def submit(self, event_id: str, envelope: Envelope, now: datetime) -> Future[bool]:
        """Queue a row; the future says whether it was new, once it is committed."""
        done: Future[bool] = Future()
        self._waiting.put((inbox_row(event_id, envelope, now), done))
        return done

    async def store(self, event_id: str, envelope: Envelope, now: datetime) -> bool:
        """`submit` for an event loop: whether the row was new, once it is committed. A
        batch's answers reach the loop in one wake-up, not one thread handoff each."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.put((inbox_row(event_id, envelope, now), done))
        return await done

    def _next_batch(self) -> tuple[list[Pending], bool]:
        """The rows waiting (at least one, at most max_batch), and whether close was asked."""
        batch: list[Pending] = []
        while len(batch) < self.max_batch:
            try:
                pending = self._waiting.get(block=not batch)
            except queue.Empty:
                break
            if pending is None:
                return batch, True
            batch.append(pending)
        return batch, False

    def _store(self, rows: list[dict[str, Any]]) -> tuple[set[str], dict[str, Exception]]:
        """Store rows together; if the database refuses that, one by one, so only the row
        it refuses is refused. Returns the new ids and the error of each refused row."""
        try:
            return store_rows(self.database_url, rows), {}
        except Exception as error:  # every waiting delivery must get an answer
            if len(rows) == 1:
                log.warning("could not store event %s: %s", rows[0]["id"], error)
                return set(), {rows[0]["id"]: error}
        new: set[str] = set()
        failed: dict[str, Exception] = {}
        for row in rows:
            stored, refused = self._store([row])
            new |= stored
            failed |= refused
        return new, failed

    def _write_forever(self) -> None:
        closing = False
        while not closing:
            batch, closing = self._next_batch()
            if not batch:
                break
            unique = list({row["id"]: row for row, _ in reversed(batch)}.values())
            new, failed = self._store(unique)
            answered: set[str] = set()
            outcomes: dict[asyncio.AbstractEventLoop, list[tuple[Answer, Any]]] = {}
            for row, done in batch:
                outcome = failed.get(row["id"], row["id"] in new and row["id"] not in answered)
                answered.add(row["id"])
                if isinstance(done, asyncio.Future):
                    outcomes.setdefault(done.get_loop(), []).append((done, outcome))
                else:
                    _settle([(done, outcome)])
            for loop, settled in outcomes.items():
                loop.call_soon_threadsafe(_settle, settled)
            if new:
                arrived = dict.fromkeys(row["id"] for row, _ in batch)  # in order, once each
                self._stored.put([event_id for event_id in arrived if event_id in new])
        self._stored.put(None)

    def _hand_on_forever(self) -> None:
        """Submit the ids stored meanwhile together: one message for several commits, at
        most one per `hand_on_every` seconds. A delivery after a quiet spell goes on at once; in a
        stream, the worker gets groups it turns into runs with a transaction or two each,
        instead of a read, a write, a claim and a queue message per event."""
        closing = False
        last = -self.hand_on_every
        while not closing:
            ids: list[str] = []
            taken = [self._stored.get()]
            until = last + self.hand_on_every
            while taken[-1] is not None and (left := until - time.monotonic()) > 0:
                try:
                    taken.append(self._stored.get(timeout=left))
                except queue.Empty:
                    break
            while taken[-1] is not None and not self._stored.empty():
                taken.append(self._stored.get_nowait())
            for stored in taken:
                if stored is None:
                    closing = True
                else:
                    ids += stored
            if not ids:
                continue
            last = time.monotonic()
            try:
                self.on_stored(ids)
            except Exception:  # the rows are stored; the tick's sweep submits them
                log.exception("could not submit stored events; the sweep will")


def _settle(outcomes: list[tuple[Answer, Any]]) -> None:
    """Answer waiting deliveries: an exception is the database's refusal, else new or not.
    A delivery whose client went away has a cancelled future; its row is stored anyway."""
    for done, outcome in outcomes:
        if done.cancelled():
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)
