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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.db import get_engine, insert_ignoring_conflicts
from core.models import EventStatus, WebhookEvent

MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 300
MAX_JSON_DEPTH = 64
EVENT_TABLE: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]


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


def store(database_url: str, event_id: str, envelope: Envelope, now: datetime) -> bool:
    """Insert the inbox row; False if this webhook id was stored already."""
    row = {
        "id": event_id,
        "type": envelope.type,
        "trigger_slug": envelope.trigger_slug,
        "composio_trigger_id": envelope.trigger_id,
        "payload": envelope.payload,
        "status": EventStatus.pending,
        "received_at": now,
    }
    engine = get_engine(database_url)
    with engine.begin() as connection:
        inserted = connection.execute(insert_ignoring_conflicts(engine, EVENT_TABLE), row)
    return inserted.rowcount == 1
