"""Event triggers: create, update, pause, resume, delete — kept in step with Composio.

Composio is asked first; the local row changes only when it agreed, so a Composio
failure leaves the row as it was and says why (no orphans on either side). Without
COMPOSIO_API_KEY a trigger is kept `local` (yellow) and can still be test-fired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.automations import policies
from core.automations.fields import UNCHANGED, AutomationFields, Unchanged, kept
from core.automations.shared import (
    Checked,
    action_config,
    automation_json,
    checked_name,
    checked_object,
    find,
)
from core.automations.templates import DEFAULT_VARIABLES
from core.automations.workflow_input import checked_template
from core.composio import client
from core.config import Settings
from core.errors import Checks, ValidationError
from core.events.catalog import (
    TriggerType,
    event_variables,
    missing_filters,
    offline_catalog,
    sample_events,
    toolkit_of,
)
from core.events.envelope import TRIGGER_MESSAGE
from core.notifications import channels
from core.store.models import (
    ActionKind,
    Agent,
    EventTrigger,
    Status,
    SyncState,
    WebhookEvent,
    iso,
)

MIN_POLL_MINUTES = 15


@dataclass(frozen=True)
class TriggerFields(AutomationFields):
    """What a user sets on a trigger; UNCHANGED keeps what it has (on a new trigger, its
    default).

    A workflow trigger's `input` is a template of the event's fields
    (core.automations.workflow_input); without one, the workflow gets the event's data.
    """

    event: str | Unchanged = UNCHANGED  # Composio's trigger slug
    filters: dict[str, Any] | Unchanged = UNCHANGED  # Composio's trigger_config
    user_id: str | Unchanged = UNCHANGED  # Composio's; "" for COMPOSIO_USER_ID


def catalog(settings: Settings, toolkit: str | None = None) -> list[TriggerType]:
    """Composio's list with an API key, else the one shipped with Planner."""
    if settings.composio_api_key:
        return client.trigger_types(settings, toolkit)
    wanted = (toolkit or "").upper()
    return [t for t in offline_catalog() if not wanted or t.toolkit == wanted]


def _known_type(slug: str) -> TriggerType | None:
    return next((t for t in offline_catalog() if t.slug == slug), None)


def validate_event(settings: Settings, slug: str) -> str:
    text = slug.strip().upper()
    if not text:
        raise ValidationError("Choose the event that starts this trigger.", "event")
    if not settings.composio_api_key and _known_type(text) is None:
        raise ValidationError(
            f"{text!r} is not an event Planner knows; see 'planner composio catalog'.", "event"
        )
    return text


def validate_filters(slug: str, value: dict[str, Any]) -> dict[str, Any]:
    """Filters (Composio's trigger_config): a JSON object with the event's required fields."""
    filters = checked_object(value, "filters", "filters")
    known = _known_type(slug)
    fields = known.config_fields if known else ()
    missing = missing_filters(fields, filters)
    if missing:
        names = ", ".join(f"{f.short_label} ({f.name})" for f in missing)
        raise ValidationError(f"Fill in {names}: this event needs them.", "filters")
    interval = filters.get("interval")
    if isinstance(interval, (int, float)) and interval < MIN_POLL_MINUTES:
        label = next((f.short_label for f in fields if f.name == "interval"), "interval")
        raise ValidationError(
            f"{label} must be {MIN_POLL_MINUTES} or more: Composio checks for new events "
            f"at most once every {MIN_POLL_MINUTES} minutes.",
            "filters",
        )
    return filters


def _last_event_data(session: Session, slug: str) -> dict[str, Any]:
    """The data of the last event of type `slug` Planner received (a test event's too),
    else of the example shipped with Planner: fields the catalog may not list."""
    payload = session.exec(
        select(WebhookEvent.payload)
        .where(WebhookEvent.trigger_slug == slug, WebhookEvent.type == TRIGGER_MESSAGE)
        .order_by(col(WebhookEvent.received_at).desc())
        .limit(1)
    ).first() or sample_events().get(slug, {})
    data = payload.get("data")
    return data if isinstance(data, dict) else {}


def input_variables(session: Session, slug: str) -> list[str] | None:
    """The variables a workflow's input can take from an event of type `slug`, the ones a
    form offers first: the catalog's, the fields of the last such event (or the shipped
    example), and the ones every run has. None when neither knows the event's fields (a
    type only Composio lists, with no event yet): its template is not checked then."""
    known = _known_type(slug)
    data = _last_event_data(session, slug)
    if (known is None or not known.payload_fields) and not data:
        return None
    catalog_names = [*known.offered_variables, *known.variables] if known else []
    return list(dict.fromkeys([*catalog_names, *event_variables(slug, data), *DEFAULT_VARIABLES]))


