"""Reading a request's body within a limit, for Composio's deliveries, the API and the MCP
server alike: a body over the limit is refused as soon as it says so or passes it, never
read whole."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import ClientDisconnect
from starlette.types import Receive

MAX_BODY_BYTES = 1024 * 1024
# What a refused body's sender may still send, read and dropped so that it gets the answer.
DRAINED_AT_MOST = 16 * MAX_BODY_BYTES


class TooLarge(Exception):
    """A body over MAX_BODY_BYTES; each caller words the refusal its clients expect.
    `unread`: whether the client may still be sending it (see `drain`)."""

    def __init__(self, unread: bool = True) -> None:
        super().__init__()
        self.unread = unread


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
            raise TooLarge(unread=message.get("more_body", False))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def drain(receive: Receive) -> None:
    """Read and drop what is left of a refused body (up to DRAINED_AT_MOST): a client still
    sending when the server closes gets a reset, not the refusal it is answered."""
    dropped = 0
    while dropped <= DRAINED_AT_MOST:
        message = await receive()
        dropped += len(message.get("body", b""))
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return
