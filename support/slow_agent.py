"""A fake agent for benchmarks that holds a thousand calls open at once, as a slow LLM does.

support.fakes.FakeTarget spends a thread per open call, in the process that also measures;
this one is one asyncio loop in a child process of its own, so a thousand calls sleeping
at once cost it nothing and its clock is not shared with the bench. It answers
OpenAI-style chat completions (anything else with an echo) after `delay` seconds, over
HTTP/1.1 keep-alive, and records when each request had fully arrived: that moment, taken
at the fake, is what start lags are measured against.

    python -m support.slow_agent --port 8123 --delay 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from support.fakes import Received
from support.processes import ROOT, free_port
from support.waiting import wait_until

RECEIVED_PATH = "/_received"  # the bench reads the recorded calls here; not itself recorded


class Recorder:
    """The requests received, in order of arrival, and the answers given to them."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests: list[list[Any]] = []  # [path, headers, body, arrived at]

    def answer(self, path: str, body: Any) -> Any:
        if path.endswith("/chat/completions"):
            text = f"reply to: {body['messages'][-1]['content']}"
            return {"choices": [{"message": {"role": "assistant", "content": text}}]}
        return {"ok": True, "received": body}

    async def serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Any:
        path, _, query = target.partition("?")
        if method == "GET" and path == RECEIVED_PATH:
            return self.requests[int(query.removeprefix("since=") or 0) :]
        arrived = time.time()
        body = json.loads(raw) if raw else None
        self.requests.append([path, headers, body, arrived])
        await asyncio.sleep(self.delay)  # a slow agent, not synchronisation
        return self.answer(path, body)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Requests one after another on a kept-alive connection, until the caller hangs up."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = dict(_header(line) for line in lines)
                length = {k.lower(): v for k, v in headers.items()}.get("content-length", "0")
                raw = await reader.readexactly(int(length))
                content = json.dumps(await self.serve(method, target, headers, raw)).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(content)}\r\n\r\n".encode()
                    + content
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the caller closed its connection
        finally:
            writer.close()


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


async def _main(port: int, delay: float) -> None:
    recorder = Recorder(delay)
    server = await asyncio.start_server(recorder.connection, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


class SlowAgent:
    """The fake agent in its own process, seen from the bench: its URL and the calls it
    recorded (support.fakes.Received, as FakeTarget gives them)."""

    def __init__(self, delay: float = 0.0, log_path: Path | None = None) -> None:
        self.delay = delay
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.seen: list[Received] = []
        self.client = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SlowAgent:
        command = [sys.executable, "-m", "support.slow_agent", "--port", str(self.port),
                   "--delay", str(self.delay)]  # fmt: skip
        log_path = self.log_path or Path("/dev/null")
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
        wait_until(self._answers, what="the slow agent")
        return self

    def _answers(self) -> bool:
        try:
            self.received()
        except httpx.TransportError:
            return False
        return True

    def received(self, path: str | None = None) -> list[Received]:
        """Every call recorded so far (fetching only those not seen before)."""
        fresh = self.client.get(f"{self.url}{RECEIVED_PATH}?since={len(self.seen)}")
        self.seen += [Received(p, headers, body, at) for p, headers, body, at in fresh.json()]
        return [r for r in self.seen if path is None or r.path == path]

    def stop(self) -> None:
        self.client.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.delay))


if __name__ == "__main__":
    main()
