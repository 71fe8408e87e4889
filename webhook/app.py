"""The webhook process (Starlette on uvicorn). For now only `/healthz`; Composio's
deliveries arrive here once event triggers land."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.config import get_settings
from core.db import get_engine


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 when it does not."""
    try:
        with get_engine(get_settings().database_url).connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        return JSONResponse({"status": "error", "database": str(error)}, status_code=503)
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/healthz", healthz)])
