"""Runs as the rest of Planner sees them: the one recipe for a new Run row, lists, JSON.

Jobs (the tick, run now) and triggers (events, test events) all make their runs here, so
every run gets the same defaults — its random key above all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.errors import require_one_of
from core.models import EventTrigger, Run, RunStatus, ScheduledJob, iso, new_key
from core.owners import find


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
