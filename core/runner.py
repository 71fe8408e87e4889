"""A batch of runs' life: read and prepare them, claim them, call, record the outcomes.

Each step is one short transaction over the whole batch (a due moment's thousand runs are
claimed by one statement, their outcomes recorded by one commit), and every state change
is conditional, so a duplicate queue message, a second worker or a sweep racing with a
slow worker can never make a run execute twice at once or finish twice. core.flight
strings the steps together on an event loop.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, exists, select, update

from core.actions import build_action
from core.config import Settings
from core.db import read_session, take_many_turns
from core.db import session as open_session
from core.executor import Action, ChatAction, RunResult, execute
from core.models import (
    TERMINAL_STATUSES,
    WAITING_STATUSES,
    ActionOwner,
    Agent,
    EventTrigger,
    Run,
    RunSource,
    RunStatus,
    ScheduledJob,
    Status,
    Workflow,
)
from core.owners import load_owner, owner_key

KEEP_RUNS = 50
# A worker may pick a run up this early (huey starts eta tasks up to a second late, so
# the dispatcher submits ahead of time); it then waits for the exact moment.
EARLY_START = timedelta(seconds=2)
# Runs that exist because of the owner's schedule or subscription, not a person's request:
# they do not start once the owner is paused.
AUTOMATIC_SOURCES = (RunSource.schedule, RunSource.catch_up, RunSource.event)
# The namespaces of the turns claims take (core.db.take_turns): per job, so the overlap
# check sees the other's claim; per agent and workflow, so their limits hold across workers.
CLAIMS_OF_JOB = 1
CLAIMS_OF_TARGET = {Agent: 2, Workflow: 3}
OVERLAP = "The previous run of this job was still running."
SIBLING = aliased(Run)  # built once: aliasing a table is costly on the hot path
log = logging.getLogger("planner.runner")


@dataclass(frozen=True)
class Attempt:
    """One attempt this worker owns: run `run_id` is `running` with attempt `number`."""

    run_id: int
    owner: tuple[type[ActionOwner], int] | None
    number: int
    started_at: datetime
    earlier: list[dict[str, Any]]


@dataclass(frozen=True)
class Prepared:
    """A waiting run as read, with what its next attempt sends (or why it cannot)."""

    run: Run
    owner: ActionOwner
    action: Action | RunResult

    @property
    def target(self) -> Agent | Workflow | None:
        if isinstance(self.action, RunResult):
            return None
        return self.action.agent if isinstance(self.action, ChatAction) else self.action.workflow

    @property
    def target_key(self) -> str | None:
        """What Run.target holds for this run's calls: "agent:3", "workflow:7"."""
        target = self.target
        return None if target is None else f"{type(target).__name__.lower()}:{target.id}"


@dataclass
class Claims:
    """What a claim did: attempts this worker now owns, and runs that wait for a slot."""

    attempts: list[tuple[Prepared, Attempt]]
    waiting: list[Prepared]


def retry_delay(retry_number: int, base_seconds: float) -> float:
    """Seconds before the n-th retry: base·2^(n-1), with ±20% jitter against stampedes."""
    return base_seconds * 2 ** (retry_number - 1) * random.uniform(0.8, 1.2)


def lease_length(settings: Settings) -> timedelta:
    """How long an attempt may run: the call's timeout and a margin for the rest."""
    return timedelta(seconds=settings.http_timeout_seconds + settings.lease_margin_seconds)


def _action_or_failure(
    session: Session, run: Run, owner: ActionOwner, settings: Settings
) -> Action | RunResult:
    """The run's action, or a failed attempt saying what was raised: a run never stays
    queued or running because of an exception in its own preparation."""
    try:
        return build_action(session, run, owner, settings)
    except OperationalError:
        raise  # the database, not the run: the sweep submits the run again
    except Exception as error:
        log.exception("The run could not be prepared")
        reason = f"The run could not be prepared: {type(error).__name__}: {error}"
        return RunResult(succeeded=False, error=reason)


