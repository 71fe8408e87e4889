"""The webhook process (Starlette on uvicorn): Composio deliveries into the inbox.

`POST /webhooks/composio` verifies, stores and hands the event to the worker; it never
runs anything itself. Concurrent deliveries share one transaction (group commit).
Answers: 415 unless the body is JSON, 413 for a body over 1 MiB, 401 for a missing or
wrong signature, a malformed webhook-id or a timestamp over 5 minutes off (nothing
stored), 400 for a body that is not a Composio event (not `composio.*`, a field of the
wrong type, NaN, a NUL or a lone surrogate), 503 when the database refuses this row
(the others of its transaction are stored), else 200 once the event row is committed —
also, as "duplicate", for a repeated `webhook-id` (stores nothing new) or the same event
announced again (kept as `duplicate`, starts nothing). `GET /healthz` says whether the
database answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.config import Settings, get_settings
from core.db import get_engine
from core.envelope import parse
from core.models import utcnow
from core.webhooks import EVENT_TABLE, MAX_BODY_BYTES, InboxWriter, Rejected, verify

log = logging.getLogger("planner.webhook")


class MissingSecret(RuntimeError):
    pass


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = get_settings()
    if not settings.composio_webhook_secret:
        raise MissingSecret(
            "COMPOSIO_WEBHOOK_SECRET is not set: the webhook cannot verify deliveries, so it "
            "will not start. Set it to your Composio webhook subscription's secret "
            "('planner composio connect' prints it)."
        )
    from worker.tasks import task_queue

    app.state.settings = settings
    app.state.inbox = InboxWriter(settings.database_url, task_queue.submit_events)
    yield


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
    settings: Settings = request.app.state.settings
    try:
        if not _is_json(request.headers.get("content-type", "")):
            raise Rejected(415, "content-type must be application/json")
        body = await _body(request)
        event_id = verify(settings.composio_webhook_secret, request.headers, body, time.time())
        envelope = parse(body)
    except Rejected as refusal:
        log.warning("refused delivery: %s %s", refusal.status, refusal)
        return JSONResponse({"error": str(refusal)}, status_code=refusal.status)
    try:
        stored = await asyncio.wrap_future(
            request.app.state.inbox.submit(event_id, envelope, utcnow())
        )
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
