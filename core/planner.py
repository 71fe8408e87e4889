"""Scheduled jobs: create, update, pause, resume, delete and run now.

The CLI and the dashboard both call these functions; every rule about what a valid job
is lives here. A function either succeeds and commits, or raises a PlannerError and
changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from core import schedule
from core.agents import clean_name, ensure_unique_name, find
from core.errors import ValidationError, require_one_of
from core.models import (
    ActionKind,
    ActionOwner,
    Agent,
    MisfirePolicy,
    Run,
    RunSource,
    RunStatus,
    ScheduledJob,
    Status,
    Workflow,
    iso,
)
from core.queue import RunQueue

THREAD_MODES = ("new", "continue")


@dataclass(frozen=True)
class JobFields:
    """What a user sets on a job; None means "not given" (keep it, on update)."""

    name: str | None = None
    agent: str | int | None = None
    schedule: str | None = None
    timezone: str | None = None
    chat: str | None = None
    thread: str | None = None
    workflow: str | int | None = None
    input: str | dict[str, Any] | None = None
    misfire: str | None = None


def parse_object(value: str | dict[str, Any], field: str, what: str) -> dict[str, Any]:
    """A JSON object given as text (or already parsed), e.g. workflow input or filters."""
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if value.strip() else {}
    except json.JSONDecodeError as error:
        raise ValidationError(f"The {what} is not valid JSON: {error}.", field) from None
    if not isinstance(parsed, dict):
        raise ValidationError(
            f'The {what} must be a JSON object, such as {{"scope": "week"}}.', field
        )
    return parsed


def action_config(
    session: Session, fields: JobFields, job: ActionOwner | None
) -> tuple[str, dict[str, Any]]:
    """The action and config of a job or trigger after applying `fields` to it (None: new).

    Jobs and triggers share this rule: a chat template or a workflow, never both.
    """
    if fields.chat is not None and fields.workflow is not None:
        raise ValidationError("Choose one action: start a chat or run a workflow, not both.")
    action = job.action if job else None
    config = dict(job.config) if job else {}
    if fields.chat is not None:
        if not fields.chat.strip():
            raise ValidationError(
                "The chat message is empty; write what the agent should be asked.", "chat"
            )
        action, config = ActionKind.chat, {"template": fields.chat, "thread": "new"}
        if job and job.action == ActionKind.chat:
            config["thread"] = job.config.get("thread", "new")
    if fields.workflow is not None:
        workflow = find(session, Workflow, fields.workflow)
        action, config = ActionKind.workflow, {"workflow_id": workflow.id, "input": {}}
        if job and job.action == ActionKind.workflow:
            config["input"] = job.config.get("input", {})
    if action is None:
        raise ValidationError("Choose what the job does: a chat message or a workflow to run.")
    if fields.thread is not None:
        if fields.thread not in THREAD_MODES:
            raise ValidationError("Thread must be 'new' or 'continue'.", "thread")
        if action != ActionKind.chat:
            raise ValidationError("A thread mode only applies to chat jobs.", "thread")
        config["thread"] = fields.thread
    if fields.input is not None:
        if action != ActionKind.workflow:
            raise ValidationError("Input only applies to workflow jobs.", "input")
        config["input"] = parse_object(fields.input, "input", "workflow input")
    return action, config


def _misfire(value: str) -> MisfirePolicy:
    if value not in MisfirePolicy.__members__:
        raise ValidationError("Misfire policy must be 'catch_up_once' or 'skip'.", "misfire")
    return MisfirePolicy(value)


def _clear_waiting_occurrences(session: Session, job: ScheduledJob) -> None:
    """Drop runs queued for future occurrences; a run-now request stays."""
    session.exec(
        delete(Run).where(
            col(Run.job_id) == job.id,
            col(Run.status) == RunStatus.queued,
            col(Run.source).in_([RunSource.schedule, RunSource.catch_up]),
        )
    )


def create_job(
    session: Session, name: str, fields: JobFields, now: datetime, default_timezone: str
) -> ScheduledJob:
    if fields.agent is None:
        raise ValidationError("Choose the agent this job belongs to.", "agent")
    if fields.schedule is None:
        raise ValidationError("Give the job a schedule, for example '0 9 * * *'.", "schedule")
    name = clean_name(name, "job")
    agent = find(session, Agent, fields.agent)
    cron = schedule.validate_cron(fields.schedule)
    timezone = schedule.validate_timezone(fields.timezone or default_timezone)
    action, config = action_config(session, fields, None)
    misfire = _misfire(fields.misfire or MisfirePolicy.catch_up_once)
    ensure_unique_name(session, ScheduledJob, name, "job")
    job = ScheduledJob(
        agent_id=agent.id,
        name=name,
        schedule=cron,
        timezone=timezone,
        action=action,
        config=config,
        misfire_policy=misfire,
        next_run_at=schedule.next_occurrence(cron, timezone, now),
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.commit()
    return job


def find_job(session: Session, ref: str | int) -> ScheduledJob:
    """A job by exact name, else by id."""
    return find(session, ScheduledJob, ref, "job")


def update_job(session: Session, ref: str | int, fields: JobFields, now: datetime) -> ScheduledJob:
    job = find_job(session, ref)
    name = clean_name(fields.name, "job") if fields.name is not None else job.name
    agent = find(session, Agent, fields.agent) if fields.agent is not None else None
    cron = schedule.validate_cron(fields.schedule) if fields.schedule is not None else job.schedule
    timezone = (
        schedule.validate_timezone(fields.timezone) if fields.timezone is not None else job.timezone
    )
    action, config = action_config(session, fields, job)
    misfire = _misfire(fields.misfire) if fields.misfire is not None else job.misfire_policy
    ensure_unique_name(session, ScheduledJob, name, "job", job.id)

    timing_changed = (cron, timezone) != (job.schedule, job.timezone)
    job.name, job.schedule, job.timezone = name, cron, timezone
    job.action, job.config, job.misfire_policy = action, config, misfire
    if agent is not None:
        job.agent_id = agent.id
    if timing_changed and job.status == Status.active:
        _clear_waiting_occurrences(session, job)
        job.next_run_at = schedule.next_occurrence(cron, timezone, now)
    job.updated_at = now
    session.add(job)
    session.commit()
    return job


def pause_job(session: Session, ref: str | int, now: datetime) -> ScheduledJob:
    job = find_job(session, ref)
    if job.status != Status.paused:
        _clear_waiting_occurrences(session, job)
        job.status, job.next_run_at, job.updated_at = Status.paused, None, now
        session.add(job)
        session.commit()
    return job


def resume_job(session: Session, ref: str | int, now: datetime) -> ScheduledJob:
    """Resume from now on: occurrences that fell in the pause are not replayed."""
    job = find_job(session, ref)
    if job.status != Status.active:
        job.status = Status.active
        job.next_run_at = schedule.next_occurrence(job.schedule, job.timezone, now)
        job.updated_at = now
        session.add(job)
        session.commit()
    return job


def delete_job(session: Session, ref: str | int) -> None:
    """Delete the job with its runs (queued ones included)."""
    job = find_job(session, ref)
    session.exec(delete(Run).where(col(Run.job_id) == job.id))
    session.delete(job)
    session.commit()


def run_job_now(session: Session, ref: str | int, queue: RunQueue, now: datetime) -> Run:
    """Queue one immediate run, also for a paused job (a deliberate request)."""
    job = find_job(session, ref)
    run = Run(job_id=job.id, source=RunSource.run_now, due_at=now, created_at=now)
    session.add(run)
    session.commit()
    queue.submit([run.id])
    return run


def list_jobs(session: Session, agent: str | int | None = None) -> list[ScheduledJob]:
    query = select(ScheduledJob).order_by(ScheduledJob.name)
    if agent is not None:
        query = query.where(ScheduledJob.agent_id == find(session, Agent, agent).id)
    return list(session.exec(query))


def list_runs(
    session: Session, job: str | int | None = None, status: str | None = None, limit: int = 50
) -> list[Run]:
    """Newest first."""
    query = select(Run).order_by(col(Run.id).desc()).limit(limit)
    if job is not None:
        query = query.where(Run.job_id == find_job(session, job).id)
    if status is not None:
        query = query.where(Run.status == require_one_of(status, RunStatus, "run status", "status"))
    return list(session.exec(query))


def job_json(job: ScheduledJob) -> dict[str, Any]:
    """The job as the CLI's --json and outside scripts see it."""
    return {
        "id": job.id,
        "agent_id": job.agent_id,
        "name": job.name,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "description": schedule.describe(job.schedule),
        "action": str(job.action),
        "config": job.config,
        "misfire_policy": str(job.misfire_policy),
        "status": str(job.status),
        "health": job.health,
        "next_run_at": iso(job.next_run_at),
        "last_run_at": iso(job.last_run_at),
        "last_outcome": job.last_outcome,
        "consecutive_failures": job.consecutive_failures,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
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
    }
