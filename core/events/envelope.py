"""What a Composio event says: the V3 envelope checked field by field, and the key that
tells the same event announced again from a new one.

Everything here comes from outside, so every field the inbox stores or matches on is
checked for its type before anything is written: one odd delivery must be refused on
its own, never fail the insert it shares with others.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from core.store import standard_json

# The event types Composio sends: what one of our triggers saw, a trigger instance Composio
# disabled, a connected account that expired (the subscription asks for these three).
TRIGGER_MESSAGE = "composio.trigger.message"
TRIGGER_DISABLED = "composio.trigger.disabled"
ACCOUNT_EXPIRED = "composio.connected_account.expired"
MAX_JSON_DEPTH = 64
EVENT_TYPE = re.compile(r"composio\.[a-z0-9_.]+")
# NUL: PostgreSQL stores no NUL in text, and a value from the data ends up in a run's
# message. A lone surrogate (half of a UTF-16 pair) is no character: no database or
# agent can be sent it as UTF-8.
SLACK_MESSAGES = ("MESSAGE", "BOT_MESSAGE", "DIRECT_MESSAGE", "GROUP_MESSAGE", "MPIM_MESSAGE",
                  "THREAD_REPLY")  # fmt: skip
# The provider's own id of what happened, by trigger type: the same message announced
# again (under a new webhook-id) carries the same one. Only ids that never come back for
# something new: a calendar event's id repeats on every update, so calendars have none.
NATURAL_IDS: dict[str, tuple[str, ...]] = {
    "GMAIL_NEW_GMAIL_MESSAGE": ("message_id",),
    "GITHUB_COMMIT_EVENT": ("id",),
    **{f"{app}_RECEIVE_{kind}": ("channel", "ts") for app in ("SLACK", "SLACKBOT")
       for kind in SLACK_MESSAGES},
}  # fmt: skip


class Refusal(Enum):
    """Why a delivery is refused: its signature and what it says are checked in core, the
    rest at the webhook's door, which answers each with its HTTP status (webhook.app)."""

    not_json = "not_json"  # the body is not sent as JSON
    too_large = "too_large"  # the body is over the limit
    no_secret = "no_secret"  # no signing secret yet: nothing can be checked
    secret_unreadable = "secret_unreadable"  # the stored secret cannot be read now
    unsigned = "unsigned"  # signature headers missing, malformed, stale or not matching
    malformed = "malformed"  # not a Composio event, or one that cannot be stored


