"""What the HTTP API takes and answers: one pydantic model per request body, the shapes
its handlers validate with and its OpenAPI document describes (so the two cannot differ),
and one per answer (a job, a run, …), which the document gives as each operation's 2xx.

They check shapes and types only (a string where a string goes, no unknown field);
every rule about what is valid is core's, applied by the same functions as the CLI's.
On a change, a field left out keeps its value; `null` clears what can be cleared (a
day, a delay) or goes back to Planner's default (retries, timeout, overlap).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.access.scopes import Scope
from core.store.models import (
    ActionKind,
    Backend,
    EventStatus,
    MisfirePolicy,
    RunSource,
    RunStatus,
    Status,
    SyncState,
)

Ref = str | int  # a name, or an id


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # The fields where `null` means something (clear it, or Planner's default); elsewhere
    # it is refused: leave a field out to keep it.
    NULLABLE: ClassVar[frozenset[str]] = frozenset()


class ActionConfig(Body):
    """A chat's message and thread mode, or the workflow to run (and a job's input)."""

    template: str | None = Field(None, description="chat: the message, with {variables}")
    thread: Literal["new", "continue"] | None = Field(None, description="chat: thread mode")
    workflow: Ref | None = Field(None, description="workflow: its name or id")
    input: dict[str, Any] | None = Field(
        None,
        description="workflow: its input, a template: the workflow gets exactly this object "
        'with each {variable} filled in (`{"from": "{emailFrom}"}`); a value that is one whole '
        "{variable} keeps its JSON type; {}: none (a job sends {}, a trigger the event's data)",
    )


class Policies(Body):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"retries", "timeout", "overlap"})
    retries: int | None = Field(None, ge=0, le=10, description="null: PLANNER_MAX_RETRIES")
    timeout: str | int | None = Field(
        None, description="one call's timeout: seconds, or 90s / 5m / 1h; null: Planner's"
    )
    overlap: Literal["skip", "queue", "allow"] | None = Field(
        None, description="when the previous run still runs; null: skip (jobs), allow (triggers)"
    )


class Owned(Policies):
    agent: Ref | None = Field(
        None, description="the agent it belongs to (given on a change, it moves there): its "
        "name or id; a token made for one agent names no other",
    )  # fmt: skip
    notify: list[str] | None = Field(
        None,
        description='channels told (names or ids); [] for nobody (not ["none"], the name of '
        'a channel, if any); ["default"] for the channels Settings tells about every failure '
        "(what a new job or trigger does)",
    )
    notify_on: list[Literal["failure", "recovery", "digest"]] | None = Field(
        None, description="what they are told about; [] or left out: failure and recovery"
    )
    action: Literal["chat", "workflow"] | None = Field(
        None, description="optional: what `config` holds must agree with it"
    )
    config: ActionConfig | None = None


ONE_AGENT_MAY_LEAVE_IT_OUT = (
    "the agent it belongs to: its name or id; a token made for one agent may leave it out "
    "(it is that agent) and names no other"
)


class JobChange(Owned):
    NULLABLE: ClassVar[frozenset[str]] = Policies.NULLABLE | {"starts_on", "ends_on", "jitter"}
    name: str | None = None
    schedule: str | None = Field(None, description="5-field cron, or `once 2026-12-24 09:00`")
    at: str | None = Field(None, description="instead of a schedule: run once, local time")
    timezone: str | None = Field(None, description="IANA name; default PLANNER_TIMEZONE")
    misfire_policy: Literal["catch_up_once", "skip"] | None = None
    starts_on: str | None = Field(None, description="first day (2026-12-01); null: none")
    ends_on: str | None = Field(None, description="last day, inclusive; null: none")
    jitter: str | int | None = Field(None, description="random delay, at most 1h; null: none")


class JobCreate(JobChange):
    name: str
    agent: Ref = Field(description=ONE_AGENT_MAY_LEAVE_IT_OUT)


class TriggerChange(Owned):
    name: str | None = None
    event: str | None = Field(None, description="Composio trigger slug")
    filters: dict[str, Any] | None = None
    user_id: str | None = None


class TriggerCreate(TriggerChange):
    name: str
    agent: Ref = Field(description=ONE_AGENT_MAY_LEAVE_IT_OUT)
    event: str


class AgentChange(Body):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"max_concurrency"})
    name: str | None = None
    backend: Literal["openai", "http"] | None = None
    url: str | None = None
    model: str | None = None
    system_prompt: str | None = None
    api_key_env: str | None = Field(None, description="the variable that holds its key")
    api_key: str | None = Field(
        None, description='its key, stored encrypted, never shown; "" removes it'
    )
    max_concurrency: int | None = Field(None, ge=1, description="null: no limit")


class AgentCreate(AgentChange):
    name: str
    url: str


class WorkflowChange(Body):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"max_concurrency"})
    name: str | None = None
    url: str | None = None
    auth_env: str | None = Field(None, description="the variable that holds its token")
    token: str | None = Field(
        None, description='its token, stored encrypted, never shown; "" removes it'
    )
    max_concurrency: int | None = Field(None, ge=1, description="null: no limit")


class WorkflowCreate(WorkflowChange):
    name: str
    url: str


class TestEvent(Body):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"payload"})
    payload: dict[str, Any] | None = Field(
        None, description="a whole event, or just its data; else the last real one or a sample"
    )


BODIES: tuple[type[Body], ...] = (
    JobCreate, JobChange, TriggerCreate, TriggerChange, AgentCreate, AgentChange,
    WorkflowCreate, WorkflowChange, TestEvent,
)  # fmt: skip


# The bodies that add a job or a trigger as a token made for one agent sends them: its
# `agent` may be left out (core.access.scopes.Scope.agent gives the token's own). The
# document describes the bodies above, which a token for every agent must send whole.


class JobCreateForOneAgent(JobCreate):
    agent: Ref | None = None  # type: ignore[assignment]


class TriggerCreateForOneAgent(TriggerCreate):
    agent: Ref | None = None  # type: ignore[assignment]


FOR_ONE_AGENT: dict[type[Body], type[Body]] = {
    JobCreate: JobCreateForOneAgent, TriggerCreate: TriggerCreateForOneAgent,
}  # fmt: skip


def body_for(model: type[Body] | None, scope: Scope) -> type[Body] | None:
    """The body `model` as a caller of `scope` sends it (FOR_ONE_AGENT)."""
    return model if scope.whole or model is None else FOR_ONE_AGENT.get(model, model)


# What the API answers: the JSON of the CLI's --json (core's *_json functions), described.
# A field may be added to an answer later (never removed or changed): clients ignore the
# ones they do not know, so answers are not closed to other fields.


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class Target(Answer):
    id: int
    name: str
    max_concurrency: int | None = Field(description="null: no limit")
    created_at: datetime
    key: str = Field(description="where its key comes from, in words; never the key itself")


class Agent(Target):
    backend: Backend
    base_url: str
    model: str
    system_prompt: str
    api_key_env: str = Field(description="the variable that holds its key; empty: none")


class Workflow(Target):
    url: str
    auth_env: str = Field(description="the variable that holds its token; empty: none")


def _without_defaults(schema: dict[str, Any]) -> None:
    """Fields an answer may leave out, not ones it says null for: no default in the schema."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class Config(Answer):
    """What a job or trigger does: a chat's message and thread, or a workflow and the
    template of its input; only the fields of its action are there."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_without_defaults)

    template: str = Field(None, description="chat: the message, with {variables}")
    thread: Literal["new", "continue"] = Field(None, description="chat: thread mode")
    workflow_id: int = Field(None, description="workflow: its id")
    input: dict[str, Any] = Field(
        None,
        description="workflow: the template of its input ({variables} filled in for each "
        "run); {}: none (a job sends {}, a trigger the event's data)",
    )


class Automation(Answer):
    """What jobs and triggers have in common."""

    id: int
    key: str = Field(description="unique forever: names its thread at the agent")
    agent_id: int
    name: str
    action: ActionKind
    config: Config
    status: Status
    health: Literal["green", "yellow", "red", "grey"]
    last_run_at: datetime | None
    last_outcome: str | None
    consecutive_failures: int
    retries: int | None = Field(description="null: PLANNER_MAX_RETRIES")
    timeout_seconds: int | None = Field(description="null: Planner's")
    overlap: Literal["skip", "queue", "allow"] | None = Field(description="null: Planner's")
    notify_as_settings: bool = Field(
        description="tells the channels Settings tells about every failure, not its own"
    )
    notify_channel_ids: list[int] = Field(description="its own channels (when not as Settings)")
    notify_on: list[str] = Field(description="what they are told about")
    created_at: datetime
    updated_at: datetime


class Job(Automation):
    schedule: str = Field(description="5-field cron, or `once 2026-12-24 09:00`")
    timezone: str
    starts_on: date | None
    ends_on: date | None
    jitter_seconds: int
    description: str = Field(description="its timing in words")
    misfire_policy: MisfirePolicy
    next_run_at: datetime | None = Field(description="null once its timing is over, or paused")


class Trigger(Automation):
    event: str = Field(description="the event type (Composio trigger slug)")
    event_name: str
    toolkit: str
    filters: dict[str, Any]
    user_id: str
    composio_trigger_id: str | None
    sync_state: SyncState
    sync_error: str | None
    last_fired_at: datetime | None


class Run(Answer):
    id: int
    key: str = Field(description="unique forever: sent as its Idempotency-Key")
    job_id: int | None
    trigger_id: int | None
    event_id: str | None
    source: RunSource
    status: RunStatus
    attempt: int
    attempts: list[dict[str, Any]]
    scheduled_for: datetime | None
    due_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    input: Any = Field(description="what was sent (any JSON)")
    output: Any = Field(description="what came back (any JSON)")
    error: str | None
    target: str | None
    waiting_reason: str | None


class Moved(Answer):
    kind: Literal["job", "trigger"]
    id: int
    name: str


class MovedTo(Answer):
    id: int
    name: str


class AgentRemoval(Answer):
    """An agent removed whose workflow jobs and triggers, only filed under it, moved to
    another agent (a removal that moves nothing answers 204)."""

    moved: list[Moved] = Field(description="the jobs and triggers that moved")
    to_agent: MovedTo = Field(description="the agent they are shown under now")
    message: str = Field(description="what moved and where, in words")


class EventRun(Answer):
    run_id: int
    trigger_id: int | None


class Event(Answer):
    id: str
    type: str
    trigger_slug: str | None
    composio_trigger_id: str | None
    dedupe_key: str | None
    status: EventStatus
    received_at: datetime
    processed_at: datetime | None
    note: str | None
    runs: list[EventRun]
    payload: dict[str, Any]


ANSWERS: tuple[type[Answer], ...] = (Job, Trigger, Agent, Workflow, Run, Event, AgentRemoval)
