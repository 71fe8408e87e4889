"""Setting Planner up with Composio, from the dashboard or the CLI (both call these): the
API key (stored encrypted unless the environment sets one), the webhook subscription
whose signing secret is stored for the webhook process, and the apps the user connected.

Composio's own failures arrive as ComposioError in plain words (core.composio.client).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from core.access import credentials, secrets
from core.composio import client
from core.composio.client import Account
from core.config import Settings
from core.errors import NotFoundError, ValidationError
from core.events.catalog import offline_catalog

# The apps the Settings page always offers; any other app with an account is listed too.
COMMON_APPS = ("GMAIL", "GOOGLECALENDAR", "SLACK", "GITHUB")
ACTIVE = "ACTIVE"
WAITING = frozenset({"INITIALIZING", "INITIATED"})
PROBLEMS = {
    "EXPIRED": "sign-in expired — reconnect",
    "FAILED": "sign-in did not finish — connect again",
    "INACTIVE": "turned off in Composio — reconnect",
    "REVOKED": "access was withdrawn — reconnect",
}


# --- the API key -------------------------------------------------------------------------


def key_source(session: Session, settings: Settings) -> str:
    """Where the Composio API key comes from: "environment", "stored" or "" (none)."""
    if settings.composio_api_key:
        return "environment"
    return "stored" if credentials.readable(session, settings, credentials.COMPOSIO_API_KEY) else ""


def _can_store(settings: Settings) -> None:
    """Raise SecretKeyError now if PLANNER_SECRET_KEY cannot encrypt, before Composio is
    asked or changed (a secret it returned could not be kept)."""
    secrets.encrypt(settings, "")


def save_api_key(session: Session, settings: Settings, pasted: str) -> None:
    """Store a pasted API key (encrypted) once Composio accepted it; a key it refuses,
    or one the environment overrides, changes nothing."""
    field = credentials.COMPOSIO_API_KEY
    if settings.composio_api_key:
        raise ValidationError(
            "The Composio API key is set in the server's settings (COMPOSIO_API_KEY), which "
            "win over a pasted one; change it there.",
            field,
        )
    key = credentials.clean_secret(pasted, field)
    _can_store(settings)
    try:
        client.check_api_key(replace(settings, composio_api_key=key))
    except client.ComposioError as error:
        raise client.ComposioError(f"{error} The key was not saved; try again.") from None
    credentials.store(session, settings, field, key)


def forget_api_key(session: Session) -> None:
    credentials.forget(session, credentials.COMPOSIO_API_KEY)


# --- the webhook subscription -------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """What *Receive events* did: where Composio delivers now, whether the signing secret it
    handed over was stored, and what may still stop deliveries (plain words, or "")."""

    webhook_url: str
    secret_stored: bool
    warnings: tuple[str, ...]

    @property
    def warning(self) -> str:
        return " ".join(self.warnings)

    def as_json(self) -> dict[str, Any]:
        return {"webhook_url": self.webhook_url, "secret_stored": self.secret_stored,
                "warning": self.warning}  # fmt: skip

    def in_words(self) -> str:
        secret = (
            "The signing secret Composio sent is stored (encrypted); the webhook uses it "
            "within seconds."
            if self.secret_stored
            else "Composio sent no signing secret; the one stored before (if any) is kept."
        )
        return f"Composio now delivers events to {self.webhook_url}. {secret}"


def connect(session: Session, settings: Settings) -> Connection:
    """Point Composio's webhook subscription at PUBLIC_BASE_URL and store the signing
    secret it returns, which the webhook process picks up without a restart.

    `settings` are the environment's: the stored key is used from the database, and only
    a COMPOSIO_WEBHOOK_SECRET set in the environment can override what Composio sends.
    Composio hands a secret out only when it creates the subscription; when Planner has
    none it can read (a new database, another PLANNER_SECRET_KEY), it asks for a new one.
    """
    _can_store(settings)
    effective = credentials.effective_settings(session, settings)
    needs_secret = not effective.composio_webhook_secret
    subscription = client.connect_webhook(effective, new_secret=needs_secret)
    secret = subscription.get("secret") or ""
    if secret:
        credentials.store(session, settings, credentials.COMPOSIO_WEBHOOK_SECRET, secret)
    warnings = [client.unreachable_address(settings)]
    if secret and settings.composio_webhook_secret and secret != settings.composio_webhook_secret:
        warnings.append(
            "COMPOSIO_WEBHOOK_SECRET in the server's settings overrides the secret Composio "
            "just sent, and it is not the same: deliveries will be refused until it is "
            "removed from the settings (or set to the new secret)."
        )
    return Connection(subscription["webhook_url"], bool(secret), tuple(w for w in warnings if w))


# --- the user's connected apps --------------------------------------------------------------


@lru_cache(maxsize=1)
def apps() -> dict[str, str]:
    """The apps with events Planner knows: toolkit (catalog spelling) -> name, by name."""
    names = {t.toolkit: t.toolkit_name for t in offline_catalog()}
    return dict(sorted(names.items(), key=lambda item: item[1].lower()))


def app_name(toolkit: str) -> str:
    return apps().get(toolkit.upper(), toolkit.title())


def _squeezed(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).upper()


def find_app(text: str) -> str:
    """The toolkit an app is called by, its name ("Google Calendar") or Composio's slug
    ("googlecalendar"), in any case."""
    wanted = _squeezed(text)
    if not wanted:
        raise ValidationError("Name the app, for example gmail.", "toolkit")
    for toolkit, name in apps().items():
        if wanted in (toolkit, _squeezed(name)):
            return toolkit
    raise ValidationError(
        f"Planner knows no app called {text.strip()!r}; apps with events: "
        f"{', '.join(apps().values())}.",
        "toolkit",
    )


@dataclass(frozen=True)
class AppConnection:
    """One app and the user's accounts of it, summed up for a person."""

    toolkit: str
    accounts: tuple[Account, ...] = ()

    @property
    def name(self) -> str:
        return app_name(self.toolkit)

    @property
    def connected_as(self) -> list[str]:
        return [a.identity for a in self.accounts if a.status == ACTIVE and a.identity]

    @property
    def state(self) -> str:
        """One of "connected", "waiting" (a sign-in started), "problem", "" (none)."""
        statuses = {a.status for a in self.accounts}
        if ACTIVE in statuses:
            return "connected"
        if statuses & WAITING:
            return "waiting"
        return "problem" if statuses else ""

    def in_words(self) -> str:
        """E.g. "Gmail — connected as jane@example.com", "Gmail sign-in expired — reconnect"."""
        if self.state == "connected":
            who = ", ".join(self.connected_as)
            return f"{self.name} — connected" + (f" as {who}" if who else "")
        if self.state == "waiting":
            return f"{self.name} — waiting for you to finish signing in"
        if self.state == "problem":
            newest = self.accounts[-1]
            return f"{self.name} {PROBLEMS.get(newest.status, 'cannot be used — reconnect')}"
        return f"{self.name} — not connected"


