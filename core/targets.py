"""HTTP clients for the things runs call: agents (OpenAI-compatible or plain HTTP) and
workflows.

Each call carries `Idempotency-Key: <run key>` (random, never reused), so a target can
recognise a retry of the same run. Failures are sorted here into retryable (network,
timeout, 408, 429, 5xx) and final (any other answer), because only the target's answer
tells them apart.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from core import standard_json
from core.deadline import call_deadline
from core.models import Agent, Backend, Workflow

RETRYABLE_STATUS = frozenset({408, 429})
# An answer is read up to this size (after Content-Encoding), then refused: it is stored
# on the run and shown on the dashboard.
MAX_ANSWER_BYTES = 2**20
# How much of a refused answer an error message quotes.
DETAIL_CHARS = 300


class TargetError(Exception):
    """A call that did not succeed; `retryable` says whether trying again may help,
    `status` is the target's HTTP status when it answered, `unreachable` that it could
    not be reached at all."""

    def __init__(
        self, message: str, retryable: bool, status: int | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable, self.status, self.unreachable = retryable, status, unreachable


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _request_body(payload: Any) -> bytes:
    """The payload as standard JSON in UTF-8 (what httpx's `json=` sends), or a refusal."""
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()
    except (TypeError, ValueError, RecursionError) as error:
        raise TargetError(f"The request could not be sent as JSON: {error}.", False) from None


def _read_capped(response: httpx.Response, url: str) -> bytes:
    """The decoded answer, refused once it is larger than MAX_ANSWER_BYTES."""
    content = bytearray()
    for chunk in response.iter_bytes():
        content += chunk
        if len(content) > MAX_ANSWER_BYTES:
            limit = MAX_ANSWER_BYTES // 2**20
            raise TargetError(f"{url} sent an answer larger than {limit} MiB.", retryable=False)
    return bytes(content)


def _exchange(
    client: httpx.Client, url: str, content: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """One POST, answer read to the end within the client's timeout for the whole call."""
    seconds = client.timeout.read
    try:
        with (
            call_deadline(seconds),
            client.stream("POST", url, content=content, headers=headers) as response,
        ):
            return response, _read_capped(response, url)
    except httpx.TimeoutException:
        within = f" within {seconds:g} s" if seconds else ""
        raise TargetError(f"No complete answer from {url}{within} (timeout).", True) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise TargetError(f"Could not reach {url}: {reason}.", True, unreachable=True) from None
    except httpx.DecodingError as error:
        raise TargetError(
            f"{url} sent an answer that could not be decoded: {error}.", False
        ) from None


def _text(response: httpx.Response, content: bytes, is_json: bool) -> str:
    """The answer as text; an unknown or non-text charset falls back to UTF-8."""
    charset = response.charset_encoding or (json.detect_encoding(content) if is_json else "utf-8")
    try:
        return content.decode(charset, errors="replace")
    except (LookupError, UnicodeError):
        return content.decode("utf-8", errors="replace")


def _answer(url: str, text: str, is_json: bool) -> Any:
    """A JSON answer as data (standard JSON only), anything else as text."""
    if not is_json:
        return text
    try:
        return standard_json.loads(text)
    except standard_json.NotStandardJson as constant:
        detail = text.strip()[:DETAIL_CHARS]
        reason = f"{url} answered JSON that is not standard ({constant}): {detail}"
        raise TargetError(reason, retryable=False) from None
    except (ValueError, RecursionError):
        return text


def _redacted(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def post_json(
    client: httpx.Client, url: str, payload: Any, idempotency_key: str, headers: dict[str, str]
) -> Any:
    """POST `payload`; return the answer's JSON (or text), or raise TargetError.

    Nothing stored from the answer (output or error text) holds the Authorization token,
    even when the target echoes it back.
    """
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        return _post(client, url, payload, {"Idempotency-Key": idempotency_key, **headers}, token)
    except TargetError as error:
        redacted = _redacted(str(error), token)
        raise TargetError(redacted, error.retryable, error.status, error.unreachable) from None
    except Exception as error:  # whatever else building, sending or reading raised
        reason = _redacted(f"{type(error).__name__}: {error}", token)
        raise TargetError(f"The call to {url} failed: {reason}", retryable=False) from None


def _post(client: httpx.Client, url: str, payload: Any, headers: dict[str, str], token: str) -> Any:
    content = _request_body(payload)
    headers = {"Content-Type": "application/json", **headers}
    response, answer = _exchange(client, url, content, headers)
    is_json = "json" in response.headers.get("content-type", "")
    text = _redacted(_text(response, answer, is_json), token)
    if response.is_success:
        return _answer(url, text, is_json)
    retryable = response.status_code in RETRYABLE_STATUS or response.status_code >= 500
    detail = text.strip()[:DETAIL_CHARS]
    message = f"{url} answered HTTP {response.status_code}: {detail}"
    raise TargetError(message, retryable, status=response.status_code)


def chat(
    client: httpx.Client,
    agent: Agent,
    messages: list[dict[str, str]],
    thread_id: str,
    source: dict[str, Any],
    idempotency_key: str,
    token: str = "",
) -> str:
    """Send the conversation's newest user message to the agent; return its reply text.

    `messages` is the thread so far, ending with the new user message; `token` is the
    key to send as a bearer token (core.credentials.token_for), if any.
    """
    headers = _bearer(token)
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
            reply = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            reply = None
        if not isinstance(reply, str):
            raise TargetError(f"{url} sent no chat completion: {answer!r:.300}", False)
        return reply
    payload = {
        "agentId": agent.model or agent.name,
        "threadId": thread_id,
        "message": messages[-1]["content"],
        "source": source,
    }
    answer = post_json(client, agent.base_url, payload, idempotency_key, headers)
    if isinstance(answer, dict) and "reply" in answer:
        if not isinstance(answer["reply"], str):
            raise TargetError(
                f"{agent.base_url} sent a reply that is not text: {answer!r:.300}", False
            )
        return answer["reply"]
    return answer if isinstance(answer, str) else str(answer)


def run_workflow(
    client: httpx.Client,
    workflow: Workflow,
    body: dict[str, Any],
    idempotency_key: str,
    token: str = "",
) -> Any:
    """POST the workflow's input; return its response (JSON or text)."""
    return post_json(client, workflow.url, body, idempotency_key, _bearer(token))
