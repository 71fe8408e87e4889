"""Connections opened ahead of a moment's calls (core.agents.sockets): a call takes one instead of
opening its own, never one its server has closed, and those not taken are closed. Every
connection, opened ahead or not, goes only where core.outbound allows."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import pytest

from core.agents.calls import Clients
from core.agents.sockets import AsyncioBackend
from core.outbound import ANYWHERE, Refused, parse_allowed
from core.store.models import Agent, Workflow

HOST = "127.0.0.1"


class Listener:
    """A local server that counts the connections it accepted and those closed on it.
    `greeting`: what it does first with each connection — nothing (waits for the client),
    "hang up", "reset" (RST), or "speak first" (an answer before any request)."""

    def __init__(self, greeting: str = "") -> None:
        self.greeting = greeting
        self.peers: list[tuple[str, int]] = []  # each accepted connection's client end
        self.closed_by_client = self.closed_by_us = 0

    @property
    def accepted(self) -> int:
        return len(self.peers)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        return self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.peers.append(writer.get_extra_info("peername"))
        if self.greeting == "reset":
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        if self.greeting == "speak first":
            writer.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
        if self.greeting in ("hang up", "reset", "speak first"):
            writer.close()
            self.closed_by_us += 1
            return
        if not await reader.read(1):
            self.closed_by_client += 1
        writer.close()

    async def stop(self) -> None:
        self._server.close()


class HttpListener(Listener):
    """A keep-alive HTTP/1.1 server that answers `{}` to each request and notes the
    client end of the connection each request came on."""

    def __init__(self) -> None:
        super().__init__()
        self.requests_from: list[tuple[str, int]] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self.peers.append(peer)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed the connection
                return
            lines = head.lower().split(b"\r\n")
            sizes = [
                int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")
            ]
            await reader.readexactly(sum(sizes))
            self.requests_from.append(peer)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: 2\r\n\r\n{}")  # fmt: skip
            await writer.drain()


async def until(probe: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)  # polling a condition, with a deadline


def against(listener: Listener, scenario: Callable[[Listener, int], Awaitable[None]]) -> None:
    """Run `scenario(listener, port)` on an event loop of its own, the listener started."""

    async def main() -> None:
        port = await listener.start()
        try:
            await scenario(listener, port)
        finally:
            await listener.stop()

    asyncio.run(main())


def agent_at(port: int) -> Agent:
    return Agent(name="Assistant", base_url=f"http://{HOST}:{port}/v1", model="m")


async def accepted_after(listener: Listener, port: int, count: int) -> int:
    """How many connections the listener accepted once it accepted `count` and then one
    of ours (accepted after any opened before it)."""
    await until(lambda: listener.accepted >= count)
    _, probe = await asyncio.open_connection(HOST, port)
    await until(lambda: listener.accepted >= count + 1)
    probe.close()
    return listener.accepted - 1


def test_a_call_takes_a_connection_opened_ahead_instead_of_opening_its_own():
    async def scenario(listener: Listener, port: int) -> None:
        backend = AsyncioBackend()
        await backend.open_ahead(HOST, port, 3)
        await until(lambda: listener.accepted == 3)

        opened_ahead = set(listener.peers)
        streams = [await backend.connect_tcp(HOST, port) for _ in range(4)]
        await until(lambda: listener.accepted == 4)

        ends = [stream.get_extra_info("client_addr") for stream in streams]
        assert set(ends[:3]) == opened_ahead
        assert ends[3] not in opened_ahead
        for stream in streams:
            await stream.aclose()

    against(Listener(), scenario)


@pytest.mark.parametrize("greeting", ["hang up", "reset", "speak first"])
def test_a_connection_its_server_closed_reset_or_answered_is_not_taken(greeting):
    async def scenario(listener: Listener, port: int) -> None:
        backend = AsyncioBackend()
        await backend.open_ahead(HOST, port, 1)
        await until(lambda: listener.closed_by_us == 1)
        spare = backend._spares[(HOST, port)][0][1]
        await until(lambda: not spare.is_fresh())  # what the server did has arrived

        stream = await backend.connect_tcp(HOST, port)
        await until(lambda: listener.accepted == 2)
        assert stream is not spare
        await stream.aclose()

    against(Listener(greeting), scenario)


def test_connections_opened_ahead_are_closed_with_the_clients():
    async def scenario(listener: Listener, port: int) -> None:
        clients = Clients(timeout_seconds=5, max_connections=10, allowed=ANYWHERE)
        agent = agent_at(port)
        await clients.open_ahead([agent, agent])
        await until(lambda: listener.accepted == 2)

        await clients.aclose()

        await until(lambda: listener.closed_by_client == 2)

    against(Listener(), scenario)


def test_connections_opened_ahead_and_not_taken_are_closed():
    async def scenario(listener: Listener, port: int) -> None:
        backend = AsyncioBackend(spare_seconds=0.2)
        await backend.open_ahead(HOST, port, 2)
        await until(lambda: listener.closed_by_client == 2)

        stream = await backend.connect_tcp(HOST, port)
        await until(lambda: listener.accepted == 3)
        await stream.aclose()

    against(Listener(), scenario)


def test_connections_are_opened_ahead_per_call_to_each_target_that_can_be_read():
    async def scenario(listener: Listener, port: int) -> None:
        clients = Clients(timeout_seconds=5, max_connections=10, allowed=ANYWHERE)
        agent = agent_at(port)
        workflow = Workflow(name="Digest", url=f"http://{HOST}:{port}/hooks/digest")
        unreadable = Workflow(name="Broken", url="http://exa mple.com:99999/")

        await clients.open_ahead([agent, agent, workflow, unreadable])

        assert await accepted_after(listener, port, 3) == 3
        await clients.aclose()

    against(Listener(), scenario)


def test_a_call_goes_out_on_a_connection_opened_ahead_and_one_kept_alive_counts():
    async def scenario(listener: Listener, port: int) -> None:
        clients = Clients(timeout_seconds=5, max_connections=10, allowed=ANYWHERE)
        agent = agent_at(port)
        await clients.open_ahead([agent])
        await until(lambda: listener.accepted == 1)

        answer = await clients.next().post(agent.base_url, content=b"{}")
        assert answer.json() == {}
        assert listener.requests_from == listener.peers  # on the connection opened ahead

        await clients.open_ahead([agent])  # the pool keeps that one alive, idle: enough
        assert await accepted_after(listener, port, 1) == 1
        await clients.aclose()

    against(HttpListener(), scenario)


def test_nothing_is_opened_where_the_allow_list_does_not_reach():
    async def scenario(listener: Listener, port: int) -> None:
        backend = AsyncioBackend(allowed=parse_allowed("10.0.0.0/8"))
        await backend.open_ahead(HOST, port, 2)
        await backend.open_ahead("localhost", port, 2)  # the name's address is checked
        for host in (HOST, "localhost"):
            with pytest.raises(Refused, match="PLANNER_OUTBOUND_ALLOW does not include it"):
                await backend.connect_tcp(host, port)

        assert await accepted_after(listener, port, 0) == 0

    against(Listener(), scenario)


def test_a_name_connects_to_the_address_it_was_checked_at():
    async def scenario(listener: Listener, port: int) -> None:
        backend = AsyncioBackend(allowed=parse_allowed("127.0.0.1/32"))
        await backend.open_ahead("localhost", port, 1)
        await until(lambda: listener.accepted == 1)
        streams = [await backend.connect_tcp("localhost", port) for _ in range(2)]
        await until(lambda: listener.accepted == 2)

        assert {stream.get_extra_info("server_addr")[0] for stream in streams} == {HOST}
        for stream in streams:
            await stream.aclose()

    against(Listener(), scenario)


@pytest.mark.parametrize("host", ["169.254.169.254", "fd00:ec2::254", "metadata.google.internal",
                                  "2852039166", "::ffff:169.254.169.254"])  # fmt: skip
def test_a_metadata_address_is_never_connected_to(host):
    async def scenario() -> None:
        backend = AsyncioBackend()  # no allow list: anything else may be called
        await backend.open_ahead(host, 80, 1)
        assert not backend._spares
        with pytest.raises(Refused, match=r"^Planner never calls "):
            await asyncio.wait_for(backend.connect_tcp(host, 80), timeout=1)

    asyncio.run(scenario())


def test_clients_refuse_a_call_outside_the_allow_list_and_keep_serving_others():
    async def scenario(listener: Listener, port: int) -> None:
        clients = Clients(timeout_seconds=5, max_connections=1, allowed=parse_allowed(HOST))
        refused = Workflow(name="Metadata", url="http://169.254.169.254/latest/")
        for _ in range(3):  # the one connection's place is free again after each refusal
            with pytest.raises(Refused):
                await clients.next().post(refused.url, content=b"{}")
        answer = await clients.next().post(agent_at(port).base_url, content=b"{}")
        assert answer.json() == {}
        await clients.aclose()

    against(HttpListener(), scenario)