def app_connections(settings: Settings, every_common_app: bool = True) -> list[AppConnection]:
    """The user's apps: the common ones (unless `every_common_app` is False) and every app
    with an account, common ones first."""
    by_app: dict[str, list[Account]] = {t: [] for t in COMMON_APPS} if every_common_app else {}
    for account in client.accounts(settings):
        by_app.setdefault(account.toolkit, []).append(account)
    return [AppConnection(toolkit, tuple(found)) for toolkit, found in by_app.items()]


def account_json(account: Account) -> dict[str, Any]:
    return {"id": account.id, "toolkit": account.toolkit, "app": app_name(account.toolkit),
            "status": account.status, "connected_as": account.identity,
            "reason": account.reason}  # fmt: skip


def connected_toolkits(settings: Settings) -> set[str]:
    """Toolkits (catalog spelling, e.g. GMAIL) with an ACTIVE account of the user; empty
    without an API key. Pass the effective settings (credentials.effective_settings) so a
    stored key counts."""
    if not settings.composio_api_key:
        return set()
    return {a.toolkit for a in client.accounts(settings) if a.status == ACTIVE}


@dataclass(frozen=True)
class SignIn:
    toolkit: str
    app: str
    url: str


def start_sign_in(settings: Settings, app: str) -> SignIn:
    """A Composio-hosted sign-in link for `app`; the account is connected once the user
    finishes there."""
    toolkit = find_app(app)
    name = app_name(toolkit)
    return SignIn(toolkit, name, client.sign_in_link(settings, toolkit, name))


def disconnect(settings: Settings, app: str) -> tuple[str, int]:
    """Remove every account of `app` the user has in Composio (any status); returns the
    app's name and how many were removed."""
    toolkit = find_app(app)
    name = app_name(toolkit)
    found = [a for a in client.accounts(settings) if a.toolkit == toolkit]
    if not found:
        raise NotFoundError(f"No {name} account is connected.")
    for account in found:
        client.remove_account(settings, account.id, name)
    return name, len(found)
