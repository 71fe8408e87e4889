"""Test connection: one short message to an agent, or a small sample input to a
workflow, through the same call every run makes, answered at once with the reply in
words (core.views.words) or what went wrong in plain words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.access.credentials import MissingCredential, key_origin, token_for
from core.access.secrets import SecretKeyError
from core.agents import calls
from core.config import Settings
from core.outbound import Allowed
from core.store.models import Agent, Workflow, new_key
from core.views.words import answer_in_words

TEST_MESSAGE = "This is a connection test from Planner. Please answer with a short greeting."
# What a workflow's test sends as its input: small, and saying what it is, so a workflow
# that acts on its input (sends a mail, writes a row) can tell a test from a run.
TEST_INPUT = {"test": True, "message": "This is a test from Planner."}
# A person waits for the answer, so the test gives up sooner than a run would.
TEST_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class ConnectionCheck:
    succeeded: bool
    text: str  # the reply in words, or what went wrong in plain words
    details: str = ""  # what the words leave out of a workflow's answer, for the technical


def _answer(
    target: Agent | Workflow, settings: Settings, send: Callable[..., Awaitable[Any]]
) -> tuple[Any, ConnectionCheck | None]:
    """`send`'s answer, with the key a run would send, where a run may call; or what
    went wrong, in plain words (an address Planner may not call is said as such, not as
    an agent that is not running)."""
    try:
        token = token_for(target, settings)
    except (MissingCredential, SecretKeyError) as error:
        return None, ConnectionCheck(False, str(error))
    seconds = min(settings.http_timeout_seconds, TEST_TIMEOUT_SECONDS)
    try:
        return asyncio.run(send(target, token, seconds, settings.outbound_allow)), None
    except calls.TargetError as error:
        return None, ConnectionCheck(False, _in_plain_words(target, error))


def check_connection(agent: Agent, settings: Settings) -> ConnectionCheck:
    """Send the test message to `agent` (a new thread, its own Idempotency-Key)."""
    reply, refused = _answer(agent, settings, _send_test_message)
    return refused or ConnectionCheck(True, reply)


def check_workflow(workflow: Workflow, settings: Settings) -> ConnectionCheck:
    """Send TEST_INPUT to `workflow` as a run sends its input (with a `source` saying it
    is a test, and its own Idempotency-Key), and say its answer in words."""
    answer, refused = _answer(workflow, settings, _send_test_input)
    if refused:
        return refused
    said = answer_in_words(answer)
    return ConnectionCheck(True, said.text or "It answered with nothing.", said.details)


async def _send_test_input(workflow: Workflow, token: str, seconds: float, allowed: Allowed) -> Any:
    body = {"input": TEST_INPUT, "source": {"type": "workflow_test", "workflowName": workflow.name}}
    clients = calls.Clients(seconds, max_connections=1, allowed=allowed)
    try:
        return await calls.run_workflow(clients.next(), workflow, body, new_key(), token)
    finally:
        await clients.aclose()


async def _send_test_message(agent: Agent, token: str, seconds: float, allowed: Allowed) -> str:
    messages = [{"role": "user", "content": TEST_MESSAGE}]
    source = {"type": "connection_test", "agentName": agent.name}
    clients = calls.Clients(seconds, max_connections=1, allowed=allowed)
    try:
        thread_id, key = f"test-{new_key()}", new_key()
        return await calls.chat(clients.next(), agent, messages, thread_id, source, key, token)
    finally:
        await clients.aclose()


def _in_plain_words(target: Agent | Workflow, error: calls.TargetError) -> str:
    what, url = (
        ("workflow", target.url) if isinstance(target, Workflow) else ("agent", target.base_url)
    )
    if error.unreachable:
        return f"Could not reach the {what} at {url} — is it running?"
    if error.status in (401, 403):
        return f"The key was refused ({error.status}): {_key_advice(target)}."
    if error.status == 404:
        model = isinstance(target, Agent) and target.model
        return f"The {what} at {url} answered 404 (not found): check the address" + (
            " and the model name." if model else "."
        )
    return str(error)


def _key_advice(target: Agent | Workflow) -> str:
    """What to check when the target refused the key, by where the key comes from."""
    origin = key_origin(target)
    command = "workflows" if isinstance(target, Workflow) else "agents"
    where = f"(Agents & workflows, or `planner {command} key`)"
    if origin == "environment":
        env = target.auth_env if isinstance(target, Workflow) else target.api_key_env
        return f"check the key in ${env}"
    if origin == "saved":
        return f"replace the saved key {where}"
    return f"this {command[:-1]} has no key yet; paste one {where}"
