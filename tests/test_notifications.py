"""Telling someone when a job or trigger fails: channels (Apprise URLs) tested against a
real SMTP server on 127.0.0.1 (aiosmtpd), a local webhook and one that trickles its
answer, the outbox, the worker."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlmodel import Session, select

from core.automations import jobs
from core.automations.jobs import JobFields
from core.errors import NotFoundError, ValidationError
from core.notifications import alerts, channels
from core.store.db import read_session
from core.store.models import Notification, NotificationChannel, Run, ScheduledJob, utcnow
from queueing import queue_for
from support.cli import planner_cli
from support.fakes import Reply, TricklingTarget
from support.flights import execute_run
from support.processes import Consumer, free_port
from support.screens import settings_page, texts
from support.stored import everything_stored, snapshot
from support.waiting import wait_until
from worker.flight import STOP_MARGIN_SECONDS

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

CHAT = "/v1/chat/completions"
PASSWORD = "s3cret-smtp-password"
DEADLINE = 5.0  # a send's deadline in these tests (the worker's is SEND_DEADLINE_SECONDS)


@dataclass
class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps what it is sent."""

    port: int
    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        text = envelope.content.decode("utf-8", "replace")
        self.received.append(message_from_string(text, policy=policy.default))
        return "250 OK"

    @property
    def url(self) -> str:
        return (f"mailto://ops:{PASSWORD}@127.0.0.1:{self.port}?from=planner@example.com"
                "&to=ops@example.com&mode=insecure")  # fmt: skip

    def bodies(self) -> list[str]:
        return [mail.get_body(("plain",)).get_content() for mail in self.received]


def only_our_password(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """The SMTP server's login check: the channel's password, nothing else."""
    given = auth_data.password.decode() if isinstance(auth_data, LoginPassword) else ""
    return AuthResult(success=given == PASSWORD)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    server = Controller(box, hostname="127.0.0.1", port=box.port, auth_require_tls=False,
                        authenticator=only_our_password)  # fmt: skip
    server.start()
    yield box
    server.stop()


@pytest.fixture
def told(settings, session: Session, agent, mailbox: Mailbox) -> ScheduledJob:
    """A job with no retries of its own that tells the mailbox about failures and recoveries."""
    channels.add_channel(session, settings, "Ops mail", mailbox.url, utcnow())
    fields = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi", retries=0,
                       notify=["Ops mail"])  # fmt: skip
    return jobs.create_job(session, "Briefing", fields, utcnow(), "Europe/Berlin")


def run_once(settings, session: Session, job: ScheduledJob, queue) -> None:
    run = jobs.run_job_now(session, job.id, queue, utcnow())
    execute_run(run.id, queue, settings)


@pytest.fixture
def trickling() -> Iterator[TricklingTarget]:
    """A webhook that answers one byte every 0.2 s for as long as the caller reads."""
    fake = TricklingTarget(part="body", interval=0.2).start()
    yield fake
    fake.stop()


def hook(server, path: str) -> str:
    """The Apprise URL of a JSON webhook on a local server."""
    return server.url.replace("http://", "json://") + path


def job_telling(session, settings, name: str, *channel_names: str) -> ScheduledJob:
    """A job with no retries of its own that tells the channels, in this order, when it
    fails or works again."""
    fields = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi", retries=0,
                       notify=list(channel_names))  # fmt: skip
    return jobs.create_job(session, name, fields, utcnow(), "UTC")


def outbox(settings) -> dict[int, list[Notification]]:
    """The outbox's messages by channel id, in order."""
    by_channel: dict[int, list[Notification]] = {}
    with read_session(settings.database_url) as db:
        for message in db.exec(select(Notification).order_by(Notification.id)):
            by_channel.setdefault(message.channel_id, []).append(message)
    return by_channel


