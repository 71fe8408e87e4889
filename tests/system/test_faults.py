"""The processes a user deploys, under faults: a real webhook (uvicorn), a real worker
(huey_consumer), a fake agent/workflow server. Each test ends with the ledger: every
accepted event and every occurrence has exactly one terminal run — counted at the target
(one call per run, its Idempotency-Key unique) where more runs were made than the 50 a
trigger's history keeps."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from core.automations import jobs, triggers
from core.automations.jobs import JobFields
from core.automations.triggers import TriggerFields
from core.store.db import read_session
from core.store.models import (
    TERMINAL_STATUSES,
    EventTrigger,
    Run,
    ScheduledJob,
    WebhookEvent,
    utcnow,
)
from core.views.overview import automations_page, recent_runs, worker_status
from support.delivery import numbered_event, signed
from support.fakes import Reply
from support.processes import free_port, get, planner, serve_webhook, settings_env
from support.stored import all_runs, settled
from support.waiting import wait_until

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


def email_trigger(session, settings) -> None:
    fields = TriggerFields(agent="Assistant", event="GMAIL_NEW_GMAIL_MESSAGE", chat="{subject}")
    triggers.create_trigger(session, "Email triage", fields, settings, utcnow())
    session.commit()


def ledger(settings, target, events: int):
    """Wait until every event is dispatched, no run is unfinished and `events` event calls
    reached the target; every call's key is distinct and there is one per executed run
    (events, plus the job runs still in the history). Returns the event messages sent."""

    def probe() -> list[str]:
        with read_session(settings.database_url) as session:
            pending = session.exec(
                select(WebhookEvent).where(WebhookEvent.status != "dispatched")
            ).all()
        runs = all_runs(settings)
        unfinished = [r for r in runs if r.status not in TERMINAL_STATUSES]
        calls = target.received("/v1/chat/completions")
        messages = [call.body["messages"][-1]["content"] for call in calls]
        from_events = sorted(m for m in messages if m.startswith("event "))
        if pending or unfinished or len(from_events) < events:
            return []
        job_calls = [r for r in runs if r.job_id and r.status in ("succeeded", "failed")]
        keys = [call.headers["Idempotency-Key"] for call in calls]
        assert len(keys) == len(set(keys)) == events + len(job_calls), "a run was doubled"
        return from_events

    return probe


def test_duplicates_and_replays_make_one_run_per_event(settings, session, agent, target,
                                                       webhook, consumer):  # fmt: skip
    email_trigger(session, settings)
    consumer()
    events = [numbered_event(n) for n in range(100)]
    deliveries = [(body, webhook_id) for body, webhook_id in events for _ in range(3)]
    random.Random(7).shuffle(deliveries)

    def deliver(item: tuple[bytes, str]) -> int:
        body, webhook_id = item
        return httpx.post(webhook, content=body, headers=signed(body, webhook_id)).status_code

    with ThreadPoolExecutor(8) as senders:
        statuses = list(senders.map(deliver, deliveries))
    assert set(statuses) == {200}

    sent = wait_until(ledger(settings, target, 100), timeout=120, what="100 runs")
    assert sent == sorted(f"event {n}" for n in range(100))
    assert {run.status for run in all_runs(settings)} == {"succeeded"}


def test_after_the_worker_was_down_every_event_runs_once_and_jobs_catch_up(
    settings, session, agent, target, webhook, consumer
):
    email_trigger(session, settings)
    now = utcnow()
    for name, schedule, policy, behind in [
        ("Hourly, catch up", "0 * * * *", "catch_up_once", timedelta(hours=3)),
        ("Hourly, skip", "0 * * * *", "skip", timedelta(hours=3)),
        ("Daily, catch up", "0 6 * * *", "catch_up_once", timedelta(days=2)),
    ]:
        fields = JobFields(agent="Assistant", schedule=schedule, chat=name, misfire=policy)
        job = jobs.create_job(session, name, fields, now - behind, "UTC")
        session.commit()
        assert job.next_run_at < now  # due while no worker ran
    for n in range(200):
        body, webhook_id = numbered_event(n)
        assert (
            httpx.post(webhook, content=body, headers=signed(body, webhook_id)).status_code == 200
        )
    assert all_runs(settings) == []

    # No grace: the newest missed hour is late however soon after the hour this runs.
    consumer(misfire_grace_seconds=0)

    def caught_up() -> list[Run]:
        runs = all_runs(settings)
        finished = [r for r in runs if r.source == "catch_up" and r.status in TERMINAL_STATUSES]
        return runs if len(finished) == 2 else []

    wait_until(caught_up, timeout=120, what="the catch-up runs")
    sent = wait_until(ledger(settings, target, 200), timeout=180, what="every event")
    assert sent == sorted(f"event {n}" for n in range(200))
    runs = all_runs(settings)
    with read_session(settings.database_url) as db:
        job_names = {job.id: job.name for job in db.exec(select(ScheduledJob))}
    by_job = {
        name: sorted((r.source, r.status) for r in runs if r.job_id == job_id)
        for job_id, name in job_names.items()
    }
    assert by_job["Hourly, catch up"][:2] == [("catch_up", "succeeded"), ("schedule", "missed")]
    assert ("catch_up", "succeeded") not in by_job["Hourly, skip"]
    assert ("schedule", "missed") in by_job["Hourly, skip"]
    assert by_job["Daily, catch up"][0] == ("catch_up", "succeeded")
    sources = [r.source for r in runs if r.job_id]
    assert sources.count("catch_up") == 2, "one catch-up per job with that policy, no burst"


def test_a_worker_killed_mid_call_is_replaced_and_the_run_finishes_once(
    settings, agent, workflow, target, consumer
):
    target.script("/hooks/analyze", Reply(200, {"slow": True}, delay=3))
    planner_cli(settings, "jobs", "add", "Report", "--agent", "Assistant", "--schedule", "@daily",
                "--workflow", "analyze-email")  # fmt: skip
    short_lease = {"http_timeout_seconds": 5, "lease_margin_seconds": 1}
    first = consumer(**short_lease)
    planner_cli(settings, "jobs", "run", "Report")
    target.wait_for(lambda requests: len(requests) == 1, timeout=60)

    os.kill(first.process.pid, signal.SIGKILL)  # mid-call: the reply comes after 3 s
    first.process.wait()
    [orphan] = all_runs(settings)
    assert orphan.status == "running"
    wait_until(lambda: utcnow() > orphan.lease_expires_at, timeout=30, what="the lease to end")
    consumer(**short_lease)

    [run] = wait_until(settled(settings, 1), timeout=90, what="the run to be retried")
    assert (run.status, run.attempt) == ("succeeded", 2)
    assert run.attempts[0]["error"] == "The worker stopped during attempt 1."
    keys = {r.headers["Idempotency-Key"] for r in target.received("/hooks/analyze")}
    assert keys == {run.key}, "the retry carries the same key"


def test_an_outage_is_ridden_out_and_a_client_error_fails_at_once(
    settings, agent, target, consumer
):
    down = [Reply(503, {"error": "maintenance"})] * 3
    target.script("/v1/chat/completions", *down)
    added = planner_cli(settings, "jobs", "add", "Status", "--agent", "Assistant", "--schedule",
                        "@daily", "--chat", "status report", "--json")  # fmt: skip
    job_id = json.loads(added)["id"]
    consumer(retry_base_seconds=0.5)
    planner_cli(settings, "jobs", "run", "Status")

    [recovered] = wait_until(settled(settings, 1), timeout=90, what="the retried run")
    assert (recovered.status, recovered.attempt) == ("succeeded", 4)
    assert [a["outcome"] for a in recovered.attempts] == ["failed"] * 3 + ["succeeded"]
    assert health(settings, "Status") == "green"

    target.script("/v1/chat/completions", Reply(400, {"error": "unknown model"}))
    planner_cli(settings, "jobs", "run", "Status")
    runs = wait_until(settled(settings, 2), timeout=60, what="the failing run")
    assert (runs[1].status, runs[1].attempt, runs[1].job_id) == ("failed", 1, job_id)
    assert health(settings, "Status") == "red"


def planner_cli(settings, *args: str) -> str:
    """The `planner` command as a user runs it; returns what it printed."""
    done = planner(settings, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def health(settings, job: str) -> str:
    return json.loads(planner_cli(settings, "jobs", "show", job, "--json"))["health"]


def test_a_webhook_restarted_under_load_loses_nothing(settings, session, agent, target,
                                                      consumer, tmp_path):  # fmt: skip
    """Senders retry until they get a 200, as Composio does; the process is restarted
    while they send."""
    email_trigger(session, settings)
    consumer()
    port = free_port()
    env = settings_env(settings)
    process, health = serve_webhook(env, tmp_path / "webhook.log", port)
    wait_until(lambda: get(health), what="the webhook process")
    url = health.removesuffix("/healthz") + "/webhooks/composio"
    events = [numbered_event(n) for n in range(150)]
    acknowledged: list[str] = []
    refused = itertools.count()

    def deliver(item: tuple[bytes, str]) -> None:
        body, webhook_id = item
        for _ in range(200):
            try:
                answer = httpx.post(url, content=body, headers=signed(body, webhook_id), timeout=5)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                acknowledged.append(webhook_id)
                return
            next(refused)
            time.sleep(0.05)  # a sender's retry pause, not synchronisation
        raise AssertionError(f"{webhook_id} never acknowledged")

    with ThreadPoolExecutor(8) as senders:
        sending = senders.map(deliver, events)
        wait_until(lambda: len(acknowledged) >= 40, what="the first deliveries")
        process.terminate()
        process.wait(timeout=20)
        process, _ = serve_webhook(env, tmp_path / "webhook.log", port)
        list(sending)
    process.terminate()
    process.wait(timeout=20)

    assert sorted(acknowledged) == sorted(webhook_id for _, webhook_id in events)
    assert next(refused) > 0, "the restart happened while senders were sending"
    sent = wait_until(ledger(settings, target, 150), timeout=120, what="a run per event")
    assert sent == sorted(f"event {n}" for n in range(150))


BUSY_SECONDS = 10


def test_a_busy_database_reports_no_locks_and_loses_no_writes(
    settings, session, agent, target, webhook, consumer, tmp_path
):
    """Dashboard reads, webhook writes and worker writes at once, on one SQLite file."""
    email_trigger(session, settings)
    consumer()
    stop = time.monotonic() + BUSY_SECONDS
    acknowledged: list[str] = []
    read_errors: list[Exception] = []
    reads, numbers = itertools.count(), itertools.count()

    def send() -> None:
        while time.monotonic() < stop:
            body, webhook_id = numbered_event(next(numbers))
            if (
                httpx.post(webhook, content=body, headers=signed(body, webhook_id)).status_code
                == 200
            ):
                acknowledged.append(webhook_id)

    def read_like_the_dashboard() -> None:
        while time.monotonic() < stop:
            try:
                with read_session(settings.database_url) as db:
                    found = automations_page(db, EventTrigger, agent.id, 1)[0]
                    recent_runs(db, EventTrigger, [t.id for t in found])
                    worker_status(db, utcnow())
                next(reads)
            except Exception as error:  # every failure is the finding
                read_errors.append(error)

    with ThreadPoolExecutor(5) as pool:
        jobs = [pool.submit(send) for _ in range(4)] + [pool.submit(read_like_the_dashboard)]
        for job in jobs:
            job.result()

    assert read_errors == []
    assert next(reads) > 10 and len(acknowledged) > 50
    wait_until(ledger(settings, target, len(acknowledged)), timeout=120, what="every event's run")
    logs = "".join(path.read_text() for path in tmp_path.glob("*.log"))
    assert "database is locked" not in logs
