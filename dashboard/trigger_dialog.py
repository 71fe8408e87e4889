"""The event trigger dialog: the app and its event, the event's filters in words (the
needed ones first, the rest folded away), and the action previewed against the last real
event of that type, or a sample."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from core.automations import triggers
from core.automations.fields import UNCHANGED
from core.automations.templates import DEFAULT_VARIABLES, default_variables
from core.composio import setup
from core.errors import Checks, PlannerError, ValidationError
from core.events import inbox
from core.events.catalog import (
    NUMBER_TYPES,
    ConfigField,
    TriggerType,
    event_variables,
    missing_filters,
)
from core.store.models import EventTrigger
from dashboard.advanced import advanced_inputs, form_refusals
from dashboard.context import now, plain, reading, settings, writing
from dashboard.dialog_parts import (
    SAMPLE_KEY,
    action_inputs,
    confirmed,
    editing,
    field_error,
    fold,
    input_picker,
    refused,
    save,
)

CATALOG_SECONDS = 600
ACCOUNTS_SECONDS = 15
DEFAULT_APP = "Gmail"


@st.cache_data(ttl=CATALOG_SECONDS, show_spinner="Asking Composio for its events…")
def _catalog(api_key: str, base_url: str) -> list[TriggerType]:
    """The catalog, asked of Composio once per key and address every ten minutes, not on
    every rerun of the dialog (each keystroke is one)."""
    return triggers.catalog(settings())


@st.cache_data(ttl=ACCOUNTS_SECONDS, show_spinner=False)
def _connected(api_key: str, base_url: str, user_id: str) -> frozenset[str] | None:
    """The toolkits with a connected account, asked of Composio at most every 15 s (the
    user may be signing in in another tab); None without a key (triggers are kept here
    then, and any app can be test-fired) or when Composio cannot say."""
    if not api_key:
        return None
    try:
        return frozenset(setup.connected_toolkits(settings()))
    except PlannerError:
        return None


def offered_apps(toolkits: dict[str, str], connected: frozenset[str] | None) -> list[str]:
    """The apps the dialog offers (name → toolkit), by name: connected ones first."""
    return sorted(
        toolkits, key=lambda app: (bool(connected) and toolkits[app] not in connected, app)
    )


def _connect_first(app: str) -> None:
    """An app without a connected account: say so, and get its sign-in link here, so the
    dialog (and what was typed) stays open while the user signs in in another tab."""
    st.warning(
        f"{plain(app)} is not connected yet: Composio can only watch an account you signed "
        "in to. Connect it first; this dialog stays open."
    )
    links = st.session_state.setdefault("trigger_sign_in", {})  # app -> its sign-in link
    left, right = st.columns(2)
    if left.button(f"Connect {plain(app)} first", key="trigger_connect_app"):
        try:
            links[app] = setup.start_sign_in(settings(), app).url
        except PlannerError as error:
            st.error(plain(error))
    if url := links.get(app):
        left.link_button(f"Sign in to {plain(app)} ↗", url)
        if right.button("I have signed in", key="trigger_signed_in"):
            _connected.clear()
            st.rerun()


def _first_choice(
    apps: list[str], toolkits: dict[str, str], connected: frozenset[str] | None
) -> str:
    """Gmail for a new trigger, unless another app is connected and Gmail is not."""
    if connected and toolkits[DEFAULT_APP] not in connected and toolkits[apps[0]] in connected:
        return apps[0]
    return DEFAULT_APP


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _filter_value(config: ConfigField, stored: Any) -> tuple[Any, str | None]:
    """One filter's field, typed as the filter is (a number field, a checkbox, text);
    returns its value (None: not set) and what is wrong with what was typed."""
    key, help_text = f"f_{config.name}", config.help or None
    label = config.label + (" (required)" if config.required else "")
    if config.type == "boolean" and stored in (None, True, False):
        checked = st.checkbox(label, value=bool(stored), key=key, help=help_text)
        return (checked if checked or stored is not None else None), None
    if config.type in NUMBER_TYPES and (stored is None or _is_number(stored)):
        whole = config.type == "integer" or stored is None or float(stored).is_integer()
        start = int(stored) if whole and stored is not None else stored
        value = st.number_input(
            label, value=start, step=1 if whole else 0.1, key=key, help=help_text,
            placeholder="Not set",
        )  # fmt: skip
        return (stored if value == stored else value), None
    before = stored if isinstance(stored, str) else "" if stored is None else json.dumps(stored)
    raw = st.text_input(label, value=before, key=key, help=help_text)
    if raw == before:
        return stored, None
    try:
        return (config.value_of(raw.strip()) if raw.strip() else None), None
    except ValidationError as error:
        return stored, str(error)


def _filter_inputs(kind: TriggerType, current: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The event's filters: the needed and common ones, then the rest in an expander;
    filters the form has no field for are kept as they are. Returns the filters and what
    is wrong with what was typed."""
    shown = {config.name for config in kind.config_fields}
    filters = {name: value for name, value in current.items() if name not in shown}
    problems: list[str] = []

    def place(configs: list[ConfigField]) -> None:
        for config in configs:
            value, problem = _filter_value(config, current.get(config.name))
            if problem:
                st.error(plain(problem))
                problems.append(problem)
            if value is not None:
                filters[config.name] = value

    place(sorted((c for c in kind.config_fields if not c.advanced), key=lambda c: not c.required))
    folded = [c for c in kind.config_fields if c.advanced]
    if folded:
        with fold("More options", "trigger_more_fold", False, refused("filters")):
            place(folded)
    field_error("filters", filters)
    return filters, problems


