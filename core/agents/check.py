"""Test connection: one short message to an agent through the same call every run
makes, answered at once with the agent's reply or what went wrong in plain words."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.access.credentials import MissingCredential, key_origin, token_for
from core.access.secrets import SecretKeyError
from core.agents import calls
from core.config import Settings
from core.outbound import Allowed
from core.store.models import Agent, new_key

TEST_MESSAGE = "This is a connection test from Planner. Please answer with a short greeting."
# A person waits for the answer, so the test gives up sooner than a run would.
TEST_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class ConnectionCheck:
    succeeded: bool
    text: str  # the agent's reply, or what went wrong in plain words


def check_connection(agent: Agent, settings: Settings) -> ConnectionCheck:
    """Send the test message to `agent` (a new thread, its own Idempotency-Key), with
    the key a run would send, where a run may call (an address Planner may not call is
    said as such, not as an agent that is not running)."""
    try:
        token = token_for(agent, settings)
    except (MissingCredential, SecretKeyError) as error:
        return ConnectionCheck(False, str(error))
    seconds = min(settings.http_timeout_seconds, TEST_TIMEOUT_SECONDS)
    try:
        reply = asyncio.run(_send_test_message(agent, token, seconds, settings.outbound_allow))
    except calls.TargetError as error:
        return ConnectionCheck(False, _in_plain_words(agent, error))
    return ConnectionCheck(True, reply)


async def _send_test_message(agent: Agent, token: str, seconds: float, allowed: Allowed) -> str:
    messages = [{"role": "user", "content": TEST_MESSAGE}]
    source = {"type": "connection_test", "agentName": agent.name}
    clients = calls.Clients(seconds, max_connections=1, allowed=allowed)
    try:
        thread_id, key = f"test-{new_key()}", new_key()
        return await calls.chat(clients.next(), agent, messages, thread_id, source, key, token)
    finally:
        await clients.aclose()


def _in_plain_words(agent: Agent, error: calls.TargetError) -> str:
    if error.unreachable:
        return f"Could not reach the agent at {agent.base_url} — is it running?"
    if error.status in (401, 403):
        return f"The key was refused ({error.status}): {_key_advice(agent)}."
    if error.status == 404:
        return f"The agent at {agent.base_url} answered 404 (not found): check the address" + (
            " and the model name." if agent.model else "."
        )
    return str(error)


def _key_advice(agent: Agent) -> str:
    """What to check when the agent refused the key, by where the key comes from."""
    origin = key_origin(agent)
    if origin == "environment":
        return f"check the key in ${agent.api_key_env}"
    if origin == "saved":
        return "replace the saved key (Agents & workflows, or `planner agents key`)"
    return "this agent has no key yet; paste one (Agents & workflows, or `planner agents key`)"