def test_a_failure_is_told_once_then_the_recovery(settings, session, told, target, mailbox, queue):
    settings = replace(settings, public_base_url="https://planner.example.com")
    target.script(CHAT, Reply(401, {"error": "bad key"}), Reply(500, {"error": "down"}))
    run_once(settings, session, told, queue)
    assert alerts.send_due(settings, utcnow()) == 1
    [mail] = mailbox.received
    assert mail["Subject"] == "Planner: Briefing failed"
    [body] = mailbox.bodies()
    assert "Job Briefing failed at" in body and "(Berlin)" in body
    assert "What went wrong:" in body and "(HTTP 401)" in body
    assert f"Open it in Planner: https://planner.example.com/?job={told.key}" in body

    run_once(settings, session, told, queue)  # failing still: not told again
    assert alerts.send_due(settings, utcnow()) == 0 and len(mailbox.received) == 1
    run_once(settings, session, told, queue)  # works again
    assert alerts.send_due(settings, utcnow()) == 1
    assert mailbox.received[1]["Subject"] == "Planner: Briefing works again"
    assert PASSWORD not in everything_stored(settings)  # the URL is stored encrypted


def test_a_webhook_channel_gets_the_message_as_json(settings, session, agent, target, queue):
    hook = target.url.replace("http://", "json://") + "/alerts"
    channels.add_channel(session, settings, "Hook", hook, utcnow())
    fields = JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="Hi", retries=0,
                       notify=["Hook"], notify_on=["failure"])  # fmt: skip
    job = jobs.create_job(session, "Report", fields, utcnow(), "UTC")
    target.script(CHAT, Reply(400, {"error": "model not found"}))
    run_once(settings, session, job, queue)
    assert alerts.send_due(settings, utcnow()) == 1
    [posted] = target.received("/alerts")
    assert posted.body["title"] == "Planner: Report failed"
    assert "model not found" in posted.body["message"]


def test_a_failure_is_sent_as_one_and_a_recovery_as_a_success(settings, session, agent, target,
                                                               queue):  # fmt: skip
    """Apprise's notify type, which Slack, Discord and the like show as red or green."""
    channels.add_channel(session, settings, "Hook", hook(target, "/alerts"), utcnow())
    job = job_telling(session, settings, "Report", "Hook")
    target.script(CHAT, Reply(400, {"error": "model not found"}))
    run_once(settings, session, job, queue)
    run_once(settings, session, job, queue)  # works again
    assert alerts.send_due(settings, utcnow()) == 2
    told = [(posted.body["title"], posted.body["type"]) for posted in target.received("/alerts")]
    assert told == [("Planner: Report failed", "failure"), ("Planner: Report works again",
                                                            "success")]  # fmt: skip
    assert channels.test_channel(session, settings, "Hook", utcnow()).ok
    assert target.received("/alerts")[-1].body["type"] == "info"


def test_a_channel_that_fails_is_tried_again_shown_red_then_given_up(
    settings, session, told, target, queue, page
):
    channel = session.exec(select(NotificationChannel)).one()
    channel.url_secret = channels.secrets.encrypt(settings, f"json://127.0.0.1:{free_port()}/x")
    session.add(channel)
    session.commit()
    target.script(CHAT, Reply(401, {"error": "bad key"}))
    run_once(settings, session, told, queue)

    moment = utcnow()
    for attempt in range(1, alerts.MAX_ATTEMPTS + 1):
        assert alerts.send_due(settings, moment) == 0
        with read_session(settings.database_url) as db:
            [message] = db.exec(select(Notification)).all()
        refused = "A Connection error occurred sending JSON notification to 127.0.0.1."
        assert (message.attempts, message.error) == (attempt, refused)  # in plain words
        moment = message.due_at  # the next try, each a longer wait
    assert message.gave_up_at is not None
    assert alerts.send_due(settings, moment + timedelta(days=1)) == 0  # never again
    app = page(settings_page)
    said = texts(app)
    assert ":red[●] **Ops mail**" in said and "could not send" in said.lower()


def test_the_worker_sends_them(settings, session, told, target, mailbox, consumer):
    target.script(CHAT, Reply(401, {"error": "bad key"}))
    consumer()
    jobs.run_job_now(session, told.id, queue_for(settings),
                     utcnow())  # fmt: skip
    wait_until(lambda: mailbox.received, timeout=30, what="the failure mail")
    assert mailbox.received[0]["Subject"] == "Planner: Briefing failed"


