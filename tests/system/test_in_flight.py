"""Calls in flight, against real worker processes and an agent that answers only when the
test releases it (support.fakes.HoldingTarget): how many calls a worker keeps open at
once, an agent's own limit across workers, Retry-After, and a clock that never waits
behind the calls. Each test ends with the ledger: every run finished, each called once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.automations import jobs
from core.automations.jobs import JobFields
from core.running.runs import run_row
from core.running.sweeps import SWEEP_AFTER
from core.store.db import read_session
from core.store.models import WAITING_STATUSES, Run, RunSource, ScheduledJob, utcnow
from queueing import queue_for
from support.fakes import HoldingTarget, Raw, Reply
from support.stored import all_runs, settled
from support.waiting import wait_until

pytestmark = pytest.mark.database  # about the database and the queue: PostgreSQL + Redis too

CHAT = "/v1/chat/completions"
# Held calls must outlast the test, not end at the call's deadline.
HELD = {"http_timeout_seconds": 300}
# How long a call that must not come is watched for (absence has no event to wait on).
QUIET_SECONDS = 2
YEARLY = "0 9 1 1 *"  # never due during a test: its runs are the ones the test makes


@pytest.fixture
def target() -> Iterator[HoldingTarget]:
    """The agent of the `agent` fixture, holding every call until released."""
    fake = HoldingTarget().start()
    yield fake
    fake.stop()


def make_jobs(session: Session, count: int, name: str = "Held") -> list[int]:
    """`count` jobs of the agent, each its own job (a job's runs never overlap)."""
    fields = JobFields(agent="Assistant", schedule=YEARLY, chat="Hi {jobName}")
    return [
        jobs.create_job(session, f"{name} {n}", fields, utcnow(), "UTC").id for n in range(count)
    ]


def run_now(settings, session: Session, count: int, name: str = "Held") -> list[Run]:
    """`count` jobs, each run now, as the dashboard's Run now does."""
    queue = queue_for(settings)
    return [jobs.run_job_now(session, job_id, queue, utcnow()) for job_id in make_jobs(
        session, count, name)]  # fmt: skip


def assert_each_called_once(target: HoldingTarget, runs: list[Run]) -> None:
    """Every run succeeded, one per job, and made exactly one call (never two at once)."""
    assert {run.status for run in runs} == {"succeeded"}
    assert len({run.job_id for run in runs}) == len(runs), "a job has more than one run"
    assert target.call_counts() == Counter({run.key: 1 for run in runs})
    assert set(target.most_open_by_key.values()) == {1}


def test_one_worker_keeps_its_limit_of_calls_open_and_the_next_waits(
    settings, session, agent, target, consumer
):
    consumer(max_in_flight=50, **HELD)
    run_now(settings, session, 60)

    assert target.wait_open(50, timeout=60), f"{len(target.open_calls())} calls open, not 50"
    assert not target.wait_open(51, timeout=QUIET_SECONDS), "a 51st call while 50 were open"
    target.release_all()

    runs = wait_until(settled(settings, 60), timeout=120, what="all 60 runs")
    assert target.most_open == 50
    assert_each_called_once(target, runs)


def waiting_for_a_slot(settings, count: int):
    """Wait until `count` runs are waiting, each saying it waits for a free slot."""

    def probe() -> list[Run]:
        runs = all_runs(settings)
        waiting = [r for r in runs if r.status in WAITING_STATUSES and r.waiting_reason]
        return waiting if len(waiting) == count else []

    return probe


def test_an_agents_limit_holds_across_workers_and_the_rest_wait_for_a_free_slot(
    settings, session, agent, target, consumer
):
    agent.max_concurrency = 2
    session.add(agent)
    session.commit()
    consumer(**HELD)
    consumer(**HELD)
    run_now(settings, session, 8)

    assert target.wait_open(2, timeout=60)
    waiting = wait_until(waiting_for_a_slot(settings, 6), what="six runs waiting for a slot")
    assert all("free slot" in run.waiting_reason for run in waiting), waiting[0].waiting_reason
    assert not target.wait_open(3, timeout=QUIET_SECONDS), "a third call while two were open"
    for remaining in range(8, 0, -1):  # one answer at a time: each freed slot is taken again
        assert target.wait_open(min(2, remaining), timeout=60)
        assert target.most_open <= 2
        target.release()

    runs = wait_until(settled(settings, 8), timeout=60, what="all 8 runs")
    assert target.most_open == 2
    assert_each_called_once(target, runs)
    assert {(run.target, run.waiting_reason) for run in runs} == {(f"agent:{agent.id}", None)}


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_answer_is_retried_no_earlier_than_its_retry_after(
    settings, session, agent, target, consumer, status
):
    target.release_all()  # answers at once: only the first one says "busy"
    busy = Raw(b'{"error": "busy"}', {"content-type": "application/json", "retry-after": "3"})
    target.script(CHAT, Reply(status, busy))
    consumer()  # the settings fixture's retry_base_seconds (0.2 s) is far below 3 s
    run_now(settings, session, 1)

    [run] = wait_until(settled(settings, 1), timeout=60, what="the retried run")
    assert (run.status, run.attempt) == ("succeeded", 2), run.attempts
    first, retry = run.attempts
    waited = datetime.fromisoformat(retry["started_at"]) - datetime.fromisoformat(
        first["finished_at"]
    )
    assert waited >= timedelta(seconds=3), f"retried after {waited}"
    arrived = [request.at for request in target.received(CHAT)]
    assert len(arrived) == 2 and arrived[1] - arrived[0] >= 3


# Due after the slots filled, and planned by a tick that runs while they are busy (the
# test's workers tick every second).
DUE_AFTER = timedelta(seconds=4)


def runs_of_job(settings, job_id: int) -> list[Run]:
    with read_session(settings.database_url) as session:
        return list(session.exec(select(Run).where(Run.job_id == job_id)))


def test_with_every_slot_busy_the_clock_still_plans_sweeps_and_starts_on_a_free_slot(
    settings, session, agent, target, consumer
):
    # No grace: an occurrence planned only after its time would be a catch-up.
    consumer(max_in_flight=2, misfire_grace_seconds=0, **HELD)
    busy = run_now(settings, session, 2, name="Busy")
    assert target.wait_open(2, timeout=60)

    now = utcnow()
    due_job_id, lost_job_id = make_jobs(session, 2, name="Later")
    due_job = session.get(ScheduledJob, due_job_id)
    due_job.next_run_at = due = now + DUE_AFTER
    session.add(due_job)
    lost_at = now - SWEEP_AFTER - timedelta(minutes=1)  # its queue message was lost
    lost = Run(**run_row(RunSource.run_now, lost_at, lost_at, job_id=lost_job_id))
    session.add(lost)
    session.commit()

    [planned] = wait_until(
        lambda: runs_of_job(settings, due_job_id), timeout=30, what="a tick to plan the job"
    )
    assert (planned.source, planned.status) == ("schedule", "queued")
    assert planned.scheduled_for == due
    wait_until(lambda: utcnow() >= planned.due_at, timeout=30, what="the job's time")
    assert not target.wait_open(3, timeout=QUIET_SECONDS), "a call while every slot was busy"

    # Each slot freed is taken by a waiting run at once: the job due meanwhile, and the lost
    # run, submitted again by the sweep of a tick that ran while every slot was busy.
    for _ in busy:
        target.release()
        assert target.wait_open(2, timeout=30), "a freed slot was not taken"
    assert {call.key for call in target.open_calls()} == {planned.key, lost.key}
    target.release_all()

    runs = wait_until(settled(settings, 4), timeout=60, what="all four runs")
    assert_each_called_once(target, runs)
    assert {run.key: run.source for run in runs} == {
        **{run.key: "run_now" for run in busy},
        planned.key: "schedule",
        lost.key: "run_now",
    }
    [called] = [r for r in target.received(CHAT) if r.headers["Idempotency-Key"] == planned.key]
    assert called.at >= planned.scheduled_for.timestamp(), "never before its time"
