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
from sqlmodel import Session, col, delete, exists, func, select, update

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


@dataclass(frozen=True)
class Claim:
    run: Run
    started_at: datetime
    action: Action | RunResult


def retry_delay(retry_number: int, base_seconds: float) -> float:
    """Seconds before the n-th retry: base·2^(n-1), with ±20% jitter against stampedes."""
    return base_seconds * 2 ** (retry_number - 1) * random.uniform(0.8, 1.2)


def _claim(session: Session, run_id: int, now: datetime, settings: Settings) -> bool:
    sibling = aliased(Run)
    lease = now + timedelta(seconds=settings.http_timeout_seconds) + LEASE_MARGIN
    claimed = session.exec(
        update(Run)
        .where(
            col(Run.id) == run_id,
            col(Run.status).in_(WAITING_STATUSES),
            col(Run.due_at) <= now + EARLY_START,
            ~exists().where(
                sibling.job_id == Run.job_id,
                sibling.status == RunStatus.running,
                sibling.id != Run.id,
            ),
        )
        .values(
            status=RunStatus.running,
            attempt=Run.attempt + 1,
            started_at=func.coalesce(Run.started_at, now),
            lease_expires_at=lease,
        )
    )
    return claimed.rowcount == 1


def _skip_if_waiting(session: Session, run_id: int, now: datetime, reason: str) -> None:
    session.exec(
        update(Run)
        .where(col(Run.id) == run_id, col(Run.status).in_(WAITING_STATUSES))
        .values(status=RunStatus.skipped, finished_at=now, error=reason)
    )


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


def _job_action(session: Session, run: Run, job: ScheduledJob, now: datetime) -> Action | RunResult:
    """The action for a job's run; its input is fixed at the first attempt, for retries."""
    if job.action == ActionKind.workflow:
        workflow = session.get(Workflow, job.config.get("workflow_id"))
        if workflow is None:
            return RunResult(succeeded=False, error="The job's workflow no longer exists.")
        if run.input is None:
            run.input = {"input": job.config.get("input", {}), "source": _source(run, job)}
        return WorkflowAction(workflow=workflow, body=run.input)
    agent = session.get(Agent, job.agent_id)
    if run.input is None:
        moment = run.scheduled_for or now
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


def claim(session: Session, run_id: int, now: datetime, settings: Settings) -> Claim | None:
    """Take the run for this worker, or return None if it is not ours to execute now."""
    if not _claim(session, run_id, now, settings):
        run = session.get(Run, run_id)
        if run is not None and run.status in WAITING_STATUSES and run.due_at <= now + EARLY_START:
            _skip_if_waiting(
                session, run_id, now, "The previous run of this job was still running."
            )
        session.commit()
        return None
    run = session.get(Run, run_id)
    job = session.get(ScheduledJob, run.job_id)
    scheduled = run.source in (RunSource.schedule, RunSource.catch_up)
    if job.status == Status.paused and scheduled:
        run.status, run.finished_at = RunStatus.skipped, now
        run.error = "The job was paused before this run started."
        session.commit()
        return None
    action = _job_action(session, run, job, now)
    session.commit()
    return Claim(run=run, started_at=now, action=action)


def _update_job_outcome(session: Session, run: Run, now: datetime) -> None:
    job = session.get(ScheduledJob, run.job_id) if run.job_id else None
    if job is None:
        return
    job.last_run_at = now
    if run.status == RunStatus.succeeded:
        job.last_outcome, job.consecutive_failures = "succeeded", 0
    else:
        job.last_outcome = f"failed: {run.error}"
        job.consecutive_failures += 1


def prune_runs(session: Session, job_id: int) -> None:
    """Keep the newest KEEP_RUNS runs of a job; waiting and running ones always stay."""
    cutoff = session.exec(
        select(Run.id)
        .where(Run.job_id == job_id)
        .order_by(col(Run.id).desc())
        .offset(KEEP_RUNS - 1)
        .limit(1)
    ).first()
    if cutoff is not None:
        session.exec(
            delete(Run).where(
                col(Run.job_id) == job_id,
                col(Run.id) < cutoff,
                col(Run.status).in_(TERMINAL_STATUSES),
            )
        )


def record(
    session: Session,
    run_id: int,
    attempt: int,
    started_at: datetime,
    result: RunResult,
    now: datetime,
    settings: Settings,
) -> Run | None:
    """Store an attempt's result; the run finishes or waits for a retry.

    Returns the run if a retry is due (the caller submits it), else None. An attempt that
    lost its lease (the sweep took the run back) records nothing.
    """
    run = session.exec(select(Run).where(Run.id == run_id).with_for_update()).first()
    if run is None or run.status != RunStatus.running or run.attempt != attempt:
        session.commit()
        return None
    outcome = "succeeded" if result.succeeded else "failed"
    entry = {"attempt": attempt, "started_at": started_at.isoformat(), "outcome": outcome}
    entry |= {"finished_at": now.isoformat(), "error": result.error}
    run.attempts = [*run.attempts, entry]
    run.output, run.error, run.lease_expires_at = result.output, result.error, None
    if not result.succeeded and result.retryable and attempt <= settings.max_retries:
        run.status = RunStatus.retrying
        run.due_at = now + timedelta(seconds=retry_delay(attempt, settings.retry_base_seconds))
        session.commit()
        return run
    run.status = RunStatus.succeeded if result.succeeded else RunStatus.failed
    run.finished_at = now
    _update_job_outcome(session, run, now)
    if run.job_id is not None:
        prune_runs(session, run.job_id)
    session.commit()
    return None


def _wait_until(moment: datetime, clock: Callable[[], datetime]) -> None:
    delay = (moment - clock()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def execute_run(
    run_id: int,
    queue: RunQueue,
    client: httpx.Client,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Execute one attempt of a run, if it is ours to execute; the worker's task body."""
    with read_session(settings.database_url) as session:
        waiting = session.exec(
            select(Run.due_at).where(Run.id == run_id, col(Run.status).in_(WAITING_STATUSES))
        ).first()
    if waiting is None:
        return
    if waiting - clock() <= EARLY_START:
        _wait_until(waiting, clock)
    with open_session(settings.database_url) as session:
        taken = claim(session, run_id, clock(), settings)
    if taken is None:
        return
    action = taken.action
    result = action if isinstance(action, RunResult) else execute(action, run_id, client)
    with open_session(settings.database_url) as session:
        retry = record(
            session, run_id, taken.run.attempt, taken.started_at, result, clock(), settings
        )
    if retry is not None:
        queue.submit([run_id], eta=retry.due_at)
