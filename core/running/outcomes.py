"""Recording what came of attempts: each run finishes or waits for its retry, and the
automations of finished runs get their outcome (their health colour) and keep their newest
KEEP_RUNS runs — many outcomes in one commit, with statements built once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.automations.shared import automation_column
from core.config import Settings
from core.notifications.alerts import queue_alerts
from core.running.attempts import Attempt, retry_delay
from core.running.executor import RunResult
from core.store.db import session as open_session
from core.store.models import (
    TERMINAL_STATUSES,
    Automation,
    EventTrigger,
    Run,
    RunStatus,
    ScheduledJob,
)

KEEP_RUNS = 50
log = logging.getLogger("planner.outcomes")


def scrubbed_text(text: str | None) -> str | None:
    """A target's text with NUL characters dropped and lone surrogates replaced: PostgreSQL
    refuses the one and no database can encode the other (a person's text with either is
    refused instead: core.automations.shared.storable_text)."""
    if text is None:
        return None
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")


RUN_TABLE: sa.Table = Run.__table__  # type: ignore[assignment]
AUTOMATION_TABLES: dict[type[Automation], sa.Table] = {
    ScheduledJob: ScheduledJob.__table__,  # type: ignore[dict-item]
    EventTrigger: EventTrigger.__table__,  # type: ignore[dict-item]
}
# The hot path's statements, built once (Core, not the ORM: a thousand outcomes a second).
_ATTEMPT_IS_OURS = (
    RUN_TABLE.c.id == sa.bindparam("run"),
    RUN_TABLE.c.status == RunStatus.running,
    RUN_TABLE.c.attempt == sa.bindparam("number"),
)
_FINISH = (
    RUN_TABLE.update()
    .where(*_ATTEMPT_IS_OURS)
    .values(
        status=sa.bindparam("status"),
        finished_at=sa.bindparam("now"),
        attempts=sa.bindparam("attempts"),
        output=sa.bindparam("output"),
        error=sa.bindparam("error"),
        lease_expires_at=None,
    )
)
_RETRY = (
    RUN_TABLE.update()
    .where(*_ATTEMPT_IS_OURS)
    .values(
        status=RunStatus.retrying,
        due_at=sa.bindparam("retry_at"),
        attempts=sa.bindparam("attempts"),
        output=sa.bindparam("output"),
        error=sa.bindparam("error"),
        lease_expires_at=None,
    )
)


def _outcome_statement(table: sa.Table) -> sa.Update:
    """A job's or trigger's last outcome, which its health colour follows."""
    return (
        table.update()
        .where(table.c.id == sa.bindparam("automation"))
        .values(
            last_run_at=sa.bindparam("now"),
            last_outcome=sa.bindparam("outcome"),
            consecutive_failures=sa.case(
                (sa.bindparam("succeeded"), 0), else_=table.c.consecutive_failures + 1
            ),
        )
    )


_OUTCOMES = {model: _outcome_statement(table) for model, table in AUTOMATION_TABLES.items()}


def _prune_statement(model: type[Automation]) -> sa.Delete:
    """Keep the newest KEEP_RUNS runs of each of some jobs or triggers; unfinished ones
    always stay."""
    newer = RUN_TABLE.alias("newer")
    key = automation_column(model).key
    column, newer_column = RUN_TABLE.c[key], newer.c[key]
    cutoff = (
        sa.select(newer.c.id)
        .where(newer_column == column)
        .order_by(newer.c.id.desc())
        .offset(KEEP_RUNS - 1)
        .limit(1)
        .scalar_subquery()
    )
    return RUN_TABLE.delete().where(
        column.in_(sa.bindparam("automations", expanding=True)),
        RUN_TABLE.c.id < cutoff,
        RUN_TABLE.c.status.in_(TERMINAL_STATUSES),
    )


_PRUNES = {model: _prune_statement(model) for model in AUTOMATION_TABLES}


def _retry_at(attempt: Attempt, result: RunResult, now: datetime, settings: Settings) -> datetime:
    """When the next attempt is due: the backoff, but never before the target asked."""
    seconds = retry_delay(attempt.number, settings.retry_base_seconds)
    return now + timedelta(seconds=max(seconds, result.retry_after or 0.0))


def _record_one(
    connection: sa.Connection,
    attempt: Attempt,
    result: RunResult,
    now: datetime,
    settings: Settings,
) -> tuple[bool, datetime | None]:
    """Store one attempt's result; (whether it was still this worker's, its retry time)."""
    error = scrubbed_text(result.error)
    entry = {
        "attempt": attempt.number,
        "started_at": attempt.started_at.isoformat(),
        "finished_at": now.isoformat(),
        "outcome": "succeeded" if result.succeeded else "failed",
        "error": error,
    }
    values = {
        "run": attempt.run_id,
        "number": attempt.number,
        "attempts": [*attempt.earlier, entry],
        "output": result.output,
        "error": error,
    }
    retries = not result.succeeded and result.retryable and attempt.number <= attempt.retries
    if retries:
        retry_at = _retry_at(attempt, result, now, settings)
        recorded = connection.execute(_RETRY, values | {"retry_at": retry_at}).rowcount
        return bool(recorded), retry_at if recorded else None
    final = RunStatus.succeeded if result.succeeded else RunStatus.failed
    recorded = connection.execute(_FINISH, values | {"status": final, "now": now}).rowcount
    return bool(recorded), None


@dataclass
class Recorded:
    """What recording outcomes left to do: the retries' due times by run id (the caller
    submits them), and how many messages it queued to tell people (sent at once)."""

    retries: dict[int, datetime] = field(default_factory=dict)
    told: int = 0

    def add(self, other: Recorded) -> None:
        self.retries |= other.retries
        self.told += other.told


def record(
    session: Session,
    outcomes: Sequence[tuple[Attempt, RunResult]],
    now: datetime,
    settings: Settings,
) -> Recorded:
    """Store attempts' results in one commit: each run finishes, or waits for a retry;
    the automations of finished runs get their outcome and keep their newest KEEP_RUNS runs.
    An attempt that lost its lease (the sweep took the run back) records nothing.
    """
    connection = session.connection()
    retries: dict[int, datetime] = {}
    told = 0
    finished: dict[type[Automation], list[dict[str, Any]]] = defaultdict(list)
    # Rows are locked in one order by every writer (runs, then automations, by id): two groups
    # recorded at once never wait on each other.
    for attempt, result in sorted(outcomes, key=lambda outcome: outcome[0].run_id):
        recorded, retry_at = _record_one(connection, attempt, result, now, settings)
        if retry_at is not None:
            retries[attempt.run_id] = retry_at
        elif recorded and attempt.automation is not None:
            model, automation_id = attempt.automation
            outcome = "succeeded" if result.succeeded else f"failed: {scrubbed_text(result.error)}"
            finished[model].append(
                {
                    "automation": automation_id,
                    "now": now,
                    "outcome": outcome,
                    "succeeded": result.succeeded,
                    "tries": attempt.number,
                }
            )
    for model, rows in finished.items():
        connection.execute(_OUTCOMES[model], sorted(rows, key=lambda row: row["automation"]))
        # after the automations' rows are locked: another group's alerts wait, then see ours
        told += queue_alerts(connection, settings, model, rows, now)
        connection.execute(
            _PRUNES[model], {"automations": sorted({row["automation"] for row in rows})}
        )
    session.commit()
    return Recorded(retries, told)


def record_outcomes(
    settings: Settings, outcomes: Sequence[tuple[Attempt, RunResult]], now: datetime
) -> Recorded:
    """`record` in one transaction (a group commit); if the group cannot be stored, each
    outcome in its own, so one bad row or a lost race costs only its own run (which its
    lease then brings back), not the calls of the whole group."""
    try:
        with open_session(settings.database_url) as session:
            return record(session, outcomes, now, settings)
    except sa.exc.SQLAlchemyError:
        if len(outcomes) == 1:
            raise
        log.exception(
            "a group of %s outcomes was not stored; storing them one by one", len(outcomes)
        )
    recorded = Recorded()
    for outcome in outcomes:
        try:
            with open_session(settings.database_url) as session:
                recorded.add(record(session, [outcome], now, settings))
        except sa.exc.SQLAlchemyError:
            log.exception("the outcome of run %s was not stored", outcome[0].run_id)
    return recorded
