"""Runs as the rest of Planner sees them: the one recipe for a new Run row, lists, JSON.

Jobs (the tick, run now) and triggers (events, test events) all make their runs here, so
every run gets the same defaults — its random key above all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.errors import NotFoundError, ValidationError, require_one_of
from core.models import (
    WAITING_STATUSES,
    EventTrigger,
    Run,
    RunStatus,
    ScheduledJob,
    Status,
    iso,
    new_key,
)
from core.owners import OWNER_WORDS, find, load_owner
from core.queue import RunQueue

RETRYABLE = (RunStatus.failed, RunStatus.cancelled)
CANCELLABLE = (*WAITING_STATUSES, RunStatus.running)
# A run's status in a refusal: "Run 12 has succeeded; only …".
STATUS_SAID = {
    RunStatus.queued: "is waiting to start", RunStatus.running: "is running",
    RunStatus.retrying: "is waiting to try again", RunStatus.succeeded: "has succeeded",
    RunStatus.failed: "has failed", RunStatus.skipped: "was skipped",
    RunStatus.missed: "was missed", RunStatus.cancelled: "was cancelled",
}  # fmt: skip
CANCELLED_WAITING = "Cancelled by hand before it started."
CANCELLED_RUNNING = (
    "Cancelled by hand while its call was open: Planner stopped waiting for the answer, but "
    "the agent or workflow may still finish the work."
)


def run_row(source: str, due_at: datetime, now: datetime, **fields: Any) -> dict[str, Any]:
    """A new run's columns, for bulk inserts and for `Run(**run_row(...))` alike.

    `fields` names its owner (`job_id=` or `trigger_id=`) and anything else it sets.
    """
    row = {
        "key": new_key(),
        "job_id": None,
        "trigger_id": None,
        "event_id": None,
        "source": source,
        "status": RunStatus.queued,
        "scheduled_for": None,
        "due_at": due_at,
        "attempt": 0,
        "attempts": [],
        "created_at": now,
        "finished_at": None,
        "error": None,
        "output": None,
    }
    return row | fields


def list_runs(
    session: Session,
    job: str | int | None = None,
    trigger: str | int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """Newest first; only one job's or trigger's when given."""
    query = select(Run).order_by(col(Run.id).desc()).limit(limit)
    if job is not None:
        query = query.where(Run.job_id == find(session, ScheduledJob, job, "job").id)
    if trigger is not None:
        query = query.where(Run.trigger_id == find(session, EventTrigger, trigger, "trigger").id)
    if status is not None:
        query = query.where(Run.status == require_one_of(status, RunStatus, "run status", "status"))
    return list(session.exec(query))


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "key": run.key,
        "job_id": run.job_id,
        "trigger_id": run.trigger_id,
        "event_id": run.event_id,
        "source": str(run.source),
        "status": str(run.status),
        "attempt": run.attempt,
        "attempts": run.attempts,
        "scheduled_for": iso(run.scheduled_for),
        "due_at": iso(run.due_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "input": run.input,
        "output": run.output,
        "error": run.error,
        "target": run.target,
        "waiting_reason": run.waiting_reason,
    }


def find_run(session: Session, ref: str | int) -> Run:
    """A run by its id (runs have no names)."""
    text = str(ref).strip()
    if not (text.isascii() and text.isdigit()):
        raise ValidationError(f"{text!r} is not a run id; runs are named by their number.", "run")
    run = session.get(Run, int(text))
    if run is None:
        raise NotFoundError(f"There is no run with id {text}.")
    return run


def _change_status(
    session: Session, run: Run, allowed: tuple[str, ...], refusal: str, **values: Any
) -> Run:
    """Set a run's columns only if its status is still the one read (a worker may have
    moved it on meanwhile); else refuse with the status it has now."""
    if run.status in allowed:
        changed = session.exec(
            sa.update(Run)
            .where(col(Run.id) == run.id, col(Run.status) == run.status)
            .values(**values)
        ).rowcount
        session.commit()
        session.refresh(run)
        if changed:
            return run
    raise ValidationError(f"Run {run.id} {STATUS_SAID[run.status]}; {refusal}", "run")


def retry_run(session: Session, ref: str | int, queue: RunQueue, now: datetime) -> Run:
    """Try a failed or cancelled run again now, as one more attempt of the same run: the
    same Idempotency-Key, so a target that did the work already can tell."""
    run = find_run(session, ref)
    owner = load_owner(session, run)
    if owner is not None and owner.status == Status.paused:
        what = OWNER_WORDS[type(owner)]
        raise ValidationError(f"Its {what} {owner.name!r} is paused; resume it first.", "run")
    _change_status(
        session, run, RETRYABLE, "only a failed or cancelled run can be retried.",
        status=RunStatus.retrying, due_at=now, finished_at=None, lease_expires_at=None,
        waiting_reason=None,
    )  # fmt: skip
    queue.submit([run.id])
    return run


def cancel_run(session: Session, ref: str | int, now: datetime) -> Run:
    """Stop a waiting or running run. A running call is abandoned, not interrupted: its
    answer, if it comes, is not recorded (the record is conditional on `running`)."""
    run = find_run(session, ref)
    why = CANCELLED_RUNNING if run.status == RunStatus.running else CANCELLED_WAITING
    return _change_status(
        session, run, CANCELLABLE, "only a waiting or running run can be cancelled.",
        status=RunStatus.cancelled, finished_at=now, lease_expires_at=None, waiting_reason=None,
        error=why,
    )  # fmt: skip
