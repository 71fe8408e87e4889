"""The intake: Composio deliveries into the inbox, the HTTP API and the health check.

The web process serves it at the dashboard's address (web/app.py); for heavy intake it
also runs alone, as many processes as needed: `uvicorn webhook.app:app --port $PORT`.

`POST /webhooks/composio` verifies, stores and hands the event to the worker; it never
runs anything itself. Concurrent deliveries share one transaction (group commit).
Answers: 415 unless the body is JSON, 413 for a body over 1 MiB, 401 for a missing or
wrong signature, a malformed webhook-id or a timestamp over 5 minutes off, or while there
is no signing secret yet ("webhook not set up yet"; nothing stored), 400 for a body that
is not a Composio event (not `composio.*`, a field of the wrong type, NaN, a NUL or a
lone surrogate), 503 when the database refuses this row (the others of its transaction
are stored) or the stored secret cannot be read, else 200 once the event row is committed —
also, as "duplicate", for a repeated `webhook-id` (stores nothing new) or the same event
announced again (kept as `duplicate`, starts nothing); 405 for another method.
`GET /healthz` (Starlette, like the lifespan) says whether the database answers; the
HTTP API is under `/api/v1` (webhook.api).

The signing secret is COMPOSIO_WEBHOOK_SECRET when set, else the one *Receive events* stored
(Settings → Composio, or `planner composio connect`); the process starts without either
and picks a new one up within seconds, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from asgi import messages
from asgi.bodies import TooLarge, read_body
from core.access import credentials
from core.config import Settings, get_settings
from core.errors import PlannerError
from core.events.deliveries import EVENT_TABLE, InboxWriter, Refusal, Rejected, verify
from core.events.envelope import parse
from core.store.db import get_engine, read_session
from core.store.models import utcnow
from queueing import queue_for
from webhook.api import API, Api, not_there
from webhook.api import routes as api_routes

log = logging.getLogger("planner.webhook")
DELIVERIES = "/webhooks/composio"
HEALTH = "/healthz"
SECRET_CACHE_SECONDS = 5.0
# The answer to each refusal. Composio delivers again after a 5xx (the event may yet be
# stored), never after a 4xx.
STATUSES = {
    Refusal.not_json: 415,
    Refusal.too_large: 413,
    Refusal.no_secret: 401,
    Refusal.unsigned: 401,
    Refusal.malformed: 400,
    Refusal.secret_unreadable: 503,
}


class SigningSecret:
    """The secret deliveries are checked with: COMPOSIO_WEBHOOK_SECRET when set, else the
    stored one, read again at most every few seconds, so a new one takes effect without a
    restart while a delivery costs no query and no decryption. Changes are logged once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.value = settings.composio_webhook_secret
        self.fresh_until = math.inf if self.value else 0.0
        self.problem = ""
        self.logged_missing = False
        self.lock = asyncio.Lock()

    async def current(self) -> str:
        """The secret ("" while there is none); refused as unreadable when it cannot be
        read."""
        if time.monotonic() >= self.fresh_until:
            async with self.lock:
                if time.monotonic() >= self.fresh_until:
                    await asyncio.to_thread(self.read)
        if not self.value and self.problem:
            raise Rejected(
                Refusal.secret_unreadable, "the webhook secret cannot be read; try again"
            )
        return self.value

    def read(self) -> None:
        """Read the stored secret; on failure keep the last one and say why (once)."""
        try:
            with read_session(self.settings.database_url) as session:
                value = credentials.stored(
                    session, self.settings, credentials.COMPOSIO_WEBHOOK_SECRET
                )
        except (PlannerError, sa.exc.SQLAlchemyError) as error:
            problem = str(error) if isinstance(error, PlannerError) else "the database"
            if problem != self.problem:
                log.error("cannot read the stored webhook secret: %s", problem)
            self.problem = problem
            value = self.value
        else:
            self.problem = ""
        if value and value != self.value:
            log.info("webhook signing secret %s", "changed" if self.value else "found")
            self.logged_missing = False
        elif not value and not self.logged_missing and not self.problem:
            log.warning(
                "No Composio webhook signing secret yet: deliveries are refused (401) until "
                "someone presses Receive events on the dashboard's Settings page or runs "
                "'planner composio connect'."
            )
            self.logged_missing = True
        self.value = value
        self.fresh_until = time.monotonic() + SECRET_CACHE_SECONDS  # last: value is set


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = get_settings()
    task_queue = queue_for(settings)

    app.state.settings = settings
    app.state.secret = SigningSecret(settings)
    if not settings.composio_webhook_secret:
        app.state.secret.read()  # says at start whether deliveries can be checked yet
    app.state.inbox = InboxWriter(settings.database_url, task_queue.submit_events)
    app.state.api = Api(settings, task_queue)
    yield
    await asyncio.to_thread(app.state.inbox.close)  # the last deliveries reach the worker


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def _body(headers: dict[str, str], receive: Receive) -> bytes:
    """The delivery's body, refused as too large past the limit."""
    try:
        return await read_body(headers, receive)
    except TooLarge:
        raise Rejected(Refusal.too_large, "body larger than 1 MiB") from None


