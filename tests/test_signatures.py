"""Composio's webhook signature rule, at its edges (core.events.deliveries, no process needed)."""

from __future__ import annotations

import pytest

from core.events.deliveries import Rejected, signature, verify
from webhook.app import STATUSES

NOW = 1_800_000_000
BODY = b'{"type": "composio.trigger.message"}'


def headers(at: int, secret: str = "s3cret", webhook_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(at),
        "webhook-signature": signature(secret, webhook_id, str(at), BODY),
    }


@pytest.mark.parametrize("offset", [0, 300, -300])
def test_timestamps_within_five_minutes_either_way_are_accepted(offset):
    assert verify("s3cret", headers(NOW + offset), BODY, NOW) == "msg_1"


@pytest.mark.parametrize("offset", [301, -301])
def test_timestamps_further_off_are_refused(offset):
    with pytest.raises(Rejected, match="tolerance") as refused:
        verify("s3cret", headers(NOW + offset), BODY, NOW)
    assert STATUSES[refused.value.reason] == 401


def test_any_of_several_signatures_may_match():
    good = headers(NOW)
    good["webhook-signature"] = "v1,bm9wZQ== " + good["webhook-signature"]
    assert verify("s3cret", good, BODY, NOW) == "msg_1"


def test_the_secret_is_used_as_it_is():
    with pytest.raises(Rejected, match="does not match"):
        verify("whsec_s3cret", headers(NOW, secret="s3cret"), BODY, NOW)


@pytest.mark.parametrize(
    ("name", "value"),
    [("webhook-timestamp", "¹"), ("webhook-timestamp", "\uff11\uff18"),
     ("webhook-signature", "v1,é"), ("webhook-id", "msg_é")],
)  # fmt: skip
def test_header_values_that_are_not_ascii_are_refused_with_401(name, value):
    """Starlette hands header bytes over as latin-1 text; '¹'.isdigit() is true, and
    compare_digest raises on non-ASCII text."""
    with pytest.raises(Rejected) as refused:
        verify("s3cret", headers(NOW) | {name: value}, BODY, NOW)
    assert STATUSES[refused.value.reason] == 401
