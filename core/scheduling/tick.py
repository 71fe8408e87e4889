"""The tick: turn due occurrences into Run rows and apply the misfire policy; then it has
the sweeps (core.running.sweeps), the inbox prune and the heartbeat done, in that order.

A tick looks ahead (huey checks periodic tasks every 60 s from the consumer's start, not
on the minute) and submits each occurrence with an eta, so runs start on time. The Run
row is inserted with `ON CONFLICT DO NOTHING` on (job_id, scheduled_for): a second tick
or a second worker inserts nothing and so submits nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.config import Settings
from core.errors import ValidationError
from core.events.inbox import prune_inbox
from core.running import heartbeats, sweeps
from core.running.queue import RunQueue, handed_on
from core.running.runs import run_row
from core.scheduling.timing import Timing, delay
from core.store.db import get_engine, insert_ignoring_conflicts
from core.store.models import (
    MisfirePolicy,
    Run,
    RunSource,
    RunStatus,
    ScheduledJob,
    Status,
)

LOOKAHEAD = timedelta(seconds=75)
# Submitted this much before their time; the worker then waits for the exact moment.
SUBMIT_AHEAD = timedelta(seconds=3)
JOBS_PER_BATCH = 2_000
# Late occurrences counted per job and tick; a longer outage is counted over several ticks.
MAX_LATE_PER_TICK = 10_000

RUN_TABLE: sa.Table = Run.__table__  # type: ignore[assignment]
JOB_TABLE: sa.Table = ScheduledJob.__table__  # type: ignore[assignment]


@dataclass
class TickReport:
    runs_created: int = 0
    occurrences_missed: int = 0
    runs_resubmitted: int = 0
    events_resubmitted: int = 0
    leases_expired: int = 0
    submitted: dict[datetime, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What one job's due occurrences become: new Run rows and the next occurrence."""

    runs: list[dict[str, Any]]
    next_run_at: datetime | None
    missed: int


def _missed_row(job_id: int, missed: list[datetime], now: datetime) -> dict[str, Any]:
    count, first, last = len(missed), missed[0], missed[-1]
    times = (
        f"at {first:%Y-%m-%d %H:%M} UTC"
        if count == 1
        else (f"between {first:%Y-%m-%d %H:%M} and {last:%Y-%m-%d %H:%M} UTC")
    )
    return run_row(
        RunSource.schedule,
        now,
        now,
        job_id=job_id,
        status=RunStatus.missed,
        scheduled_for=first,
        finished_at=now,
        output={"missed_occurrences": count, "first": first.isoformat(), "last": last.isoformat()},
        error=f"Missed {count} run{'s' if count != 1 else ''} {times}: no worker was running.",
    )


@lru_cache(maxsize=4096)
def due_moments(
    timing: Timing, next_run_at: datetime, now: datetime
) -> tuple[tuple[datetime, ...], datetime | None]:
    """A job's occurrences from `next_run_at` to the look-ahead horizon (at most
    MAX_LATE_PER_TICK past ones), and the first occurrence after them (None: no more).

    Cached: jobs sharing a schedule and timezone are usually due together, and computing
    occurrences is most of a tick's work.
    """
    upcoming = itertools.chain([next_run_at], timing.occurrences(next_run_at))
    moments: list[datetime] = []
    moment, past = next(upcoming), 0
    while moment is not None and moment <= now + LOOKAHEAD and past < MAX_LATE_PER_TICK:
        moments.append(moment)
        past += moment < now
        moment = next(upcoming, None)
    return tuple(moments), moment


@dataclass(frozen=True)
class DueJob:
    """What planning a job's occurrences reads of it."""

    id: int
    key: str
    timing: Timing
    next_run_at: datetime
    misfire_policy: str
    jitter_seconds: int = 0


def plan_occurrences(job: DueJob, now: datetime, grace: timedelta) -> Plan:
    """Runs for a job's occurrences from its next run up to the look-ahead horizon.

    Occurrences already past (the worker was down, or a tick came late) are never replayed
    one by one: only the newest can run — as a normal late run within the grace window,
    else as one catch-up run (policy catch_up_once) or not at all (skip) — and the others
    become one `missed` entry that counts them. An occurrence still ahead starts up to
    the job's random delay after its time; a late one starts at once.
    """
    moments, moment = due_moments(job.timing, job.next_run_at, now)
    past = [m for m in moments if m < now]
    runs = [
        run_row(
            RunSource.schedule,
            m + delay(job.key, m, job.jitter_seconds),
            now,
            job_id=job.id,
            scheduled_for=m,
        )
        for m in moments
        if m >= now
    ]
    # else more past ones are left for the next tick
    newest = past[-1] if past and (moment is None or moment >= now) else None
    on_time = newest is not None and newest >= now - grace
    catch_up = job.misfire_policy == MisfirePolicy.catch_up_once
    runs_newest = on_time or (newest is not None and catch_up)
    if runs_newest:
        source = RunSource.schedule if on_time else RunSource.catch_up
        runs.append(run_row(source, now, now, job_id=job.id, scheduled_for=newest))
    skipped = past[:-1] if runs_newest else past
    if skipped:
        runs.append(_missed_row(job.id, skipped, now))
    return Plan(runs=runs, next_run_at=moment, missed=len(skipped))