def test_a_daily_digest_once_a_day_after_nine(settings, session, told, target, mailbox, queue):
    jobs.update_job(session, told.id, JobFields(notify_on=["failure", "digest"]), utcnow())
    run_once(settings, session, told, queue)  # it succeeds
    morning = datetime(2026, 11, 27, 8, 59, tzinfo=UTC)  # PLANNER_TIMEZONE is UTC here
    assert alerts.make_digests(session, settings, morning) == 0
    assert alerts.make_digests(session, settings, utcnow().replace(hour=9, minute=1)) == 1
    assert alerts.make_digests(session, settings, utcnow().replace(hour=18)) == 0
    assert alerts.send_due(settings, utcnow() + timedelta(days=1)) == 1
    assert "Job Briefing: 1 succeeded, 0 failed — fine." in mailbox.bodies()[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Give the channel's address"),
        ("not a url", "one line without spaces"),
        ("nonsense://x", "not a notification address Apprise knows"),
        ("https://example.com/" + "x" * 3000, "at most 2000 characters"),
    ],
)
def test_a_bad_channel_is_refused_and_changes_nothing(settings, session, url, message):
    before = snapshot(settings.database_url)
    with pytest.raises(ValidationError, match=message):
        channels.add_channel(session, settings, "Ops", url, utcnow())
    session.rollback()
    assert snapshot(settings.database_url) == before


def test_channels_from_a_terminal(settings, session, agent, mailbox, monkeypatch, capsys):
    with planner_cli(settings, monkeypatch) as cli:
        assert cli("notify", "add", "Ops mail", "--url", mailbox.url, "--json") == 0
        shown = capsys.readouterr().out
        assert PASSWORD not in shown and json.loads(shown)["service"] == "E-Mail"
        assert cli("notify", "test", "Ops mail") == 0
        assert capsys.readouterr().out == "Sent a test message.\n"
        assert mailbox.received[0]["Subject"] == "Planner: a test message"
        assert cli("jobs", "add", "Briefing", "--agent", "Assistant", "--schedule", "0 9 * * *",
                   "--chat", "Hi", "--notify", "Ops mail", "--json") == 0  # fmt: skip
        job = json.loads(capsys.readouterr().out)
        assert job["notify_on"] == ["failure", "recovery"] and len(job["notify_channel_ids"]) == 1
        assert cli("jobs", "update", "Briefing", "--notify", "Nobody") == 2
        assert "There is no channel named 'Nobody'." in capsys.readouterr().err
        assert cli("jobs", "update", "Briefing", "--notify-on", "sometimes") == 2
        assert "Choose from failure, recovery and digest." in capsys.readouterr().err
        assert cli("notify", "list") == 0
        assert "Ops mail  (E-Mail)  working" in capsys.readouterr().out
        assert cli("notify", "rm", "Ops mail") == 0
    with read_session(settings.database_url) as db:
        assert db.exec(select(ScheduledJob)).one().notify_channel_ids == []
    with pytest.raises(NotFoundError):
        channels.find_channel(session, "Ops mail")


def test_a_trickling_channel_is_ended_at_its_deadline_and_never_holds_up_another(
    settings, session, agent, target, trickling, queue
):
    slow = channels.add_channel(session, settings, "Slow hook", hook(trickling, "/slow"), utcnow())
    good = channels.add_channel(session, settings, "Hook", hook(target, "/alerts"), utcnow())
    job = job_telling(session, settings, "Report", "Slow hook", "Hook")  # the slow one first
    target.script(CHAT, Reply(401, {"error": "bad key"}))
    run_once(settings, session, job, queue)

    moment = utcnow()
    with ThreadPoolExecutor(1) as sender:
        sending = sender.submit(alerts.send_due, settings, moment, DEADLINE)
        target.wait_for(lambda requests: any(r.path == "/alerts" for r in requests))
        # The good channel is told while the slow one is still being read from.
        assert trickling.finished_calls() == []
        assert sending.result() == 1
    wait_until(trickling.finished_calls, what="the slow send's socket to be closed")
    assert len(trickling.calls) == 1

    [late], [told] = outbox(settings)[slow.id], outbox(settings)[good.id]
    assert told.sent_at is not None and told.error is None
    reason = "No answer from the channel within 5 s."
    assert (late.sent_at, late.gave_up_at, late.attempts, late.error) == (None, None, 1, reason)
    # Tried again by the usual schedule: a minute after the attempt ended.
    assert moment + timedelta(seconds=DEADLINE) + alerts.FIRST_RETRY <= late.due_at
    assert late.due_at <= utcnow() + alerts.FIRST_RETRY
    with read_session(settings.database_url) as db:
        assert db.get(NotificationChannel, slow.id).last_error == reason  # red, with why
        assert db.get(NotificationChannel, good.id).last_error is None
    assert alerts.send_due(settings, late.due_at - timedelta(seconds=1), DEADLINE) == 0
    assert len(trickling.calls) == 1, "not tried again before its time"


