"""Scheduled jobs: create, update, pause, resume, delete and run now.

The CLI, the dashboard, the API and a setup file's import call these functions with
typed values (text is read where it is typed: core.automations.text); every rule about
what a valid job is lives here. A function either succeeds and commits, or raises a
PlannerError and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, delete

from core.automations import policies
from core.automations.fields import UNCHANGED, AutomationFields, Unchanged, kept
from core.automations.shared import (
    Checked,
    action_config,
    automation_json,
    checked_name,
    find,
)
from core.automations.templates import DEFAULT_VARIABLES, default_variables, missing_warning
from core.automations.workflow_input import checked_template
from core.errors import Checks, ValidationError
from core.notifications import channels
from core.running.queue import RunQueue
from core.running.runs import hand_on, run_row
from core.scheduling import timing
from core.scheduling.tick import plan_soon
from core.store.models import (
    ActionKind,
    Agent,
    MisfirePolicy,
    Run,
    RunSource,
    RunStatus,
    ScheduledJob,
    Status,
    iso,
)


@dataclass(frozen=True)
class JobFields(AutomationFields):
    """What a user sets on a job; UNCHANGED keeps what it has (on a new job, its default)."""

    schedule: str | Unchanged = UNCHANGED  # cron, or `once 2026-12-24 09:00`
    at: datetime | Unchanged = UNCHANGED  # instead of a schedule: once, on the job's clock
    timezone: str | Unchanged = UNCHANGED
    misfire: MisfirePolicy | Unchanged = UNCHANGED
    starts_on: date | Unchanged | None = UNCHANGED  # None: no first day
    ends_on: date | Unchanged | None = UNCHANGED  # None: no last day
    jitter: timedelta | Unchanged = UNCHANGED  # a random delay; 0 for none

    def schedule_given(self) -> str | None:
        """The schedule asked for: a schedule, or the one-off of `at` (not both)."""
        if self.schedule is not UNCHANGED and self.at is not UNCHANGED:
            raise ValidationError("Give a schedule or a time to run once at, not both.", "at")
        if self.at is not UNCHANGED:
            return timing.once_schedule(self.at)
        return None if self.schedule is UNCHANGED else self.schedule

    def delay_seconds(self, current: int) -> int:
        """The random delay in whole seconds, at most an hour (`current` when unchanged)."""
        if self.jitter is UNCHANGED:
            return current
        return timing.whole_seconds(
            self.jitter, "A random delay", "jitter", timing.MAX_JITTER_SECONDS
        )


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
    session: Session,
    name: str,
    fields: JobFields,
    now: datetime,
    default_timezone: str,
    queue: RunQueue | None = None,
    finished_ok: bool = False,
) -> ScheduledJob:
    """Add a job. With `queue`, an occurrence within the tick's look-ahead is planned and
    submitted at once, so a job made just before its time still starts on time.
    `finished_ok`: a job whose timing is over is saved as done (a restored setup), not
    refused."""
    if fields.agent is UNCHANGED:
        raise ValidationError("Choose the agent this job belongs to.", "agent")
    agent = find(session, Agent, fields.agent)
    new = timing.Timing("", default_timezone)
    checked = _checked(session, name, fields, None, new, now, finished_ok)
    when = checked.timing
    job = ScheduledJob(
        agent_id=agent.id,
        name=checked.name,
        schedule=when.schedule,
        timezone=when.timezone,
        starts_on=when.starts_on,
        ends_on=when.ends_on,
        jitter_seconds=checked.jitter,
        action=checked.action,
        config=checked.config,
        misfire_policy=MisfirePolicy(kept(fields.misfire, MisfirePolicy.catch_up_once)),
        next_run_at=when.next_after(now),
        created_at=now,
        updated_at=now,
    )
    policies.apply(job, checked.policies)
    channels.tell(job, checked.told)
    session.add(job)
    session.commit()
    _plan_soon(session, job, queue, now)
    return job


def check_job(
    session: Session, name: str, fields: JobFields, ref: str | int | None, now: datetime,
    default_timezone: str,
) -> None:  # fmt: skip
    """Raise all that create_job (`ref` None) or update_job would refuse of `fields`,
    changing nothing: for a form with refusals of its own to show beside these."""
    if ref is None:
        _checked(session, name, fields, None, timing.Timing("", default_timezone), now, False)
    else:
        job = find_job(session, ref)
        _checked(session, fields.name, fields, job, job.timing, now, False)


@dataclass(frozen=True)
class _Checked(Checked):
    """What a job's fields come to, every one of them checked."""

    told: channels.Telling  # its module reads names with core.automations.shared
    timing: timing.Timing
    jitter: int


def _checked(
    session: Session, name: str | Unchanged, fields: JobFields, job: ScheduledJob | None,
    current: timing.Timing, now: datetime, finished_ok: bool,
) -> _Checked:  # fmt: skip
    """`fields` applied to `job` (None: a new one, whose `current` timing has no schedule),
    each field checked; all that is refused is raised at once (core.errors.Checks)."""
    checks = Checks()
    clean = checked_name(checks, session, ScheduledJob, name, job)
    when = checks.check(lambda: _chosen_timing(fields, current, now, finished_ok))
    if job is None and fields.schedule is UNCHANGED and fields.at is UNCHANGED:
        checks.refuse("Give the job a schedule, for example '0 9 * * *'.", "schedule")
    jitter = checks.check(lambda: fields.delay_seconds(job.jitter_seconds if job else 0))
    action = checks.check(lambda: _action(session, fields, job))
    chosen = checks.check(lambda: fields.chosen_policies(job))
    told = checks.check(lambda: channels.subscription(session, job, *fields.telling()))
    checks.raise_any()
    return _Checked(clean, *action, chosen, told, when, jitter)


