"""Planner's side of Composio: trigger instances, the webhook subscription, the catalog.

`import composio` costs seconds of CPU, so it happens here, on first use, and never on
the webhook's request path. Every SDK failure becomes a ComposioError with Composio's
own words, so callers can leave their rows unchanged and show why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from core.catalog import ConfigField, TriggerType, trigger_type
from core.config import Settings
from core.errors import PlannerError

T = TypeVar("T")
TRIGGER_MESSAGE = "composio.trigger.message"
TRIGGER_DISABLED = "composio.trigger.disabled"
ACCOUNT_EXPIRED = "composio.connected_account.expired"
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
        raise NotConfigured("COMPOSIO_API_KEY is not set, so Planner cannot reach Composio.")
    return _client(settings.composio_api_key, settings.composio_base_url)


def _call(action: str, request: Callable[[], T]) -> T:
    """Run one SDK request, turning any failure into a ComposioError that says why."""
    import composio_client
    from composio.exceptions import ComposioError as SdkError

    try:
        return request()
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
    _call("delete the trigger", lambda: _delete_unless_gone(sdk, trigger_id))


def _delete_unless_gone(sdk: Any, trigger_id: str) -> None:
    import composio_client

    try:
        sdk.triggers.delete(trigger_id)
    except composio_client.NotFoundError:
        return


def set_enabled(settings: Settings, trigger_id: str, enabled: bool) -> None:
    sdk = client(settings)
    if enabled:
        _call("enable the trigger", lambda: sdk.triggers.enable(trigger_id))
    else:
        _call("disable the trigger", lambda: sdk.triggers.disable(trigger_id))


def connect_webhook(settings: Settings) -> dict[str, Any]:
    """Point the project's webhook subscription at PUBLIC_BASE_URL/webhooks/composio.

    Returns the subscription; its `secret` (only shown when it is created) must go into
    COMPOSIO_WEBHOOK_SECRET.
    """
    if not settings.webhook_url:
        raise ComposioError("PUBLIC_BASE_URL is not set: Composio needs a public address.")
    sdk = client(settings)
    subscription = _call(
        "set the webhook address",
        lambda: sdk.triggers.set_webhook_subscription(
            webhook_url=settings.webhook_url, enabled_events=list(SUBSCRIBED_EVENTS)
        ),
    )
    return {key: subscription.get(key) for key in ("id", "webhook_url", "secret")}


def _schema_fields(schema: dict[str, Any] | None) -> tuple[ConfigField, ...]:
    schema = schema or {}
    required = set(schema.get("required", []))
    return tuple(
        ConfigField(name, spec.get("type", "string"), spec.get("title", name), name in required)
        for name, spec in (schema.get("properties") or {}).items()
    )


def trigger_types(settings: Settings, toolkit: str | None) -> list[TriggerType]:
    """Composio's own list of trigger types (all pages)."""
    sdk = client(settings)
    toolkits = [toolkit.lower()] if toolkit else None
    items: list[Any] = []
    cursor = None
    while True:
        page = _call(
            "list trigger types",
            lambda cursor=cursor: sdk.triggers.list(
                toolkit_slugs=toolkits, limit=100, cursor=cursor
            ),
        )
        items.extend(page.items)
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            break
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
