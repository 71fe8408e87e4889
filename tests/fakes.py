"""Local HTTP servers standing in for what is outside the product (agents, workflows,
Composio's API): real sockets on 127.0.0.1, so Planner's real HTTP code runs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class JsonServer:
    """A threaded JSON-over-HTTP server; subclasses answer each request in `respond`."""

    server: ThreadingHTTPServer | None = None

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        """(status, JSON body, seconds to wait before answering)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add 40 ms per reply

            def _serve(self) -> None:
                parts = urlparse(self.path)
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                status, answer, delay = owner.respond(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers),
                    json.loads(raw) if raw else None,
                )  # fmt: skip
                if delay:
                    time.sleep(delay)  # a slow target, not synchronisation
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


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
    """Scripted replies per path; without a script: an OpenAI-style or echo answer."""

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
            return Reply(body={"choices": [{"message": {"role": "assistant", "content": text}}]})
        return Reply(body={"ok": True, "received": body})

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        with self.condition:
            self.requests.append(Received(path, headers, body, time.time()))
            self.condition.notify_all()
        reply = self._answer(path, body)
        return reply.status, reply.body, reply.delay
