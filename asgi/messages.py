"""A plain ASGI request's headers and bearer token, and a JSON answer, for the routes that
skip Starlette's request and response objects (a delivery, an MCP request's checks)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.types import Scope, Send


def headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name, decoded as Starlette does (latin-1); the
    first of a repeated one."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def bearer(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer …` header; "" when there is none."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def answer(
    send: Send, status: int, content: dict[str, Any], extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A JSON answer, rendered as Starlette's JSONResponse renders it."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    encoded = body.encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(encoded)).encode()), *extra],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": encoded})