class Rejected(Exception):
    """A delivery refused, and why (`reason`); nothing was stored. The message says what
    was wrong, in words its sender can act on."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    """A Composio V3 event: `type`, `metadata` (trigger slug, instance id, user), `data`.

    `trigger_id` is the Composio trigger instance the event came through (for
    `composio.trigger.disabled`, the one that was disabled); `toolkit` and `reason` are
    only read from system events.
    """

    type: str
    trigger_slug: str | None
    trigger_id: str | None
    user_id: str | None
    toolkit: str | None
    reason: str | None
    payload: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return self.payload.get("data") or {}

    @property
    def dedupe_key(self) -> str | None:
        """The provider's id of this event with the instance (else user) it came through,
        hashed to a fixed length; None where the trigger type has no such id."""
        fields = NATURAL_IDS.get(self.trigger_slug or "")
        values = [self.data.get(name) for name in fields or ()]
        if not values or not all(isinstance(value, str) and value for value in values):
            return None
        scope = ["instance", self.trigger_id] if self.trigger_id else ["user", self.user_id]
        named = json.dumps([*scope, self.trigger_slug, *values])
        return hashlib.sha256(named.encode()).hexdigest()


def parse(body: bytes) -> Envelope:
    """The envelope of a delivery, refused as malformed when the body is not a Composio
    event (or gives a key twice: json keeps the last, so the one stored could differ from
    the one another reader — or the signature's sender — meant, as the API refuses it too)."""
    try:
        payload = standard_json.loads(body, object_pairs_hook=_once_each)
    except KeyTwice as twice:
        raise Rejected(Refusal.malformed, f"the event gives {twice.key[:80]!r} twice") from None
    except standard_json.NotStandardJson as error:
        raise Rejected(Refusal.malformed, f"the event is not standard JSON: {error}") from None
    except (ValueError, RecursionError):
        raise Rejected(Refusal.malformed, "body is not JSON") from None
    return read_envelope(payload, values_checked=_plainly_storable(body))


class KeyTwice(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of the event, refused when it gives a key twice. One dict, as json.loads
    builds itself, and a comparison of sizes: an event's few objects cost about 0.5 µs
    each; the key is looked for only in a body refused."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        raise KeyTwice(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return found


def _plainly_storable(body: bytes) -> bool:
    """Whether the raw body alone rules out what _check_values looks for, sparing the walk
    over every value (a third of a delivery's cost). In a UTF-8 body (it opens with `{`,
    holds no NUL byte) a NUL or a lone surrogate can only be a \\u escape or the bytes of
    an encoded surrogate (json.loads lets those pass), which all begin with 0xED; and it
    cannot nest deeper than it has brackets."""
    return (
        body[:1] == b"{"
        and b"\x00" not in body
        and b"\xed" not in body
        and b"\\u" not in body
        and body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
    )


def _check_values(payload: Any) -> None:
    """Depth, and no string (key or value) that cannot be stored."""
    stack = [(payload, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise Rejected(Refusal.malformed, "event nested too deeply")
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)
        elif isinstance(item, str) and standard_json.UNSTORABLE.search(item):
            raise Rejected(
                Refusal.malformed, "the event holds a NUL or a lone surrogate (\\u0000, \\ud800)"
            )


def _object(parent: dict[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(Refusal.malformed, f"not a Composio event: '{name}' is not an object")
    return value


def _text(parent: dict[str, Any], name: str, where: str) -> str | None:
    value = parent.get(name)
    if value is not None and not isinstance(value, str):
        raise Rejected(Refusal.malformed, f"not a Composio event: '{where}.{name}' is not a string")
    return value or None


def _toolkit(data: dict[str, Any]) -> str | None:
    """`data.toolkit` of an expired account: a slug, or an object with one."""
    toolkit = data.get("toolkit")
    return (
        _text(toolkit, "slug", "data.toolkit")
        if isinstance(toolkit, dict)
        else _text(data, "toolkit", "data")
    )


def read_envelope(payload: Any, values_checked: bool = False) -> Envelope:
    """An event's envelope from its decoded JSON, every field used checked for its type
    (refused as malformed otherwise): the webhook's door, and the inbox's check of what it
    stored. `values_checked`: depth and strings are known to be fine already."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise Rejected(Refusal.malformed, "not a Composio event: no 'type'")
    if not EVENT_TYPE.fullmatch(payload["type"]):
        raise Rejected(Refusal.malformed, f"not a Composio event type: {payload['type'][:80]!r}")
    if not values_checked:
        _check_values(payload)
    kind, metadata, data = payload["type"], _object(payload, "metadata"), _object(payload, "data")
    data_id = data.get("id")
    if data_id is not None and not isinstance(data_id, str | int):
        raise Rejected(Refusal.malformed, "not a Composio event: 'data.id' is not a string")
    disabled, expired = kind == TRIGGER_DISABLED, kind == ACCOUNT_EXPIRED
    slug = _text(metadata, "trigger_slug", "metadata") or _text(data, "trigger_name", "data")
    instance = _text(data, "id", "data") if disabled else _text(metadata, "trigger_id", "metadata")
    user = (expired and _text(data, "user_id", "data")) or _text(metadata, "user_id", "metadata")
    return Envelope(
        type=kind,
        trigger_slug=slug,
        trigger_id=instance,
        user_id=user,
        toolkit=_toolkit(data) if expired else None,
        reason=_text(data, "disabled_reason", "data") if disabled else None,
        payload=payload,
    )
