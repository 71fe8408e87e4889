"""A local stand-in for Composio's API (outside the product), so the real `composio` SDK
talks HTTP to 127.0.0.1. It serves the requests listed in shared/COMPOSIO.md and keeps
the trigger instances and the webhook subscription it was told about."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from core.catalog import offline_catalog
from support.fakes import JsonServer

API = "/api/v3.1"


def _type_json(slug: str) -> dict[str, Any] | None:
    for known in offline_catalog():
        if known.slug == slug:
            return {
                "slug": known.slug,
                "name": known.name,
                "description": f"{known.name} ({known.toolkit_name})",
                "type": known.type,
                "toolkit": {"slug": known.toolkit.lower(), "name": known.toolkit_name},
                "config": {
                    "type": "object",
                    "properties": {
                        f.name: {"type": f.type, "title": f.title} for f in known.config_fields
                    },
                    "required": [f.name for f in known.config_fields if f.required],
                },
                "payload": {
                    "type": "object",
                    "properties": {name: {} for name in known.payload_fields},
                },
                "version": "latest",
                "instructions": "",
            }
    return None


@dataclass
class FakeComposio(JsonServer):
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscription: dict[str, Any] | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, message: str) -> None:
        """The next mutating request (POST/PATCH/DELETE) answers this error; a 5xx twice,
        since the SDK retries it once."""
        self.fail_next.extend([(status, message)] * (2 if status >= 500 else 1))

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any):
        self.requests.append((method, path, body))
        if method != "GET" and self.fail_next:
            status, message = self.fail_next.pop(0)
            return status, {"error": {"message": message, "status": status}}
        if method == "GET" and path == f"{API}/triggers_types":
            toolkits = {t for v in query.get("toolkit_slugs", []) for t in v.split(",")}
            items = [_type_json(t.slug) for t in offline_catalog()
                     if not toolkits or t.toolkit.lower() in toolkits]  # fmt: skip
            return 200, {"items": items, "next_cursor": None, "total_pages": 1}
        if match := re.fullmatch(f"{API}/triggers_types/([A-Z0-9_]+)", path):
            found = _type_json(match[1])
            if found is None:
                return 404, {"error": {"message": f"Trigger type {match[1]} not found"}}
            return 200, found
        if match := re.fullmatch(f"{API}/trigger_instances/([A-Z0-9_]+)/upsert", path):
            trigger_id = f"ti_{len(self.instances) + 1:04d}"
            self.instances[trigger_id] = {"slug": match[1], "status": "enabled", **body}
            return 200, {"trigger_id": trigger_id}
        if match := re.fullmatch(f"{API}/trigger_instances/manage/(.+)", path):
            instance = self.instances.get(match[1])
            if instance is None:
                return 404, {"error": {"message": "Trigger instance not found"}}
            if method == "DELETE":
                del self.instances[match[1]]
                return 200, {"trigger_id": match[1]}
            instance["status"] = body["status"] + "d"
            return 200, {"status": "success"}
        if path == f"{API}/webhook_subscriptions" and method == "GET":
            return 200, {"items": [self.subscription] if self.subscription else [],
                         "next_cursor": None}  # fmt: skip
        if path.startswith(f"{API}/webhook_subscriptions"):
            created = self.subscription is None
            self.subscription = {
                "id": "ws_0001", "version": "V3", "created_at": "2026-11-26T00:00:00Z",
                "updated_at": "2026-11-26T00:00:00Z", **(self.subscription or {}), **body,
            }  # fmt: skip
            if created:
                self.subscription["secret"] = "whsec_fake_secret"
            return 200, self.subscription
        return 404, {"error": {"message": f"no route {method} {path}"}}

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        with self.lock:
            status, answer = self.handle(method, path, query, body)
        return status, answer, 0.0
