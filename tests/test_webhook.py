"""The webhook process as deployed (uvicorn, real sockets): what it accepts, what it
refuses and stores nothing for, and — with a real consumer — the runs it leads to."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import func, select

from core import triggers
from core.db import read_session
from core.models import Run, WebhookEvent, utcnow
from core.triggers import TriggerFields
from tests.conftest import settings_env, wait_until
from tests.delivery import SECRET, event_body, signed
from tests.processes import get, serve_webhook


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


def _hostile() -> list[tuple[str, int, bytes, dict]]:
    body, webhook_id = event_body()
    good = signed(body, webhook_id)
    cases = [
        ("wrong secret", 401, body, signed(body, webhook_id, secret="not-the-secret")),
        ("tampered body", 401, body.replace(b"Q4", b"Q5"), good),
        ("stale timestamp", 401, body, signed(body, webhook_id, at=time.time() - 3600)),
        ("future timestamp", 401, body, signed(body, webhook_id, at=time.time() + 3600)),
        ("short signature", 401, body, good | {"webhook-signature": "v1,AAAA"}),
        ("signature of another id", 401, body, good | {"webhook-id": "msg_other"}),
        ("non-numeric timestamp", 401, body, good | {"webhook-timestamp": "yesterday"}),
    ]
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        cases.append((f"missing {header}", 401, body,
                      {k: v for k, v in good.items() if k != header}))  # fmt: skip
    for label, raw in [
        ("not JSON", b"{oops"),
        ("a JSON list", b"[1, 2]"),
        ("no type", json.dumps({"id": "x", "data": {}}).encode()),
        (
            "data not an object",
            json.dumps({"type": "composio.trigger.message", "data": 3}).encode(),
        ),
        ("deeply nested", ('{"type": "x", "data": ' + '{"a": ' * 200 + "1" + "}" * 201).encode()),
    ]:
        hostile_id = f"msg_{uuid.uuid4()}"
        cases.append((label, 400, raw, signed(raw, hostile_id)))
    unknown = json.dumps({"id": "x", "type": "stripe.charge.failed", "data": {}}).encode()
    cases.append(("unknown event type", 400, unknown, signed(unknown, f"msg_{uuid.uuid4()}")))
    cases.append(("text/plain body", 415, body, good | {"content-type": "text/plain"}))
    cases.append(("no content type", 415, body, {k: v for k, v in good.items()
                                                 if k != "content-type"}))  # fmt: skip
    for label, odd_id in [("id with a space", "msg 1"), ("id with a semicolon", "msg;drop"),
                          ("id of 300 characters", "m" * 300)]:  # fmt: skip
        cases.append((label, 401, body, signed(body, odd_id)))
    huge = b'{"type": "composio.trigger.message", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    cases.append(("2 MiB body", 413, huge, signed(huge, "msg_huge")))
    return cases


@pytest.mark.parametrize(("label", "status", "body", "headers"), _hostile(),
                         ids=[case[0] for case in _hostile()])  # fmt: skip
def test_bad_deliveries_get_their_status_and_store_nothing(settings, webhook, label, status, body,
                                                           headers):  # fmt: skip
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
