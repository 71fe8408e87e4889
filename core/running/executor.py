"""The one executor: an Action in, a RunResult out. Jobs and triggers both end here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from core.agents import calls
from core.store.models import Agent, Workflow


@dataclass(frozen=True)
class ChatAction:
    """Send the last of `messages` (the thread so far) to `agent`."""

    agent: Agent
    messages: list[dict[str, str]]
    thread_id: str
    source: dict[str, Any]
    token: str = field(default="", repr=False)
    timeout: float | None = None  # seconds for the call (None: the client's)


@dataclass(frozen=True)
class WorkflowAction:
    workflow: Workflow
    body: dict[str, Any]
    token: str = field(default="", repr=False)
    timeout: float | None = None


Action = ChatAction | WorkflowAction


@dataclass(frozen=True)
class RunResult:
    """`retry_after`: seconds the target asked to wait before it is called again."""

    succeeded: bool
    output: Any = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


async def execute(action: Action, idempotency_key: str, client: httpx.AsyncClient) -> RunResult:
    """Perform the action once; never raises for a target's failure."""
    try:
        if isinstance(action, ChatAction):
            output = await calls.chat(
                client,
                action.agent,
                action.messages,
                action.thread_id,
                action.source,
                idempotency_key,
                action.token,
                action.timeout,
            )
        else:
            output = await calls.run_workflow(
                client, action.workflow, action.body, idempotency_key, action.token, action.timeout
            )
    except calls.TargetError as error:
        return RunResult(
            succeeded=False,
            error=str(error),
            retryable=error.retryable,
            retry_after=error.retry_after,
        )
    return RunResult(succeeded=True, output=output)
