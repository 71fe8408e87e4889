"""`/mcp` on the web address: streamable HTTP (stateless, JSON answers), each request
authenticated with one of Planner's API tokens, whose scope the tools keep to, and held to
the API's rates (core.access.rates: `PLANNER_API_REQUESTS_PER_MINUTE` per token, a few
unknown tokens a minute per address), counted apart from the API's, and its body to the
API's 1 MiB.

Stateless, because a session the SDK keeps is not tied to the token that opened it: every
request carries its token and is checked on its own. The SDK's Host check (against DNS
rebinding, for servers that trust whoever reaches them on localhost) is off: it would
refuse the platform's address, and a page that rebinds a name has no token to send.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from asgi import messages
from asgi.bodies import MAX_BODY_BYTES, TooLarge, drain, read_body
from core.access import rates, tokens
from core.access.scopes import Scope as Reach
from core.config import Settings
from core.errors import NotFoundError
from core.store.models import utcnow
from mcpserver.tools import build
from queueing import queue_for

PATH = "/mcp"
# JSON-RPC error codes (server errors' range) the SDK's client passes on as they are.
UNAUTHORIZED = -32001
TOO_MANY = -32002
TOO_LARGE = -32003
# The request's scope, set from its token; no default: a tool run outside a request fails
# rather than reach every agent.
_reach: contextvars.ContextVar[Reach] = contextvars.ContextVar("reach")


async def _refuse(send: Send, status: int, message: str, header: tuple[bytes, bytes]) -> None:
    """A refusal before the MCP app, with a JSON-RPC error body so that a client says why."""
    code = {401: UNAUTHORIZED, 429: TOO_MANY}.get(status, TOO_LARGE)
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    await messages.answer(send, status, error, [header])


async def _unauthorized(send: Send, message: str) -> None:
    await _refuse(send, 401, message, (b"www-authenticate", b'Bearer realm="planner"'))


async def _too_many(send: Send, wait: float, what: str) -> None:
    retry, message = rates.too_many(wait, what)
    await _refuse(send, 429, message, (b"retry-after", retry.encode()))


class McpEndpoint:
    """The ASGI app of `/mcp`: the token checked, then the SDK's app in its scope."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rate = rates.RateLimit(settings.api_requests_per_minute)
        self.failures = rates.RateLimit(rates.FAILED_TOKENS_PER_MINUTE)
        self.server = build(settings, queue_for(settings), _reach.get)
        self.app = self.server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    @asynccontextmanager
    async def hosted(self) -> AsyncIterator[None]:
        """The SDK's session manager, for as long as the process serves."""
        async with self.server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = messages.headers(scope)
        token = messages.bearer(given)
        if not token:
            await _unauthorized(send, "Send one of Planner's API tokens: Authorization: Bearer …")
            return
        try:
            row = await anyio.to_thread.run_sync(
                tokens.checked, self.settings.database_url, token, utcnow()
            )
        except NotFoundError as error:
            address = (scope.get("client") or ("",))[0]
            wait = self.failures.wait(address, time.monotonic())
            if wait:
                await _too_many(send, wait, "an unknown API token from this address")
            else:
                await _unauthorized(send, str(error))
            return
        wait = self.rate.wait(row.token_hash, time.monotonic())
        if wait:
            await _too_many(send, wait, "this token")
            return
        if scope["method"] == "POST":
            try:
                receive = _again(await read_body(given, receive), receive)
            except TooLarge as refused:
                if refused.unread:
                    await drain(receive)
                too_large = f"The request is larger than {MAX_BODY_BYTES // 1024} KiB."
                await _refuse(send, 413, too_large, (b"connection", b"close"))
                return
            except ClientDisconnect:
                return
        reset = _reach.set(tokens.scope_of(row))
        try:
            await self.app(scope, receive, send)
        finally:
            _reach.reset(reset)


def _again(body: bytes, receive: Receive) -> Receive:
    """`receive` for the SDK's app, the body already read (within the limit) given again."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def serves(path: str) -> bool:
    return path == PATH