def _due_jobs(connection: sa.Connection, now: datetime, job_id: int | None) -> list[sa.Row]:
    """Active jobs due within the look-ahead (only `job_id`, when given)."""
    only = (JOB_TABLE.c.id == job_id,) if job_id is not None else ()
    return connection.execute(
        sa.select(
            JOB_TABLE.c.id,
            JOB_TABLE.c.key,
            JOB_TABLE.c.schedule,
            JOB_TABLE.c.timezone,
            JOB_TABLE.c.starts_on,
            JOB_TABLE.c.ends_on,
            JOB_TABLE.c.next_run_at,
            JOB_TABLE.c.misfire_policy,
            JOB_TABLE.c.jitter_seconds,
        )
        .where(
            JOB_TABLE.c.status == Status.active,
            JOB_TABLE.c.next_run_at <= now + LOOKAHEAD,
            *only,
        )
        .order_by(JOB_TABLE.c.next_run_at)
        .limit(JOBS_PER_BATCH)
        # PostgreSQL: concurrent ticks take different jobs instead of waiting on each other
        # (SQLite serializes writers anyway and ignores this).
        .with_for_update(skip_locked=True)
    ).all()


def _dispatch_batch(
    connection: sa.Connection,
    now: datetime,
    grace: timedelta,
    report: TickReport,
    job_id: int | None = None,
    advance: bool = True,
) -> int:
    """Plan and insert one batch of due jobs in the connection's transaction; returns
    how many jobs it handled. Without `advance`, the jobs' next run stays the occurrence
    just planned (the tick advances it later and, by the run's key, adds nothing)."""
    jobs = _due_jobs(connection, now, job_id)
    if not jobs:
        return 0
    rows: list[dict[str, Any]] = []
    advances: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    for job in jobs:
        try:
            timing = Timing(job.schedule, job.timezone, job.starts_on, job.ends_on)
            due = DueJob(
                job.id, job.key, timing, job.next_run_at, job.misfire_policy, job.jitter_seconds
            )
            plan = plan_occurrences(due, now, grace)
        except ValidationError as error:  # saved by an older, laxer Planner
            broken.append({"job": job.id, "outcome": f"failed: {error} Edit the job's schedule."})
            continue
        rows.extend(plan.runs)
        report.occurrences_missed += plan.missed
        advances.append({"job": job.id, "seen": job.next_run_at, "next": plan.next_run_at})
    insert = insert_ignoring_conflicts(connection.engine, RUN_TABLE)
    returning = insert.returning(RUN_TABLE.c.id, RUN_TABLE.c.status, RUN_TABLE.c.due_at)
    inserted = connection.execute(returning, rows).all() if rows else []
    if advance and advances:
        # Conditional on the value read: a job edited meanwhile keeps its new schedule.
        connection.execute(
            JOB_TABLE.update()
            .where(
                JOB_TABLE.c.id == sa.bindparam("job"),
                JOB_TABLE.c.next_run_at == sa.bindparam("seen"),
            )
            .values(next_run_at=sa.bindparam("next")),
            advances,
        )
    if broken:
        _stop_broken(connection, broken)
    report.runs_created += len(inserted)
    for run_id, status, due_at in inserted:
        if status == RunStatus.queued:
            report.submitted.setdefault(due_at, []).append(run_id)
    return len(jobs)


def _stop_broken(connection: sa.Connection, broken: list[dict[str, Any]]) -> None:
    """A job whose stored schedule can no longer be read stops (no next run) and turns
    red saying why, instead of failing the whole tick for every other job."""
    connection.execute(
        JOB_TABLE.update()
        .where(JOB_TABLE.c.id == sa.bindparam("job"))
        .values(
            next_run_at=None,
            last_outcome=sa.bindparam("outcome"),
            consecutive_failures=JOB_TABLE.c.consecutive_failures + 1,
        ),
        broken,
    )


def _submit_planned(queue: RunQueue, report: TickReport) -> None:
    """Each due moment's runs as one message, a little before their time."""
    for due_at, run_ids in sorted(report.submitted.items()):
        queue.submit(run_ids, eta=due_at - SUBMIT_AHEAD)


def plan_soon(session: Session, job_id: int, queue: RunQueue, now: datetime) -> None:
    """Plan a job's occurrences inside the look-ahead at once: a job created, resumed or
    rescheduled just before its time would otherwise wait for the next tick (up to a
    minute late). Its occurrences are all still ahead, so no grace applies; its next run
    stays the one planned, which is what people should see."""
    report = TickReport()
    _dispatch_batch(session.connection(), now, timedelta(0), report, job_id, advance=False)
    session.commit()
    handed_on(lambda: _submit_planned(queue, report), f"job {job_id}'s next runs")


def _plan_due_jobs(settings: Settings, now: datetime, report: TickReport) -> None:
    """Every due job, a batch per transaction."""
    engine = get_engine(settings.database_url)
    grace = timedelta(seconds=settings.misfire_grace_seconds)
    while True:
        with engine.begin() as connection:
            if _dispatch_batch(connection, now, grace, report) < JOBS_PER_BATCH:
                return


def tick(settings: Settings, queue: RunQueue, now: datetime, worker: str) -> TickReport:
    """One dispatcher pass: plan due jobs, make good lost queue messages and dead
    workers' runs, prune the inbox, say this worker is alive."""
    report = TickReport()
    _plan_due_jobs(settings, now, report)
    _submit_planned(queue, report)
    report.runs_resubmitted, report.events_resubmitted = sweeps.resubmit_lost(settings, queue, now)
    report.leases_expired = sweeps.take_back_expired(settings, queue, now)
    prune_inbox(settings, now)
    heartbeats.beat(settings, worker, now)
    return report
