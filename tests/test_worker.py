"""The worker as deployed: a real huey consumer process on a temporary SQLite queue,
calling a fake agent/workflow server over real sockets."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.automations import jobs
from core.automations.jobs import JobFields
from core.store.db import read_session
from core.store.db import session as open_session
from core.store.models import Heartbeat, Run, RunStatus, ScheduledJob, utcnow
from core.views.overview import worker_status
from queueing import HueyQueue, make_huey, queue_for
from support.fakes import Reply
from support.processes import ROOT
from support.screens import daily_away_from_now
from support.waiting import wait_until
from worker.consumer import Worker

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too


def finished_runs(database_url: str, job_id: int) -> list[Run]:
    with open_session(database_url) as session:
        runs = session.exec(select(Run).where(Run.job_id == job_id).order_by(Run.id)).all()
        return [run for run in runs if run.finished_at is not None]


def test_run_now_executes_through_the_consumer(settings, session: Session, agent, target, consumer):
    job = jobs.create_job(
        session,
        "Briefing",
        JobFields(agent="Assistant", schedule=daily_away_from_now(), chat="Hi {jobName}"),
        utcnow(),
        "UTC",
    )
    consumer()
    run = jobs.run_job_now(session, job.id, queue_for(settings), utcnow())

    [done] = wait_until(lambda: finished_runs(settings.database_url, job.id), what="the run")
    assert done.id == run.id
    assert done.status == RunStatus.succeeded
    assert done.input == "Hi Briefing"
    assert done.output == "reply to: Hi Briefing"
    [request] = target.received("/v1/chat/completions")
    assert request.headers["Idempotency-Key"] == run.key
    assert request.body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_a_due_job_starts_at_its_time_not_at_a_later_tick(
    settings, session: Session, agent, target, consumer
):
    """The tick here is once a minute: the run, due two seconds from now, is started by
    the look-ahead's message for its moment (never before it), long before the next tick.
    How soon after its moment is measured by bench/dispatch.py, not asserted here."""
    job = jobs.create_job(
        session,
        "New year",
        JobFields(agent="Assistant", schedule="0 9 1 1 *", chat="tick"),
        utcnow(),
        "UTC",
    )
    job.next_run_at = due = utcnow() + timedelta(seconds=2)  # its next time, two seconds away
    session.add(job)
    session.commit()
    consumer(tick_seconds=60)

    [done] = wait_until(
        lambda: finished_runs(settings.database_url, job.id), timeout=30, what="the scheduled run"
    )
    assert done.source == "schedule" and done.status == RunStatus.succeeded
    assert done.scheduled_for == due
    [request] = target.received("/v1/chat/completions")
    assert request.at >= done.scheduled_for.timestamp(), "started before its time"
    with open_session(settings.database_url) as db:
        assert db.exec(select(Heartbeat)).first() is not None
        assert db.get(ScheduledJob, job.id).next_run_at > done.scheduled_for


def test_failing_target_is_retried_then_succeeds(
    settings, session: Session, workflow, agent, target, consumer
):
    target.script("/hooks/analyze", Reply(503, {"error": "busy"}), Reply(429), Reply(200, {"x": 1}))
    job = jobs.create_job(
        session,
        "Report",
        JobFields(
            agent="Assistant",
            schedule="0 9 * * 1",
            workflow="analyze-email",
            input={"scope": "week"},
        ),
        utcnow(),
        "UTC",
    )
    consumer()
    jobs.run_job_now(session, job.id, queue_for(settings), utcnow())

    [done] = wait_until(
        lambda: finished_runs(settings.database_url, job.id), what="the retried run"
    )
    assert done.status == RunStatus.succeeded
    assert done.attempt == 3
    assert [a["outcome"] for a in done.attempts] == ["failed", "failed", "succeeded"]
    assert "503" in done.attempts[0]["error"] and "429" in done.attempts[1]["error"]
    requests = target.received("/hooks/analyze")
    assert {r.headers["Idempotency-Key"] for r in requests} == {done.key}
    assert requests[0].body["input"] == {"scope": "week"}


def test_after_downtime_one_catch_up_run_and_one_missed_entry(
    settings, session: Session, agent, workflow, target, consumer
):
    fields = JobFields(agent="Assistant", schedule="* * * * *", workflow="analyze-email")
    job = jobs.create_job(session, "Minutely", fields, utcnow(), "UTC")
    job.next_run_at -= timedelta(minutes=10)  # as if no worker ran for ten minutes
    session.add(job)
    session.commit()
    first_missed = job.next_run_at

    consumer(misfire_grace_seconds=0)

    def settled() -> list[Run]:
        runs = finished_runs(settings.database_url, job.id)
        caught_up = any(run.source == "catch_up" for run in runs)
        return runs if caught_up and any(run.status == "missed" for run in runs) else []

    runs = wait_until(settled, what="the catch-up run and the missed entry")
    [catch_up] = [run for run in runs if run.source == "catch_up"]
    [missed] = [run for run in runs if run.status == "missed"]
    assert catch_up.status == "succeeded"
    # Every occurrence from the first missed one up to the catch-up run is counted once: nine,
    # or ten if a minute began between planning the job and the worker's first tick.
    last_missed = datetime.fromisoformat(missed.output["last"])
    assert datetime.fromisoformat(missed.output["first"]) == first_missed
    assert catch_up.scheduled_for == last_missed + timedelta(minutes=1)
    assert catch_up.scheduled_for >= first_missed + timedelta(minutes=9)
    assert (
        missed.output["missed_occurrences"]
        == (last_missed - first_missed) // timedelta(minutes=1) + 1
    )
    calls = [r.body["source"]["type"] for r in target.received("/hooks/analyze")]
    assert calls.count("catch_up") == 1 and "run_now" not in calls
    assert len(calls) <= 3, f"no burst of replays: {calls}"


def test_each_worker_process_is_counted_online(settings, consumer):
    first, second = consumer(), consumer()

    def online() -> int:
        with read_session(settings.database_url) as db:
            return worker_status(db, utcnow()).workers_online

    wait_until(lambda: online() == 2, what="both workers' heartbeats")
    with read_session(settings.database_url) as db:
        workers = {beat.worker.rpartition(":")[2] for beat in db.exec(select(Heartbeat))}
    assert workers == {str(first.process.pid), str(second.process.pid)}


def test_worker_threads_starting_together_share_one_flight(settings):
    """Every worker thread hands its runs to the process's one event loop and client,
    even when all of them do so at start-up."""
    flight = Worker(HueyQueue(make_huey(settings.queue_url)), settings).flight
    threads = 200
    everyone_ready = threading.Barrier(threads)

    def first_task(_: int) -> None:
        everyone_ready.wait()
        flight.submit([])

    with ThreadPoolExecutor(threads) as workers:
        list(workers.map(first_task, range(threads)))
    loops = [thread for thread in threading.enumerate() if thread.name == "flight"]
    flight.close()
    assert len(loops) == 1


def test_a_worker_makes_room_for_its_calls_in_flight():
    """A soft open-files limit below PLANNER_MAX_IN_FLIGHT is raised (up to the hard one)."""
    script = (
        "import resource\n"
        "from worker.consumer import OTHER_OPEN_FILES, allow_open_calls\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "allow_open_calls(1000)\n"
        "raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "wanted = 1000 + OTHER_OPEN_FILES\n"
        "print(raised == (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert child.stdout.strip() == "True"


def test_a_stopping_worker_hands_runs_back_to_the_queue_not_to_itself(settings):
    queue = HueyQueue(make_huey(settings.queue_url))
    worker = Worker(queue, settings)
    worker.start_heartbeat()  # as huey does when it starts this process as a consumer
    worker.flight.submit([])  # its flight is running
    worker.flight.drain(timeout=10)  # SIGTERM: stopping, nothing in flight

    queue.submit([12345])

    [message] = queue.huey.pending()
    assert (message.name, message.args) == ("start_runs", ([12345],))
    worker.finish_calls()  # as huey does on the way out: the heartbeat stops too
    worker.flight.close()
    wait_until(lambda: "heartbeat" not in {t.name for t in threading.enumerate()}, what="stop")


def test_the_sqlite_queue_commits_without_an_fsync_per_message(tmp_path):
    """WAL with synchronous=NORMAL, as the database: a message survives a crash of the
    process; one lost to a power cut is submitted again by the sweep."""
    connection = make_huey(f"sqlite:///{tmp_path}/queue.db").storage.conn
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
