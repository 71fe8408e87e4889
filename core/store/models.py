"""SQLModel tables. Times are stored as UTC and always come back timezone-aware.

Enumerated columns are plain strings in the database and in the models (rows read back
hold `str`); the StrEnums below name their allowed values.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.scheduling.timing import Timing


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_key() -> str:
    """A key the outside world sees (Idempotency-Key, thread id): random, so unique forever
    — a database id can be handed out again after a delete, or in a restored database."""
    return uuid.uuid4().hex


def iso(moment: datetime | None) -> str | None:
    """A time as ISO 8601 with its offset (what JSON output and payloads carry), or None."""
    return None if moment is None else moment.isoformat()


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp kept as naive UTC in the database and handed out as aware UTC.

    SQLite has no timezone type; one convention for every backend keeps comparisons
    (`next_run_at <= now`) correct everywhere.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Backend(StrEnum):
    openai = "openai"
    http = "http"


class ActionKind(StrEnum):
    chat = "chat"
    workflow = "workflow"


class Status(StrEnum):
    active = "active"
    paused = "paused"


class MisfirePolicy(StrEnum):
    catch_up_once = "catch_up_once"
    skip = "skip"


class RunSource(StrEnum):
    schedule = "schedule"
    catch_up = "catch_up"
    run_now = "run_now"
    event = "event"
    test = "test"


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    retrying = "retrying"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"
    missed = "missed"
    cancelled = "cancelled"


TERMINAL_STATUSES = (
    RunStatus.succeeded, RunStatus.failed, RunStatus.skipped, RunStatus.missed, RunStatus.cancelled,
)  # fmt: skip
WAITING_STATUSES = (RunStatus.queued, RunStatus.retrying)


class Agent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    backend: str = Field(sa_type=sa.String)  # Backend
    base_url: str
    model: str = ""
    system_prompt: str = ""
    api_key_env: str = ""
    api_key_secret: str = Field(default="", repr=False)  # the pasted key, encrypted
    # At most this many calls open at once, across every worker (None: no limit of its own).
    max_concurrency: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Workflow(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    url: str
    auth_env: str = ""
    auth_secret: str = Field(default="", repr=False)  # the pasted token, encrypted
    max_concurrency: int | None = None  # as for Agent
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Automation(SQLModel):
    """What scheduled jobs and event triggers share: an agent, an action, an outcome.

    The runner treats both alike through these columns (one code path for retries,
    health and history).
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(default_factory=new_key, unique=True)  # names its thread at the agent
    agent_id: int = Field(foreign_key="agent.id", ondelete="RESTRICT")
    name: str = Field(unique=True)
    action: str = Field(sa_type=sa.String)  # ActionKind
    config: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default=Status.active, sa_type=sa.String)  # Status
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_outcome: str | None = None
    consecutive_failures: int = 0
    # Its own retries, call timeout and overlap policy; None: Planner's (core.automations.policies).
    max_retries: int | None = None
    timeout_seconds: int | None = None
    overlap: str | None = None
    # Who is told, and when (core.notifications): the channels Settings tells about every
    # failure (`notify_as_settings`), or its own channel ids ([] for nobody); and some of
    # "failure", "recovery", "digest"; `alerting` once a failure was told and no recovery yet.
    notify_as_settings: bool = True
    notify_channel_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON)
    notify_on: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    alerting: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def health(self) -> str:
        """Green: active and last run fine; yellow: paused; red: last run failed."""
        if self.status == Status.paused:
            return "yellow"
        return "red" if self.consecutive_failures else "green"


class ScheduledJob(Automation, table=True):
    __tablename__ = "scheduled_job"
    __table_args__ = (sa.Index("ix_scheduled_job_status_next_run_at", "status", "next_run_at"),)

    schedule: str  # cron, or `once 2026-12-24 09:00` (core.scheduling.timing)
    timezone: str
    misfire_policy: str = Field(default=MisfirePolicy.catch_up_once, sa_type=sa.String)
    # None once its timing is over (a one-off that ran, a schedule past its last day).
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    starts_on: date | None = None  # its first and last day, on its own clock
    ends_on: date | None = None
    jitter_seconds: int = 0  # each run starts up to this long after its time, at random

    @property
    def timing(self) -> Timing:
        return Timing(self.schedule, self.timezone, self.starts_on, self.ends_on)

    @property
    def health(self) -> str:
        """Grey when active, fine and done: its timing has no next run any more."""
        health = super().health
        if health == "green" and self.next_run_at is None:
            return "grey"
        return health


class SyncState(StrEnum):
    registered = "registered"
    local = "local"
    error = "error"


class EventTrigger(Automation, table=True):
    """Runs its action for each matching Composio event.

    `composio_trigger_id` is the Composio instance (`ti_…`) when registered; `local`
    triggers exist only here (no API key) and can still be test-fired.
    """

    __tablename__ = "event_trigger"

    event: str = Field(index=True)
    toolkit: str = ""
    filters: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    user_id: str = ""
    composio_trigger_id: str | None = Field(default=None, unique=True)
    sync_state: str = Field(default=SyncState.local, sa_type=sa.String)  # SyncState
    sync_error: str | None = None
    last_fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def health(self) -> str:
        """Yellow also when not registered with Composio; red when Composio gave up on it."""
        if self.status != Status.paused and self.sync_state == SyncState.error:
            return "red"
        if super().health == "green" and self.sync_state == SyncState.local:
            return "yellow"
        return super().health


