"""Read models for the dashboard: what a page shows, in few queries and in plain words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.automations.shared import automation_column
from core.scheduling.occurrences import zone
from core.store import pages
from core.store.models import (
    TERMINAL_STATUSES,
    ActionKind,
    Automation,
    Heartbeat,
    Run,
    ScheduledJob,
    Status,
    Workflow,
)

OFFLINE_AFTER = timedelta(minutes=3)
HISTORY = 10


@dataclass(frozen=True)
class WorkerStatus:
    online: bool
    last_seen: datetime | None
    workers_online: int  # distinct worker processes that ticked recently

    def seconds_ago(self, now: datetime) -> float | None:
        return None if self.last_seen is None else (now - self.last_seen).total_seconds()


def worker_status(session: Session, now: datetime) -> WorkerStatus:
    """Online when some worker ticked within the last three minutes; how many did."""
    recent = sa.func.count().filter(col(Heartbeat.last_tick_at) > now - OFFLINE_AFTER)
    last, count = session.exec(select(sa.func.max(Heartbeat.last_tick_at), recent)).one()
    return WorkerStatus(online=count > 0, last_seen=last, workers_online=count)


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
