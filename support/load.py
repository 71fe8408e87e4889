"""The load a deployment meets at the top of a busy minute: many jobs due at the same
moment while signed events arrive. The scale test asserts on its outcome, the system
benchmark prints it.

Everything is counted at the agent (a local fake): one call per run, keyed by the run's
Idempotency-Key; a job's call says which load it belongs to ("<label> ping <run key>"),
an event's call carries the event's subject ("<label> event <n>").
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
import sqlalchemy as sa
from sqlmodel import col, select

from core.agents import registry
from core.automations import triggers
from core.automations.triggers import TriggerFields
from core.config import Settings
from core.scheduling.tick import JOB_TABLE
from core.store.db import get_engine, read_session
from core.store.db import session as open_session
from core.store.models import TERMINAL_STATUSES, EventStatus, Run, WebhookEvent, utcnow
from support.delivery import numbered_event, signed
from support.fakes import Received
from support.waiting import wait_until

AGENT = "Load"


class FakeAgent(Protocol):
    """A local agent that records the calls it receives (support.fakes.FakeTarget, or
    support.slow_agent.SlowAgent for a thousand slow calls at once)."""

    @property
    def url(self) -> str: ...

    def received(self, path: str | None = None) -> list[Received]: ...


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def insert_jobs(settings: Settings, agent_id: int, count: int, schedule: Callable[[int], str],
                due: datetime, due_count: int, label: str = "load") -> None:  # fmt: skip
    """Bulk-insert jobs: `due_count` of them due at `due`, the rest in a year."""
    now, later = utcnow(), due + timedelta(days=365)
    rows = [
        {
            "agent_id": agent_id, "name": f"{label} job {n}", "schedule": schedule(n),
            "timezone": "UTC", "action": "chat",
            "config": {"template": f"{label} ping {{runId}}", "thread": "new"},
            "misfire_policy": "catch_up_once", "status": "active",
            "next_run_at": due if n < due_count else later, "consecutive_failures": 0,
            "created_at": now, "updated_at": now,
        }
        for n in range(count)
    ]  # fmt: skip
    if not rows:  # an empty list would insert one row of defaults
        return
    with get_engine(settings.database_url).begin() as connection:
        connection.execute(sa.insert(JOB_TABLE), rows)


@dataclass(frozen=True)
class Load:
    jobs: int  # due at the same minute
    events: int  # sent by one paced sender, the burst's minute in the middle of them
    event_rate: float  # events per second
    label: str = "load"  # tells this load's calls from another's on the same agent


@dataclass
class Outcome:
    due: datetime
    job_lags: list[float]  # the agent's call minus the occurrence, per job call
    event_lags: list[float]  # the agent's call minus the moment the event was sent
    acknowledgements: list[float]  # from sending an event to its 200
    events_accepted: int
    send_seconds: float
    lost: int  # jobs without a successful run, events without a call
    doubled: int  # successful runs beyond one per job, calls beyond one per run or event

    def job_lag(self, share: float) -> float:
        return percentile(self.job_lags, share)

    def event_lag(self, share: float) -> float:
        return percentile(self.event_lags, share)

    def acknowledgement(self, share: float) -> float:
        return percentile(self.acknowledgements, share)

    @property
    def first_job_lag(self) -> float:
        """From the occurrence's time to its first call: how long the fan-out took to start."""
        return min(self.job_lags)

    @property
    def all_jobs_called(self) -> float:
        """From the occurrence's time until the agent had received every job's call."""
        return max(self.job_lags)


def prepare_agent(settings: Settings, target: FakeAgent) -> int:
    """The agent the jobs talk to, and a Gmail trigger that chats the event's subject."""
    with open_session(settings.database_url) as session:
        agent = registry.save_agent(session, AGENT, "openai", target.url + "/v1", "m")
        fields = TriggerFields(agent=AGENT, event="GMAIL_NEW_GMAIL_MESSAGE", chat="{subject}")
        triggers.create_trigger(session, "Load events", fields, settings, utcnow())
        session.commit()
        return agent.id


def next_minute(after: timedelta) -> datetime:
    """The first whole minute at least `after` from now."""
    return (utcnow() + after + timedelta(seconds=59)).replace(second=0, microsecond=0)


def due_for(load: Load) -> datetime:
    """When a load started now falls due: far enough ahead for the workers to start and
    plan it, with half of its events sent before."""
    return next_minute(timedelta(seconds=15 + load.events / load.event_rate / 2))


def _message(call: Received) -> str:
    return call.body["messages"][-1]["content"]


SENDERS = 64  # deliveries in flight at once at the most, as a sender that does not wait


