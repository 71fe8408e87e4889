"""The webhook process as deployed (uvicorn, real sockets): what it accepts, what it
refuses and stores nothing for, and — with a real consumer — the runs it leads to."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import func, select

from core import triggers
from core.db import read_session
from core.models import Run, WebhookEvent, utcnow
from core.triggers import TriggerFields
from tests.conftest import wait_until
from tests.delivery import SECRET, event_body, signed
from tests.processes import get, serve_webhook, settings_env


def count(settings, model=WebhookEvent) -> int:
    with read_session(settings.database_url) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_signed_delivery_is_stored_once(settings, webhook):
    body, webhook_id = event_body()
    first = httpx.post(webhook, content=body, headers=signed(body, webhook_id))
    again = httpx.post(webhook, content=body, headers=signed(body, webhook_id))
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    with read_session(settings.database_url) as session:
        [stored] = session.exec(select(WebhookEvent)).all()
    assert (stored.id, stored.trigger_slug, stored.type) == (
        webhook_id, "GMAIL_NEW_GMAIL_MESSAGE", "composio.trigger.message"
    )  # fmt: skip


def _hostile() -> list[tuple[str, int, Callable[[], tuple[bytes, dict]]]]:
    """(label, status, build): each request is built when its test runs, so its
    timestamp is fresh however long the suite has been running."""

    def good() -> tuple[bytes, str, dict]:
        body, webhook_id = event_body()
        return body, webhook_id, signed(body, webhook_id)

    def tweak(change: Callable[[bytes, str, dict], tuple[bytes, dict]]):
        return lambda: change(*good())

    def raw(content: bytes):
        return lambda: (content, signed(content, f"msg_{uuid.uuid4()}"))

    huge = b'{"type": "composio.trigger.message", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    nested = ('{"type": "composio.x", "data": ' + '{"a": ' * 200 + "1" + "}" * 201).encode()
    unknown = json.dumps({"id": "x", "type": "stripe.charge.failed", "data": {}}).encode()
    cases = [
        ("wrong secret", 401, tweak(lambda b, i, h: (b, signed(b, i, secret="not-the-secret")))),
        ("tampered body", 401, tweak(lambda b, i, h: (b.replace(b"Q4", b"Q5"), h))),
        ("stale timestamp", 401, tweak(lambda b, i, h: (b, signed(b, i, at=time.time() - 301)))),
        ("future timestamp", 401, tweak(lambda b, i, h: (b, signed(b, i, at=time.time() + 301)))),
        ("short signature", 401, tweak(lambda b, i, h: (b, h | {"webhook-signature": "v1,AAAA"}))),
        ("signature of another id", 401, tweak(lambda b, i, h: (b, h | {"webhook-id": "msg_x"}))),
        ("non-numeric timestamp", 401,
         tweak(lambda b, i, h: (b, h | {"webhook-timestamp": "yesterday"}))),
        ("not JSON", 400, raw(b"{oops")),
        ("a JSON list", 400, raw(b"[1, 2]")),
        ("no type", 400, raw(json.dumps({"id": "x", "data": {}}).encode())),
        ("data not an object", 400,
         raw(json.dumps({"type": "composio.trigger.message", "data": 3}).encode())),
        ("deeply nested", 400, raw(nested)),
        ("unknown event type", 400, raw(unknown)),
        ("text/plain body", 415, tweak(lambda b, i, h: (b, h | {"content-type": "text/plain"}))),
        ("no content type", 415,
         tweak(lambda b, i, h: (b, {k: v for k, v in h.items() if k != "content-type"}))),
        ("2 MiB body", 413, raw(huge)),
    ]  # fmt: skip
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):

        def without(b: bytes, i: str, h: dict, header: str = header) -> tuple[bytes, dict]:
            return b, {k: v for k, v in h.items() if k != header}

        cases.append((f"missing {header}", 401, tweak(without)))
    for label, odd_id in [("id with a space", "msg 1"), ("id with a semicolon", "msg;drop"),
                          ("id of 300 characters", "m" * 300)]:  # fmt: skip
        cases.append((label, 401, tweak(lambda b, i, h, odd_id=odd_id: (b, signed(b, odd_id)))))
    return cases


@pytest.mark.parametrize(("label", "status", "build"), _hostile(),
                         ids=[case[0] for case in _hostile()])  # fmt: skip
def test_bad_deliveries_get_their_status_and_store_nothing(settings, webhook, label, status, build):
    body, headers = build()
    answer = httpx.post(webhook, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert count(settings) == 0
    assert get(webhook.removesuffix("/webhooks/composio") + "/healthz").status_code == 200


def test_a_flood_of_bad_requests_leaves_the_inbox_empty(settings, webhook):
    body, webhook_id = event_body()
    bad = signed(body, webhook_id, secret="guess")
    with httpx.Client() as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post(webhook, content=body, headers=bad),
                                range(200)))  # fmt: skip
    assert {answer.status_code for answer in answers} == {401}
    assert count(settings) == 0


def test_ten_concurrent_deliveries_of_one_event_store_it_once(settings, webhook):
    body, webhook_id = event_body()
    headers = signed(body, webhook_id)
    with httpx.Client() as client, ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: client.post(webhook, content=body, headers=headers),
                                range(10)))  # fmt: skip
    assert [answer.status_code for answer in answers] == [200] * 10
    assert sorted(answer.json()["status"] for answer in answers) == ["accepted"] + ["duplicate"] * 9
    assert count(settings) == 1


def test_the_webhook_refuses_to_start_without_a_secret(settings, tmp_path):
    env = settings_env(settings, COMPOSIO_WEBHOOK_SECRET="")
    process, _ = serve_webhook(env, tmp_path / "nosecret.log")
    assert process.wait(timeout=30) != 0
    assert "COMPOSIO_WEBHOOK_SECRET is not set" in (tmp_path / "nosecret.log").read_text()


def test_our_signatures_are_the_ones_the_composio_sdk_accepts():
    from composio import Composio

    body, webhook_id = event_body()
    headers = signed(body, webhook_id)
    sdk = Composio(api_key="test", allow_tracking=False)
    verified = sdk.triggers.verify_webhook(
        id=webhook_id, payload=body.decode(), secret=SECRET,
        signature=headers["webhook-signature"], timestamp=headers["webhook-timestamp"],
    )  # fmt: skip
    assert verified["raw_payload"]["id"] == webhook_id


def test_events_received_while_no_worker_runs_are_executed_when_it_starts(
    settings, session, agent, target, webhook, consumer
):
    template = "New email from {emailFrom}: {emailSubject}."
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat=template)
    triggers.create_trigger(session, "Email triage", fields, settings, utcnow())
    sent = []
    for _ in range(5):
        body, webhook_id = event_body()
        assert (
            httpx.post(webhook, content=body, headers=signed(body, webhook_id)).status_code == 200
        )
        sent.append(webhook_id)
    assert count(settings, Run) == 0  # nothing runs without a worker

    consumer()

    def finished() -> list[Run]:
        with read_session(settings.database_url) as db:
            done = db.exec(select(Run).where(Run.finished_at.is_not(None))).all()
        return done if len(done) == len(sent) else []

    runs = wait_until(finished, what="a run for every event")
    assert sorted(run.event_id for run in runs) == sorted(sent)
    assert {run.status for run in runs} == {"succeeded"}
    assert {run.input for run in runs} == {
        "New email from Jane Doe <jane@example.com>: Q4 planning doc."
    }
    assert len(target.received("/v1/chat/completions")) == len(sent)