def _preload(session: Session, runs: Sequence[Run]) -> None:
    """Owners, agents and workflows of `runs` in one query per table: preparing then
    finds them in the session instead of asking the database once per run."""
    job_ids = {run.job_id for run in runs if run.job_id is not None}
    trigger_ids = {run.trigger_id for run in runs if run.trigger_id is not None}
    owners: list[ActionOwner] = []
    for model, ids in ((ScheduledJob, job_ids), (EventTrigger, trigger_ids)):
        if ids:
            owners += session.exec(select(model).where(col(model.id).in_(ids))).all()
    agent_ids = {owner.agent_id for owner in owners}
    workflow_ids = {owner.config.get("workflow_id") for owner in owners} - {None}
    for model, ids in ((Agent, agent_ids), (Workflow, workflow_ids)):
        if ids:
            session.exec(select(model).where(col(model.id).in_(ids))).all()


def prepare(settings: Settings, run_ids: Iterable[int]) -> list[Prepared]:
    """The runs among `run_ids` still waiting, each with the action its attempt sends.

    Only reads: nothing holds the database while actions are built. A run whose action
    cannot be built gets the failure instead, so it still ends.
    """
    # Building an action sets a first attempt's input on its run: never flushed here (the
    # claim stores it), so the session stays a reader.
    with read_session(settings.database_url) as session, session.no_autoflush:
        runs = session.exec(
            select(Run).where(col(Run.id).in_(list(run_ids)), col(Run.status).in_(WAITING_STATUSES))
        ).all()
        _preload(session, runs)
        prepared = []
        for run in runs:
            owner = load_owner(session, run)
            if owner is None:
                continue
            prepared.append(Prepared(run, owner, _action_or_failure(session, run, owner, settings)))
        return prepared


def _take_turns(session: Session, prepared: Sequence[Prepared]) -> None:
    """Claims of the same job, or of a limited agent or workflow, one after another across
    workers (in a fixed order, so two batches never wait on each other)."""
    turns = {(CLAIMS_OF_JOB, p.run.job_id) for p in prepared if p.run.job_id is not None}
    for p in prepared:
        target = p.target
        if target is not None and target.max_concurrency is not None:
            turns.add((CLAIMS_OF_TARGET[type(target)], target.id))
    take_many_turns(session, turns)


def _skip(session: Session, run_ids: Sequence[int], now: datetime, reason: str) -> None:
    if run_ids:
        session.exec(
            update(Run)
            .where(col(Run.id).in_(run_ids), col(Run.status).in_(WAITING_STATUSES))
            .values(status=RunStatus.skipped, finished_at=now, error=reason)
        )


def _within_limits(
    session: Session, prepared: Sequence[Prepared]
) -> tuple[list[Prepared], list[Prepared]]:
    """Split `prepared` into runs that may start now and runs that wait for a free slot
    of their agent or workflow (its calls open across all workers, its runs `running`)."""
    limited = {p.target_key: p.target for p in prepared if p.target and p.target.max_concurrency}
    if not limited:
        return list(prepared), []
    open_calls = dict(
        session.exec(
            select(Run.target, sa.func.count())
            .where(Run.status == RunStatus.running, col(Run.target).in_(list(limited)))
            .group_by(Run.target)
        ).all()
    )
    free = {key: target.max_concurrency - open_calls.get(key, 0) for key, target in limited.items()}
    starting, waiting = [], []
    for p in sorted(prepared, key=lambda p: p.run.due_at):
        key = p.target_key
        if key not in free:
            starting.append(p)
        elif free[key] > 0:
            free[key] -= 1
            starting.append(p)
        else:
            waiting.append(p)
    return starting, waiting


def _claim_round(
    session: Session, batch: Sequence[Prepared], now: datetime, settings: Settings
) -> set[int]:
    """One conditional UPDATE … RETURNING per target for runs of distinct jobs: each is
    taken only if it is still waiting at the attempt read, is due, and no other run of its
    job is running. Returns the ids taken."""
    by_target: dict[str | None, list[Prepared]] = defaultdict(list)
    for p in batch:
        by_target[p.target_key].append(p)
    claimed: set[int] = set()
    for target, group in by_target.items():
        statement = (
            update(Run)
            .where(
                sa.tuple_(Run.id, Run.attempt).in_([(p.run.id, p.run.attempt) for p in group]),
                col(Run.status).in_(WAITING_STATUSES),
                col(Run.due_at) <= now + EARLY_START,
                ~exists().where(
                    SIBLING.job_id == Run.job_id,
                    SIBLING.status == RunStatus.running,
                    SIBLING.id != Run.id,
                ),
            )
            .values(
                status=RunStatus.running,
                attempt=Run.attempt + 1,
                started_at=sa.func.coalesce(Run.started_at, now),
                lease_expires_at=now + lease_length(settings),
                target=target,
                waiting_reason=None,
            )
            .returning(Run.id)
        )
        claimed.update(session.exec(statement).scalars())  # type: ignore[call-overload]
    return claimed