def test_a_channels_messages_keep_their_order_when_one_has_to_wait_for_its_retry(
    settings, session, agent, target, queue
):
    channels.add_channel(session, settings, "Hook", hook(target, "/alerts"), utcnow())
    job = job_telling(session, settings, "Report", "Hook")
    target.script(CHAT, Reply(401, {"error": "bad key"}))
    run_once(settings, session, job, queue)  # fails: "Report failed"
    run_once(settings, session, job, queue)  # works again: "Report works again"
    target.script("/alerts", Reply(503, {"error": "busy"}))

    moment = utcnow()
    assert alerts.send_due(settings, moment, DEADLINE) == 0  # the first is refused …
    assert len(target.received("/alerts")) == 1  # … and the second waits behind it
    [first, second] = next(iter(outbox(settings).values()))
    assert (first.attempts, second.attempts, second.sent_at) == (1, 0, None)
    assert alerts.send_due(settings, first.due_at, DEADLINE) == 2
    titles = [posted.body["title"] for posted in target.received("/alerts")]
    assert titles == ["Planner: Report failed"] * 2 + ["Planner: Report works again"]


def test_a_worker_stays_free_while_a_channel_trickles_and_stops_in_its_time(
    settings, session, agent, target, trickling, queue, tmp_path
):
    """One worker thread: sending never holds it. SIGTERM while a send is open ends the
    send within PLANNER_HTTP_TIMEOUT_SECONDS (2 s here; the send's own deadline is 30 s)
    and the worker within that and STOP_MARGIN_SECONDS; the message is tried again at
    once, and the channel is not to blame."""
    slow = channels.add_channel(session, settings, "Slow hook", hook(trickling, "/slow"), utcnow())
    job = job_telling(session, settings, "Report", "Slow hook")
    target.script(CHAT, Reply(401, {"error": "bad key"}))
    run_once(settings, session, job, queue)  # the message is due: the worker sends at start
    other = jobs.create_job(session, "Other", JobFields(agent="Assistant", schedule="@daily",
                                                        chat="Hi"), utcnow(), "UTC")  # fmt: skip

    worker_settings = replace(settings, http_timeout_seconds=2)
    worker = Consumer(worker_settings, tmp_path / "worker.log", {"WORKER_THREADS": "1"}).start()
    try:
        wait_until(lambda: trickling.calls, timeout=60, what="the slow send to start")
        run = jobs.run_job_now(session, other.id, queue_for(settings), utcnow())  # fmt: skip

        def succeeded() -> bool:
            with read_session(settings.database_url) as db:
                return db.get(Run, run.id).status == "succeeded"

        wait_until(succeeded, timeout=60, what="a run while the channel trickles")
        assert trickling.finished_calls() == [], "the run did not wait for the send"

        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        worker.process.wait(timeout=worker_settings.http_timeout_seconds + STOP_MARGIN_SECONDS)
    finally:
        worker.stop()
    wait_until(trickling.finished_calls, what="the slow send's socket to be closed")
    [[message]] = outbox(settings).values()
    assert (message.sent_at, message.attempts, message.error) == (None, 0, None)
    assert message.due_at <= utcnow()  # due again at once, for another worker
    with read_session(settings.database_url) as db:
        assert db.get(NotificationChannel, slow.id).last_error is None
