"""httpcore's network backend on plain asyncio streams, for the calls in flight.

httpx's default async backend goes through anyio, which wraps every read and write in a
cancel scope of its own: a third of the CPU of a call to a local agent. Planner bounds
each call as a whole with `asyncio.timeout` (core.agents.calls._exchange), so per-operation
timeouts are not needed here, and asyncio streams do the rest.

Connections can be opened ahead of a moment's calls (`open_ahead`): when the moment comes,
each call's request leaves on a connection already open instead of waiting for its
set-up behind a thousand others'.

Every connection, opened ahead or not, goes only to an address core.outbound allows: the
host's name is looked up here, each address checked, and a checked address connected to
(never the name again, which could point elsewhere by then). A refusal is
outbound.Refused, not a network error: trying again would not help.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict, deque
from collections.abc import Awaitable, Iterable
from typing import Any

import httpcore

from core.outbound import ANYWHERE, Allowed, Refused, addresses_to_call

# A connection opened ahead is kept this long for a call, then closed.
SPARE_SECONDS = 5.0
# Connections to one host being opened ahead at once for one group of calls: a listener's
# queue of connections not yet accepted is often about a hundred long, and a connection
# beyond it waits a second.
OPENING_AHEAD = 100

# What httpcore asks a stream about, and where an asyncio transport keeps it.
EXTRA_INFO = {
    "ssl_object": "ssl_object",
    "client_addr": "sockname",
    "server_addr": "peername",
    "socket": "socket",
}


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection; errors are httpcore's, so httpx maps them as it always does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await self._reader.read(max_bytes)
        except OSError as error:
            raise httpcore.ReadError(_said(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            await self._writer.drain()
        except OSError as error:
            raise httpcore.WriteError(_said(error)) from error

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except (OSError, ssl.SSLError) as error:
            self._writer.close()
            raise httpcore.ConnectError(_said(error)) from error
        return self

    def is_fresh(self) -> bool:
        """Open both ways, nothing received: a connection a request can still be the first
        thing on (not one its server reset, closed or answered early) — a spare opened
        ahead, or an idle kept-alive one."""
        reader = self._reader
        # StreamReader has no public way to tell whether bytes wait in it.
        unread = bool(reader._buffer)
        return not (self._writer.is_closing() or reader.exception() or reader.at_eof() or unread)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore drops an idle kept-alive connection if so
            return not self.is_fresh()
        name = EXTRA_INFO.get(info)
        return None if name is None else self._writer.get_extra_info(name)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connections for httpcore's pools: one opened ahead for the host if there is one
    still fresh, else a new one; only to addresses `allowed` (and core.outbound) let
    calls reach."""

    def __init__(self, spare_seconds: float = SPARE_SECONDS, allowed: Allowed = ANYWHERE) -> None:
        self.spare_seconds, self.allowed = spare_seconds, allowed
        self._spares: dict[tuple[str, int], deque[tuple[float, AsyncioStream]]] = defaultdict(deque)

    async def open_ahead(self, host: str, port: int, count: int) -> None:
        """Open `count` connections to host:port for calls about to be made, the name
        looked up once (each lookup would take a thread the claims and records need). One
        that cannot be opened is not: its call connects (or fails to) itself."""
        opening = asyncio.Semaphore(OPENING_AHEAD)
        loop = asyncio.get_running_loop()
        try:
            address = (await addresses_to_call(host, port, self.allowed))[0]
        except (OSError, Refused):  # the call itself says why
            return

        async def open_one() -> None:
            async with opening:
                try:
                    stream = await _opened(asyncio.open_connection(address, port))
                except httpcore.ConnectError:
                    return
                self._spares[(host, port)].append((loop.time(), stream))

        try:
            await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
        finally:
            loop.call_later(self.spare_seconds, self._close_stale, (host, port))

    def _take_spare(self, host: str, port: int) -> AsyncioStream | None:
        """A fresh connection opened ahead to host:port that its server has not closed."""
        spares = self._spares.get((host, port))
        now = asyncio.get_running_loop().time()
        while spares:
            opened_at, stream = spares.popleft()
            if now - opened_at < self.spare_seconds and stream.is_fresh():
                return stream
            stream.close()
        return None

    def close_spares(self) -> None:
        """Close every connection opened ahead (the clients are closing)."""
        for spares in self._spares.values():
            for _, stream in spares:
                stream.close()
        self._spares.clear()

    def _close_stale(self, key: tuple[str, int]) -> None:
        spares = self._spares.get(key)
        now = asyncio.get_running_loop().time()
        while spares and now - spares[0][0] >= self.spare_seconds:
            spares.popleft()[1].close()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        spare = None if local_address else self._take_spare(host, port)
        if spare is not None:
            return spare
        local = (local_address, 0) if local_address else None
        try:
            addresses = await addresses_to_call(host, port, self.allowed)
        except OSError as error:  # the name could not be looked up
            raise httpcore.ConnectError(_said(error)) from error
        for address in addresses[:-1]:  # each in turn, as asyncio would with the name
            try:
                return await _opened(asyncio.open_connection(address, port, local_addr=local))
            except httpcore.ConnectError:
                continue
        return await _opened(asyncio.open_connection(addresses[-1], port, local_addr=local))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return await _opened(asyncio.open_unix_connection(path))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _said(error: OSError) -> str:
    """What went wrong, for an error message (some OSErrors have no text)."""
    return str(error) or type(error).__name__


async def _opened(
    opening: Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
) -> AsyncioStream:
    try:
        reader, writer = await opening
    except OSError as error:
        raise httpcore.ConnectError(_said(error)) from error
    return AsyncioStream(reader, writer)
