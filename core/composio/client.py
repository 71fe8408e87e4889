"""Planner's side of Composio: trigger instances, the webhook subscription, the catalog,
and the user's connected accounts (the apps Composio signs in to for them).

`import composio` costs seconds of CPU, so it happens here, on first use, and never on
the webhook's request path. Every SDK failure becomes a ComposioError with Composio's
own words, so callers can leave their rows unchanged and show why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.config import Settings
from core.errors import PlannerError
from core.events.catalog import ConfigField, TriggerType, trigger_type
from core.events.envelope import ACCOUNT_EXPIRED, TRIGGER_DISABLED, TRIGGER_MESSAGE

T = TypeVar("T")
SUBSCRIBED_EVENTS = (TRIGGER_MESSAGE, TRIGGER_DISABLED, ACCOUNT_EXPIRED)


class ComposioError(PlannerError):
    """Composio refused a request, or could not be reached."""


class NotConfigured(ComposioError):
    """COMPOSIO_API_KEY is not set."""


@lru_cache(maxsize=4)
def _client(api_key: str, base_url: str) -> Any:
    from composio import Composio

    options: dict[str, Any] = {"api_key": api_key, "allow_tracking": False, "max_retries": 1}
    if base_url:
        options["base_url"] = base_url
    return Composio(**options)


def client(settings: Settings) -> Any:
    if not settings.composio_api_key:
        raise NotConfigured(
            "There is no Composio API key yet: paste it on the dashboard's Settings page "
            "(Composio), or set COMPOSIO_API_KEY."
        )
    return _client(settings.composio_api_key, settings.composio_base_url)


def _call(action: str, request: Callable[[], T]) -> T:
    """Run one SDK request, turning any failure into a ComposioError that says why."""
    import composio_client
    from composio.exceptions import ComposioError as SdkError

    try:
        return request()
    except composio_client.AuthenticationError as error:
        detail = _detail(error.body) or error.message
        raise ComposioError(f"Composio did not accept the API key: {detail}.") from None
    except composio_client.APIStatusError as error:
        detail = _detail(error.body) or error.message
        raise ComposioError(f"Composio refused to {action}: {detail}") from None
    except composio_client.APIConnectionError:
        raise ComposioError(f"Could not reach Composio to {action}.") from None
    except (SdkError, composio_client.ComposioError) as error:
        raise ComposioError(f"Composio could not {action}: {error}") from None


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(body or "")


def register(settings: Settings, slug: str, user_id: str, filters: dict[str, Any]) -> str:
    """Create a trigger instance; returns its id (`ti_…`)."""
    sdk = client(settings)
    created = _call(
        f"register {slug}",
        lambda: sdk.triggers.create(slug, user_id=user_id, trigger_config=filters),
    )
    return created.trigger_id


def remove(settings: Settings, trigger_id: str) -> None:
    """Delete a trigger instance; one Composio no longer knows counts as gone."""
    sdk = client(settings)
    _call("delete the trigger", lambda: _unless_gone(lambda: sdk.triggers.delete(trigger_id)))


def _unless_gone(delete: Callable[[], object]) -> None:
    """Run a deletion; a 404 means it is gone already, which is what was asked."""
    import composio_client

    try:
        delete()
    except composio_client.NotFoundError:
        return


def set_enabled(settings: Settings, trigger_id: str, enabled: bool) -> None:
    sdk = client(settings)
    if enabled:
        _call("enable the trigger", lambda: sdk.triggers.enable(trigger_id))
    else:
        _call("disable the trigger", lambda: sdk.triggers.disable(trigger_id))


def check_api_key(settings: Settings) -> None:
    """Ask Composio one cheap question with the key, so a wrong key is refused before it
    is stored."""
    sdk = client(settings)
    _call("check the API key", lambda: sdk.auth_configs.list(limit=1))


NO_PUBLIC_ADDRESS = (
    "Composio sends events over the internet, so it needs Planner's public address: one "
    "that any computer on the internet can open, like https://planner.example.com. "
    "PUBLIC_BASE_URL is not set. Ask whoever runs Planner to set it to the address people "
    "open Planner at (on a laptop, a tunnel such as cloudflared or ngrok gives one; see "
    "'Deploy Planner'), then connect again."
)


def unreachable_address(settings: Settings) -> str:
    """Why Composio cannot deliver to PUBLIC_BASE_URL from the internet (a local or
    private address), in plain words; "" when nothing is known to be wrong with it."""
    address = urlsplit(settings.public_base_url)
    host = (address.hostname or "").lower()
    try:
        private = not ipaddress.ip_address(host).is_global
    except ValueError:
        private = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    if not private:
        return ""
    port = address.port or 8501  # where Planner serves on this computer (make run: 8501)
    return (
        f"{settings.public_base_url} is an address that only this computer or its private "
        "network can open (localhost means this computer), so Composio cannot send events "
        "to it from the internet. Put Planner online (see 'Deploy Planner'), or give this "
        "computer a public address with a tunnel: run 'cloudflared tunnel --url "
        f"http://localhost:{port}' or 'ngrok http {port}', set PUBLIC_BASE_URL to the "
        "https address it prints, and press Receive events on Settings (Set up receiving "
        "again, once it receives)."
    )


def connect_webhook(settings: Settings, new_secret: bool = False) -> dict[str, Any]:
    """Point the project's webhook subscription at PUBLIC_BASE_URL/webhooks/composio.

    Returns the subscription; its `secret` is only there when the subscription was
    created (store it then: it may not be shown again), or, with `new_secret`, a new one
    Composio rotated in for an existing subscription.
    """
    if not settings.webhook_url:
        raise ComposioError(NO_PUBLIC_ADDRESS)
    sdk = client(settings)
    subscription = _call(
        "set the webhook address",
        lambda: sdk.triggers.set_webhook_subscription(
            webhook_url=settings.webhook_url, enabled_events=list(SUBSCRIBED_EVENTS)
        ),
    )
    found = {key: subscription.get(key) for key in ("id", "webhook_url", "secret")}
    if new_secret and not found["secret"]:
        rotated = _call(
            "give the webhook a new signing secret",
            lambda: sdk.webhooks.subscriptions.rotate_secret(found["id"]),
        )
        found["secret"] = rotated.secret
    return found


def _schema_fields(schema: dict[str, Any] | None) -> tuple[ConfigField, ...]:
    schema = schema or {}
    required = set(schema.get("required", []))
    return tuple(
        ConfigField.from_schema(name, spec, name in required)
        for name, spec in (schema.get("properties") or {}).items()
    )


def _every_page(action: str, fetch: Callable[[str | None], Any]) -> list[Any]:
    """The items of every page of a Composio listing (`fetch(cursor)` gets one page)."""
    items: list[Any] = []
    cursor = None
    while True:
        page = _call(action, lambda cursor=cursor: fetch(cursor))
        items.extend(page.items)
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            return items


def trigger_types(settings: Settings, toolkit: str | None) -> list[TriggerType]:
    """Composio's own list of trigger types (all pages)."""
    sdk = client(settings)
    toolkits = [toolkit.lower()] if toolkit else None
    items = _every_page(
        "list trigger types",
        lambda cursor: sdk.triggers.list(toolkit_slugs=toolkits, limit=100, cursor=cursor),
    )
    return [
        trigger_type(
            item.slug,
            item.toolkit.slug,
            item.name,
            type=item.type or "",
            description=item.description or "",
            config_fields=_schema_fields(item.config),
            payload_fields=tuple((item.payload or {}).get("properties", {})),
        )
        for item in items
    ]


