"""One run's life: claim it, build its action, execute, record the outcome, retry or finish.

Every state change is a conditional update, so a duplicate queue message, a second
worker or a sweep racing with a slow worker can never make a run execute twice at once
or finish twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, delete, exists, select, update

from core.config import Settings
from core.db import read_session
from core.db import session as open_session
from core.executor import Action, ChatAction, RunResult, WorkflowAction, execute
from core.models import (
    TERMINAL_STATUSES,
    WAITING_STATUSES,
    ActionKind,
    Agent,
    Run,
    RunSource,
    RunStatus,
    ScheduledJob,
    Status,
    Workflow,
    utcnow,
)
from core.queue import RunQueue
from core.templates import default_variables, render

KEEP_RUNS = 50
THREAD_HISTORY = 20
# A worker may pick a run up this early (huey starts eta tasks up to a second late, so
# the dispatcher submits ahead of time); it then waits for the exact moment.
EARLY_START = timedelta(seconds=2)
LEASE_MARGIN = timedelta(seconds=60)
SCHEDULED_SOURCES = (RunSource.schedule, RunSource.catch_up)
SIBLING = aliased(Run)  # built once: aliasing a table is costly on the hot path


@dataclass(frozen=True)
class Attempt:
    """One attempt this worker owns: run `run_id` is `running` with attempt `number`."""

    run_id: int
    job_id: int | None
    number: int
    started_at: datetime
    earlier: list[dict[str, Any]]


def retry_delay(retry_number: int, base_seconds: float) -> float:
    """Seconds before the n-th retry: base·2^(n-1), with ±20% jitter against stampedes."""
    return base_seconds * 2 ** (retry_number - 1) * random.uniform(0.8, 1.2)


def lease_length(settings: Settings) -> timedelta:
    """How long an attempt may run: the call's timeout and a margin."""
    return timedelta(seconds=settings.http_timeout_seconds) + LEASE_MARGIN


def _source(run: Run, job: ScheduledJob) -> dict[str, Any]:
    return {
        "type": str(run.source),
        "jobId": job.id,
        "jobName": job.name,
        "runId": run.id,
        "scheduledFor": run.scheduled_for.isoformat() if run.scheduled_for else None,
    }


def _thread(session: Session, run: Run, job: ScheduledJob) -> list[dict[str, str]]:
    """The job's earlier exchanges, oldest first: its succeeded chat runs."""
    earlier = session.exec(
        select(Run)
        .where(Run.job_id == job.id, Run.status == RunStatus.succeeded, col(Run.id) < run.id)
        .order_by(col(Run.id).desc())
        .limit(THREAD_HISTORY)
    ).all()
    messages = []
    for previous in reversed(earlier):
        messages.append({"role": "user", "content": str(previous.input)})
        messages.append({"role": "assistant", "content": str(previous.output)})
    return messages


def _job_action(session: Session, run: Run, job: ScheduledJob) -> Action | RunResult:
    """The action for a job's run. Sets `run.input` on the first attempt; retries send
    exactly what the first attempt sent."""
    if job.action == ActionKind.workflow:
        workflow = session.get(Workflow, job.config.get("workflow_id"))
        if workflow is None:
            return RunResult(succeeded=False, error="The job's workflow no longer exists.")
        if run.input is None:
            run.input = {"input": job.config.get("input", {}), "source": _source(run, job)}
        return WorkflowAction(workflow=workflow, body=run.input)
    agent = session.get(Agent, job.agent_id)
    if run.input is None:
        moment = run.scheduled_for or run.due_at
        variables = default_variables(moment, job.timezone, job.name, agent.name, run.id)
        run.input = render(job.config["template"], variables)
    continues = job.config.get("thread") == "continue"
    history = _thread(session, run, job) if continues else []
    return ChatAction(
        agent=agent,
        messages=[*history, {"role": "user", "content": run.input}],
        thread_id=f"job-{job.id}" if continues else f"run-{run.id}",
        source=_source(run, job),
    )


def _skip(session: Session, run: Run, now: datetime, reason: str) -> None:
    session.exec(
        update(Run)
        .where(col(Run.id) == run.id, col(Run.status).in_(WAITING_STATUSES))
        .values(status=RunStatus.skipped, finished_at=now, error=reason)
    )


