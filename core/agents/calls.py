"""HTTP calls to the things runs call: agents (OpenAI-compatible or plain HTTP) and
workflows, on one asyncio event loop, so a worker keeps a thousand calls open at the cost
of a socket each.

Each call carries `Idempotency-Key: <run key>` (random, never reused), so a target can
recognise a retry of the same run. Failures are sorted here into retryable (network,
timeout, 408, 429, 5xx) and final (any other answer, and an address Planner may not
call: core.outbound), because only the target's answer tells them apart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx

from core.agents.sockets import AsyncioBackend
from core.outbound import Allowed, Refused
from core.store import standard_json
from core.store.models import Agent, Backend, Workflow

RETRYABLE_STATUS = frozenset({408, 429})
# A target asking to be called again later (Retry-After) is believed up to this long.
MAX_RETRY_AFTER_SECONDS = 3600.0
# An answer is read up to this size (after Content-Encoding), then refused: it is stored
# on the run and shown on the dashboard.
MAX_ANSWER_BYTES = 2**20
# How much of a refused answer an error message quotes.
DETAIL_CHARS = 300


class TargetError(Exception):
    """A call that did not succeed; `retryable` says whether trying again may help,
    `status` is the target's HTTP status when it answered, `unreachable` that it could
    not be reached at all, `retry_after` how many seconds the target asked us to wait."""

    def __init__(
        self,
        message: str,
        retryable: bool,
        status: int | None = None,
        unreachable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable, self.status, self.unreachable = retryable, status, unreachable
        self.retry_after = retry_after

    def redacted(self, secret: str) -> TargetError:
        """The same failure, with `secret` taken out of its message."""
        message = _redacted(str(self), secret)
        return TargetError(message, self.retryable, self.status, self.unreachable, self.retry_after)


# httpcore's pool looks over all its connections on every request and every answer (and,
# for each idle one, over all of them again), so a thousand calls take turns over many
# small pools instead of one large one: a third of the CPU of a call to a local agent with
# 40 per pool, a fifth less again with 5. Turns are not counts: a pool may hold more than
# its share for a while, so each may grow to the whole limit (the caller caps the calls
# open in all).
CONNECTIONS_PER_CLIENT = 5
# The port a URL without one connects to, as httpcore picks it.
DEFAULT_PORTS = {"http": 80, "https": 443}


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its request, response and error mapping) over a connection pool
    on core.agents.sockets' asyncio backend."""

    def __init__(self, limits: httpx.Limits, tls: ssl.SSLContext, backend: AsyncioBackend) -> None:
        super().__init__(verify=tls, limits=limits)
        # httpx takes no network backend, so the pool it made is replaced by one with ours
        # (the same limits); checked, so that a renamed attribute fails loudly, not slowly.
        assert isinstance(self._pool, httpcore.AsyncConnectionPool)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )

    def idle_connections(self, origin: httpcore.Origin) -> int:
        """Kept-alive connections to `origin` waiting for a request."""
        return sum(
            1 for c in self._pool.connections if c.is_idle() and c.can_handle_request(origin)
        )


