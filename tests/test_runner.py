"""One run's life against a real local HTTP server: what is sent, stored, retried, skipped."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select, update

from core.access import credentials
from core.agents import registry
from core.automations import jobs
from core.automations.jobs import JobFields
from core.running.attempts import retry_delay
from core.running.claims import CLAIMS_OF_JOB, claim_prepared, prepare
from core.running.outcomes import KEEP_RUNS
from core.store.db import get_engine, take_many_turns
from core.store.db import session as open_session
from core.store.models import Run, RunSource, RunStatus, ScheduledJob, utcnow
from support.fakes import Raw, Reply, TricklingTarget
from support.flights import execute_run
from support.stored import snapshot
from support.waiting import wait_until
from worker.flight import Flight

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def chat_job(session: Session, template: str = "Hello {jobName}", **extra) -> ScheduledJob:
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", chat=template, **extra)
    return jobs.create_job(session, "Briefing", fields, NOW, "Europe/Berlin")


def queued_run(session: Session, job: ScheduledJob, scheduled_for: datetime = NOW, **extra) -> Run:
    run = Run(
        job_id=job.id, source=RunSource.schedule, scheduled_for=scheduled_for, due_at=scheduled_for
    )
    for name, value in extra.items():
        setattr(run, name, value)
    session.add(run)
    session.commit()
    return run


def run_once(settings, queue, run_id: int, at: datetime = NOW) -> Run:
    execute_run(run_id, queue, settings, clock=lambda: at)
    with open_session(settings.database_url) as session:
        return session.get(Run, run_id)


def test_chat_run_sends_the_rendered_message_and_stores_the_reply(
    settings, session, agent, target, queue
):
    job = chat_job(session, "It is {dayOfWeek} {time} in {timezone}; run {runId}")
    run = queued_run(session, job, scheduled_for=datetime(2026, 11, 27, 8, 0, tzinfo=UTC))

    done = run_once(settings, queue, run.id, at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC))

    message = f"It is Friday 09:00 in Europe/Berlin; run {run.key}"
    assert (done.status, done.input, done.output) == ("succeeded", message, f"reply to: {message}")
    assert done.attempt == 1 and done.attempts[0]["outcome"] == "succeeded"
    [request] = target.received("/v1/chat/completions")
    assert request.body == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": message},
        ],
    }
    assert request.headers["Idempotency-Key"] == run.key
    session.expire_all()
    stored = session.get(ScheduledJob, job.id)
    assert (stored.last_outcome, stored.health) == ("succeeded", "green")


def test_continue_thread_sends_the_earlier_exchanges(settings, session, agent, target, queue):
    job = chat_job(session, "Note {runId}", thread="continue")
    first = queued_run(session, job, NOW)
    run_once(settings, queue, first.id)
    second = queued_run(session, job, NOW + timedelta(days=1))
    run_once(settings, queue, second.id, NOW + timedelta(days=1))

    sent = target.received("/v1/chat/completions")[-1].body["messages"]
    assert sent[1:] == [
        {"role": "user", "content": f"Note {first.key}"},
        {"role": "assistant", "content": f"reply to: Note {first.key}"},
        {"role": "user", "content": f"Note {second.key}"},
    ]


def test_http_backend_posts_agent_thread_message_and_source(settings, session, target, queue):
    registry.save_agent(session, "Assistant", "http", target.url + "/agent", "remote-7")
    target.script("/agent", Reply(200, {"reply": "Done."}))
    job = chat_job(session, "Do it")
    run = queued_run(session, job)

    done = run_once(settings, queue, run.id)

    assert done.output == "Done."
    [request] = target.received("/agent")
    assert request.body["agentId"] == "remote-7"
    assert request.body["threadId"] == f"run-{run.key}"
    assert request.body["message"] == "Do it"
    assert request.body["source"]["jobName"] == "Briefing"


def test_workflow_run_posts_input_and_source_with_the_bearer_token(
    settings, session, agent, target, queue, monkeypatch
):
    monkeypatch.setenv("ANALYZE_TOKEN", "s3cret")
    registry.save_workflow(session, "analyze", target.url + "/hooks/analyze", "ANALYZE_TOKEN")
    fields = JobFields(
        agent="Assistant", schedule="0 9 * * 1", workflow="analyze", input={"scope": "week"}
    )
    job = jobs.create_job(session, "Weekly", fields, NOW, "UTC")
    run = queued_run(session, job)

    done = run_once(settings, queue, run.id)

    [request] = target.received("/hooks/analyze")
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.body["input"] == {"scope": "week"}
    assert request.body["source"] == {
        "type": "schedule",
        "jobId": job.key,
        "jobName": "Weekly",
        "runId": run.key,
        "scheduledFor": NOW.isoformat(),
    }
    assert done.output == {"ok": True, "received": request.body}
    assert "s3cret" not in str(done.model_dump())


def test_a_client_error_fails_at_once_and_turns_the_job_red_until_a_success(
    settings, session, agent, target, queue
):
    target.script("/v1/chat/completions", Reply(400, {"error": "bad model"}))
    job = chat_job(session)
    failed = run_once(settings, queue, queued_run(session, job).id)

    assert (failed.status, failed.attempt) == ("failed", 1)
    assert "HTTP 400" in failed.error and "bad model" in failed.error
    assert queue.submitted == []
    session.expire_all()
    stored = session.get(ScheduledJob, job.id)
    assert stored.health == "red" and stored.last_outcome.startswith("failed: ")
    assert "HTTP 400" in stored.last_outcome

    tomorrow = NOW + timedelta(days=1)
    run_once(settings, queue, queued_run(session, job, tomorrow).id, at=tomorrow)
    session.expire_all()
    assert session.get(ScheduledJob, job.id).health == "green"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_answers_wait_with_backoff(settings, session, agent, target, queue, status):
    target.script("/v1/chat/completions", Reply(status), Reply(status))
    run = queued_run(session, chat_job(session))

    first = run_once(settings, queue, run.id)
    assert (first.status, first.attempt) == ("retrying", 1)
    assert timedelta(seconds=0.16) <= first.due_at - NOW <= timedelta(seconds=0.24)
    assert queue.submitted == [([run.id], first.due_at)]

    early = run_once(settings, queue, run.id, at=first.due_at - timedelta(seconds=5))
    assert early.attempt == 1, "a retry must not start before its time"

    second = run_once(settings, queue, run.id, at=first.due_at)
    assert (second.status, second.attempt) == ("retrying", 2)
    assert timedelta(seconds=0.32) <= second.due_at - first.due_at <= timedelta(seconds=0.48)

    third = run_once(settings, queue, run.id, at=second.due_at)
    assert (third.status, third.attempt, third.error) == ("succeeded", 3, None)
    assert [a["outcome"] for a in third.attempts] == ["failed", "failed", "succeeded"]


@pytest.mark.parametrize("form", ["seconds", "date"])
@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_waits_as_long_as_the_target_asks(
    settings, session, agent, target, queue, status, form
):
    asked_for = (utcnow() + timedelta(seconds=120)).replace(microsecond=0)  # dates count seconds
    asks = "120" if form == "seconds" else format_datetime(asked_for, usegmt=True)
    target.script("/v1/chat/completions", Reply(status, Raw(b"busy", {"retry-after": asks})))
    run = queued_run(session, chat_job(session), utcnow())
    execute_run(run.id, queue, settings)  # on the real clock: the date is a real moment
    with open_session(settings.database_url) as reading:
        asked = reading.get(Run, run.id)
    assert asked.status == "retrying"
    assert asked.due_at >= asked_for


@pytest.mark.parametrize("retry_after", ["soon", "-5", "nan"])
def test_a_retry_after_that_cannot_be_read_keeps_the_backoff(
    settings, session, agent, target, queue, retry_after
):
    target.script("/v1/chat/completions", Reply(429, Raw(b"busy", {"retry-after": retry_after})))
    run = queued_run(session, chat_job(session))
    asked = run_once(settings, queue, run.id)
    assert asked.status == "retrying"
    assert asked.due_at - NOW <= timedelta(seconds=0.24)


def test_retries_stop_after_the_maximum(settings, session, agent, target, queue):
    target.script("/v1/chat/completions", *[Reply(503)] * 10)
    run = queued_run(session, chat_job(session))
    moment = NOW
    for _ in range(settings.max_retries + 1):
        current = run_once(settings, queue, run.id, at=moment)
        moment = current.due_at
    assert (current.status, current.attempt) == ("failed", settings.max_retries + 1)
    assert len(target.received()) == settings.max_retries + 1


def test_timeouts_and_refused_connections_are_retryable(settings, session, target, queue):
    registry.save_agent(session, "Assistant", "http", target.url + "/slow")
    target.script("/slow", Reply(200, {"reply": "late"}, delay=1.0))
    job = chat_job(session)
    impatient = replace(settings, http_timeout_seconds=0.2)
    timed_out = run_once(impatient, queue, queued_run(session, job).id)
    assert timed_out.status == "retrying" and "timeout" in timed_out.error

    registry.save_agent(session, "Offline", "http", "http://127.0.0.1:9/agent")
    jobs.update_job(session, job.id, JobFields(agent="Offline"), NOW)
    tomorrow = NOW + timedelta(days=1)
    refused_run = queued_run(session, job, tomorrow)
    refused = run_once(replace(settings, http_timeout_seconds=1), queue, refused_run.id, tomorrow)
    assert refused.status == "retrying" and "Could not reach" in refused.error


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickling_target_fails_the_attempt_at_the_overall_deadline(
    settings, session, queue, part
):
    trickling = TricklingTarget(part=part, interval=0.2).start()
    registry.save_agent(session, "Assistant", "http", trickling.url + "/agent")
    run = queued_run(session, chat_job(session))
    timed_out = run_once(replace(settings, http_timeout_seconds=1), queue, run.id)
    trickling.stop()
    assert timed_out.status == "retrying"
    assert timed_out.error == f"No complete answer from {trickling.url}/agent within 1 s (timeout)."


JSON_ANSWER = {"content-type": "application/json"}
MALFORMED_ANSWERS = {
    "invalid Content-Encoding": (
        Raw(b'{"reply": "hi"}', {**JSON_ANSWER, "content-encoding": "gzip"}),
        "sent an answer that could not be decoded: Error -3 while decompressing data",
    ),
    "NaN": (
        Raw(b'{"answer": NaN}', JSON_ANSWER),
        "answered JSON that is not standard (NaN is not a number JSON allows)",
    ),
    "a reply that is not text": (
        Raw(b'{"reply": {"text": "hi"}}', JSON_ANSWER),
        "sent a reply that is not text: {'reply': {'text': 'hi'}}",
    ),
    "more than 1 MiB": (
        Raw(b'{"reply": "' + b"a" * 2**20 + b'"}', JSON_ANSWER),
        "sent an answer larger than 1 MiB.",
    ),
}


@pytest.mark.parametrize("answer, reason", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS)
def test_a_malformed_answer_fails_the_attempt_with_the_reason(
    settings, session, target, queue, answer, reason
):
    registry.save_agent(session, "Assistant", "http", target.url + "/agent")
    target.script("/agent", Reply(200, answer))
    job = chat_job(session)

    failed = run_once(settings, queue, queued_run(session, job).id)

    assert (failed.status, failed.attempt, failed.output) == ("failed", 1, None)
    assert failed.error.startswith(f"{target.url}/agent ") and reason in failed.error
    session.expire_all()
    stored = session.get(ScheduledJob, job.id)
    assert stored.health == "red" and reason in stored.last_outcome


def test_an_answer_in_an_unknown_charset_is_read_as_utf8(settings, session, target, queue):
    registry.save_agent(session, "Assistant", "http", target.url + "/agent")
    target.script(
        "/agent", Reply(200, Raw(b"Bonjour", {"content-type": "text/plain; charset=hex"}))
    )
    done = run_once(settings, queue, queued_run(session, chat_job(session)).id)
    assert (done.status, done.output) == ("succeeded", "Bonjour")


def test_a_message_that_is_not_valid_unicode_is_refused_before_sending(
    settings, session, agent, target, queue
):
    job = chat_job(session, "Hello")
    job.config = {"template": "Hello \ud800", "thread": "new"}  # stored before it was refused
    session.add(job)
    session.commit()
    failed = run_once(settings, queue, queued_run(session, job).id)
    assert failed.status == "failed"
    assert failed.error.startswith("The request could not be sent as JSON: 'utf-8' codec")
    assert target.received() == []


def test_a_run_that_cannot_be_prepared_fails_instead_of_staying_queued(
    settings, session, agent, target, queue
):
    job = chat_job(session)
    job.timezone = "Mars/Olympus_Mons"  # a stored zone this machine's tzdata does not know
    session.add(job)
    session.commit()

    failed = run_once(settings, queue, queued_run(session, job).id)

    assert (failed.status, failed.attempt) == ("failed", 1)
    assert failed.error == (
        "The run could not be prepared: ValidationError: 'Mars/Olympus_Mons' is not a known"
        " timezone."
    )
    assert target.received() == []


@pytest.mark.parametrize("kept", ["in the environment", "stored encrypted"])
def test_a_key_the_target_echoes_back_is_never_stored(
    settings, session, target, queue, monkeypatch, kept
):
    if kept == "in the environment":
        monkeypatch.setenv("AGENT_KEY", "sk-live-4f9a")
        where = {"api_key_env": "AGENT_KEY"}
    else:
        where = {"api_key_secret": credentials.seal(settings, "sk-live-4f9a", "key")}
    registry.save_agent(session, "Assistant", "http", target.url + "/agent", "", "", **where)
    target.script(
        "/agent",
        Reply(401, Raw(b"invalid key Bearer sk-live-4f9a", {"content-type": "text/plain"})),
        Reply(200, {"reply": "You sent sk-live-4f9a"}),
    )
    job = chat_job(session)
    failed = run_once(settings, queue, queued_run(session, job).id)
    tomorrow = NOW + timedelta(days=1)
    echoed = run_once(settings, queue, queued_run(session, job, tomorrow).id, tomorrow)

    assert failed.error == f"{target.url}/agent answered HTTP 401: invalid key Bearer [redacted]"
    assert echoed.output == "You sent [redacted]"
    assert target.received()[0].headers["Authorization"] == "Bearer sk-live-4f9a"
    session.expire_all()
    assert "sk-live-4f9a" not in str(
        [row for rows in snapshot(settings.database_url).values() for row in rows]
    )


def test_a_missing_key_variable_fails_with_its_name(settings, session, target, queue):
    registry.save_agent(session, "Assistant", "openai", target.url + "/v1", "m", "", "NO_SUCH_KEY")
    failed = run_once(settings, queue, queued_run(session, chat_job(session)).id)
    assert failed.status == "failed"
    assert failed.error == "The environment variable NO_SUCH_KEY is not set."
    assert target.received() == []


def test_a_run_is_executed_once_however_often_it_is_delivered(
    settings, session, agent, target, queue
):
    run = queued_run(session, chat_job(session))
    for _ in range(3):
        run_once(settings, queue, run.id)
    assert len(target.received()) == 1


def test_overlapping_run_is_skipped_with_the_reason(settings, session, agent, target, queue):
    job = chat_job(session)
    queued_run(session, job, NOW - timedelta(days=1), status=RunStatus.running, attempt=1)
    later = queued_run(session, job)

    skipped = run_once(settings, queue, later.id)

    assert skipped.status == "skipped"
    assert skipped.error == "The previous run of this job was still running."
    assert target.received() == []


def test_a_claim_ahead_of_the_moment_leaves_what_it_cannot_take_for_the_moment(
    settings, session, agent, target, queue
):
    job = chat_job(session)
    queued_run(session, job, NOW - timedelta(days=1), status=RunStatus.running, attempt=1)
    later = queued_run(session, job)

    claims = claim_prepared(settings, prepare(settings, [later.id]), NOW, ahead=True)

    assert claims.attempts == []
    assert [p.run.id for p in claims.undecided] == [later.id]
    session.expire_all()
    assert session.get(Run, later.id).status == RunStatus.queued  # not skipped a second early


def test_a_run_due_shortly_is_claimed_ahead_as_of_its_moment_and_called_then(
    settings, session, agent, target, queue
):
    due = utcnow().replace(microsecond=0) + timedelta(seconds=3)
    run = queued_run(session, chat_job(session), due)

    flight = Flight(settings, queue)
    try:
        flight.run([run.id])
    finally:
        flight.close()

    session.expire_all()
    ran = session.get(Run, run.id)
    assert ran.status == RunStatus.succeeded
    assert ran.started_at == due  # claimed before its moment, as of it
    [call] = target.received()
    assert call.at >= due.timestamp()


def test_a_stop_just_before_the_moment_records_the_calls_claimed_for_it(
    settings, session, agent, target, queue
):
    """The stop comes after the claim a second ahead; the call then starts at the moment and
    takes nearly its whole timeout: the stop waits for it and its record."""
    settings = replace(settings, http_timeout_seconds=2)
    target.delay = 1.5
    due = utcnow() + timedelta(seconds=2)
    run = queued_run(session, chat_job(session), due)
    flight = Flight(settings, queue)
    flight.submit([run.id])

    def status() -> str:
        with open_session(settings.database_url) as fresh:
            return fresh.get(Run, run.id).status

    wait_until(lambda: status() == RunStatus.running, what="the claim ahead")
    flight.drain()  # SIGTERM; the process ends when this returns
    recorded = status()
    flight.close()

    assert recorded == RunStatus.succeeded
    assert len(target.received()) == 1


def test_a_scheduled_run_of_a_paused_job_is_skipped(settings, session, agent, target, queue):
    job = chat_job(session)
    run = queued_run(session, job)
    job.status = "paused"  # paused after the run was queued (pausing normally removes it)
    session.add(job)
    session.commit()

    skipped = run_once(settings, queue, run.id)
    assert skipped.status == "skipped" and "paused" in skipped.error
    assert target.received() == []


def test_only_the_newest_runs_are_kept(settings, session, agent, target, queue):
    job = chat_job(session)
    for day in range(KEEP_RUNS + 5):
        queued_run(session, job, NOW - timedelta(days=100 - day), status="succeeded")
    newest = queued_run(session, job)

    run_once(settings, queue, newest.id)

    session.expire_all()
    kept = session.exec(select(Run).where(Run.job_id == job.id).order_by(Run.id)).all()
    assert len(kept) == KEEP_RUNS
    assert kept[-1].id == newest.id


def statements_sent(settings, work) -> int:
    """How many statements `work()` sends to the database."""
    engine, statements = get_engine(settings.database_url), []

    def count(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_preparing_a_batch_reads_each_table_once_however_many_runs(settings, session, agent):
    fields = JobFields(agent="Assistant", schedule="0 9 * * *", chat="Hello {jobName}")
    runs = [
        queued_run(session, jobs.create_job(session, f"Briefing {n}", fields, NOW, "UTC"))
        for n in range(20)
    ]

    one = statements_sent(settings, lambda: prepare(settings, [runs[0].id]))
    twenty = statements_sent(settings, lambda: prepare(settings, [run.id for run in runs]))

    assert twenty == one


def test_retry_delay_doubles_with_jitter():
    for retry, base in [(1, 30), (2, 60), (3, 120)]:
        delays = [retry_delay(retry, 30) for _ in range(200)]
        assert base * 0.8 <= min(delays) < max(delays) <= base * 1.2


def test_retry_delay_stops_doubling_at_a_day():
    delays = [retry_delay(retry, 30) for retry in (13, 50, 100, 5000)]
    assert all(0.8 * 86_400 <= delay <= 1.2 * 86_400 for delay in delays)


def waiting_for_a_turn(settings) -> int:
    """How many PostgreSQL sessions wait for an advisory lock (a turn) right now."""
    with open_session(settings.database_url) as session:
        return session.scalar(
            sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )


def test_concurrent_claims_of_one_job_take_turns(settings, session, agent, target, queue):
    if settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite serializes every writer already (BEGIN IMMEDIATE)")
    job = chat_job(session)
    first, second = queued_run(session, job, NOW - timedelta(minutes=1)), queued_run(session, job)
    with open_session(settings.database_url) as claiming:  # the first claim, not yet committed
        take_many_turns(claiming, [(CLAIMS_OF_JOB, job.id)])
        claiming.exec(update(Run).where(Run.id == first.id).values(status=RunStatus.running))
        with ThreadPoolExecutor(1) as other_worker:
            later = other_worker.submit(run_once, settings, queue, second.id, NOW)
            wait_until(lambda: waiting_for_a_turn(settings) == 1, what="the second claim to wait")
            claiming.commit()
            skipped = later.result(timeout=30)

    assert skipped.status == "skipped"
    assert skipped.error == "The previous run of this job was still running."
    assert target.received() == []