def claim(
    session: Session, run: Run, job: ScheduledJob, now: datetime, settings: Settings
) -> Attempt | None:
    """Take the run (as read by this worker) for one attempt, in one conditional update.

    Returns None when it is not this worker's to execute: another worker took it or it
    finished, its job was paused, or the job's previous run is still running (then the
    run is recorded as skipped).
    """
    if job.status == Status.paused and run.source in SCHEDULED_SOURCES:
        _skip(session, run, now, "The job was paused before this run started.")
        session.commit()
        return None
    values: dict[str, Any] = {
        "status": RunStatus.running,
        "attempt": run.attempt + 1,
        "started_at": run.started_at or now,
        "lease_expires_at": now + lease_length(settings),
    }
    if run.attempt == 0:
        values["input"] = run.input
    claimed = session.exec(
        update(Run)
        .where(
            col(Run.id) == run.id,
            col(Run.status).in_(WAITING_STATUSES),
            col(Run.attempt) == run.attempt,
            col(Run.due_at) <= now + EARLY_START,
            ~exists().where(
                SIBLING.job_id == Run.job_id,
                SIBLING.status == RunStatus.running,
                SIBLING.id != Run.id,
            ),
        )
        .values(**values)
    ).rowcount
    if not claimed:
        current = session.exec(select(Run.status, Run.attempt).where(Run.id == run.id)).first()
        if current == (run.status, run.attempt):
            _skip(session, run, now, "The previous run of this job was still running.")
    session.commit()
    if not claimed:
        return None
    return Attempt(run.id, run.job_id, run.attempt + 1, now, list(run.attempts))


def _record_job_outcome(session: Session, job_id: int, succeeded: bool, error: str | None,
                        now: datetime) -> None:  # fmt: skip
    failures = 0 if succeeded else ScheduledJob.consecutive_failures + 1
    session.exec(
        update(ScheduledJob)
        .where(col(ScheduledJob.id) == job_id)
        .values(
            last_run_at=now,
            last_outcome="succeeded" if succeeded else f"failed: {error}",
            consecutive_failures=failures,
        )
    )


def prune_runs(session: Session, job_id: int) -> None:
    """Keep the newest KEEP_RUNS runs of a job; waiting and running ones always stay."""
    cutoff = (
        select(Run.id)
        .where(Run.job_id == job_id)
        .order_by(col(Run.id).desc())
        .offset(KEEP_RUNS - 1)
        .limit(1)
        .scalar_subquery()
    )
    session.exec(
        delete(Run).where(
            col(Run.job_id) == job_id,
            col(Run.id) < cutoff,
            col(Run.status).in_(TERMINAL_STATUSES),
        )
    )


def record(
    session: Session, attempt: Attempt, result: RunResult, now: datetime, settings: Settings
) -> datetime | None:
    """Store an attempt's result: the run finishes, or waits for a retry.

    Returns when the retry is due (the caller submits it), else None. An attempt that
    lost its lease (the sweep took the run back) records nothing.
    """
    entry = {
        "attempt": attempt.number,
        "started_at": attempt.started_at.isoformat(),
        "finished_at": now.isoformat(),
        "outcome": "succeeded" if result.succeeded else "failed",
        "error": result.error,
    }
    retries = not result.succeeded and result.retryable and attempt.number <= settings.max_retries
    values: dict[str, Any] = {
        "attempts": [*attempt.earlier, entry],
        "output": result.output,
        "error": result.error,
        "lease_expires_at": None,
    }
    retry_at = None
    if retries:
        retry_at = now + timedelta(seconds=retry_delay(attempt.number, settings.retry_base_seconds))
        values |= {"status": RunStatus.retrying, "due_at": retry_at}
    else:
        final = RunStatus.succeeded if result.succeeded else RunStatus.failed
        values |= {"status": final, "finished_at": now}
    recorded = session.exec(
        update(Run)
        .where(
            col(Run.id) == attempt.run_id,
            col(Run.status) == RunStatus.running,
            col(Run.attempt) == attempt.number,
        )
        .values(**values)
    ).rowcount
    if recorded and not retries and attempt.job_id is not None:
        _record_job_outcome(session, attempt.job_id, result.succeeded, result.error, now)
        prune_runs(session, attempt.job_id)
    session.commit()
    return retry_at if recorded else None


def _load(session: Session, run_id: int) -> tuple[Run, ScheduledJob] | None:
    row = session.exec(
        select(Run, ScheduledJob)
        .join(ScheduledJob, col(Run.job_id) == ScheduledJob.id)
        .where(Run.id == run_id, col(Run.status).in_(WAITING_STATUSES))
    ).first()
    return None if row is None else (row[0], row[1])


def execute_run(
    run_id: int,
    queue: RunQueue,
    client: httpx.Client,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Execute one attempt of a run, if it is ours to execute; the worker's task body.

    Everything is read and prepared first without holding the database; the claim and
    the record are one short write transaction each.
    """
    with read_session(settings.database_url) as session:
        loaded = _load(session, run_id)
        if loaded is None:
            return
        run, job = loaded
        if run.due_at - clock() > EARLY_START:
            return  # an early duplicate message; the run's own is still to come
        action = _job_action(session, run, job)
    delay = (run.due_at - clock()).total_seconds()
    if delay > 0:
        time.sleep(delay)
    with open_session(settings.database_url) as session:
        attempt = claim(session, run, job, clock(), settings)
    if attempt is None:
        return
    result = action if isinstance(action, RunResult) else execute(action, run_id, client)
    with open_session(settings.database_url) as session:
        retry_at = record(session, attempt, result, clock(), settings)
    if retry_at is not None:
        queue.submit([run_id], eta=retry_at)
