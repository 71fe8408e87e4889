"""Composio deliveries as tests send them: signed the way Composio signs."""

from __future__ import annotations

import json
import time
import uuid

from core.events.catalog import sample_events
from core.events.deliveries import signature

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


def event_body(
    instance: str | None = None, user: str = "default", data: dict | None = None, **changes
) -> tuple[bytes, str]:
    """A Gmail event with its own webhook-id and message id, from Composio trigger instance
    `instance` — or, without one, naming only its event type and user (the tests' local
    triggers belong to user "default", so they match it)."""
    webhook_id, message_id = f"msg_{uuid.uuid4()}", uuid.uuid4().hex[:16]
    metadata = {k: v for k, v in GMAIL["metadata"].items() if k != "trigger_id"}
    metadata |= {"user_id": user} | ({"trigger_id": instance} if instance else {})
    event_data = GMAIL["data"] | {"message_id": message_id, "id": message_id} | (data or {})
    event = GMAIL | {"id": webhook_id, "metadata": metadata, "data": event_data} | changes
    return json.dumps(event).encode(), webhook_id


def numbered_event(n: int, prefix: str = "event") -> tuple[bytes, str]:
    """An event whose subject says which it is ("event 7"), so its call can be told apart."""
    return event_body(data={"subject": f"{prefix} {n}"})
