"""One run's life: claim it, build its action, execute, record the outcome, retry or finish.

Every state change is a conditional update, so a duplicate queue message, a second
worker or a sweep racing with a slow worker can never make a run execute twice at once
or finish twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, delete, exists, select, update

from core.actions import build_action
from core.config import Settings
from core.db import read_session, take_turns
from core.db import session as open_session
from core.executor import RunResult, execute
from core.models import (
    TERMINAL_STATUSES,
    WAITING_STATUSES,
    ActionOwner,
    Run,
    RunSource,
    RunStatus,
    Status,
    utcnow,
)
from core.owners import load_owner, owner_column, owner_key
from core.queue import RunQueue

KEEP_RUNS = 50
# A worker may pick a run up this early (huey starts eta tasks up to a second late, so
# the dispatcher submits ahead of time); it then waits for the exact moment.
EARLY_START = timedelta(seconds=2)
# Runs that exist because of the owner's schedule or subscription, not a person's request:
# they do not start once the owner is paused.
AUTOMATIC_SOURCES = (RunSource.schedule, RunSource.catch_up, RunSource.event)
# The namespace of the per-job turn taken by claims (core.db.take_turns).
CLAIMS_OF_JOB = 1
SIBLING = aliased(Run)  # built once: aliasing a table is costly on the hot path
log = logging.getLogger("planner.runner")
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """One attempt this worker owns: run `run_id` is `running` with attempt `number`."""

    run_id: int
    owner: tuple[type[ActionOwner], int] | None
    number: int
    started_at: datetime
    earlier: list[dict[str, Any]]


def retry_delay(retry_number: int, base_seconds: float) -> float:
    """Seconds before the n-th retry: base·2^(n-1), with ±20% jitter against stampedes."""
    return base_seconds * 2 ** (retry_number - 1) * random.uniform(0.8, 1.2)


def lease_length(settings: Settings) -> timedelta:
    """How long an attempt may run: the call's timeout and a margin for the rest."""
    return timedelta(seconds=settings.http_timeout_seconds + settings.lease_margin_seconds)


def _skip(session: Session, run: Run, now: datetime, reason: str) -> None:
    session.exec(
        update(Run)
        .where(col(Run.id) == run.id, col(Run.status).in_(WAITING_STATUSES))
        .values(status=RunStatus.skipped, finished_at=now, error=reason)
    )


def claim(
    session: Session, run: Run, owner: ActionOwner, now: datetime, settings: Settings
) -> Attempt | None:
    """Take the run (as read by this worker) for one attempt, in one conditional update.

    Returns None when it is not this worker's to execute: another worker took it or it
    finished, its job or trigger was paused, or a job's previous run is still running
    (then the run is recorded as skipped).
    """
    if owner.status == Status.paused and run.source in AUTOMATIC_SOURCES:
        _skip(session, run, now, "It was paused before this run started.")
        session.commit()
        return None
    if run.job_id is not None:
        # Claims of one job's runs take turns, so the overlap check below sees the other's.
        take_turns(session, CLAIMS_OF_JOB, run.job_id)
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
    return Attempt(run.id, owner_key(run), run.attempt + 1, now, list(run.attempts))


def storable_text(text: str | None) -> str | None:
    """Text every database stores: PostgreSQL refuses NUL characters, and lone surrogates
    cannot be encoded; both can come from a target's answer."""
    if text is None:
        return None
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")


def _record_outcome(
    session: Session, owner: tuple[type[ActionOwner], int], result: RunResult, now: datetime
) -> None:
    """The job's or trigger's last outcome, which its health colour follows."""
    model, owner_id = owner
    failures = 0 if result.succeeded else model.consecutive_failures + 1
    session.exec(
        update(model)
        .where(col(model.id) == owner_id)
        .values(
            last_run_at=now,
            last_outcome="succeeded" if result.succeeded else f"failed: {result.error}",
            consecutive_failures=failures,
        )
    )


def prune_runs(session: Session, owner: tuple[type[ActionOwner], int]) -> None:
    """Keep the newest KEEP_RUNS runs of a job or trigger; unfinished ones always stay."""
    column, owner_id = owner_column(owner[0]), owner[1]
    cutoff = (
        select(Run.id)
        .where(column == owner_id)
        .order_by(col(Run.id).desc())
        .offset(KEEP_RUNS - 1)
        .limit(1)
        .scalar_subquery()
    )
    session.exec(
        delete(Run).where(
            column == owner_id, col(Run.id) < cutoff, col(Run.status).in_(TERMINAL_STATUSES)
        )
    )


def record(
    session: Session, attempt: Attempt, result: RunResult, now: datetime, settings: Settings
) -> datetime | None:
    """Store an attempt's result: the run finishes, or waits for a retry.

    Returns when the retry is due (the caller submits it), else None. An attempt that
    lost its lease (the sweep took the run back) records nothing.
    """
    result = replace(result, error=storable_text(result.error))
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
    if recorded and not retries and attempt.owner is not None:
        _record_outcome(session, attempt.owner, result, now)
        prune_runs(session, attempt.owner)
    session.commit()
    return retry_at if recorded else None


def _load(session: Session, run_id: int) -> tuple[Run, ActionOwner] | None:
    run = session.exec(
        select(Run).where(Run.id == run_id, col(Run.status).in_(WAITING_STATUSES))
    ).first()
    owner = None if run is None else load_owner(session, run)
    return None if owner is None else (run, owner)


def _or_failure(step: Callable[[], T], reason: str) -> T | RunResult:
    """The step's result, or a failed attempt saying `reason` and what was raised: a run
    never stays queued or running because of an exception in its own preparation or call."""
    try:
        return step()
    except OperationalError:
        raise  # the database, not the run: the sweep submits the run again
    except Exception as error:
        log.exception("%s", reason)
        return RunResult(succeeded=False, error=f"{reason}: {type(error).__name__}: {error}")


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
        run, owner = loaded
        if run.due_at - clock() > EARLY_START:
            return  # an early duplicate message; the run's own is still to come
        action = _or_failure(
            lambda: build_action(session, run, owner, settings),
            "The run could not be prepared",
        )
    delay = (run.due_at - clock()).total_seconds()
    if delay > 0:
        time.sleep(delay)
    with open_session(settings.database_url) as session:
        attempt = claim(session, run, owner, clock(), settings)
    if attempt is None:
        return
    result = (
        action
        if isinstance(action, RunResult)
        else _or_failure(lambda: execute(action, run.key, client), "The call failed")
    )
    with open_session(settings.database_url) as session:
        retry_at = record(session, attempt, result, clock(), settings)
    if retry_at is not None:
        queue.submit([run_id], eta=retry_at)