class Clients:
    """HTTP clients for up to `max_connections` calls open at once on one event loop,
    each call bounded by `timeout_seconds` as a whole (see _exchange), connecting only
    where `allowed` (PLANNER_OUTBOUND_ALLOW) and core.outbound let them. Make it once per
    event loop and keep it: connections are reused, the TLS settings loaded once."""

    def __init__(self, timeout_seconds: float, max_connections: int, allowed: Allowed) -> None:
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=CONNECTIONS_PER_CLIENT,
            keepalive_expiry=5.0,
        )
        tls = ssl.create_default_context()  # loading the CA bundle costs ~20 ms: once
        # One for all pools: any may take a spare.
        self._backend = AsyncioBackend(allowed=allowed)
        self._transports = [
            AsyncioTransport(limits, tls, self._backend)
            for _ in range(-(-max_connections // CONNECTIONS_PER_CLIENT))
        ]
        self._clients = [
            httpx.AsyncClient(timeout=timeout_seconds, transport=transport, follow_redirects=False)
            for transport in self._transports
        ]
        self._turns = itertools.cycle(self._clients)

    def next(self) -> httpx.AsyncClient:
        """The client for the next call, in turn."""
        return next(self._turns)

    async def open_ahead(self, targets: Iterable[Agent | Workflow]) -> None:
        """A connection to each target's host per call about to be made to it, less the
        idle ones kept alive there (a pool takes those first)."""
        counts = Counter(filter(None, map(_origin, targets)))
        await asyncio.gather(
            *(
                self._backend.open_ahead(host.decode("ascii"), port, missing)
                for (scheme, host, port), count in counts.items()
                if (missing := count - self._idle(httpcore.Origin(scheme, host, port))) > 0
            )
        )

    def _idle(self, origin: httpcore.Origin) -> int:
        return sum(transport.idle_connections(origin) for transport in self._transports)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._backend.close_spares()


def _origin(target: Agent | Workflow) -> tuple[bytes, bytes, int] | None:
    """Where the target's calls connect to (scheme, host, port, as httpcore names them);
    None if its URL cannot be read."""
    try:
        url = httpx.URL(target.url if isinstance(target, Workflow) else target.base_url)
    except httpx.InvalidURL:
        return None
    if url.scheme not in DEFAULT_PORTS or not url.raw_host:
        return None
    return url.raw_scheme, url.raw_host, url.port or DEFAULT_PORTS[url.scheme]


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds the answer's Retry-After asks for (a number, or an HTTP date), capped at
    MAX_RETRY_AFTER_SECONDS; None when absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _request_body(payload: Any) -> bytes:
    """The payload as standard JSON in UTF-8 (what httpx's `json=` sends), or a refusal."""
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()
    except (TypeError, ValueError, RecursionError) as error:
        raise TargetError(f"The request could not be sent as JSON: {error}.", False) from None


async def _read_capped(response: httpx.Response, url: str) -> bytes:
    """The decoded answer, refused once it is larger than MAX_ANSWER_BYTES."""
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) > MAX_ANSWER_BYTES:
            limit = MAX_ANSWER_BYTES // 2**20
            raise TargetError(f"{url} sent an answer larger than {limit} MiB.", retryable=False)
    return bytes(content)


async def _exchange(
    client: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout: float | None = None,
) -> tuple[httpx.Response, bytes]:
    """One POST, answer read to the end within `timeout` (else the client's) for the
    whole call: httpx bounds each read, so a target dribbling its answer a byte at a time
    would keep the call open for ever and outlive the run's lease."""
    seconds = timeout or client.timeout.read
    try:
        async with (
            asyncio.timeout(seconds),
            client.stream(
                "POST", url, content=content, headers=headers, timeout=seconds
            ) as response,
        ):
            return response, await _read_capped(response, url)
    except (httpx.TimeoutException, TimeoutError):
        within = f" within {seconds:g} s" if seconds else ""
        raise TargetError(f"No complete answer from {url}{within} (timeout).", True) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise TargetError(f"Could not reach {url}: {reason}.", True, unreachable=True) from None
    except Refused as refusal:  # the address is one Planner may not call: final
        raise TargetError(str(refusal), retryable=False) from None
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


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    idempotency_key: str,
    headers: dict[str, str],
    timeout: float | None = None,
) -> Any:
    """POST `payload`; return the answer's JSON (or text), or raise TargetError.

    Nothing stored from the answer (output or error text) holds the Authorization token,
    even when the target echoes it back.
    """
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        headers = {"Idempotency-Key": idempotency_key, **headers}
        return await _post(client, url, payload, headers, token, timeout)
    except TargetError as error:
        raise error.redacted(token) from None
    except Exception as error:  # whatever else building, sending or reading raised
        reason = _redacted(f"{type(error).__name__}: {error}", token)
        raise TargetError(f"The call to {url} failed: {reason}", retryable=False) from None


async def _post(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    headers: dict[str, str],
    token: str,
    timeout: float | None,
) -> Any:
    content = _request_body(payload)
    headers = {"Content-Type": "application/json", **headers}
    response, answer = await _exchange(client, url, content, headers, timeout)
    is_json = "json" in response.headers.get("content-type", "")
    text = _redacted(_text(response, answer, is_json), token)
    if response.is_success:
        return _answer(url, text, is_json)
    retryable = response.status_code in RETRYABLE_STATUS or response.status_code >= 500
    detail = text.strip()[:DETAIL_CHARS]
    message = f"{url} answered HTTP {response.status_code}: {detail}"
    wait = retry_after(response) if retryable else None
    raise TargetError(message, retryable, status=response.status_code, retry_after=wait)


async def chat(
    client: httpx.AsyncClient,
    agent: Agent,
    messages: list[dict[str, str]],
    thread_id: str,
    source: dict[str, Any],
    idempotency_key: str,
    token: str = "",
    timeout: float | None = None,
) -> str:
    """Send the conversation's newest user message to the agent; return its reply text.

    `messages` is the thread so far, ending with the new user message; `token` is the
    key to send as a bearer token (core.access.credentials.token_for), if any; `timeout` bounds
    the call (else the client's).
    """
    headers = _bearer(token)
    if agent.backend == Backend.openai:
        system = [{"role": "system", "content": agent.system_prompt}] if agent.system_prompt else []
        url = agent.base_url.rstrip("/") + "/chat/completions"
        answer = await post_json(
            client,
            url,
            {"model": agent.model, "messages": system + messages},
            idempotency_key,
            headers,
            timeout,
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
    answer = await post_json(client, agent.base_url, payload, idempotency_key, headers, timeout)
    if isinstance(answer, dict) and "reply" in answer:
        if not isinstance(answer["reply"], str):
            raise TargetError(
                f"{agent.base_url} sent a reply that is not text: {answer!r:.300}", False
            )
        return answer["reply"]
    return answer if isinstance(answer, str) else str(answer)


async def run_workflow(
    client: httpx.AsyncClient,
    workflow: Workflow,
    body: dict[str, Any],
    idempotency_key: str,
    token: str = "",
    timeout: float | None = None,
) -> Any:
    """POST the workflow's input; return its response (JSON or text)."""
    return await post_json(client, workflow.url, body, idempotency_key, _bearer(token), timeout)