def _rounds(prepared: Sequence[Prepared]) -> list[list[Prepared]]:
    """Runs grouped so that no round holds two runs of the same job (the overlap check
    of one statement cannot see its own other rows)."""
    rounds: list[list[Prepared]] = []
    seen: dict[int | None, int] = defaultdict(int)
    for p in prepared:
        index = seen[p.run.job_id] if p.run.job_id is not None else 0
        seen[p.run.job_id] += p.run.job_id is not None
        while len(rounds) <= index:
            rounds.append([])
        rounds[index].append(p)
    return rounds


def _store_inputs(session: Session, taken: Sequence[Prepared]) -> None:
    """The input of each first attempt, fixed now, so retries send exactly the same."""
    first = [{"run": p.run.id, "input": p.run.input} for p in taken if p.run.attempt == 0]
    if first:
        table: sa.Table = Run.__table__  # type: ignore[assignment]
        session.connection().execute(
            table.update()
            .where(table.c.id == sa.bindparam("run"))
            .values(input=sa.bindparam("input", type_=sa.JSON)),
            first,
        )


def _wait_for_slot(session: Session, waiting: Sequence[Prepared]) -> None:
    """Say why these runs have not started (the dashboard shows it instead of "late")."""
    by_target: dict[str, list[int]] = defaultdict(list)
    reasons: dict[str, str] = {}
    for p in waiting:
        target = p.target
        key = p.target_key
        assert target is not None and key is not None
        by_target[key].append(p.run.id)
        reasons[key] = (
            f"Waiting for a free slot: {target.name} takes at most "
            f"{target.max_concurrency} call{'s' if target.max_concurrency != 1 else ''} at once."
        )
    for key, run_ids in by_target.items():
        session.exec(
            update(Run)
            .where(col(Run.id).in_(run_ids), col(Run.status).in_(WAITING_STATUSES))
            .values(waiting_reason=reasons[key])
        )


def claim(
    session: Session, prepared: Sequence[Prepared], now: datetime, settings: Settings
) -> Claims:
    """Take the prepared runs for one attempt each, in one transaction.

    A run is not this worker's to execute when another worker took it or it finished;
    automatic runs of a paused job or trigger are skipped; a job's run whose previous run
    is still running is skipped; runs beyond their agent's or workflow's limit wait.
    """
    paused = [
        p.run.id
        for p in prepared
        if p.owner.status == Status.paused and p.run.source in AUTOMATIC_SOURCES
    ]
    _skip(session, paused, now, "It was paused before this run started.")
    candidates = [p for p in prepared if p.run.id not in set(paused)]
    _take_turns(session, candidates)
    starting, waiting = _within_limits(session, candidates)
    claimed: set[int] = set()
    for batch in _rounds(starting):
        claimed |= _claim_round(session, batch, now, settings)
    taken = [p for p in starting if p.run.id in claimed]
    _store_inputs(session, taken)
    _skip_overlapping(session, [p for p in starting if p.run.id not in claimed], now)
    _wait_for_slot(session, waiting)
    session.commit()
    attempts = [
        (p, Attempt(p.run.id, owner_key(p.run), p.run.attempt + 1, now, list(p.run.attempts)))
        for p in taken
    ]
    return Claims(attempts, waiting)


def _skip_overlapping(session: Session, missed: Sequence[Prepared], now: datetime) -> None:
    """Runs not taken although unchanged since read: another run of their job is running
    (a run changed meanwhile belongs to whoever changed it)."""
    if not missed:
        return
    current = session.exec(
        select(Run.id, Run.status, Run.attempt).where(col(Run.id).in_([p.run.id for p in missed]))
    ).all()
    unchanged = {(p.run.id, p.run.status, p.run.attempt) for p in missed}
    overlapping = [
        run_id for run_id, status, attempt in current if (run_id, status, attempt) in unchanged
    ]
    _skip(session, overlapping, now, OVERLAP)


async def call(prepared: Prepared, client: httpx.AsyncClient) -> RunResult:
    """The attempt's call (or the reason it cannot be made); never raises for the call."""
    action = prepared.action
    if isinstance(action, RunResult):
        return action
    try:
        return await execute(action, prepared.run.key, client)
    except Exception as error:
        log.exception("The call failed")
        return RunResult(succeeded=False, error=f"The call failed: {type(error).__name__}: {error}")


