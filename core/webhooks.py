"""Composio webhook deliveries: signature check, envelope parsing, and the inbox row.

The signature is checked here with the standard library (the `composio` SDK takes
seconds to import, too slow for the request path); a test checks that the SDK's own
`verify_webhook` agrees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.db import get_engine, insert_ignoring_conflicts
from core.models import EventStatus, WebhookEvent

MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 300
MAX_JSON_DEPTH = 64
WEBHOOK_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
EVENT_TYPE = re.compile(r"composio\.[a-z0-9_.]+")
EVENT_TABLE: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
log = logging.getLogger("planner.inbox")


class Rejected(Exception):
    """A delivery refused with an HTTP status; nothing was stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """Composio's signature: `v1,` + base64(HMAC-SHA256(secret, "id.timestamp.body"))."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str:
    """Check a delivery's headers against its body; returns its webhook id, else 401."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and offered):
        raise Rejected(401, "missing webhook-id, webhook-timestamp or webhook-signature")
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise Rejected(401, "malformed webhook-id")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise Rejected(401, "timestamp outside the 5-minute tolerance")
    expected = signature(secret, webhook_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered.split()):
        raise Rejected(401, "signature does not match")
    return webhook_id


def _depth(value: Any, limit: int) -> int:
    stack, deepest = [(value, 1)], 1
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return deepest


@dataclass(frozen=True)
class Envelope:
    """A Composio V3 event: `type`, `metadata` (trigger slug and id), `data`."""

    type: str
    trigger_slug: str | None
    trigger_id: str | None
    payload: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return self.payload.get("data") or {}


def parse(body: bytes) -> Envelope:
    """The envelope of a delivery, or 400 when the body is not a Composio event."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise Rejected(400, "not a Composio event: no 'type'")
    if not EVENT_TYPE.fullmatch(payload["type"]):
        raise Rejected(400, f"not a Composio event type: {payload['type'][:80]!r}")
    if _depth(payload, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise Rejected(400, "event nested too deeply")
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    data = payload.get("data")
    if data is not None and not isinstance(data, dict):
        raise Rejected(400, "not a Composio event: 'data' is not an object")
    return Envelope(
        type=payload["type"],
        trigger_slug=metadata.get("trigger_slug") or (data or {}).get("trigger_name"),
        trigger_id=metadata.get("trigger_id") or (data or {}).get("id"),
        payload=payload,
    )


def inbox_row(event_id: str, envelope: Envelope, now: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": envelope.type,
        "trigger_slug": envelope.trigger_slug,
        "composio_trigger_id": envelope.trigger_id,
        "payload": envelope.payload,
        "status": EventStatus.pending,
        "received_at": now,
    }


def store_rows(database_url: str, rows: list[dict[str, Any]]) -> set[str]:
    """Insert inbox rows in one transaction; returns the ids that were new."""
    engine = get_engine(database_url)
    statement = insert_ignoring_conflicts(engine, EVENT_TABLE).returning(EVENT_TABLE.c.id)
    with engine.begin() as connection:
        return set(connection.execute(statement, rows).scalars())


def store(database_url: str, event_id: str, envelope: Envelope, now: datetime) -> bool:
    """Insert one inbox row; False if this webhook id was stored already."""
    return bool(store_rows(database_url, [inbox_row(event_id, envelope, now)]))


class InboxWriter:
    """Group commit for the webhook: concurrent deliveries share one transaction.

    SQLite commits one writer at a time; one commit per delivery makes request threads
    queue for the lock. Here a single writer thread takes every row waiting, inserts them
    together, then answers each delivery (new or duplicate) and hands the new ids on.
    """

    def __init__(
        self,
        database_url: str,
        on_stored: Callable[[list[str]], None],
        max_batch: int = 500,
    ) -> None:
        self.database_url = database_url
        self.on_stored = on_stored
        self.max_batch = max_batch
        self._waiting: queue.SimpleQueue[tuple[dict[str, Any], Future[bool]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_forever, name="inbox", daemon=True)
        self._thread.start()

    def submit(self, event_id: str, envelope: Envelope, now: datetime) -> Future[bool]:
        """Queue a row; the future says whether it was new, once it is committed."""
        done: Future[bool] = Future()
        self._waiting.put((inbox_row(event_id, envelope, now), done))
        return done

    def _next_batch(self) -> list[tuple[dict[str, Any], Future[bool]]]:
        batch = [self._waiting.get()]
        while len(batch) < self.max_batch:
            try:
                batch.append(self._waiting.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_forever(self) -> None:
        while True:
            batch = self._next_batch()
            unique = list({row["id"]: row for row, _ in reversed(batch)}.values())
            try:
                new = store_rows(self.database_url, unique)
            except Exception as error:  # every waiting delivery must get an answer
                for _, done in batch:
                    done.set_exception(error)
                continue
            answered: set[str] = set()
            for row, done in batch:
                done.set_result(row["id"] in new and row["id"] not in answered)
                answered.add(row["id"])
            if new:
                try:
                    self.on_stored(sorted(new))
                except Exception:  # the rows are stored; the tick's sweep submits them
                    log.exception("could not submit stored events; the sweep will")