# Where an account's own name may sit in what Composio says about it (varies by app).
IDENTITY_FIELDS = ("email", "email_address", "user_email", "account_email", "login", "username")


@dataclass(frozen=True)
class Account:
    """One of the user's connected accounts, as Composio lists it. `toolkit` is in the
    catalog's spelling (GMAIL); `identity` is who it signed in as, when Composio says."""

    id: str
    toolkit: str
    status: str
    identity: str = ""
    reason: str = ""


def _fields(source: Any) -> dict[str, Any]:
    """A response object's fields, those the SDK declares and those it passed through."""
    if isinstance(source, dict):
        return source
    return {**getattr(source, "__dict__", {}), **(getattr(source, "model_extra", None) or {})}


def _identity(item: Any) -> str:
    """The account's own name (an email, a login) from the fields Composio may fill; never
    any other field, since the same places hold its tokens."""
    for source in (getattr(getattr(item, "state", None), "val", None), getattr(item, "data", None)):
        values = _fields(source)
        for name in IDENTITY_FIELDS:
            if isinstance(values.get(name), str) and values[name].strip():
                return values[name].strip()
    return (getattr(item, "alias", None) or "").strip()


def accounts(settings: Settings) -> list[Account]:
    """The connected accounts of COMPOSIO_USER_ID (every status), oldest first."""
    sdk = client(settings)
    items = _every_page(
        "list your connected accounts",
        lambda cursor: sdk.connected_accounts.list(
            user_ids=[settings.composio_user_id], limit=100, cursor=cursor
        ),
    )
    return [
        Account(item.id, item.toolkit.slug.upper(), item.status, _identity(item),
                item.status_reason or "")
        for item in sorted(items, key=lambda item: item.created_at or "")
    ]  # fmt: skip


class AlreadyConnected(ComposioError):
    """The user has an active account of this app already (one per app)."""


def _auth_config_id(sdk: Any, toolkit: str) -> str:
    """The project's newest auth config for `toolkit`, else a new Composio-managed one
    (what the SDK's `toolkits.authorize` does before its legacy sign-in request)."""
    found = sdk.auth_configs.list(toolkit_slug=toolkit).items
    if found:
        return max(found, key=lambda config: config.created_at or "").id
    return sdk.auth_configs.create(toolkit, {"type": "use_composio_managed_auth"}).id


def sign_in_link(settings: Settings, toolkit: str, app: str) -> str:
    """A Composio-hosted page where the user signs in to `toolkit` (`app` names it);
    the account is connected once they finish there."""
    sdk = client(settings)
    from composio.exceptions import ComposioMultipleConnectedAccountsError

    def request() -> str:
        config_id = _auth_config_id(sdk, toolkit.lower())
        try:
            return sdk.connected_accounts.link(settings.composio_user_id, config_id).redirect_url
        except ComposioMultipleConnectedAccountsError:
            raise AlreadyConnected(
                f"{app} is connected already; disconnect it first to use another account."
            ) from None

    return _call(f"start signing in to {app}", request)


def remove_account(settings: Settings, account_id: str, app: str) -> None:
    """Delete a connected account; one Composio no longer knows counts as gone."""
    sdk = client(settings)
    _call(
        f"disconnect {app}", lambda: _unless_gone(lambda: sdk.connected_accounts.delete(account_id))
    )
