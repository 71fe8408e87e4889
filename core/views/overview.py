"""Read models for the dashboard: what a page shows, in few queries and in plain words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.automations.shared import automation_column
from core.running.heartbeats import BEAT_EVERY
from core.scheduling.occurrences import zone
from core.store import pages
from core.store.models import (
    TERMINAL_STATUSES,
    ActionKind,
    Automation,
    Heartbeat,
    Run,
    RunSource,
    ScheduledJob,
    Status,
    Workflow,
)

# A worker is down once it has missed two beats in a row (core.running.heartbeats): one
# beat late — a database busy for seconds — is no false alarm.
OFFLINE_AFTER = 3 * BEAT_EVERY
# How often an open page reads the worker's state again (the dashboard's banner).
WORKER_STATE_EVERY = timedelta(seconds=5)
# The promise: a worker that dies without a word is shown down this soon at the latest
# (one that stops gracefully says so, and is shown down at the next read).
SHOWN_DOWN_WITHIN = OFFLINE_AFTER + WORKER_STATE_EVERY
# A run that started this much after its moment says so. Runs start within a second or
# two of their moment (the flight claims a second ahead; idle workers poll twice a
# second), so this is no ordinary delay, and it is shorter than OFFLINE_AFTER so that a
# run the down worker kept waiting says why.
LATE_AFTER = timedelta(seconds=30)
HISTORY = 10


@dataclass(frozen=True)
class WorkerStatus:
    online: bool
    last_seen: datetime | None
    workers_online: int  # distinct worker processes that ticked recently

    def seconds_ago(self, now: datetime) -> float | None:
        return None if self.last_seen is None else (now - self.last_seen).total_seconds()


def worker_status(session: Session, now: datetime) -> WorkerStatus:
    """Online when some worker beat within OFFLINE_AFTER; how many did."""
    recent = sa.func.count().filter(col(Heartbeat.last_tick_at) > now - OFFLINE_AFTER)
    last, count = session.exec(select(sa.func.max(Heartbeat.last_tick_at), recent)).one()
    return WorkerStatus(online=count > 0, last_seen=last, workers_online=count)


def worker_down_in_words(worker: WorkerStatus, now: datetime) -> str:
    """What the dashboard says while no worker is running, to people who run Planner on a
    hosting platform and do not program: what it means for them, and what to do there."""
    since = now - worker.last_seen if worker.last_seen is not None else None
    heard = f" (last heard from {span(since)} ago)" if since is not None else ""
    return (
        "Nothing will run until the worker is started. Planner's worker — the part that "
        f"runs your jobs and answers events — is not running{heard}. Restart Planner "
        "on your hosting platform (Heroku: More → Restart all dynos; Render or Railway: "
        "restart the service). If you run separate workers, check that the *worker* "
        "process is on. On your own computer, stop Planner and start it again. This "
        "message goes away by itself once the worker is back; runs due meanwhile start "
        "then."
    )


def recent_runs(
    session: Session,
    model: type[Automation],
    automation_ids: list[int],
    per_automation: int = HISTORY,
) -> dict[int, list[Run]]:
    """The newest runs of each job or trigger, in one query (no query per card)."""
    if not automation_ids:
        return {}
    column = automation_column(model)
    ranked = (
        select(
            Run.id,
            sa.func.row_number()
            .over(partition_by=column, order_by=col(Run.id).desc())
            .label("rank"),
        )
        .where(column.in_(automation_ids))
        .subquery()
    )
    runs = session.exec(
        select(Run)
        .join(ranked, ranked.c.id == Run.id)
        .where(ranked.c.rank <= per_automation)
        .order_by(col(Run.id).desc())
    ).all()
    grouped: dict[int, list[Run]] = {automation_id: [] for automation_id in automation_ids}
    for run in runs:
        grouped[run.job_id if run.job_id is not None else run.trigger_id].append(run)
    return grouped


def action_in_words(automation: Automation, workflows: dict[int, Workflow], limit: int = 80) -> str:
    if automation.action == ActionKind.workflow:
        workflow = workflows.get(automation.config.get("workflow_id"))
        return f"Runs workflow {workflow.name if workflow else '(deleted)'}"
    template = " ".join(str(automation.config.get("template", "")).split())
    shown = template if len(template) <= limit else template[: limit - 1] + "…"
    return f"Starts a chat: {shown}"


def relative(moment: datetime | None, now: datetime) -> str:
    """ "in 3 h", "5 min ago", "just now" — for people, not machines."""
    if moment is None:
        return "never"
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "just now" if seconds <= 0 else "in a few seconds"
    unit, length = next((u, n) for u, n in (("d", 86400), ("h", 3600), ("min", 60)) if size >= n)
    amount = round(size / length)
    return f"in {amount} {unit}" if seconds > 0 else f"{amount} {unit} ago"


def last_test_in_words(runs: Iterable[Run], now: datetime) -> str:
    """ "Tested just now", "Tested 5 min ago": when a trigger's newest test event was sent,
    from its newest runs (newest first), or "" when none of them is a test's. A test is
    no event that fired it, so "Last fired" leaves it out; this says the test took."""
    tested = next((run for run in runs if run.source == RunSource.test), None)
    return "" if tested is None else f"Tested {relative(tested.created_at, now)}"


@dataclass(frozen=True)
class Lateness:
    by: timedelta
    # Its run was made only after its moment: the tick that makes runs ahead of time did
    # not run then, so no worker was running.
    worker_was_down: bool


def lateness(run: Run) -> Lateness | None:
    """How late a run's first attempt started after its moment, when LATE_AFTER or more.

    Its moment is `due_at` (the occurrence and its random delay, the "run now" press, the
    event's arrival: core.events.inbox.event_due) — except for an occurrence whose run was
    made after it (the worker came back and made it then, with `due_at` then): its moment
    is the occurrence. A run made LATE_AFTER or more after its moment was made late because
    no worker was there to make it: the tick makes occurrences' runs ahead, and a running
    worker turns an event into runs within a second of its arrival. A retry moves `due_at`
    to the retry's time and keeps no earlier one, so the run of a retry says nothing.
    """
    if run.started_at is None:
        return None
    if run.scheduled_for is not None and run.created_at > run.scheduled_for:
        moment, made_late = run.scheduled_for, True
    elif run.attempt <= 1:
        moment = run.due_at
        made_late = run.created_at - moment >= LATE_AFTER
    else:
        return None
    first = run.attempts[0].get("started_at") if run.attempts else None
    started = datetime.fromisoformat(first) if first else run.started_at
    late = started - moment
    return Lateness(late, made_late) if late >= LATE_AFTER else None


def span(length: timedelta) -> str:
    """ "53 s", "4 min", "3 h", "2 days": a length of time, as people round it."""
    seconds = length.total_seconds()
    for unit, size, below in (("s", 1, 120), ("min", 60, 7200), ("h", 3600, 172800)):
        if seconds < below:
            return f"{round(seconds / size)} {unit}"
    return f"{round(seconds / 86400)} days"


def late_in_words(run: Run) -> str:
    """ "ran 53 s late — the worker was down", or "" for a run that started on time. A
    run made ahead but started late may also have waited for its agent or its previous
    run, so it says both."""
    late = lateness(run)
    if late is None:
        return ""
    why = "the worker was down" if late.worker_was_down else "the worker was down or busy"
    return f"ran {span(late.by)} late — {why}"


def duration(run: Run) -> str:
    if run.started_at is None or run.finished_at is None:
        return "—"
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def zone_label(timezone: str) -> str:
    """A timezone as people name it: its city ("Europe/Berlin" → "Berlin"), or UTC."""
    city = timezone.rsplit("/", 1)[-1].replace("_", " ")
    return "UTC" if city in ("UTC", "UCT", "Zulu", "Universal") else city


def local_time(moment: datetime, timezone: str, now: datetime) -> str:
    """The one way a time is shown: on the clock of `timezone`, named —
    "Mon 30 Nov, 09:00 (Berlin)", with the year only when it is not this year's."""
    tz = zone(timezone)
    local = moment.astimezone(tz)
    year = "" if local.year == now.astimezone(tz).year else f" {local.year}"
    return f"{local:%a %d %b}{year}, {local:%H:%M} ({zone_label(timezone)})"


def moment_in_words(moment: datetime | None, timezone: str, now: datetime) -> str:
    """ "in 3 h — Mon 30 Nov, 09:00 (Berlin)", or "never"."""
    if moment is None:
        return "never"
    return f"{relative(moment, now)} — {local_time(moment, timezone, now)}"


def clock_of(automation: Automation, viewer_timezone: str) -> str:
    """The timezone an automation's times are shown in: a job's own, else the viewer's."""
    return automation.timezone if isinstance(automation, ScheduledJob) else viewer_timezone


def waiting_for_worker(automation: Automation, worker: WorkerStatus, now: datetime) -> bool:
    """An active job whose next run is due while no worker is there to start it."""
    return (
        isinstance(automation, ScheduledJob)
        and automation.status == Status.active
        and automation.next_run_at is not None
        and automation.next_run_at <= now
        and not worker.online
    )


def unfinished(session: Session, run_ids: Iterable[int]) -> set[int]:
    """Which of these runs have not finished yet (deleted ones count as finished)."""
    wanted = list(run_ids)
    if not wanted:
        return set()
    return set(
        session.exec(
            select(Run.id).where(col(Run.id).in_(wanted), col(Run.status).not_in(TERMINAL_STATUSES))
        ).all()
    )


PAGE_SIZE = 20


def automations_page(
    session: Session, model: type[Automation], agent_id: int, page: int, size: int = PAGE_SIZE
) -> tuple[list[Automation], int]:
    """One page of an agent's jobs or triggers (by name), and how many there are."""
    query = select(model).where(model.agent_id == agent_id)
    return pages.numbered_page(session, query, [model.name], page, size)
