"""The HTTP API as scripts call it: a real webhook process, and a client with a token of
its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from core.access import tokens
from core.config import Settings
from core.store.db import session as open_session
from core.store.models import utcnow
from support.processes import webhook_process


@dataclass
class Api:
    """A client of one webhook process's API, with a token of its own."""

    url: str
    token: str

    def __call__(self, method: str, path: str, body: Any = None, **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **options.pop("headers", {})}
        return httpx.request(method, self.url + path, json=body, headers=headers, timeout=30,
                             **options)  # fmt: skip


def serve(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    """A webhook process with these settings and a new token, for a fixture to yield from;
    stopped when the fixture ends."""
    with open_session(settings.database_url) as session:
        token = tokens.create_token(session, "tests", utcnow()).token
    with webhook_process(settings, tmp_path / "webhook.log") as deliveries:
        yield Api(deliveries.removesuffix("/webhooks/composio") + "/api/v1", token)
