"""Work whose worker or queue message was lost, made good by the tick.

Rows are the truth and queue messages only hints: a waiting run or a pending inbox event
long past its time lost its message and is submitted again; a run still `running` past
its lease belongs to a worker that died, and that attempt counts as failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from core.automations.policies import retries_of, timeout_of
from core.automations.shared import automation_key, load_automation
from core.config import Settings
from core.running.attempts import Attempt, lease_length
from core.running.executor import RunResult
from core.running.outcomes import record_outcomes
from core.running.queue import RunQueue
from core.store.db import read_session
from core.store.models import WAITING_STATUSES, EventStatus, Run, RunStatus, WebhookEvent

# A waiting run whose due time passed this long ago lost its queue message.
SWEEP_AFTER = timedelta(seconds=120)
# An inbox event still pending this long after it arrived lost its queue message.
EVENT_SWEEP_AFTER = timedelta(seconds=60)
# At most this many of each are re-submitted per tick (the oldest first), so a backlog
# that is merely slow is not flooded with duplicate messages.
SWEEP_LIMIT = 1_000


def resubmit_lost(settings: Settings, queue: RunQueue, now: datetime) -> tuple[int, int]:
    """Submit again waiting runs and pending events whose message was lost; returns how
    many of each."""
    runs = _stale_waiting_runs(settings, now)
    if runs:
        queue.submit(runs)
    events = _stale_pending_events(settings, now)
    queue.submit_events(events)
    return len(runs), len(events)


def _stale_waiting_runs(settings: Settings, now: datetime) -> list[int]:
    with read_session(settings.database_url) as session:
        return list(
            session.exec(
                select(Run.id)
                .where(col(Run.status).in_(WAITING_STATUSES), col(Run.due_at) < now - SWEEP_AFTER)
                .order_by(Run.due_at)
                .limit(SWEEP_LIMIT)
            )
        )


def _stale_pending_events(settings: Settings, now: datetime) -> list[str]:
    with read_session(settings.database_url) as session:
        return list(
            session.exec(
                select(WebhookEvent.id)
                .where(
                    WebhookEvent.status == EventStatus.pending,
                    col(WebhookEvent.received_at) < now - EVENT_SWEEP_AFTER,
                )
                .order_by(WebhookEvent.received_at)
                .limit(SWEEP_LIMIT)
            )
        )


def take_back_expired(settings: Settings, queue: RunQueue, now: datetime) -> int:
    """Take back runs whose worker died mid-attempt; the attempt counts as failed, and
    those with retries left (their job's or trigger's) are submitted for their retry.
    Returns how many."""
    with read_session(settings.database_url) as session:
        expired = session.exec(
            select(Run).where(Run.status == RunStatus.running, col(Run.lease_expires_at) < now)
        ).all()
        automations = {run.id: load_automation(session, run) for run in expired}
    outcomes = []
    for run in expired:
        automation = automations[run.id]
        started = run.lease_expires_at - lease_length(settings, timeout_of(automation, settings))
        attempt = Attempt(
            run.id, automation_key(run), run.attempt, started, list(run.attempts),
            retries_of(automation, settings),
        )  # fmt: skip
        lost = RunResult(
            succeeded=False,
            error=f"The worker stopped during attempt {run.attempt}.",
            retryable=True,
        )
        outcomes.append((attempt, lost))
    if outcomes:
        for run_id, retry_at in record_outcomes(settings, outcomes, now).retries.items():
            queue.submit([run_id], eta=retry_at)
    return len(expired)
