"""The webhook process as deployed (uvicorn, real sockets): what it accepts, what it
refuses and stores nothing for, and — with a real consumer — the runs it leads to."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from sqlmodel import func, select

from core.access import credentials
from core.access.secrets import new_secret_key
from core.automations import triggers
from core.automations.triggers import TriggerFields
from core.composio import setup
from core.events.deliveries import InboxWriter, Rejected
from core.events.envelope import parse
from core.store.db import get_engine, read_session
from core.store.db import session as open_session
from core.store.models import Run, WebhookEvent, utcnow
from support.cli import planner_cli
from support.delivery import SECRET, event_body, signed
from support.processes import get, serve_webhook, settings_env, webhook_process
from support.stored import snapshot
from support.waiting import wait_until
from webhook.app import STATUSES

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


@pytest.fixture(scope="module")
def shared_webhook(module_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One webhook process (and database) for the tests that only need *a* webhook to
    send to: each compares the database around its own requests, or counts the rows of
    its own unique ids, so they pass in any order; a process of their own would cost each
    seconds. Tests about the process itself (its start, the secret it reads) start theirs."""
    log = tmp_path_factory.mktemp("shared_webhook") / "webhook.log"
    with webhook_process(module_settings, log) as url:
        yield url


def count(settings, model=WebhookEvent, *where) -> int:
    """Rows of `model` (those matching `where`, when given)."""
    with read_session(settings.database_url) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_a_signed_delivery_is_stored_once(module_settings, shared_webhook):
    before = count(module_settings)
    body, webhook_id = event_body()
    first = httpx.post(shared_webhook, content=body, headers=signed(body, webhook_id))
    again = httpx.post(shared_webhook, content=body, headers=signed(body, webhook_id))
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    with read_session(module_settings.database_url) as session:
        [stored] = session.exec(select(WebhookEvent).where(WebhookEvent.id == webhook_id)).all()
    assert (stored.id, stored.trigger_slug, stored.type) == (
        webhook_id, "GMAIL_NEW_GMAIL_MESSAGE", "composio.trigger.message"
    )  # fmt: skip
    assert count(module_settings) == before + 1


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

    def envelope(**fields) -> Callable[[], tuple[bytes, dict]]:
        return raw(json.dumps({"type": "composio.trigger.message", "data": {}} | fields).encode())

    def text(body: str) -> Callable[[], tuple[bytes, dict]]:
        return raw(body.encode())

    def header(name: str, value: bytes) -> Callable[[], tuple[bytes, dict]]:
        return tweak(lambda b, i, h: (b, h | {name: value}))

    huge = b'{"type": "composio.trigger.message", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    nested = ('{"type": "composio.x", "data": ' + '{"a": ' * 200 + "1" + "}" * 201).encode()
    unknown = json.dumps({"id": "x", "type": "stripe.charge.failed", "data": {}}).encode()
    cases = [
        ("wrong secret", 401, tweak(lambda b, i, h: (b, signed(b, i, secret="not-the-secret")))),
        ("tampered body", 401, tweak(lambda b, i, h: (b.replace(b"Q4", b"Q5"), h))),
        ("stale timestamp", 401, tweak(lambda b, i, h: (b, signed(b, i, at=time.time() - 301)))),
        # A minute past the tolerance: at +301 s a delivery that took a second to arrive on
        # a loaded machine was within it again, and was accepted.
        ("future timestamp", 401, tweak(lambda b, i, h: (b, signed(b, i, at=time.time() + 360)))),
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
        ("superscript timestamp", 401, header("webhook-timestamp", "¹".encode())),
        ("latin-1 timestamp", 401, header("webhook-timestamp", "17²".encode("latin-1"))),
        ("400-digit timestamp", 401, header("webhook-timestamp", b"9" * 400)),
        ("5000-digit timestamp", 401, header("webhook-timestamp", b"1" * 5000)),
        ("signature with é", 401, header("webhook-signature", "v1,é=".encode())),
        ("webhook-id with é", 401,
         lambda: (b"{}", signed(b"{}", "msg_x") | {"webhook-id": "msg_é".encode()})),
        ("metadata not an object", 400, envelope(metadata="x")),
        ("trigger_slug an object", 400, envelope(metadata={"trigger_slug": {"a": 1}})),
        ("trigger_id a number", 400, envelope(metadata={"trigger_id": 7})),
        ("user_id a list", 400, envelope(metadata={"user_id": ["u"]})),
        ("data.id an object", 400, envelope(data={"id": {"a": 1}})),
        ("disabled with data.id an object", 400,
         envelope(type="composio.trigger.disabled", data={"id": {"a": 1}})),
        ("disabled_reason an object", 400,
         envelope(type="composio.trigger.disabled", data={"id": "ti_1", "disabled_reason": {}})),
        ("NaN", 400, text('{"type": "composio.trigger.message", "data": {"x": NaN}}')),
        ("Infinity", 400, text('{"type": "composio.trigger.message", "data": {"x": -Infinity}}')),
        ("lone surrogate", 400,
         text('{"type": "composio.trigger.message", "data": {"x": "\\ud800"}}')),
        ("lone surrogate in a key", 400,
         text('{"type": "composio.trigger.message", "data": {"\\udc00": 1}}')),
        ("NUL", 400, text('{"type": "composio.trigger.message", "data": {"x": "a\\u0000"}}')),
        ("lone surrogate as raw UTF-8 bytes", 400,
         raw(b'{"type": "composio.trigger.message", "data": {"x": "\xed\xa0\x80"}}')),
        ("lone surrogate in a UTF-16 body", 400,
         raw('{"type": "composio.trigger.message", "data": {"x": "\ud800"}}'.encode(
             "utf-16-le", "surrogatepass"))),
        ("a key given twice", 400,
         text('{"type": "composio.trigger.message", "data": {"id": "a", "id": "b"}}')),
        ("type given twice", 400,
         text('{"type": "composio.trigger.disabled", "data": {}, '
              '"type": "composio.trigger.message"}')),
        ("nested 65 deep", 400,
         text('{"type": "composio.trigger.message", "data": ' + "[" * 65 + "]" * 65 + "}")),
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
def test_bad_deliveries_get_their_status_and_store_nothing(
    module_settings, shared_webhook, label, status, build
):
    body, headers = build()
    before = snapshot(module_settings.database_url)
    answer = httpx.post(shared_webhook, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert snapshot(module_settings.database_url) == before
    assert get(shared_webhook.removesuffix("/webhooks/composio") + "/healthz").status_code == 200


def test_a_key_given_twice_is_named_in_the_refusal():
    """Either value would silently win (json keeps the last): the API refuses it too."""
    body = (
        b'{"type": "composio.trigger.message", "metadata": {"trigger_id": "ti_a"}, '
        b'"data": {}, "metadata": {"trigger_id": "ti_b"}}'
    )
    with pytest.raises(Rejected) as refused:
        parse(body)
    assert (STATUSES[refused.value.reason], str(refused.value)) == (
        400,
        "the event gives 'metadata' twice",
    )


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_method_on_the_delivery_path_is_405_and_stores_nothing(
    module_settings, shared_webhook, method
):
    body, webhook_id = event_body()
    before = snapshot(module_settings.database_url)
    answer = httpx.request(method, shared_webhook, content=body, headers=signed(body, webhook_id))
    assert (answer.status_code, answer.headers["allow"]) == (405, "POST")
    assert answer.json() == {"error": "method not allowed: POST a Composio event"}
    assert snapshot(module_settings.database_url) == before


def test_an_unknown_path_is_404(shared_webhook):
    assert httpx.post(shared_webhook + "/extra", content=b"{}").status_code == 404


def test_a_flood_of_bad_requests_leaves_the_inbox_as_it_was(module_settings, shared_webhook):
    body, webhook_id = event_body()
    bad = signed(body, webhook_id, secret="guess")
    before = snapshot(module_settings.database_url)
    with httpx.Client() as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post(shared_webhook, content=body, headers=bad),
                                range(200)))  # fmt: skip
    assert {answer.status_code for answer in answers} == {401}
    assert snapshot(module_settings.database_url) == before


def test_ten_concurrent_deliveries_of_one_event_store_it_once(module_settings, shared_webhook):
    before = count(module_settings)
    body, webhook_id = event_body()
    headers = signed(body, webhook_id)
    with httpx.Client() as client, ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(
            lambda _: client.post(shared_webhook, content=body, headers=headers), range(10)
        ))  # fmt: skip
    assert [answer.status_code for answer in answers] == [200] * 10
    assert sorted(answer.json()["status"] for answer in answers) == ["accepted"] + ["duplicate"] * 9
    assert count(module_settings, WebhookEvent, WebhookEvent.id == webhook_id) == 1
    assert count(module_settings) == before + 1


def test_without_a_secret_it_starts_refuses_and_takes_the_stored_one_without_a_restart(
    connected, composio, tmp_path
):
    """No secret anywhere: the webhook starts, answers 401 "webhook not set up yet" (said
    once in its log, not per delivery), and accepts signed deliveries once *Connect*
    stored Composio's secret — the same process, not restarted."""
    config = replace(connected, composio_webhook_secret="")
    log = tmp_path / "webhook.log"
    process, health = serve_webhook(settings_env(config), log)
    url = health.removesuffix("/healthz") + "/webhooks/composio"
    try:
        assert wait_until(lambda: get(health), what="the webhook process").status_code == 200
        body, webhook_id = event_body()
        for _ in range(3):
            answer = httpx.post(url, content=body, headers=signed(body, webhook_id))
            assert (answer.status_code, answer.json()) == (401, {"error": "webhook not set up yet"})
        assert count(config) == 0

        with open_session(config.database_url) as session:
            assert setup.connect(session, config).secret_stored
        secret = composio.subscription["secret"]

        def accepted() -> httpx.Response | None:
            answer = httpx.post(url, content=body, headers=signed(body, webhook_id, secret=secret))
            return answer if answer.status_code != 401 else None

        answer = wait_until(accepted, what="the stored secret to be used")
        assert (answer.status_code, answer.json()["status"]) == (200, "accepted")
    finally:
        process.terminate()
        process.wait(timeout=10)
    said = log.read_text()
    assert said.count("No Composio webhook signing secret yet") == 1
    assert "refused delivery" not in said


def test_a_secret_in_the_environment_wins_over_the_stored_one(settings, webhook):
    """A process of its own: the secret it stores must reach no other test's webhook."""
    with open_session(settings.database_url) as session:
        credentials.store(session, settings, credentials.COMPOSIO_WEBHOOK_SECRET, "whsec_stored")
    body, webhook_id = event_body()
    stored = httpx.post(webhook, content=body, headers=signed(body, webhook_id, "whsec_stored"))
    assert stored.status_code == 401
    assert httpx.post(webhook, content=body, headers=signed(body, webhook_id)).status_code == 200


def test_a_stored_secret_that_cannot_be_opened_is_503_and_said_once(settings, tmp_path):
    """Composio retries a 503: deliveries wait until PLANNER_SECRET_KEY is put right."""
    with open_session(settings.database_url) as session:
        credentials.store(session, settings, credentials.COMPOSIO_WEBHOOK_SECRET, SECRET)
    config = replace(settings, composio_webhook_secret="", secret_key=new_secret_key())
    log = tmp_path / "webhook.log"
    process, health = serve_webhook(settings_env(config), log)
    try:
        wait_until(lambda: get(health), what="the webhook process")
        body, webhook_id = event_body()
        url = health.removesuffix("/healthz") + "/webhooks/composio"
        answers = [httpx.post(url, content=body, headers=signed(body, webhook_id)) for _ in "ab"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [a.status_code for a in answers] == [503, 503]
    assert count(settings) == 0
    assert (
        log.read_text().count(
            "cannot read the stored webhook secret: The saved keys cannot be opened"
        )
        == 1
    )


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


def test_healthz_says_database_unavailable_without_the_drivers_words(settings, tmp_path):
    hidden = "postgresql+psycopg://secret_user:pw@127.0.0.1:1/secret_db"
    env = settings_env(settings, DATABASE_URL=hidden)
    process, health = serve_webhook(env, tmp_path / "nodb.log")
    try:
        answer = wait_until(lambda: get(health), what="the webhook process")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert answer.status_code == 503
    assert answer.json() == {"status": "error", "database": "database unavailable or not set up"}


def _chat_trigger(session, settings, name: str, user_id: str, instance: str | None = None):
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="{subject}",
                           user_id=user_id)  # fmt: skip
    created = triggers.create_trigger(session, name, fields, settings, utcnow())
    created.composio_trigger_id = instance
    session.add(created)
    session.commit()
    return created


def _deliver(webhook: str, body: bytes, webhook_id: str) -> dict:
    answer = httpx.post(webhook, content=body, headers=signed(body, webhook_id))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _settled(settings, ids: list[str]) -> dict[str, WebhookEvent]:
    with read_session(settings.database_url) as db:
        events = {e.id: e for e in db.exec(select(WebhookEvent)) if e.id in ids}
    pending = [e for e in events.values() if e.status == "pending"]
    return events if len(events) == len(ids) and not pending else {}


def test_an_event_reaches_only_the_triggers_it_belongs_to(
    settings, session, agent, target, webhook, consumer
):
    mine = _chat_trigger(session, settings, "Mine", "user-42", instance="ti_mine")
    _chat_trigger(session, settings, "Same user, local", "user-42")
    _chat_trigger(session, settings, "Other user", "user-7")
    consumer()
    sent = {
        "registered": event_body(instance="ti_mine", user="user-42"),
        "unknown instance": event_body(instance="ti_someone_elses", user="user-9"),
        "no instance": event_body(user="user-7"),
        "no instance, unknown user": event_body(user="user-9"),
    }
    for body, webhook_id in sent.values():
        _deliver(webhook, body, webhook_id)
    ids = {label: webhook_id for label, (_, webhook_id) in sent.items()}
    events = wait_until(lambda: _settled(settings, list(ids.values())), what="every event")
    with read_session(settings.database_url) as db:
        runs = {(run.event_id, run.trigger_id) for run in db.exec(select(Run))}
        other = triggers.find_trigger(db, "Other user")
    assert runs == {(ids["registered"], mine.id), (ids["no instance"], other.id)}
    unknown = events[ids["unknown instance"]]
    assert (unknown.status, unknown.note) == (
        "unmatched", "No trigger here is Composio instance ti_someone_elses. Started nothing."
    )  # fmt: skip
    assert events[ids["no instance, unknown user"]].status == "unmatched"


def test_the_same_message_announced_again_starts_nothing_and_is_shown(
    settings, session, agent, target, webhook, consumer, monkeypatch, capsys
):
    _chat_trigger(session, settings, "Mine", "user-42", instance="ti_mine")
    consumer()
    body, first_id = event_body(instance="ti_mine", user="user-42")
    again_id = f"msg_{uuid.uuid4()}"
    again = json.dumps(json.loads(body) | {"id": again_id}).encode()
    assert _deliver(webhook, body, first_id)["status"] == "accepted"
    assert _deliver(webhook, again, again_id)["status"] == "duplicate"
    assert _deliver(webhook, again, again_id)["status"] == "duplicate"
    wait_until(lambda: _settled(settings, [first_id]), what="the first announcement")
    wait_until(lambda: target.received("/v1/chat/completions"), what="the agent call")
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("events", "--json") == 0
    shown = {event["id"]: event for event in json.loads(capsys.readouterr().out)}
    assert sorted(shown) == sorted([first_id, again_id])
    assert (shown[first_id]["status"], shown[again_id]["status"]) == ("dispatched", "duplicate")
    assert (
        shown[again_id]["note"]
        == f"The same event as {first_id}, announced again; started nothing."
    )
    assert shown[again_id]["runs"] == []
    assert count(settings, Run) == 1


def test_a_row_the_database_refuses_fails_alone_in_its_batch(settings):
    """The group commit's batch is retried row by row: only the refused row's delivery
    gets the error (503), the others of its transaction are stored."""
    writer = InboxWriter(settings.database_url, lambda ids: None)
    envelopes = [parse(event_body()[0]) for _ in range(21)]
    unstorable = replace(envelopes.pop(), trigger_slug="GMAIL\ud800")  # past the envelope check
    with open_session(settings.database_url) as blocker:
        # Holds SQLite's write lock, and on PostgreSQL the conflict on this id, so the
        # writer waits while the deliveries below queue up into one batch.
        blocker.add(WebhookEvent(id="msg_blocker", type="composio.trigger.message"))
        blocker.flush()
        first = writer.submit("msg_blocker", envelopes.pop(), utcnow())
        good = [writer.submit(f"msg_{n}", envelope, utcnow()) for n, envelope in
                enumerate(envelopes)]  # fmt: skip
        bad = writer.submit("msg_bad", unstorable, utcnow())
        blocker.commit()
    assert [done.result(timeout=30) for done in good] == [True] * len(good)
    assert first.result(timeout=30) is False
    assert bad.exception(timeout=30) is not None
    assert count(settings) == 1 + len(good)


def test_a_lone_delivery_goes_on_at_once_and_a_stream_in_groups(settings):
    """The first event after a quiet spell is handed to the worker alone, at once; the
    ones committed after it within `hand_on_every` go together, once each."""
    handed: list[list[str]] = []
    writer = InboxWriter(settings.database_url, handed.append, hand_on_every=2.0)
    envelopes = [parse(event_body()[0]) for _ in range(11)]
    assert writer.submit("msg_lone", envelopes[0], utcnow()).result(timeout=30) is True
    wait_until(lambda: handed, what="the lone event handed on")
    assert handed == [["msg_lone"]]
    stream = [f"msg_{n}" for n in range(1, 11)]
    for event_id, envelope in zip(stream, envelopes[1:], strict=True):
        assert writer.submit(event_id, envelope, utcnow()).result(timeout=30) is True
    wait_until(lambda: len(handed) > 1, what="the stream handed on")
    writer.close()
    assert [sorted(ids) for ids in handed] == [["msg_lone"], sorted(stream)]


def test_a_group_is_handed_on_in_the_order_its_deliveries_arrived(settings):
    """The worker turns a group into runs in the order it is given: the order of arrival,
    so a trigger's events are called in the order they came (ids are random)."""
    handed: list[list[str]] = []
    writer = InboxWriter(settings.database_url, handed.append)
    arrival = ["msg_c", "msg_a", "msg_b"]
    with open_session(settings.database_url) as blocker:
        blocker.add(WebhookEvent(id="msg_blocker", type="composio.trigger.message"))
        blocker.flush()  # holds the write lock: the three wait and go as one batch
        waiting = [writer.submit(event_id, parse(event_body()[0]), utcnow()) for event_id in
                   arrival]  # fmt: skip
        blocker.commit()
    assert [done.result(timeout=30) for done in waiting] == [True] * 3
    writer.close()
    assert [event_id for ids in handed for event_id in ids] == arrival


def test_a_group_commit_keeps_its_temporary_data_in_memory(settings):
    """A multi-row insert's statement journal would otherwise be a file that every batch
    creates and deletes in /var/tmp."""
    if get_engine(settings.database_url).dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    with get_engine(settings.database_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