@dataclass
class Sent:
    """What the paced sender saw: each acknowledged event's subject with when it was sent,
    each acknowledgement's wait, and how long sending took."""

    at: dict[str, float]
    acknowledgements: list[float]
    seconds: float


def _send_events(url: str, load: Load, start_at: float) -> Sent:
    """Post the load's events, each at its moment from `start_at` (epoch seconds) whether
    or not the ones before were acknowledged yet, as Composio sends them."""
    sent = Sent({}, [], 0.0)

    def send(client: httpx.Client, n: int) -> None:
        body, webhook_id = numbered_event(n, f"{load.label} event")
        at = time.time()
        if client.post(url, content=body, headers=signed(body, webhook_id)).status_code == 200:
            sent.acknowledgements.append(time.time() - at)
            sent.at[f"{load.label} event {n}"] = at

    limits = httpx.Limits(max_connections=SENDERS)
    with httpx.Client(timeout=30, limits=limits) as client, ThreadPoolExecutor(SENDERS) as pool:
        for n in range(load.events):
            pause = start_at + n / load.event_rate - time.time()
            if pause > 0:
                time.sleep(pause)  # pacing the sender, not synchronisation
            pool.submit(send, client, n)
    sent.seconds = time.time() - start_at
    return sent


def _settled(settings: Settings) -> bool:
    """No run unfinished and no event waiting: nothing can call the agent any more."""
    with read_session(settings.database_url) as session:
        open_runs = session.exec(
            select(sa.func.count()).where(col(Run.status).not_in(TERMINAL_STATUSES))
        ).one()
        pending = session.exec(
            select(sa.func.count()).where(WebhookEvent.status == EventStatus.pending)
        ).one()
    return open_runs == 0 and pending == 0


def extra(counts: Counter) -> int:
    """How many were counted more than once, beyond the first."""
    return sum(n - 1 for n in counts.values() if n > 1)


def _successful_runs_per_job(settings: Settings, label: str) -> Counter[int]:
    with read_session(settings.database_url) as session:
        rows = session.exec(
            select(JOB_TABLE.c.id, Run.status)
            .select_from(JOB_TABLE)
            .outerjoin(Run, col(Run.job_id) == JOB_TABLE.c.id)
            .where(JOB_TABLE.c.name.like(f"{label} job %"))
        ).all()
    return Counter({job_id: 0 for job_id, _ in rows}) + Counter(
        job_id for job_id, status in rows if status == "succeeded"
    )


def run_load(
    settings: Settings,
    target: FakeAgent,
    agent_id: int,
    webhook_url: str,
    load: Load,
    start_workers: Callable[[], object],
    timeout: float = 600,
    due: datetime | None = None,
) -> Outcome:
    """Insert `load.jobs` jobs for the agent due at `due` (default: `due_for(load)`), start
    the workers, send the events around that minute, wait until every call was made.
    """
    send_seconds = load.events / load.event_rate
    due = due or due_for(load)
    schedule = f"{due.minute} {due.hour} * * *"
    insert_jobs(settings, agent_id, load.jobs, lambda _: schedule, due, load.jobs, load.label)
    start_workers()
    sent = _send_events(webhook_url, load, due.timestamp() - send_seconds / 2)
    sent_at = sent.at

    def calls() -> list[Received]:
        received = target.received("/v1/chat/completions")
        return [c for c in received if _message(c).startswith(f"{load.label} ")]

    def drained() -> bool:
        messages = {_message(c) for c in calls()}
        job_calls = sum(1 for m in messages if m.startswith(f"{load.label} ping "))
        return set(sent_at) <= messages and job_calls >= load.jobs and _settled(settings)

    wait_until(drained, timeout=timeout, what=f"every call of {load.label!r}")
    received = calls()
    pings = [c for c in received if _message(c).startswith(f"{load.label} ping ")]
    event_calls = Counter(_message(c) for c in received if _message(c) in sent_at)
    keys = Counter(c.headers["Idempotency-Key"] for c in pings)
    runs_per_job = _successful_runs_per_job(settings, load.label)
    first_call = {_message(c): c.at for c in reversed(received)}
    return Outcome(
        due=due,
        job_lags=[c.at - due.timestamp() for c in pings],
        event_lags=[first_call[s] - sent for s, sent in sent_at.items() if s in first_call],
        acknowledgements=sent.acknowledgements,
        events_accepted=len(sent_at),
        send_seconds=sent.seconds,
        lost=sum(1 for n in runs_per_job.values() if n == 0) + len(set(sent_at) - set(event_calls)),
        doubled=extra(runs_per_job) + extra(keys) + extra(event_calls),
    )