def _action(
    session: Session, fields: TriggerFields, trigger: EventTrigger | None, event: str
) -> tuple[str, dict[str, Any]]:
    """The action and its config; the input's template is checked against the event's
    variables when it is given or the event changes (a template it no longer fills)."""
    action, config = action_config(session, fields, trigger, "trigger")
    changed = fields.input is not UNCHANGED or trigger is None or trigger.event != event
    if action == ActionKind.workflow and changed and config.get("input"):
        checked_template(config["input"], input_variables(session, event))
    return action, config


def check_trigger(
    session: Session, name: str, fields: TriggerFields, ref: str | int | None, settings: Settings
) -> None:
    """Raise all that create_trigger (`ref` None) or update_trigger would refuse of
    `fields`, changing nothing: for a form with refusals of its own to show beside these."""
    trigger = find_trigger(session, ref) if ref is not None else None
    _checked(session, name if trigger is None else fields.name, fields, trigger, settings)


@dataclass(frozen=True)
class _Checked(Checked):
    """What a trigger's fields come to, every one of them checked."""

    told: channels.Telling  # its module reads names with core.automations.shared
    event: str
    filters: dict[str, Any]


def _checked(
    session: Session, name: str | Unchanged, fields: TriggerFields, trigger: EventTrigger | None,
    settings: Settings,
) -> _Checked:  # fmt: skip
    """`fields` applied to `trigger` (None: a new one), each field checked; all that is
    refused is raised at once (core.errors.Checks). The filters and the input's template
    are checked for the event chosen, so only once it is one."""
    checks = Checks()
    clean = checked_name(checks, session, EventTrigger, name, trigger)
    if fields.event is not UNCHANGED:
        event = checks.check(lambda: validate_event(settings, fields.event))
    elif trigger is not None:
        event = trigger.event
    else:
        event = None
        checks.refuse("Choose the event that starts this trigger.", "event")
    filters = action = None
    if event is not None:
        current = trigger.filters if trigger is not None else {}
        filters = checks.check(lambda: validate_filters(event, kept(fields.filters, current)))
        action = checks.check(lambda: _action(session, fields, trigger, event))
    chosen = checks.check(lambda: fields.chosen_policies(trigger))
    told = checks.check(lambda: channels.subscription(session, trigger, *fields.telling()))
    checks.raise_any()
    return _Checked(clean, *action, chosen, told, event, filters)


def find_trigger(session: Session, ref: str | int) -> EventTrigger:
    return find(session, EventTrigger, ref, "trigger")


def create_trigger(
    session: Session, name: str, fields: TriggerFields, settings: Settings, now: datetime
) -> EventTrigger:
    if fields.agent is UNCHANGED:
        raise ValidationError("Choose the agent this trigger belongs to.", "agent")
    agent = find(session, Agent, fields.agent)
    checked = _checked(session, name, fields, None, settings)
    event = checked.event
    trigger = EventTrigger(
        agent_id=agent.id, name=checked.name, event=event, toolkit=toolkit_of(event),
        filters=checked.filters, action=checked.action, config=checked.config,
        user_id=(kept(fields.user_id, "") or settings.composio_user_id).strip(),
        created_at=now, updated_at=now,
    )  # fmt: skip
    policies.apply(trigger, checked.policies)
    channels.tell(trigger, checked.told)
    if settings.composio_api_key:
        _register(trigger, settings)
    _commit(session, trigger, settings, trigger.composio_trigger_id)
    return trigger


def _register(trigger: EventTrigger, settings: Settings) -> None:
    """A new Composio instance for the trigger as it is now (disabled if it is paused)."""
    instance = client.register(settings, trigger.event, trigger.user_id, trigger.filters)
    if trigger.status == Status.paused:
        client.set_enabled(settings, instance, False)
    trigger.composio_trigger_id, trigger.sync_state, trigger.sync_error = (
        instance, SyncState.registered, None,
    )  # fmt: skip


def _commit(
    session: Session, trigger: EventTrigger, settings: Settings, new_instance: str | None
) -> None:
    """Commit the trigger; if that fails, remove the instance just registered for it
    again (no orphan in Composio)."""
    session.add(trigger)
    try:
        session.commit()
    except Exception:
        session.rollback()
        if new_instance:
            client.remove(settings, new_instance)
        raise


