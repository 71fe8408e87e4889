"""Reading a request's body within a limit, for Composio's deliveries, the API and the MCP
server alike: a body over the limit is refused as soon as it says so or passes it, never
read whole."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import ClientDisconnect
from starlette.types import Receive

MAX_BODY_BYTES = 1024 * 1024


class TooLarge(Exception):
    """A body over MAX_BODY_BYTES; each caller words the refusal its clients expect."""


async def read_body(headers: Mapping[str, str], receive: Receive) -> bytes:
    """The body of a request with these headers (lower-case names), from its ASGI
    `receive`; TooLarge past MAX_BODY_BYTES, ClientDisconnect when the client went away
    before sending it all."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
