"""Runs as the rest of Planner sees them: the one recipe for a new Run row, lists, JSON.

Jobs (the tick, run now) and triggers (events, test events) all make their runs here, so
every run gets the same defaults — its random key above all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from core.automations.shared import AUTOMATION_WORDS, by_id, find, load_automation
from core.errors import NotFoundError, ValidationError, require_one_of
from core.running.queue import RunQueue, handed_on
from core.store.models import (
    WAITING_STATUSES,
    EventTrigger,
    Run,
    RunStatus,
    ScheduledJob,
    Status,
    iso,
    new_key,
)

log = logging.getLogger("planner.runs")
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
CANCELLED_RETRYING = "Cancelled by hand while it waited to try again."
CANCELLED_RUNNING = (
    "Cancelled by hand while its call was open: Planner stopped waiting for the answer, but "
    "the agent or workflow may still finish the work."
)


def run_row(source: str, due_at: datetime, now: datetime, **fields: Any) -> dict[str, Any]:
    """A new run's columns, for bulk inserts and for `Run(**run_row(...))` alike.

    `fields` names its automation (`job_id=` or `trigger_id=`) and anything else it sets.
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


def runs_query(
    session: Session,
    job: str | int | None = None,
    trigger: str | int | None = None,
    status: str | None = None,
) -> SelectOfScalar[Run]:
    """Runs, only one job's or trigger's, or of one status, when given."""
    query = select(Run)
    if job is not None:
        query = query.where(Run.job_id == find(session, ScheduledJob, job, "job").id)
    if trigger is not None:
        query = query.where(Run.trigger_id == find(session, EventTrigger, trigger, "trigger").id)
    if status is not None:
        query = query.where(Run.status == require_one_of(status, RunStatus, "run status", "status"))
    return query


