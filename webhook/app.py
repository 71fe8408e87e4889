"""The webhook process (Starlette on uvicorn): Composio deliveries into the inbox.

`POST /webhooks/composio` verifies, stores and hands the event to the worker; it never
runs anything itself. Concurrent deliveries share one transaction (group commit).
Answers: 415 unless the body is JSON, 413 for a body over 1 MiB, 401 for a missing or
wrong signature, a malformed webhook-id or a timestamp over 5 minutes off, or while there
is no signing secret yet ("webhook not set up yet"; nothing stored), 400 for a body that
is not a Composio event (not `composio.*`, a field of the wrong type, NaN, a NUL or a
lone surrogate), 503 when the database refuses this row (the others of its transaction
are stored) or the stored secret cannot be read, else 200 once the event row is committed —
also, as "duplicate", for a repeated `webhook-id` (stores nothing new) or the same event
announced again (kept as `duplicate`, starts nothing). `GET /healthz` says whether the
database answers.

The signing secret is COMPOSIO_WEBHOOK_SECRET when set, else the one *Connect* stored
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
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core import credentials
from core.config import Settings, get_settings
from core.db import get_engine, read_session
from core.envelope import parse
from core.errors import PlannerError
from core.models import utcnow
from core.webhooks import EVENT_TABLE, MAX_BODY_BYTES, InboxWriter, Rejected, verify

log = logging.getLogger("planner.webhook")
SECRET_CACHE_SECONDS = 5.0
NOT_SET_UP = "webhook not set up yet"


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
        """The secret ("" while there is none); raises Rejected(503) when it cannot be read."""
        if time.monotonic() >= self.fresh_until:
            async with self.lock:
                if time.monotonic() >= self.fresh_until:
                    await asyncio.to_thread(self.read)
        if not self.value and self.problem:
            raise Rejected(503, "the webhook secret cannot be read; try again")
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
                "someone presses Connect on the dashboard's Settings page (Composio) or runs "
                "'planner composio connect'."
            )
            self.logged_missing = True
        self.value = value
        self.fresh_until = time.monotonic() + SECRET_CACHE_SECONDS  # last: value is set


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = get_settings()
    from worker.tasks import task_queue

    app.state.settings = settings
    app.state.secret = SigningSecret(settings)
    if not settings.composio_webhook_secret:
        app.state.secret.read()  # says at start whether deliveries can be checked yet
    app.state.inbox = InboxWriter(settings.database_url, task_queue.submit_events)
    yield
    await asyncio.to_thread(app.state.inbox.close)  # the last deliveries reach the worker


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Rejected(413, "body larger than 1 MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Rejected(413, "body larger than 1 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_composio(request: Request) -> JSONResponse:
    try:
        if not _is_json(request.headers.get("content-type", "")):
            raise Rejected(415, "content-type must be application/json")
        body = await _body(request)
        secret = await request.app.state.secret.current()
        if not secret:
            raise Rejected(401, NOT_SET_UP)
        event_id = verify(secret, request.headers, body, time.time())
        envelope = parse(body)
    except Rejected as refusal:
        if str(refusal) != NOT_SET_UP:  # said once, when the secret was found missing
            log.warning("refused delivery: %s %s", refusal.status, refusal)
        return JSONResponse({"error": str(refusal)}, status_code=refusal.status)
    try:
        stored = await request.app.state.inbox.store(event_id, envelope, utcnow())
    except Exception:  # whatever the database said, this delivery is not stored
        log.exception("could not store event %s", event_id)
        return JSONResponse({"error": "could not store the event; try again"}, status_code=503)
    return JSONResponse({"status": "accepted" if stored else "duplicate", "id": event_id})


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


app = Starlette(
    routes=[
        Route("/webhooks/composio", receive_composio, methods=["POST"]),
        Route("/healthz", healthz),
    ],
    lifespan=lifespan,
)
