"""Composio deliveries as tests send them: signed the way Composio signs."""

from __future__ import annotations

import json
import time
import uuid

from core.catalog import sample_events
from core.webhooks import signature

GMAIL = sample_events()["GMAIL_NEW_GMAIL_MESSAGE"]
SECRET = "whsec_test_secret"  # the tests' settings use it


def signed(body: bytes, webhook_id: str, secret: str = SECRET, at: float | None = None) -> dict:
    timestamp = str(int(time.time() if at is None else at))
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
    }


def event_body(**changes) -> tuple[bytes, str]:
    webhook_id = f"msg_{uuid.uuid4()}"
    return json.dumps(GMAIL | {"id": webhook_id} | changes).encode(), webhook_id


def numbered_event(n: int, prefix: str = "event") -> tuple[bytes, str]:
    """An event whose subject says which it is ("event 7"), so its call can be told apart."""
    return event_body(data=GMAIL["data"] | {"subject": f"{prefix} {n}"})
