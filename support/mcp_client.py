"""The official MCP client, as an agent's host uses it, for tests: one request's session
over streamable HTTP with a bearer token, or over stdio with a process it starts; each
call made synchronously (anyio.run), its answer as the client got it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

Work = Callable[[ClientSession], Awaitable[Any]]


def over_http(url: str, token: str, work: Work) -> Any:
    """`work` in a session with the server at `url` (…/mcp), sending `token`."""

    async def session() -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            return await work(client)

    return anyio.run(session)


def over_stdio(command: list[str], env: dict[str, str], work: Work) -> Any:
    """`work` in a session with the server `command` starts (its stdin and stdout)."""

    async def session() -> Any:
        params = StdioServerParameters(command=command[0], args=command[1:], env=env)
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            return await work(client)

    return anyio.run(session)


def calling(tool: str, **arguments: Any) -> Work:
    async def work(client: ClientSession) -> CallToolResult:
        return await client.call_tool(tool, arguments)

    return work


def tool_names(client: ClientSession) -> Awaitable[Any]:
    async def names() -> list[str]:
        return sorted(tool.name for tool in (await client.list_tools()).tools)

    return names()


def text_of(result: CallToolResult) -> str:
    return "\n".join(part.text for part in result.content if part.type == "text")


def refusal_of(group: BaseException) -> MCPError | None:
    """The MCPError a refused request raised, from inside the task groups that wrap it."""
    if isinstance(group, MCPError):
        return group
    for inner in getattr(group, "exceptions", ()):
        found = refusal_of(inner)
        if found is not None:
            return found
    return None
