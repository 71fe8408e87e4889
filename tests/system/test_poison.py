"""Poison among good work: a real webhook (uvicorn), a real worker (huey_consumer) and a
fake agent. Hostile deliveries sent together with good ones get their own refusal; rows
that cannot be processed fail alone; every good event runs exactly once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import sqlalchemy as sa
from sqlmodel import select

from core.automations import triggers
from core.automations.triggers import TriggerFields
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import WebhookEvent, utcnow
from support.delivery import event_body, signed
from support.processes import get, serve_webhook, settings_env
from support.waiting import wait_until

INSTANCE = "ti_poison_test"
USER = "user-42"


def _poison() -> list[tuple[str, int, bytes, dict]]:
    """(label, expected status, body, headers) of each kind of hostile delivery."""

    def envelope(**fields) -> bytes:
        return json.dumps({"type": "composio.trigger.message", "data": {}} | fields).encode()

    bodies = {
        "metadata not an object": envelope(metadata=[1]),
        "trigger_slug an object": envelope(metadata={"trigger_slug": {"a": 1}}),
        "trigger_id a number": envelope(metadata={"trigger_id": 7}),
        "user_id an object": envelope(metadata={"user_id": {}}),
        "data.id an object": envelope(data={"id": {"a": 1}}),
        "disabled, data.id an object": envelope(type="composio.trigger.disabled",
                                                data={"id": {"a": 1}}),
        "NaN": b'{"type": "composio.trigger.message", "data": {"x": NaN}}',
        "Infinity": b'{"type": "composio.trigger.message", "data": {"x": Infinity}}',
        "lone surrogate": b'{"type": "composio.trigger.message", "data": {"x": "\\ud800"}}',
        "NUL": b'{"type": "composio.trigger.message", "data": {"x": "\\u0000"}}',
    }  # fmt: skip
    cases = [(label, 400, body, signed(body, f"msg_poison_{n}"))
             for n, (label, body) in enumerate(bodies.items())]  # fmt: skip
    body, webhook_id = event_body(instance=INSTANCE, user=USER)
    odd_headers = [("superscript timestamp", "webhook-timestamp", "¹".encode()),
                   ("signature with é", "webhook-signature", "v1,é".encode())]  # fmt: skip
    for label, name, value in odd_headers:
        cases.append((label, 401, body, signed(body, webhook_id) | {name: value}))
    return cases


def _post(client: httpx.Client, url: str, body: bytes, headers: dict) -> int:
    return client.post(url, content=body, headers=headers).status_code


def test_poison_in_a_batch_never_blocks_or_mislabels_the_good_events(
    settings, session, agent, target, consumer, tmp_path
):
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="{subject}",
                           user_id=USER)  # fmt: skip
    trigger = triggers.create_trigger(session, "Email triage", fields, settings, utcnow())
    trigger.composio_trigger_id = INSTANCE
    session.add(trigger)
    session.commit()
    # The webhook's queue messages are lost (another queue): the good events can only run
    # through the tick's sweep, in the same batch as the poison rows below.
    lost_queue = f"sqlite:///{tmp_path / 'lost-queue.db'}"
    process, health = serve_webhook(
        settings_env(settings, QUEUE_URL=lost_queue), tmp_path / "webhook.log"
    )
    try:
        wait_until(lambda: get(health), what="the webhook process")
        url = health.removesuffix("/healthz") + "/webhooks/composio"
        good = [event_body(instance=INSTANCE, user=USER, data={"subject": f"good {n}"})
                for n in range(20)]  # fmt: skip
        poison = _poison()
        sends = [(body, signed(body, webhook_id)) for body, webhook_id in good]
        sends += [(body, headers) for _, _, body, headers in poison]
        with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda send: _post(client, url, *send), sends))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert answers[: len(good)] == [200] * len(good)
    refused = zip(poison, answers[len(good) :], strict=True)
    assert {label: status for (label, _, _, _), status in refused} == {
        label: status for label, status, _, _ in poison
    }

    # Rows an earlier version stored without checking them, older than the good ones.
    legacy = {
        "msg_legacy_disabled": {"type": "composio.trigger.disabled", "data": {"id": {"a": 1}}},
        "msg_legacy_message": {"type": "composio.trigger.message",
                               "metadata": {"trigger_slug": ["x"]}, "data": {}},
    }  # fmt: skip
    long_ago = utcnow() - timedelta(hours=1)
    with open_session(settings.database_url) as db:
        db.exec(sa.update(WebhookEvent).values(received_at=long_ago + timedelta(minutes=5)))
        for event_id, payload in legacy.items():
            db.add(WebhookEvent(id=event_id, type=payload["type"], payload=payload,
                                received_at=long_ago))  # fmt: skip
        db.commit()

    consumer()  # its first tick sweeps every pending row, the poison ones first

    def settled() -> dict[str, WebhookEvent]:
        with read_session(settings.database_url) as db:
            events = {event.id: event for event in db.exec(select(WebhookEvent))}
        return events if all(event.status != "pending" for event in events.values()) else {}

    events = wait_until(settled, timeout=60, what="no event left pending")
    assert {event_id: events[event_id].status for event_id in legacy} == dict.fromkeys(
        legacy, "failed"
    )
    assert "'data.id' is not a string" in events["msg_legacy_disabled"].note
    assert {events[webhook_id].status for _, webhook_id in good} == {"dispatched"}
    assert len(events) == len(good) + len(legacy)  # no refused delivery was stored

    def one_call_each() -> list:
        calls = target.received("/v1/chat/completions")
        return calls if len(calls) >= len(good) else []

    calls = wait_until(one_call_each, timeout=60, what="a call for every good event")
    keys = [call.headers["Idempotency-Key"] for call in calls]
    assert len(set(keys)) == len(keys) == len(good)
    subjects = sorted(call.body["messages"][-1]["content"] for call in calls)
    assert subjects == sorted(f"good {n}" for n in range(len(good)))