def sync_trigger(
    session: Session, ref: str | int, settings: Settings, now: datetime
) -> EventTrigger:
    """Register a trigger kept local (made before there was an API key) with Composio,
    or enable again one Composio disabled; a trigger already in step is left alone."""
    trigger = find_trigger(session, ref)
    if not settings.composio_api_key:
        raise ValidationError(
            "Planner has no Composio API key yet: paste it on Settings (or set "
            "COMPOSIO_API_KEY), then try again."
        )
    if trigger.composio_trigger_id is None:
        _register(trigger, settings)
        trigger.updated_at = now
        _commit(session, trigger, settings, trigger.composio_trigger_id)
    elif trigger.sync_state != SyncState.registered and trigger.status == Status.active:
        _enable(session, trigger, settings, now)
    return trigger


def _enable(session: Session, trigger: EventTrigger, settings: Settings, now: datetime) -> None:
    """Enable the trigger's instance; once Composio agreed, it is in step again (green)."""
    client.set_enabled(settings, trigger.composio_trigger_id, True)
    trigger.status, trigger.sync_state, trigger.sync_error = (
        Status.active, SyncState.registered, None,
    )  # fmt: skip
    trigger.updated_at = now
    session.add(trigger)
    session.commit()


def update_trigger(
    session: Session, ref: str | int, fields: TriggerFields, settings: Settings, now: datetime
) -> EventTrigger:
    """Change a trigger. A new event or new filters register a new Composio instance
    first, then delete the old one (Composio cannot change an instance's config)."""
    trigger = find_trigger(session, ref)
    agent = find(session, Agent, fields.agent) if fields.agent is not UNCHANGED else None
    checked = _checked(session, fields.name, fields, trigger, settings)
    event, filters = checked.event, checked.filters
    user_id = kept(fields.user_id, trigger.user_id).strip()

    old_instance = trigger.composio_trigger_id
    reregister = (event, filters, user_id) != (trigger.event, trigger.filters, trigger.user_id)
    trigger.name, trigger.event, trigger.toolkit = checked.name, event, toolkit_of(event)
    trigger.filters, trigger.user_id = filters, user_id
    trigger.action, trigger.config, trigger.updated_at = checked.action, checked.config, now
    policies.apply(trigger, checked.policies)
    channels.tell(trigger, checked.told)
    if agent is not None:
        trigger.agent_id = agent.id
    if reregister and settings.composio_api_key:
        _register(trigger, settings)
    new_instance = (
        trigger.composio_trigger_id if trigger.composio_trigger_id != old_instance else None
    )
    _commit(session, trigger, settings, new_instance)
    if new_instance and old_instance:
        client.remove(settings, old_instance)
    return trigger


def pause_trigger(
    session: Session, ref: str | int, settings: Settings, now: datetime
) -> EventTrigger:
    trigger = find_trigger(session, ref)
    if trigger.status != Status.paused:
        if trigger.composio_trigger_id and settings.composio_api_key:
            client.set_enabled(settings, trigger.composio_trigger_id, False)
        trigger.status, trigger.updated_at = Status.paused, now
        session.add(trigger)
        session.commit()
    return trigger


def resume_trigger(
    session: Session, ref: str | int, settings: Settings, now: datetime
) -> EventTrigger:
    """Active again; a trigger Composio disabled is enabled there too, and green once it
    agreed."""
    trigger = find_trigger(session, ref)
    out_of_step = trigger.sync_state == SyncState.error
    if trigger.composio_trigger_id and settings.composio_api_key:
        if trigger.status != Status.active or out_of_step:
            _enable(session, trigger, settings, now)
    elif trigger.status != Status.active:
        trigger.status, trigger.updated_at = Status.active, now
        session.add(trigger)
        session.commit()
    return trigger


def delete_trigger(session: Session, ref: str | int, settings: Settings) -> None:
    """Delete from Composio first (gone there counts), then here with the trigger's runs.
    One registered with Composio is not deleted without a key to remove it there: it
    would go on running at Composio, its events arriving for no trigger."""
    trigger = find_trigger(session, ref)
    if trigger.composio_trigger_id and not settings.composio_api_key:
        raise ValidationError(
            f"{trigger.name!r} is registered with Composio, and without the Composio API key "
            "Planner cannot remove it there. Add the key on Settings first, then delete it."
        )
    if trigger.composio_trigger_id:
        client.remove(settings, trigger.composio_trigger_id)
    session.delete(trigger)
    session.commit()


def trigger_json(trigger: EventTrigger) -> dict[str, Any]:
    known = _known_type(trigger.event)
    return automation_json(trigger) | {
        "event": trigger.event,
        "event_name": known.name if known else trigger.event,
        "toolkit": trigger.toolkit,
        "filters": trigger.filters,
        "user_id": trigger.user_id,
        "composio_trigger_id": trigger.composio_trigger_id,
        "sync_state": trigger.sync_state,
        "sync_error": trigger.sync_error,
        "last_fired_at": iso(trigger.last_fired_at),
    }