class EventStatus(StrEnum):
    pending = "pending"
    dispatched = "dispatched"
    unmatched = "unmatched"
    failed = "failed"
    duplicate = "duplicate"  # the same event (dedupe key) announced again; never processed


class StoredSecret(SQLModel, table=True):
    """A secret of Planner's own that a user pasted or Composio handed over (the Composio
    API key, the webhook signing secret), encrypted with PLANNER_SECRET_KEY."""

    __tablename__ = "stored_secret"
    name: str = Field(primary_key=True)
    ciphertext: str = Field(repr=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookEvent(SQLModel, table=True):
    """The inbox: one row per accepted delivery, keyed by Composio's `webhook-id`.

    The row is the truth; the queue message that asks a worker to process it is a hint
    (the tick re-submits rows left `pending`).
    """

    __tablename__ = "webhook_event"
    __table_args__ = (sa.Index("ix_webhook_event_status_received_at", "status", "received_at"),)

    id: str = Field(primary_key=True)
    type: str
    trigger_slug: str | None = None
    composio_trigger_id: str | None = None
    # The provider's own id of what happened (a Gmail message id), with the trigger it came
    # through: the same message re-announced under another webhook-id is stored once.
    dedupe_key: str | None = Field(default=None, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default=EventStatus.pending, sa_type=sa.String)  # EventStatus
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = None


class Run(SQLModel, table=True):
    """One execution of a job or trigger, from queued to a terminal status.

    `due_at` is when the next attempt may start (the occurrence, the run-now moment, the
    event's arrival, or the retry time); the tick's sweep re-submits waiting runs whose
    `due_at` is long past.
    `lease_expires_at` bounds a running attempt: every call has a timeout, so a run still
    `running` past its lease belongs to a worker that died, and the sweep takes it back.
    """

    __table_args__ = (
        sa.UniqueConstraint("job_id", "scheduled_for", name="uq_run_job_occurrence"),
        sa.UniqueConstraint("trigger_id", "event_id", name="uq_run_trigger_event"),
        sa.Index("ix_run_status_due_at", "status", "due_at"),
        sa.Index("ix_run_job_id_id", "job_id", "id"),
        sa.Index("ix_run_status_target", "status", "target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(default_factory=new_key, unique=True)  # its Idempotency-Key
    job_id: int | None = Field(default=None, foreign_key="scheduled_job.id", ondelete="CASCADE")
    trigger_id: int | None = Field(default=None, foreign_key="event_trigger.id", ondelete="CASCADE")
    event_id: str | None = None
    source: str = Field(sa_type=sa.String)  # RunSource
    status: str = Field(default=RunStatus.queued, sa_type=sa.String)  # RunStatus
    scheduled_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    attempt: int = 0
    attempts: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    input: Any = Field(default=None, sa_type=sa.JSON, nullable=True)
    output: Any = Field(default=None, sa_type=sa.JSON, nullable=True)
    error: str | None = None
    # What it calls ("agent:3", "workflow:7"), set when an attempt is claimed: a target's
    # calls open at once are its runs `running` with this value.
    target: str | None = None
    # Why a run past its time has not started, while it waits for one of its target's
    # free slots (None otherwise): the dashboard says so instead of calling it late.
    waiting_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Heartbeat(SQLModel, table=True):
    """The last sign of life of each worker process (its heartbeat, or a tick it ran), so
    the dashboard can tell how many are alive."""

    worker: str = Field(primary_key=True)
    last_tick_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token of the HTTP API and the MCP server. Only its SHA-256 is kept: the
    token itself is shown once, when it is made; `prefix` (its first characters) tells
    tokens apart in a list."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    token_hash: str = Field(unique=True, repr=False)
    prefix: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The one agent it reaches (core.access.scopes), None for every agent; removing the
    # agent removes its tokens, which must never come to reach every agent.
    agent_id: int | None = Field(default=None, foreign_key="agent.id", ondelete="CASCADE")


class NotificationChannel(SQLModel, table=True):
    """Where Planner tells someone: an Apprise URL (email, Slack, Discord, Telegram, Teams,
    ntfy, a webhook…), encrypted as it holds a password or token. The last error makes it
    red on Settings until a message gets through."""

    __tablename__ = "notification_channel"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    url_secret: str = Field(repr=False)
    kind: str = ""  # the service, in words ("Email", "Slack")
    # Told about every job's and trigger's failures, unless one chose its own channels.
    every_failure: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_sent_on: date | None = None  # the local day its daily digest was last made


class Notification(SQLModel, table=True):
    """The outbox: one message to one channel, made in the transaction that recorded what
    it tells (so none is lost), sent by the worker and tried again until it gets through."""

    __table_args__ = (sa.Index("ix_notification_sent_at_due_at", "sent_at", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="notification_channel.id", ondelete="CASCADE")
    subject: str
    body: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)  # the next try (or a sender's lease)
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    gave_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = None
