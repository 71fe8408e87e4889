"""Local HTTP servers standing in for what is outside the product (agents, workflows,
Composio's API): real sockets on 127.0.0.1, so Planner's real HTTP code runs.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class BusyServer(ThreadingHTTPServer):
    """Accepts a thousand connections arriving at once (the default backlog of 5 makes
    the rest retry their connect a second later, which would be measured as lateness)."""

    request_queue_size = 1024
    daemon_threads = True


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with a free port."""

    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, handler: type[BaseHTTPRequestHandler]):
        self.server = BusyServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add 40 ms per reply

    def log_message(self, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Raw:
    """An answer sent byte for byte with its own headers: a malformed or unusual answer."""

    content: bytes
    headers: dict[str, str] = field(default_factory=dict)


class JsonServer(LocalServer):
    """A threaded JSON-over-HTTP server; subclasses answer each request in `respond`."""

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        """(status, JSON body or Raw answer, seconds to wait before answering)."""
        raise NotImplementedError

    def start(self):
        automation = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                parts = urlparse(self.path)
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the caller hung up (its call timed out) before sending it all
                status, answer, delay = automation.respond(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers),
                    json.loads(raw) if raw else None,
                )  # fmt: skip
                if delay:
                    time.sleep(delay)  # a slow target, not synchronisation
                if not isinstance(answer, Raw):
                    answer = Raw(json.dumps(answer).encode(), {"content-type": "application/json"})
                self.send_response(status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return self.serve(Handler)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class FakeTarget(JsonServer):
    """Scripted replies per path; without a script: an OpenAI-style or echo answer,
    after `delay` seconds (a slow agent)."""

    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts.setdefault(path, deque()).extend(replies)

    def received(self, path: str | None = None) -> list[Received]:
        with self.condition:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 30) -> None:
        """Wait until the recorded requests satisfy `predicate`, or fail."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate(self.requests):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fake target: condition not met; got {self.requests}")
                self.condition.wait(remaining)

    def _answer(self, path: str, body: Any) -> Reply:
        with self.condition:
            script = self.scripts.get(path)
            if script:
                return script.popleft()
        if path.endswith("/chat/completions"):
            text = f"reply to: {body['messages'][-1]['content']}"
            answer = {"choices": [{"message": {"role": "assistant", "content": text}}]}
            return Reply(body=answer, delay=self.delay)
        return Reply(body={"ok": True, "received": body}, delay=self.delay)

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        with self.condition:
            self.requests.append(Received(path, headers, body, time.time()))
            self.condition.notify_all()
        reply = self._answer(path, body)
        return reply.status, reply.body, reply.delay


@dataclass
class Call:
    """One call as a target saw it: open from `started` until `ended` (None while open)."""

    key: str
    started: float
    ended: float | None = None


@dataclass
class TricklingTarget(LocalServer):
    """A target that answers one byte every `interval` seconds, in its headers or in its
    body, for as long as the caller listens; it records when each call was open."""

    part: str = "body"  # "headers" or "body": which part of the answer trickles
    interval: float = 0.5
    calls: list[Call] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)
    stopping: threading.Event = field(default_factory=threading.Event)

    def most_open_at_once(self, key: str) -> int:
        """How many calls with this Idempotency-Key were ever open at the same moment."""
        with self.condition:
            mine = [call for call in self.calls if call.key == key]
        return max(
            (sum(1 for other in mine if _overlaps(other, call.started)) for call in mine),
            default=0,
        )

    def finished_calls(self) -> list[Call]:
        with self.condition:
            return [call for call in self.calls if call.ended is not None]

    def _answer(self) -> tuple[bytes, bytes]:
        """What is sent at once, then what trickles (more than any caller waits for)."""
        status = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        if self.part == "headers":
            return status, b"x-padding: " + b"a" * 100_000
        endless = 100_000
        head = status + f"content-length: {endless}\r\n\r\n".encode()
        return head, b'{"reply": "' + b"a" * endless

    def _trickle(self, handler: BaseHTTPRequestHandler) -> None:
        at_once, slowly = self._answer()
        handler.wfile.write(at_once)
        for index in range(len(slowly)):
            handler.wfile.write(slowly[index : index + 1])
            handler.wfile.flush()
            if _caller_left(handler.connection, self.interval) or self.stopping.is_set():
                return

    def _record(self, call: Call) -> None:
        with self.condition:
            self.calls.append(call)
            self.condition.notify_all()

    def _end(self, call: Call) -> None:
        with self.condition:
            call.ended = time.monotonic()
            self.condition.notify_all()

    def start(self):
        automation = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                call = Call(self.headers.get("Idempotency-Key", ""), time.monotonic())
                automation._record(call)
                try:
                    automation._trickle(self)
                except OSError:
                    pass  # the caller hung up mid-write
                finally:
                    automation._end(call)
                    self.close_connection = True

        return self.serve(Handler)

    def stop(self) -> None:
        self.stopping.set()
        super().stop()


def _overlaps(call: Call, moment: float) -> bool:
    return call.started <= moment and (call.ended is None or moment < call.ended)


def _caller_left(connection: socket.socket, seconds: float) -> bool:
    """Wait up to `seconds` (the trickle's pace) and say whether the caller hung up."""
    readable, _, _ = select.select([connection], [], [], seconds)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


@dataclass
class HoldingTarget(FakeTarget):
    """A target that keeps each call open until the test releases it (an agent busy for as
    long as the test likes), then answers as FakeTarget does. It counts the calls open at
    once, in all and per Idempotency-Key: what a worker keeps in flight, seen from outside.

    A call is open from its arrival until the fake lets its answer go.
    """

    holding: bool = True
    calls: list[Call] = field(default_factory=list)
    held: deque[tuple[Call, threading.Event]] = field(default_factory=deque)
    most_open: int = 0
    most_open_by_key: Counter[str] = field(default_factory=Counter)

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        released = threading.Event()
        with self.condition:
            reply = super().respond(method, path, query, headers, body)
            call = Call(headers.get("Idempotency-Key", ""), time.monotonic())
            self.calls.append(call)
            self.most_open = max(self.most_open, len(self.open_calls()))
            self.most_open_by_key[call.key] = max(
                self.most_open_by_key[call.key], len(self.open_calls(call.key))
            )
            self.condition.notify_all()
            if self.holding:
                self.held.append((call, released))
            else:
                self._let_go(call, released)
        released.wait()  # held until release() or release_all(); at once when not holding
        return reply

    def __repr__(self) -> str:  # short, for assertion messages: not every request
        with self.condition:
            open_now = len(self.open_calls())
            return (f"HoldingTarget({self.url}: {len(self.calls)} calls, {open_now} open, "
                    f"{len(self.held)} held, at most {self.most_open} open at once)")  # fmt: skip

    def open_calls(self, key: str | None = None) -> list[Call]:
        """The calls not yet answered (only those with Idempotency-Key `key`, when given)."""
        with self.condition:
            return [c for c in self.calls if c.ended is None and key in (None, c.key)]

    def call_counts(self) -> Counter[str]:
        """How many calls arrived with each Idempotency-Key."""
        with self.condition:
            return Counter(call.key for call in self.calls)

    def wait_open(self, count: int, timeout: float = 30) -> bool:
        """Wait until at least `count` calls are open at once; False if that does not
        happen within `timeout` seconds."""
        with self.condition:
            return self.condition.wait_for(lambda: len(self.open_calls()) >= count, timeout)

    def release(self, count: int = 1) -> list[Call]:
        """Answer the `count` longest-held calls; returns them."""
        with self.condition:
            if count > len(self.held):
                raise AssertionError(f"{count} calls to release, but {len(self.held)} are held")
            return [self._let_go(*self.held.popleft()) for _ in range(count)]

    def release_all(self) -> None:
        """Answer every held call, and every later call as soon as it arrives."""
        with self.condition:
            self.holding = False
            while self.held:
                self._let_go(*self.held.popleft())

    def _let_go(self, call: Call, released: threading.Event) -> Call:
        call.ended = time.monotonic()
        released.set()
        self.condition.notify_all()
        return call

    def stop(self) -> None:
        self.release_all()
        super().stop()