def _filters_refusal(kind: TriggerType, filters: dict[str, Any], problems: list[str]) -> str:
    """Why the filters can't be saved yet, in the form's words ("" when they can)."""
    if problems:
        return problems[0]
    missing = [config.short_label for config in missing_filters(kind.config_fields, filters)]
    if not missing:
        return ""
    listed = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    return f"Fill in {listed}: this event needs {'them' if len(missing) > 1 else 'it'}."


def _input_fields(kind: TriggerType, known: list[str] | None, data: dict[str, Any]) -> list[str]:
    """The event's fields a person can tick: the friendly names first, a field a friendly
    name stands for not twice, none of the variables every run has."""
    names = known if known is not None else list(event_variables(kind.slug, data))
    covered = {path for alias, path in kind.aliases.items() if alias in names}
    return [name for name in names if name not in covered and name not in DEFAULT_VARIABLES]


@st.dialog("Event trigger", width="large", dismissible=False)
def trigger_dialog() -> None:
    """Not dismissible: Esc or a click outside must not lose what was typed; Cancel closes."""
    trigger, agent = editing(EventTrigger)
    catalog = _catalog(settings().composio_api_key, settings().composio_base_url)
    name = st.text_input(
        "Name",
        value=trigger.name if trigger else "",
        key="trigger_name",
        placeholder="Email triage",
    )
    field_error("name", name)
    config = settings()
    connected = _connected(
        config.composio_api_key, config.composio_base_url, config.composio_user_id
    )
    toolkits = {kind.toolkit_name: kind.toolkit for kind in catalog}
    apps = offered_apps(toolkits, connected)
    current = next((t for t in catalog if trigger and t.slug == trigger.event), None)
    app = st.selectbox(
        "App",
        apps,
        key="trigger_app",
        index=apps.index(
            current.toolkit_name if current else _first_choice(apps, toolkits, connected)
        ),
        format_func=lambda name: (
            name + (" · connected" if toolkits[name] in (connected or ()) else "")
        ),
    )
    if connected is not None and toolkits[app] not in connected:
        _connect_first(app)
    kinds = [t for t in catalog if t.toolkit_name == app]
    labels = [t.name for t in kinds]
    label = st.selectbox(
        "Event",
        labels,
        key="trigger_event",
        index=labels.index(current.name) if current in kinds else 0,
    )
    kind = kinds[labels.index(label)]
    st.caption(plain(kind.description or f"{kind.toolkit_name} · {kind.name}"))
    field_error("event", kind.slug)
    filters, problems = _filter_inputs(
        kind, trigger.filters if trigger and trigger.event == kind.slug else {}
    )
    with reading() as session:
        envelope = inbox.sample_payload(session, kind.slug)
    data = envelope.get("data") or {}
    sample = event_variables(kind.slug, data)
    sample |= default_variables(
        now(), settings().timezone, name or "Trigger", agent.name, SAMPLE_KEY
    )
    action = action_inputs(
        trigger, sample, kind.offered_variables, "for the last event of this type (or a sample)"
    )
    read_input = None
    if "workflow" in action:
        with reading() as session:
            known = triggers.input_variables(session, kind.slug)
        given = trigger.config.get("input") or {} if trigger and trigger.event == kind.slug else {}
        read_input = input_picker(given, _input_fields(kind, known, data), sample, data)
    advanced = advanced_inputs(EventTrigger, trigger, settings())
    if confirmed("trigger"):
        own = Checks()
        form_refusals(advanced, own)
        refusal = _filters_refusal(kind, filters, problems)
        if refusal:
            own.refuse(refusal, "filters")
        chosen_input = own.check(read_input) if read_input else UNCHANGED
        fields = triggers.TriggerFields(
            agent=agent.id,
            event=kind.slug,
            filters=filters,
            name=name if trigger else UNCHANGED,
            input=UNCHANGED if chosen_input is None else chosen_input,
            **action,
            **advanced,
        )

        def check() -> None:
            with reading() as db:
                triggers.check_trigger(db, name, fields, trigger and trigger.id, settings())

        def change() -> None:
            with writing() as db:
                if trigger is None:
                    triggers.create_trigger(db, name, fields, settings(), now())
                else:
                    triggers.update_trigger(db, trigger.id, fields, settings(), now())

        save(change, f"Saved {plain(name)}.", own, check)