def storable_text(text: str | None) -> str | None:
    """Text every database stores: PostgreSQL refuses NUL characters, and lone surrogates
    cannot be encoded; both can come from a target's answer."""
    if text is None:
        return None
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "")


RUN_TABLE: sa.Table = Run.__table__  # type: ignore[assignment]
OWNER_TABLES: dict[type[ActionOwner], sa.Table] = {
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
        .where(table.c.id == sa.bindparam("owner"))
        .values(
            last_run_at=sa.bindparam("now"),
            last_outcome=sa.bindparam("outcome"),
            consecutive_failures=sa.case(
                (sa.bindparam("succeeded"), 0), else_=table.c.consecutive_failures + 1
            ),
        )
    )


_OUTCOMES = {model: _outcome_statement(table) for model, table in OWNER_TABLES.items()}


def _prune_statement(model: type[ActionOwner]) -> sa.Delete:
    """Keep the newest KEEP_RUNS runs of each of some jobs or triggers; unfinished ones
    always stay."""
    column = RUN_TABLE.c.job_id if model is ScheduledJob else RUN_TABLE.c.trigger_id
    newer = RUN_TABLE.alias("newer")
    newer_column = newer.c.job_id if model is ScheduledJob else newer.c.trigger_id
    cutoff = (
        sa.select(newer.c.id)
        .where(newer_column == column)
        .order_by(newer.c.id.desc())
        .offset(KEEP_RUNS - 1)
        .limit(1)
        .scalar_subquery()
    )
    return RUN_TABLE.delete().where(
        column.in_(sa.bindparam("owners", expanding=True)),
        RUN_TABLE.c.id < cutoff,
        RUN_TABLE.c.status.in_(TERMINAL_STATUSES),
    )


_PRUNES = {model: _prune_statement(model) for model in OWNER_TABLES}


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
    error = storable_text(result.error)
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
    retries = not result.succeeded and result.retryable and attempt.number <= settings.max_retries
    if retries:
        retry_at = _retry_at(attempt, result, now, settings)
        recorded = connection.execute(_RETRY, values | {"retry_at": retry_at}).rowcount
        return bool(recorded), retry_at if recorded else None
    final = RunStatus.succeeded if result.succeeded else RunStatus.failed
    recorded = connection.execute(_FINISH, values | {"status": final, "now": now}).rowcount
    return bool(recorded), None


def record(
    session: Session,
    outcomes: Sequence[tuple[Attempt, RunResult]],
    now: datetime,
    settings: Settings,
) -> dict[int, datetime]:
    """Store attempts' results in one commit: each run finishes, or waits for a retry;
    the owners of finished runs get their outcome and keep their newest KEEP_RUNS runs.

    Returns the retries' due times by run id (the caller submits them). An attempt that
    lost its lease (the sweep took the run back) records nothing.
    """
    connection = session.connection()
    retries: dict[int, datetime] = {}
    finished: dict[type[ActionOwner], list[dict[str, Any]]] = defaultdict(list)
    for attempt, result in outcomes:
        recorded, retry_at = _record_one(connection, attempt, result, now, settings)
        if retry_at is not None:
            retries[attempt.run_id] = retry_at
        elif recorded and attempt.owner is not None:
            model, owner_id = attempt.owner
            outcome = "succeeded" if result.succeeded else f"failed: {storable_text(result.error)}"
            finished[model].append(
                {"owner": owner_id, "now": now, "outcome": outcome, "succeeded": result.succeeded}
            )
    for model, rows in finished.items():
        connection.execute(_OUTCOMES[model], rows)
        connection.execute(_PRUNES[model], {"owners": sorted({row["owner"] for row in rows})})
    session.commit()
    return retries


def record_outcomes(
    settings: Settings, outcomes: Sequence[tuple[Attempt, RunResult]], now: datetime
) -> dict[int, datetime]:
    """`record` in a session of its own (group commit: many outcomes, one transaction)."""
    with open_session(settings.database_url) as session:
        return record(session, outcomes, now, settings)


def claim_prepared(settings: Settings, prepared: Sequence[Prepared], now: datetime) -> Claims:
    """`claim` in a session of its own."""
    with open_session(settings.database_url) as session:
        return claim(session, prepared, now, settings)