async def receive_composio(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /webhooks/composio, as a plain ASGI app: the hot path of the process, so it
    builds no request or response objects and passes through no middleware."""
    state = web.state
    try:
        headers = messages.headers(scope)
        if not _is_json(headers.get("content-type", "")):
            raise Rejected(Refusal.not_json, "content-type must be application/json")
        body = await _body(headers, receive)
        secret = await state.secret.current()
        if not secret:
            raise Rejected(Refusal.no_secret, "webhook not set up yet")
        event_id = verify(secret, headers, body, time.time())
        envelope = parse(body)
    except ClientDisconnect:
        return
    except Rejected as refusal:
        status = STATUSES[refusal.reason]
        if refusal.reason is not Refusal.no_secret:  # said once, when found missing
            log.warning("refused delivery: %s %s", status, refusal)
        await messages.answer(send, status, {"error": str(refusal)})
        return
    try:
        stored = await state.inbox.store(event_id, envelope, utcnow())
    except Exception:  # whatever the database said, this delivery is not stored
        log.exception("could not store event %s", event_id)
        await messages.answer(send, 503, {"error": "could not store the event; try again"})
        return
    await messages.answer(
        send, 200, {"status": "accepted" if stored else "duplicate", "id": event_id}
    )


async def healthz(request: Request) -> JSONResponse:
    """200 when the inbox can be read, 503 when it cannot: the driver's error (which can
    name the host and user) goes to the log, not to whoever asks. A database without
    Planner's tables (never migrated, or a mistyped path) is not healthy either."""
    try:
        with get_engine(get_settings().database_url).connect() as connection:
            connection.execute(sa.select(EVENT_TABLE.c.id).limit(1))
    except sa.exc.SQLAlchemyError:
        log.exception("health check: the database does not answer")
        return JSONResponse(
            {"status": "error", "database": "database unavailable or not set up"},
            status_code=503,
        )
    return JSONResponse({"status": "ok"})


web = Starlette(
    routes=[Route(HEALTH, healthz), *api_routes()],
    exception_handlers={404: not_there, 405: not_there},
    lifespan=lifespan,
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Deliveries straight to `receive_composio`; anything else (the health check, the
    lifespan, unknown paths) to Starlette."""
    if scope["type"] == "http" and scope["path"] == DELIVERIES:
        if scope["method"] == "POST":
            await receive_composio(scope, receive, send)
        else:
            refusal = {"error": "method not allowed: POST a Composio event"}
            await messages.answer(send, 405, refusal, [(b"allow", b"POST")])
        return
    await web(scope, receive, send)


def serves(path: str) -> bool:
    """Whether a request for `path` is this app's, when the web process hosts it beside
    the dashboard (every other path is the dashboard's)."""
    return path in (DELIVERIES, HEALTH) or path == API or path.startswith(API + "/")


@asynccontextmanager
async def hosted() -> AsyncIterator[None]:
    """This app's lifespan when another server runs it (the web process)."""
    async with lifespan(web):
        yield