def list_runs(
    session: Session,
    job: str | int | None = None,
    trigger: str | int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """Newest first; only one job's or trigger's when given."""
    query = runs_query(session, job, trigger, status)
    return list(session.exec(query.order_by(col(Run.id).desc()).limit(limit)))


def latest_run(runs: list[Run], now: datetime) -> Run | None:
    """The run a card shows as its latest: the newest that has come due. A run planned
    ahead for a moment still to come is the card's next run, and must not hide the reply
    of one that just finished; it is shown only when there is no other."""
    arrived = (run for run in runs if run.status != RunStatus.queued or run.due_at <= now)
    return next(arrived, runs[0] if runs else None)


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
    run = by_id(session, Run, text)
    if run is None:
        raise NotFoundError(f"There is no run with id {text}.")
    return run


# A run saved whose queue message could not be sent, in its waiting_reason until a worker
# claims it: the tick's sweep (core.running.sweeps) submits it once its due time is SWEEP_AFTER
# (2 min) past, at the next tick (every minute) — 2 to 3 minutes on.
NOT_HANDED_ON = (
    "Saved, but the queue did not take it: the worker's sweep starts it within about 3 minutes."
)


def hand_on(session: Session, run: Run, queue: RunQueue) -> Run:
    """Submit a run just committed. The row is the truth: a queue that fails leaves the
    run saved, and it is answered as saved (never as an error, which would make a second
    run of a second try); its waiting_reason says when it starts, and the sweep starts
    it then."""
    if not handed_on(lambda: queue.submit([run.id]), f"run {run.id}"):
        _note_not_handed_on(session, run)
    return run


def _note_not_handed_on(session: Session, run: Run) -> None:
    """NOT_HANDED_ON on the run, unless a worker took it meanwhile (a queue that failed
    after all once it had the message): in a connection of its own, so that a database
    that fails now too cannot undo what the answer shows."""
    try:
        with session.get_bind().begin() as connection:
            noted = connection.execute(
                sa.update(Run)
                .where(col(Run.id) == run.id, col(Run.status) == run.status)
                .where(col(Run.attempt) == run.attempt)
                .values(waiting_reason=NOT_HANDED_ON)
            ).rowcount
    except sa.exc.SQLAlchemyError as error:
        log.warning("run %s: its note not written (%s)", run.id, error)
        noted = 1
    if noted:
        set_committed_value(run, "waiting_reason", NOT_HANDED_ON)


# How often a change is tried again when a worker moved the run on between its read and
# the conditional update (a claim or a record in between; each can happen once or twice).
CHANGE_TRIES = 3


def _change_status(
    session: Session,
    run: Run,
    allowed: tuple[str, ...],
    refusal: str,
    values: Callable[[Run], dict[str, Any]],
) -> Run:
    """Set `values(run)` on a run only while it has the status and attempt read (a worker
    may move it on meanwhile: then read it again and decide again); refuse a status not
    `allowed`. Commits before returning, so nothing is held while the caller goes on."""
    for _ in range(CHANGE_TRIES):
        if run.status not in allowed:
            break
        changed = session.exec(
            sa.update(Run)
            .where(col(Run.id) == run.id, col(Run.status) == run.status)
            .where(col(Run.attempt) == run.attempt)
            .values(**values(run))
        ).rowcount
        session.refresh(run)
        session.commit()
        if changed:
            return run
    raise ValidationError(f"Run {run.id} {STATUS_SAID[run.status]}; {refusal}", "run")


def retry_run(session: Session, ref: str | int, queue: RunQueue, now: datetime) -> Run:
    """Try a failed or cancelled run again now, as one more attempt of the same run: the
    same Idempotency-Key, so a target that did the work already can tell. Not while a
    cancelled attempt's call may still be open (until its lease ends): the two would
    overlap."""
    run = find_run(session, ref)
    automation = load_automation(session, run)
    if automation is not None and automation.status == Status.paused:
        what = AUTOMATION_WORDS[type(automation)]
        raise ValidationError(f"Its {what} {automation.name!r} is paused; resume it first.", "run")
    if run.status == RunStatus.cancelled and run.lease_expires_at and run.lease_expires_at > now:
        seconds = math.ceil((run.lease_expires_at - now).total_seconds())
        raise ValidationError(
            f"Run {run.id} was cancelled while its call was open, and Planner counts that call "
            f"as open until its lease ends (its timeout and a margin), in {seconds} s; try "
            "again after that.",
            "run",
        )
    _change_status(
        session, run, RETRYABLE, "only a failed or cancelled run can be retried.",
        lambda _: {"status": RunStatus.retrying, "due_at": now, "started_at": None,
                   "finished_at": None, "lease_expires_at": None, "waiting_reason": None,
                   "error": None},
    )  # fmt: skip
    return hand_on(session, run, queue)


def _cancelled(run: Run, now: datetime) -> dict[str, Any]:
    """A cancelled run's columns. A running attempt keeps its lease, as its call may stay
    open until then (it still takes its slot), and is listed among the attempts."""
    values = {"status": RunStatus.cancelled, "finished_at": now, "waiting_reason": None}
    if run.status == RunStatus.retrying:
        return values | {"error": CANCELLED_RETRYING}
    if run.status != RunStatus.running:
        return values | {"error": CANCELLED_WAITING}
    entry = {
        "attempt": run.attempt,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": now.isoformat(),
        "outcome": "cancelled",
        "error": CANCELLED_RUNNING,
    }
    return values | {"error": CANCELLED_RUNNING, "attempts": [*run.attempts, entry]}


def cancel_run(session: Session, ref: str | int, now: datetime) -> Run:
    """Stop a waiting or running run. A running call is abandoned, not interrupted: its
    answer, if it comes, is not recorded (the record is conditional on `running`)."""
    run = find_run(session, ref)
    return _change_status(
        session, run, CANCELLABLE, "only a waiting or running run can be cancelled.",
        lambda current: _cancelled(current, now),
    )  # fmt: skip