def _action(
    session: Session, fields: JobFields, job: ScheduledJob | None
) -> tuple[str, dict[str, Any]]:
    """The action and its config; a workflow input given is a template of the variables
    every job has, checked as it is saved."""
    action, config = action_config(session, fields, job, "job")
    if action == ActionKind.workflow and fields.input is not UNCHANGED:
        checked_template(config["input"], list(DEFAULT_VARIABLES))
    return action, config


def _plan_soon(session: Session, job: ScheduledJob, queue: RunQueue | None, now: datetime) -> None:
    if queue is not None and job.status == Status.active:
        plan_soon(session, job.id, queue, now)


def find_job(session: Session, ref: str | int) -> ScheduledJob:
    """A job by id (all digits), else by exact name."""
    return find(session, ScheduledJob, ref, "job")


def update_job(
    session: Session,
    ref: str | int,
    fields: JobFields,
    now: datetime,
    queue: RunQueue | None = None,
    finished_ok: bool = False,
) -> ScheduledJob:
    """Change a job; a new schedule is planned at once as on create (with `queue`)."""
    job = find_job(session, ref)
    agent = find(session, Agent, fields.agent) if fields.agent is not UNCHANGED else None
    checked = _checked(session, fields.name, fields, job, job.timing, now, finished_ok)

    when = checked.timing
    timing_changed = when != job.timing
    job.name, job.schedule, job.timezone = checked.name, when.schedule, when.timezone
    job.starts_on, job.ends_on, job.jitter_seconds = when.starts_on, when.ends_on, checked.jitter
    job.action, job.config = checked.action, checked.config
    job.misfire_policy = MisfirePolicy(kept(fields.misfire, job.misfire_policy))
    policies.apply(job, checked.policies)
    channels.tell(job, checked.told)
    if agent is not None:
        job.agent_id = agent.id
    if timing_changed and job.status == Status.active:
        _clear_waiting_occurrences(session, job)
        job.next_run_at = when.next_after(now)
    job.updated_at = now
    session.add(job)
    session.commit()
    if timing_changed:
        _plan_soon(session, job, queue, now)
    return job


def _chosen_timing(
    fields: JobFields, current: timing.Timing, now: datetime, finished_ok: bool
) -> timing.Timing:
    """`current` with what `fields` change, checked only when it changes (a job that is
    done can still be renamed); a new job's `current` has no schedule yet. A job made to
    run once drops the days it had, unless they are given (and so refused)."""
    given = fields.schedule_given()
    once = given is not None and timing.Timing(given, current.timezone).once_at is not None

    def day(value: date | Unchanged | None, current_day: date | None) -> date | None:
        return kept(value, None if once else current_day)

    when = timing.Timing(
        given if given is not None else current.schedule,
        kept(fields.timezone, "") or current.timezone,
        day(fields.starts_on, current.starts_on),
        day(fields.ends_on, current.ends_on),
    )
    return when if when == current else timing.checked(when, now, finished_ok)


def pause_job(session: Session, ref: str | int, now: datetime) -> ScheduledJob:
    job = find_job(session, ref)
    if job.status != Status.paused:
        _clear_waiting_occurrences(session, job)
        job.status, job.next_run_at, job.updated_at = Status.paused, None, now
        session.add(job)
        session.commit()
    return job


def resume_job(
    session: Session, ref: str | int, now: datetime, queue: RunQueue | None = None
) -> ScheduledJob:
    """Resume from now on: occurrences that fell in the pause are not replayed; the next
    one is planned at once as on create (with `queue`). A job with no run left (a one-off
    whose time passed in the pause) is refused, rather than shown done without running."""
    job = find_job(session, ref)
    if job.status != Status.active:
        next_run = job.timing.next_after(now)
        if next_run is None:
            raise ValidationError(
                f"{job.name} has no run left: {job.timing.describe()} has passed. "
                "Give it a new time to resume it.",
                "schedule",
            )
        job.status = Status.active
        job.next_run_at = next_run
        job.updated_at = now
        session.add(job)
        session.commit()
        _plan_soon(session, job, queue, now)
    return job


def delete_job(session: Session, ref: str | int) -> None:
    """Delete the job with its runs (queued ones included)."""
    job = find_job(session, ref)
    session.exec(delete(Run).where(col(Run.job_id) == job.id))
    session.delete(job)
    session.commit()


def run_job_now(session: Session, ref: str | int, queue: RunQueue, now: datetime) -> Run:
    """Queue one immediate run, also for a paused job (a deliberate request). Once it is
    saved it is the answer, also when the queue fails (core.running.runs.hand_on)."""
    job = find_job(session, ref)
    run = Run(**run_row(RunSource.run_now, now, now, job_id=job.id))
    session.add(run)
    session.commit()
    return hand_on(session, run, queue)


def template_warning(session: Session, job: ScheduledJob, now: datetime) -> str | None:
    """What a chat job's message uses that no run will fill in (with the names it was
    most likely meant to be), or None: said when it is saved, never refused."""
    if job.action != ActionKind.chat:
        return None
    agent = session.get(Agent, job.agent_id)
    variables = default_variables(now, job.timezone, job.name, agent.name, job.key)
    return missing_warning(job.config.get("template", ""), variables)


def job_json(job: ScheduledJob) -> dict[str, Any]:
    """The job as the CLI's --json and outside scripts see it."""
    return automation_json(job) | {
        "schedule": job.schedule,
        "timezone": job.timezone,
        "starts_on": job.starts_on.isoformat() if job.starts_on else None,
        "ends_on": job.ends_on.isoformat() if job.ends_on else None,
        "jitter_seconds": job.jitter_seconds,
        "description": job.timing.describe(),
        "misfire_policy": str(job.misfire_policy),
        "next_run_at": iso(job.next_run_at),
    }
