"""The web process: `streamlit run web/app.py --server.port $PORT`.

One address serves people, Composio and scripts: Streamlit's own ASGI app (`st.App`,
experimental in Streamlit, so pyproject.toml pins the range the tests ran on) hosts the
dashboard (dashboard/app.py), and the intake (webhook.app: `POST /webhooks/composio`,
the HTTP API under /api/v1, `GET /healthz`) and the MCP server (mcpserver: `/mcp`) are
routed to before any of Streamlit's middleware, so a delivery costs what it costs in a
process of its own. The dashboard's
password gate stays on the dashboard's pages; the intake keeps its own checks (Composio's
signature, API tokens). Unless PLANNER_EMBEDDED_WORKER=0, the process also runs a worker.

Streamlit's own addresses answer without the password, as its frontend needs them before
anyone signs in: /_stcore/health ("ok"), /_stcore/host-config (Streamlit's fixed list of
origins that may embed an app), /_stcore/stream (the page's websocket, where the gate
is), /static/… and the pages' addresses (Streamlit's frontend, the same for every app),
/media/… (files a page put there, none on Planner's pages, by unguessable names),
/_stcore/upload_file/… (refused without the page's XSRF cookie and a live session),
/component/… and /_stcore/bidi-components/… (custom components' files; Planner has none),
/auth/… (Streamlit's OIDC login: back to / unless `[auth]` is set up) and
/_stcore/agent/… (Streamlit's agent API: off, and its description says so). None carries
Planner's data. /_stcore/metrics is closed (404): it tells anyone how many people have the
dashboard open, since when and how long, and the names of Planner's cached functions, and
the frontend does not use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.access.secrets import check_key
from core.config import get_settings
from core.errors import ConfigError
from mcpserver import http as mcp
from web.embedded import embedded_worker
from webhook import app as intake

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
# A worker stopping gracefully ends its calls in flight: up to the call timeout, and more.
STOP_MARGIN_SECONDS = 10.0
# Streamlit's addresses no one is served (see above).
CLOSED = frozenset({"/_stcore/metrics"})


class IntakeFirst:
    """ASGI middleware in front of Streamlit's: the intake's paths go to the intake app,
    `/mcp` to the MCP server, the CLOSED ones are not found, everything else (pages,
    Streamlit's websocket and assets) goes to Streamlit."""

    def __init__(self, app: ASGIApp) -> None:
        self.streamlit = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and intake.serves(scope["path"]):
            await intake.app(scope, receive, send)
        elif scope["type"] == "http" and mcp.serves(scope["path"]):
            await MCP(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].rstrip("/") in CLOSED:
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        else:
            await self.streamlit(scope, receive, send)


@asynccontextmanager
async def lifespan(_: Any) -> AsyncIterator[None]:
    """The intake's state for as long as the process serves, and the embedded worker."""
    settings = get_settings()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(intake.hosted())
        await stack.enter_async_context(MCP.hosted())
        if settings.embedded_worker:
            timeout = settings.http_timeout_seconds + STOP_MARGIN_SECONDS
            await stack.enter_async_context(embedded_worker(timeout))
        yield


try:  # a bad setting stops the process in one line, before it serves
    check_key(get_settings())
except ConfigError as error:
    raise SystemExit(f"planner web: {error}") from None

MCP = mcp.McpEndpoint(get_settings())
app = st.App(str(DASHBOARD), middleware=[Middleware(IntakeFirst)], lifespan=lifespan)
