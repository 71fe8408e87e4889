"""A local stand-in for Composio's API (outside the product), so the real `composio` SDK
talks HTTP to 127.0.0.1. It serves the requests listed in shared/COMPOSIO.md, plus the
auth configs, connected accounts and hosted sign-in links of the user's accounts, and
keeps what it was told. Only `api_keys` are accepted (401 "Invalid API key" otherwise).

A sign-in is completed as a person would: by opening the link Composio handed out
(`GET /link/{token}` signs in as `sign_in_email`), or by a test calling
`complete_sign_in(toolkit, email)`.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from core.access import credentials
from core.composio import setup
from core.config import Settings
from core.events.catalog import offline_catalog
from core.store.db import session as open_session
from support.fakes import JsonServer, Raw

API = "/api/v3.1"
STAMP = "2026-11-26T00:00:00Z"
Answer = tuple[int, Any]


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


def _refusal(status: int, message: str) -> Answer:
    return status, {"error": {"message": message, "status": status}}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "next_cursor": None, "total_items": len(items), "total_pages": 1,
            "current_page": 1}  # fmt: skip


def _listed(query: dict[str, list[str]], name: str) -> set[str]:
    """A comma-joined array parameter, as the SDK sends one."""
    return {item for value in query.get(name, []) for item in value.split(",") if item}


@dataclass
class FakeComposio(JsonServer):
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscription: dict[str, Any] | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)
    api_keys: set[str] = field(default_factory=lambda: {"test-key"})
    auth_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # link token -> connected account id
    sign_in_email: str = "jane@example.com"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, message: str) -> None:
        """The next mutating request (POST/PATCH/DELETE) answers this error; a 5xx twice,
        since the SDK retries it once."""
        self.fail_next.extend([(status, message)] * (2 if status >= 500 else 1))

    def complete_sign_in(self, toolkit: str, email: str) -> dict[str, Any]:
        """The person finished signing in: the newest started sign-in of `toolkit` becomes
        an ACTIVE account that names `email`."""
        with self.lock:
            slug = toolkit.lower()
            waiting = [a for a in self.accounts.values()
                       if a["toolkit"]["slug"] == slug and a["status"] == "INITIATED"]  # fmt: skip
            if not waiting:
                raise AssertionError(f"no sign-in to {toolkit} was started")
            return self._activate(waiting[-1], email)

    def expire(self, toolkit: str) -> None:
        """Composio lost access to the user's `toolkit` account (e.g. a revoked token)."""
        with self.lock:
            for account in self.accounts.values():
                if account["toolkit"]["slug"] == toolkit.lower() and account["status"] == "ACTIVE":
                    account["status"] = "EXPIRED"
                    account["status_reason"] = "The refresh token was revoked"
                    account["state"]["val"] = {"status": "EXPIRED"}

    def _activate(self, account: dict[str, Any], email: str) -> dict[str, Any]:
        token = f"ya29.fake-{secrets.token_hex(8)}"
        account["status"] = "ACTIVE"
        account["state"]["val"] = {"status": "ACTIVE", "access_token": token, "email": email}
        account["data"] = {"access_token": token, "email": email}
        return account

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer:
        self.requests.append((method, path, body))
        if method != "GET" and self.fail_next:
            return _refusal(*self.fail_next.pop(0))
        for pattern, route in self._routes():
            if match := re.fullmatch(pattern, f"{method} {path}"):
                return route(*match.groups(), query=query, body=body)
        return _refusal(404, f"no route {method} {path}")

    def _routes(self) -> list[tuple[str, Any]]:
        return [
            (f"GET {API}/triggers_types", self._trigger_types),
            (f"GET {API}/triggers_types/([A-Z0-9_]+)", self._trigger_type),
            (f"POST {API}/trigger_instances/([A-Z0-9_]+)/upsert", self._upsert),
            (f"(PATCH|DELETE) {API}/trigger_instances/manage/(.+)", self._manage),
            (f"GET {API}/webhook_subscriptions", self._subscriptions),
            (f"POST {API}/webhook_subscriptions/([^/]+)/rotate_secret", self._rotate_secret),
            (f"(?:POST|PATCH) {API}/webhook_subscriptions(?:/.+)?", self._subscribe),
            (f"GET {API}/auth_configs", self._list_auth_configs),
            (f"POST {API}/auth_configs", self._create_auth_config),
            (f"GET {API}/connected_accounts", self._list_accounts),
            (f"POST {API}/connected_accounts/link", self._link),
            (f"DELETE {API}/connected_accounts/([^/]+)", self._delete_account),
        ]

    def _trigger_types(self, query: dict[str, list[str]], body: Any) -> Answer:
        toolkits = _listed(query, "toolkit_slugs")
        items = [_type_json(t.slug) for t in offline_catalog()
                 if not toolkits or t.toolkit.lower() in toolkits]  # fmt: skip
        return 200, {"items": items, "next_cursor": None, "total_pages": 1}

    def _trigger_type(self, slug: str, query: dict[str, list[str]], body: Any) -> Answer:
        found = _type_json(slug)
        return (200, found) if found else _refusal(404, f"Trigger type {slug} not found")

    def _upsert(self, slug: str, query: dict[str, list[str]], body: Any) -> Answer:
        trigger_id = f"ti_{len(self.instances) + 1:04d}"
        self.instances[trigger_id] = {"slug": slug, "status": "enabled", **body}
        return 200, {"trigger_id": trigger_id}

    def _manage(self, method: str, trigger_id: str, query: dict[str, list[str]],
                body: Any) -> Answer:  # fmt: skip
        instance = self.instances.get(trigger_id)
        if instance is None:
            return _refusal(404, "Trigger instance not found")
        if method == "DELETE":
            del self.instances[trigger_id]
            return 200, {"trigger_id": trigger_id}
        instance["status"] = body["status"] + "d"
        return 200, {"status": "success"}

    def _subscriptions(self, query: dict[str, list[str]], body: Any) -> Answer:
        return 200, {"items": [self.subscription] if self.subscription else [],
                     "next_cursor": None}  # fmt: skip

    def _subscribe(self, query: dict[str, list[str]], body: Any) -> Answer:
        created = self.subscription is None
        self.subscription = {
            "id": "ws_0001", "version": "V3", "created_at": STAMP, "updated_at": STAMP,
            **(self.subscription or {}), **body,
        }  # fmt: skip
        if created:
            self.subscription["secret"] = "whsec_fake_secret"
            return 200, self.subscription
        # Like Composio: the signing secret is handed out when the subscription is made.
        return 200, {k: v for k, v in self.subscription.items() if k != "secret"}

    def _rotate_secret(
        self, subscription_id: str, query: dict[str, list[str]], body: Any
    ) -> Answer:
        if self.subscription is None or self.subscription["id"] != subscription_id:
            return _refusal(404, "Webhook subscription not found")
        self.subscription["secret"] = f"whsec_rotated_{secrets.token_hex(8)}"
        return 200, {"id": subscription_id, "secret": self.subscription["secret"]}

    def _list_auth_configs(self, query: dict[str, list[str]], body: Any) -> Answer:
        wanted = query.get("toolkit_slug", [""])[0]
        return 200, _page([c for c in self.auth_configs.values()
                           if not wanted or c["toolkit"]["slug"] == wanted])  # fmt: skip

    def _create_auth_config(self, query: dict[str, list[str]], body: Any) -> Answer:
        toolkit = body["toolkit"]["slug"]
        if toolkit.upper() not in {t.toolkit for t in offline_catalog()}:
            return _refusal(400, f"Toolkit {toolkit} not found")
        config_id = f"ac_{len(self.auth_configs) + 1:04d}"
        self.auth_configs[config_id] = {
            "id": config_id, "uuid": config_id, "name": f"{toolkit} auth", "type": "default",
            "auth_scheme": "OAUTH2", "is_composio_managed": True, "status": "ENABLED",
            "no_of_connections": 0, "created_at": STAMP, "tool_access_config": {},
            "toolkit": {"slug": toolkit, "logo": f"https://logos.example/{toolkit}.png"},
        }  # fmt: skip
        return 200, {
            "toolkit": {"slug": toolkit},
            "auth_config": {"id": config_id, "auth_scheme": "OAUTH2", "is_composio_managed": True,
                            "restrict_to_following_tools": []},
        }  # fmt: skip

    def _list_accounts(self, query: dict[str, list[str]], body: Any) -> Answer:
        filters = {
            ("user_id",): _listed(query, "user_ids"),
            ("toolkit", "slug"): _listed(query, "toolkit_slugs"),
            ("auth_config", "id"): _listed(query, "auth_config_ids"),
            ("status",): _listed(query, "statuses"),
        }

        def value(account: dict[str, Any], keys: tuple[str, ...]) -> Any:
            for key in keys:
                account = account[key]
            return account

        return 200, _page([a for a in self.accounts.values()
                           if all(not allowed or value(a, keys) in allowed
                                  for keys, allowed in filters.items())])  # fmt: skip

    def _link(self, query: dict[str, list[str]], body: Any) -> Answer:
        config = self.auth_configs.get(body["auth_config_id"])
        if config is None:
            return _refusal(404, "Auth config not found")
        account_id = f"ca_{len(self.accounts) + 1:04d}"
        token = f"lt_{secrets.token_urlsafe(12)}"
        redirect_url = f"{self.url}/link/{token}"
        self.links[token] = account_id
        self.accounts[account_id] = {
            "id": account_id, "user_id": body["user_id"], "status": "INITIATED",
            "status_reason": None, "alias": body.get("alias"), "is_disabled": False,
            "created_at": f"2026-11-26T00:{len(self.accounts):02d}:00Z", "updated_at": STAMP,
            "data": {},
            "toolkit": {"slug": config["toolkit"]["slug"]},
            "auth_config": {"id": config["id"], "auth_scheme": "OAUTH2",
                            "is_composio_managed": True, "is_disabled": False},
            "state": {"authScheme": "OAUTH2",
                      "val": {"status": "INITIATED", "redirectUrl": redirect_url}},
        }  # fmt: skip
        return 201, {"connected_account_id": account_id, "link_token": token,
                     "redirect_url": redirect_url, "expires_at": STAMP}  # fmt: skip

    def _delete_account(self, account_id: str, query: dict[str, list[str]], body: Any) -> Answer:
        if self.accounts.pop(account_id, None) is None:
            return _refusal(404, "Connected account not found")
        return 200, {"success": True}

    def _sign_in_page(self, token: str) -> Raw:
        """Composio's hosted sign-in, reduced to its outcome: the account is connected."""
        account = self.accounts.get(self.links.get(token, ""))
        if account is None:
            text = "This sign-in link is not valid."
        else:
            self._activate(account, self.sign_in_email)
            names = {t.toolkit.lower(): t.toolkit_name for t in offline_catalog()}
            app = names.get(account["toolkit"]["slug"], account["toolkit"]["slug"])
            text = f"Signed in to {app} as {self.sign_in_email}. You can close this tab."
        page = f"<!doctype html><title>Composio</title><h1>{html.escape(text)}</h1>"
        return Raw(page.encode(), {"content-type": "text/html; charset=utf-8"})

    def respond(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, float]:  # fmt: skip
        with self.lock:
            if match := re.fullmatch(r"/link/([\w-]+)", path):
                return 200, self._sign_in_page(match[1]), 0.0
            key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), "")
            if key not in self.api_keys:
                self.requests.append((method, path, body))
                return *_refusal(401, "Invalid API key"), 0.0
            status, answer = self.handle(method, path, query, body)
        return status, answer, 0.0


def connect_composio_and_gmail(settings: Settings, composio: FakeComposio) -> None:
    """What Settings → Composio does, through the same core functions: the key stored,
    deliveries' secret stored, Gmail signed in as jane@example.com."""
    with open_session(settings.database_url) as session:
        setup.save_api_key(session, settings, "test-key")
        setup.connect(session, settings)
        effective = credentials.effective_settings(session, settings)
    setup.start_sign_in(effective, "gmail")
    composio.complete_sign_in("gmail", "jane@example.com")
