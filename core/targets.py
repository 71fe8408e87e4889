"""HTTP clients for the things runs call: agents (OpenAI-compatible or plain HTTP) and
workflows.

Each call carries `Idempotency-Key: <run key>` (random, never reused), so a target can
recognise a retry of the same run. Failures are sorted here into retryable (network,
timeout, 408, 429, 5xx) and final (any other answer), because only the target's answer
tells them apart.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from core.config import is_own_variable
from core.models import Agent, Backend, Workflow

RETRYABLE_STATUS = frozenset({408, 429})


class TargetError(Exception):
    """A call that did not succeed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _bearer(env_name: str) -> dict[str, str]:
    if not env_name:
        return {}
    if is_own_variable(env_name):
        raise TargetError(f"{env_name} is one of Planner's own settings, not a key.", False)
    token = os.environ.get(env_name)
    if not token:
        raise TargetError(f"The environment variable {env_name} is not set.", retryable=False)
    return {"Authorization": f"Bearer {token}"}


def _body(response: httpx.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def post_json(
    client: httpx.Client, url: str, payload: Any, idempotency_key: str, headers: dict[str, str]
) -> Any:
    """POST `payload`; return the answer's JSON (or text), or raise TargetError."""
    try:
        response = client.post(
            url, json=payload, headers={"Idempotency-Key": idempotency_key, **headers}
        )
    except httpx.TimeoutException:
        raise TargetError(f"No answer from {url} in time (timeout).", retryable=True) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise TargetError(f"Could not reach {url}: {reason}.", retryable=True) from None
    if response.is_success:
        return _body(response)
    retryable = response.status_code in RETRYABLE_STATUS or response.status_code >= 500
    detail = response.text.strip()[:300]
    raise TargetError(f"{url} answered HTTP {response.status_code}: {detail}", retryable)


def chat(
    client: httpx.Client,
    agent: Agent,
    messages: list[dict[str, str]],
    thread_id: str,
    source: dict[str, Any],
    idempotency_key: str,
) -> str:
    """Send the conversation's newest user message to the agent; return its reply text.

    `messages` is the thread so far, ending with the new user message.
    """
    headers = _bearer(agent.api_key_env)
    if agent.backend == Backend.openai:
        system = [{"role": "system", "content": agent.system_prompt}] if agent.system_prompt else []
        url = agent.base_url.rstrip("/") + "/chat/completions"
        answer = post_json(
            client,
            url,
            {"model": agent.model, "messages": system + messages},
            idempotency_key,
            headers,
        )
        try:
            return answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TargetError(f"{url} sent no chat completion: {answer!r:.300}", False) from None
    payload = {
        "agentId": agent.model or agent.name,
        "threadId": thread_id,
        "message": messages[-1]["content"],
        "source": source,
    }
    answer = post_json(client, agent.base_url, payload, idempotency_key, headers)
    if isinstance(answer, dict) and "reply" in answer:
        return str(answer["reply"])
    return answer if isinstance(answer, str) else str(answer)


def run_workflow(
    client: httpx.Client, workflow: Workflow, body: dict[str, Any], idempotency_key: str
) -> Any:
    """POST the workflow's input; return its response (JSON or text)."""
    return post_json(client, workflow.url, body, idempotency_key, _bearer(workflow.auth_env))
