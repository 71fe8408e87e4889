"""Claiming runs: read a batch of waiting runs and prepare their actions, then take them
for one attempt each in one transaction — conditional on what was read, on the job's
other runs and on the agent's or workflow's limit of calls at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, exists, select, update

from core.automations.policies import Overlap, retries_of
from core.automations.shared import (
    AUTOMATION_WORDS,
    automation_column,
    automation_key,
    load_automation,
)
from core.config import Settings
from core.running.actions import build_action
from core.running.attempts import (
    AUTOMATIC_SOURCES,
    EARLY_START,
    Attempt,
    Claims,
    Held,
    Prepared,
    lease_length,
)
from core.running.executor import Action, RunResult
from core.store.db import read_session, take_many_turns
from core.store.db import session as open_session
from core.store.models import (
    WAITING_STATUSES,
    Agent,
    Automation,
    EventTrigger,
    Run,
    RunStatus,
    ScheduledJob,
    Status,
    WebhookEvent,
    Workflow,
)

# The namespaces of the turns claims take (core.store.db.take_many_turns): per job, so the
# overlap check sees the other's claim; per agent and workflow, so their limits hold
# across workers.
CLAIMS_OF_JOB = 1
CLAIMS_OF_TARGET = {Agent: 2, Workflow: 3}
CLAIMS_OF_AUTOMATION = {ScheduledJob: CLAIMS_OF_JOB, EventTrigger: 4}
OVERLAP = "The previous run of this {automation} was still running."
QUEUED = "Waiting for the previous run of this {automation} to finish."
ALREADY_QUEUED = "Another run of this {automation} was already waiting for the previous one."
SIBLING = aliased(Run)  # built once: aliasing a table is costly on the hot path
# No other run of the same job (or trigger) is running.
NOT_OVERLAPPING = {
    model: ~exists().where(
        getattr(SIBLING, automation_column(model).key) == automation_column(model),
        SIBLING.status == RunStatus.running,
        SIBLING.id != Run.id,
    )
    for model in (ScheduledJob, EventTrigger)
}
log = logging.getLogger("planner.claims")


def holds_a_call(run: Any, now: datetime) -> sa.ColumnElement[bool]:
    """A run whose call may be open at its agent or workflow: running, or cancelled while
    it ran and still within its lease (the call was abandoned, not ended, so it still
    takes a slot of the target's limit; its job, whose run was cancelled, may start
    another at once)."""
    return sa.or_(
        run.status == RunStatus.running,
        sa.and_(run.status == RunStatus.cancelled, run.lease_expires_at > now),
    )


def _action_or_failure(
    session: Session, run: Run, automation: Automation, settings: Settings
) -> Action | RunResult:
    """The run's action, or a failed attempt saying what was raised: a run never stays
    queued or running because of an exception in its own preparation."""
    try:
        return build_action(session, run, automation, settings)
    except OperationalError:
        raise  # the database, not the run: the sweep submits the run again
    except Exception as error:
        log.exception("The run could not be prepared")
        reason = f"The run could not be prepared: {type(error).__name__}: {error}"
        return RunResult(succeeded=False, error=reason)


def _preload(session: Session, runs: Sequence[Run]) -> list[object]:
    """Automations, agents, workflows and events of `runs` in one query per table:
    preparing then finds them in the session instead of asking the database once per run.
    The caller keeps the list while it prepares: a session's identity map holds its rows
    only weakly."""
    job_ids = {run.job_id for run in runs if run.job_id is not None}
    trigger_ids = {run.trigger_id for run in runs if run.trigger_id is not None}
    event_ids = {run.event_id for run in runs if run.event_id is not None}
    automations: list[Automation] = []
    for model, ids in ((ScheduledJob, job_ids), (EventTrigger, trigger_ids)):
        if ids:
            automations += session.exec(select(model).where(col(model.id).in_(ids))).all()
    agent_ids = {automation.agent_id for automation in automations}
    workflow_ids = {automation.config.get("workflow_id") for automation in automations} - {None}
    loaded: list[object] = list(automations)
    for model, ids in ((Agent, agent_ids), (Workflow, workflow_ids), (WebhookEvent, event_ids)):
        if ids:
            loaded += session.exec(select(model).where(col(model.id).in_(ids))).all()
    return loaded


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
        session.info["preloaded"] = _preload(session, runs)  # held while the session lives
        prepared = []
        for run in runs:
            automation = load_automation(session, run)
            if automation is None:
                continue
            prepared.append(
                Prepared(run, automation, _action_or_failure(session, run, automation, settings))
            )
        return prepared


def _take_turns(session: Session, prepared: Sequence[Prepared]) -> None:
    """Claims of the same job or trigger (unless its runs may overlap), or of a limited
    agent or workflow, one after another across workers (in a fixed order, so two
    batches never wait on each other)."""
    turns = {
        (CLAIMS_OF_AUTOMATION[type(p.automation)], p.automation.id)
        for p in prepared
        if p.overlap != Overlap.allow
    }
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
    session: Session, prepared: Sequence[Prepared], now: datetime
) -> tuple[list[Prepared], list[Held]]:
    """Split `prepared` into runs that may start now and runs that wait for a free slot
    of their agent or workflow (its calls open across all workers: `holds_a_call`)."""
    limited = {p.target_key: p.target for p in prepared if p.target and p.target.max_concurrency}
    if not limited:
        return list(prepared), []
    open_calls = dict(
        session.exec(
            select(Run.target, sa.func.count())
            .where(holds_a_call(Run, now), col(Run.target).in_(list(limited)))
            .group_by(Run.target)
        ).all()
    )
    free = {key: target.max_concurrency - open_calls.get(key, 0) for key, target in limited.items()}
    starting: list[Prepared] = []
    waiting: list[Held] = []
    for p in sorted(prepared, key=lambda p: p.run.due_at):
        key = p.target_key
        if key not in free:
            starting.append(p)
        elif free[key] > 0:
            free[key] -= 1
            starting.append(p)
        else:
            waiting.append(Held(p, key, limited[key].max_concurrency))
    return starting, waiting


def _claim_round(
    session: Session, batch: Sequence[Prepared], now: datetime, settings: Settings
) -> set[int]:
    """One conditional UPDATE … RETURNING per target (and per kind of automation and timeout)
    for runs of distinct jobs and triggers: each is taken only if it is still waiting at
    the attempt read, is due, and — unless its runs may overlap — no other run of its
    job or trigger is running. Returns the ids taken."""
    groups: dict[tuple[str, str, float], list[Prepared]] = defaultdict(list)
    for p in batch:
        checked = AUTOMATION_WORDS[type(p.automation)] if p.overlap != Overlap.allow else ""
        groups[(p.target_key or "", checked, p.timeout or 0.0)].append(p)
    claimed: set[int] = set()
    for key in sorted(groups):  # one order for all workers
        group = groups[key]
        target, checked, timeout = key
        overlap = [NOT_OVERLAPPING[type(group[0].automation)]] if checked else []
        statement = (
            update(Run)
            .where(
                sa.tuple_(Run.id, Run.attempt).in_([(p.run.id, p.run.attempt) for p in group]),
                col(Run.status).in_(WAITING_STATUSES),
                col(Run.due_at) <= now + EARLY_START,
                *overlap,
            )
            .values(
                status=RunStatus.running,
                attempt=Run.attempt + 1,
                started_at=sa.func.coalesce(Run.started_at, now),
                lease_expires_at=now + lease_length(settings, timeout),
                target=target or None,
                waiting_reason=None,
            )
            .returning(Run.id)
        )
        claimed.update(session.exec(statement).scalars())  # type: ignore[call-overload]
    return claimed


def _rounds(prepared: Sequence[Prepared]) -> list[list[Prepared]]:
    """Runs grouped so that no round holds two runs of the same job or trigger whose runs
    may not overlap (the overlap check of one statement cannot see its own other rows)."""
    rounds: list[list[Prepared]] = []
    seen: dict[str, int] = defaultdict(int)
    for p in prepared:
        checked = p.overlap != Overlap.allow
        index = seen[p.automation_tag] if checked else 0
        seen[p.automation_tag] += checked
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


def _wait_for_slot(session: Session, waiting: Sequence[Held]) -> None:
    """Say why these runs have not started (the dashboard shows it instead of "late")."""
    by_target: dict[str, list[int]] = defaultdict(list)
    reasons: dict[str, str] = {}
    for held in waiting:
        target, key = held.prepared.target, held.key
        assert target is not None
        by_target[key].append(held.prepared.run.id)
        reasons[key] = (
            f"Waiting for a free slot: {target.name} takes at most "
            f"{target.max_concurrency} call{'s' if target.max_concurrency != 1 else ''} at once."
        )
    for key in sorted(by_target):
        reason = reasons[key]
        session.exec(
            update(Run)
            .where(
                col(Run.id).in_(by_target[key]),
                col(Run.status).in_(WAITING_STATUSES),
                sa.or_(col(Run.waiting_reason).is_(None), col(Run.waiting_reason) != reason),
            )
            .values(waiting_reason=reason)
        )


def claim(
    session: Session,
    prepared: Sequence[Prepared],
    now: datetime,
    settings: Settings,
    ahead: bool = False,
) -> Claims:
    """Take the prepared runs for one attempt each, in one transaction.

    A run is not this worker's to execute when another worker took it or it finished;
    automatic runs of a paused job or trigger are skipped; a run whose job's or trigger's
    previous run is still running is skipped, or waits for it (its overlap policy); runs
    beyond their agent's or workflow's limit wait.

    `ahead`: claimed before their moment, as of it (`now` is the moment). Only runs free
    to start are taken; the others are left as they are, for a claim at the moment to
    decide (the previous run may end, a slot may free, the automation may be resumed meanwhile).
    """
    _take_turns(session, prepared)  # first: every row lock below is taken under the turns
    paused = {
        p.run.id
        for p in prepared
        if p.automation.status == Status.paused and p.run.source in AUTOMATIC_SOURCES
    }
    candidates = [p for p in prepared if p.run.id not in paused]
    starting, waiting = _within_limits(session, candidates, now)
    claimed: set[int] = set()
    for batch in _rounds(starting):
        claimed |= _claim_round(session, batch, now, settings)
    taken = [p for p in starting if p.run.id in claimed]
    _store_inputs(session, taken)
    if ahead:
        session.commit()
        undecided = [p for p in prepared if p.run.id not in claimed]
        return Claims(_attempts(taken, now, settings), [], undecided)
    _skip(session, sorted(paused), now, "It was paused before this run started.")
    queued = _settle_overlapping(session, [p for p in starting if p.run.id not in claimed], now)
    _wait_for_slot(session, waiting)
    session.commit()
    held = waiting + [Held(p, p.automation_tag, 1) for p in queued]
    return Claims(_attempts(taken, now, settings), held)


def _attempts(
    taken: Sequence[Prepared], now: datetime, settings: Settings
) -> list[tuple[Prepared, Attempt]]:
    return [
        (p, Attempt(p.run.id, automation_key(p.run), p.run.attempt + 1, now, list(p.run.attempts),
                    retries_of(p.automation, settings)))
        for p in taken
    ]  # fmt: skip


def _settle_overlapping(
    session: Session, missed: Sequence[Prepared], now: datetime
) -> list[Prepared]:
    """Runs not taken although unchanged since read, because the previous run of their
    job or trigger is running (a run changed meanwhile belongs to whoever changed it):
    skipped, or (overlap `queue`) the one of its automation's that came due first waits and
    the others are skipped. Returns those that wait."""
    if not missed:
        return []
    current = session.exec(
        select(Run.id, Run.status, Run.attempt).where(col(Run.id).in_([p.run.id for p in missed]))
    ).all()
    unchanged = {(p.run.id, p.run.status, p.run.attempt) for p in missed}
    still = {
        run_id for run_id, status, attempt in current if (run_id, status, attempt) in unchanged
    }
    overlapping = [p for p in missed if p.run.id in still]
    queueing = [p for p in overlapping if p.overlap == Overlap.queue]
    waits = _first_due_per_automation(session, queueing, now)
    for p in overlapping:
        if p not in waits:
            reason = ALREADY_QUEUED if p.overlap == Overlap.queue else OVERLAP
            _skip(
                session,
                [p.run.id],
                now,
                reason.format(automation=AUTOMATION_WORDS[type(p.automation)]),
            )
    for p in waits:
        session.exec(
            update(Run)
            .where(col(Run.id) == p.run.id, col(Run.status).in_(WAITING_STATUSES))
            .values(waiting_reason=QUEUED.format(automation=AUTOMATION_WORDS[type(p.automation)]))
        )
    return waits


def _first_due_per_automation(
    session: Session, queueing: Sequence[Prepared], now: datetime
) -> list[Prepared]:
    """Of these runs, each that came due first of all its job's or trigger's waiting runs
    (runs elsewhere count too: one waits, the others are skipped, whatever their ids)."""
    automations = {p.automation_tag: p.automation for p in queueing}
    first: dict[str, int | None] = {}
    for tag, automation in automations.items():
        first[tag] = session.exec(
            select(Run.id)
            .where(
                automation_column(type(automation)) == automation.id,
                col(Run.status).in_(WAITING_STATUSES),
                col(Run.due_at) <= now + EARLY_START,
            )
            .order_by(col(Run.due_at), col(Run.id))
            .limit(1)
        ).first()
    return [p for p in queueing if first[p.automation_tag] == p.run.id]


def claim_prepared(
    settings: Settings, prepared: Sequence[Prepared], now: datetime, ahead: bool = False
) -> Claims:
    """`claim` in a session of its own."""
    with open_session(settings.database_url) as session:
        return claim(session, prepared, now, settings, ahead)
