"""The job and trigger dialogs. They only gather input and call core; every rule (what
a valid cron, template or filter is) is core's, and its message is shown by the field.

A dialog stays open while `st.session_state.dialog` names it, so it survives reruns
(and live refreshes of the page) until it is saved, cancelled or dismissed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import time
from typing import Any

import streamlit as st

from core import agents, inbox, jobs, schedule, triggers
from core.catalog import TriggerType, event_variables
from core.errors import PlannerError, ValidationError
from core.models import ActionKind, ActionOwner, Agent, EventTrigger, ScheduledJob, Workflow
from core.owners import OWNER_WORDS
from core.templates import DEFAULT_VARIABLES, default_variables, missing_variables, render
from dashboard.context import now, plain, queue, reading, settings, writing

CUSTOM = "Custom"
CATALOG_SECONDS = 600
SAMPLE_KEY = "3f9c2a7be1d04c5e8a6f0b1d2c3e4f5a"  # what {runId} looks like in a preview
WIDGET_PREFIXES = ("job_", "action_", "trigger_", "f_")


def open_dialog(kind: str, item_id: int | None = None, agent_id: int | None = None) -> None:
    """Open a dialog afresh: widgets of an earlier one must not lend it their values."""
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIXES)]:
        del st.session_state[key]
    st.session_state.dialog = {"kind": kind, "id": item_id, "agent_id": agent_id}
    st.session_state.pop("dialog_error", None)


def close_dialog() -> None:
    st.session_state.pop("dialog", None)
    st.session_state.pop("dialog_error", None)


def field_error(field: str) -> None:
    """Show the last refusal under the field it concerns."""
    error = st.session_state.get("dialog_error")
    if error and error[0] == field:
        st.error(plain(error[1]))


def confirmed(
    prefix: str, confirm: str = "Save", keep: str = "Cancel", action: str = "save"
) -> bool:
    """The dialog's last row: the form-wide message, then cancel (which closes it) and
    the confirming button, whose press is returned."""
    field_error("form")
    yes, no = st.columns(2)
    if no.button(keep, key=f"{prefix}_cancel", use_container_width=True):
        close_dialog()
        st.rerun()
    return yes.button(confirm, type="primary", key=f"{prefix}_{action}", use_container_width=True)


def _save(action: Callable[[], Any], done: str) -> None:
    """Run a core change; close on success and say `done` (a toast on the page the rerun
    shows), keep the dialog and the message on refusal."""
    try:
        action()
    except PlannerError as error:
        field = error.field if isinstance(error, ValidationError) and error.field else "form"
        st.session_state.dialog_error = (field, str(error))
    else:
        close_dialog()
        st.session_state.toast = done
    st.rerun()


def show_pending_toast() -> None:
    """The toast a dialog left for the page after it closed."""
    message = st.session_state.pop("toast", None)
    if message:
        st.toast(message)


def _schedule_inputs(job: ScheduledJob | None) -> tuple[str, str]:
    """Schedule picker and timezone; shows the schedule in words and the next runs."""
    current = job.schedule if job else schedule.PRESETS["Every day at 9:00"]
    choices = [*schedule.PRESETS, CUSTOM]
    chosen = st.radio(
        "When",
        choices,
        index=choices.index(schedule.preset_of(current) or CUSTOM),
        key="job_preset",
        horizontal=True,
    )
    cron = schedule.PRESETS.get(chosen, "")
    if chosen == CUSTOM:
        left, right = st.columns(2)
        at = left.time_input("At", value=time(9, 0), key="job_time", step=300)
        days = right.multiselect("On", schedule.WEEKDAYS, key="job_days", placeholder="Every day")
        typed = st.text_input(
            "Or a cron expression, if you know cron",
            key="job_cron",
            value="" if schedule.preset_of(current) else current,
            placeholder="e.g. 30 8 * * 1-5",
        )
        cron = typed.strip() or schedule.custom_cron(at.hour, at.minute, days)
    field_error("schedule")
    names = schedule.timezone_names()
    default_zone = job.timezone if job else settings().timezone
    timezone = st.selectbox("Timezone", names, index=names.index(default_zone), key="job_timezone")
    try:
        schedule.validate_cron(cron)
        upcoming = schedule.next_occurrences(cron, timezone, now(), 5)
    except ValidationError as error:
        st.error(plain(error))
        return cron, timezone
    tz = schedule.zone(timezone)
    st.caption(plain(f"{schedule.describe(cron)} · {timezone}"))
    st.markdown(
        "\n".join(
            f"- {moment.astimezone(tz):%a %d %b %Y, %H:%M}"
            + (" — *clocks change that day*" if schedule.changes_clock(moment, timezone) else "")
            for moment in upcoming
        )
    )
    return cron, timezone


def _action_inputs(owner: ActionOwner | None, sample: dict[str, Any], offered: list[str]) -> dict:
    """Chat template (with its variables and a live preview) or workflow and input."""
    is_workflow = owner is not None and owner.action == ActionKind.workflow
    kind = st.radio(
        "What should happen",
        ["Start a chat", "Run a workflow"],
        index=1 if is_workflow else 0,
        horizontal=True,
        key="action_kind",
    )
    if kind == "Start a chat":
        template = st.text_area(
            "Message to the agent",
            value=owner.config.get("template", "") if owner and not is_workflow else "",
            key="action_template",
            placeholder="Good morning! Here's today's agenda: {agenda}",
        )
        field_error("chat")
        st.caption("You can use: " + plain(" ".join(f"{{{name}}}" for name in offered)))
        if template.strip():
            st.markdown("**Preview** — the message exactly as the agent will get it")
            st.container(border=True).text(render(template, sample))
            unknown = missing_variables(template, sample)
            if unknown:
                st.warning(
                    "No value for: "
                    + plain(", ".join(f"{{{name}}}" for name in unknown))
                    + " — they will be left empty."
                )
        continues = st.checkbox(
            "Continue the same conversation each time",
            value=bool(owner and owner.config.get("thread") == "continue"),
            key="action_thread",
        )
        return {"chat": template, "thread": "continue" if continues else "new"}
    with reading() as session:
        workflows = agents.list_all(session, Workflow)
    if not workflows:
        st.warning("No workflows yet — add one on the Agents & workflows page.")
        return {"workflow": ""}
    names = [w.name for w in workflows]
    current = next(
        (w.name for w in workflows if owner and w.id == owner.config.get("workflow_id")), names[0]
    )
    workflow = st.selectbox("Workflow", names, index=names.index(current), key="action_workflow")
    field_error("workflow")
    return {"workflow": workflow}


def _editing(model: type[ActionOwner]) -> tuple[Any, Agent]:
    """The job or trigger the open dialog edits (None for a new one) and its agent."""
    spec = st.session_state.dialog
    with reading() as session:
        item = session.get(model, spec["id"]) if spec["id"] else None
        return item, session.get(Agent, item.agent_id if item else spec["agent_id"])


def _job_input_editor(job: ScheduledJob | None) -> str:
    given = job.config.get("input", {}) if job and job.action == ActionKind.workflow else {}
    text = st.text_area("Input for the workflow (JSON)", value=json.dumps(given), key="job_input")
    field_error("input")
    return text


@st.dialog("Scheduled job", width="large", on_dismiss=close_dialog)
def job_dialog() -> None:
    job, agent = _editing(ScheduledJob)
    name = st.text_input(
        "Name", value=job.name if job else "", key="job_name", placeholder="Morning briefing"
    )
    field_error("name")
    cron, timezone = _schedule_inputs(job)
    sample = default_variables(now(), timezone, name or "Morning briefing", agent.name, SAMPLE_KEY)
    action = _action_inputs(job, sample, list(DEFAULT_VARIABLES))
    input_text = _job_input_editor(job) if "workflow" in action else None
    if confirmed("job"):
        fields = jobs.JobFields(
            agent=agent.id,
            schedule=cron,
            timezone=timezone,
            input=input_text,
            **action,
            name=name if job else None,
        )

        def change() -> None:
            with writing() as db:
                if job is None:
                    jobs.create_job(db, name, fields, now(), settings().timezone, queue())
                else:
                    jobs.update_job(db, job.id, fields, now(), queue())

        _save(change, f"Saved {plain(name)}.")


def _filter_inputs(kind: TriggerType, current: dict[str, Any]) -> dict[str, Any]:
    """The event's filters: a field per known one, each kept as stored unless retyped;
    filters the form has no field for are kept as they are."""
    shown = {config.name for config in kind.config_fields}
    filters = {name: value for name, value in current.items() if name not in shown}
    for config in kind.config_fields:
        label = config.title + (" *" if config.required else "")
        before = str(current.get(config.name, ""))
        raw = st.text_input(
            label, value=before, key=f"f_{config.name}", help=f"{config.name} ({config.type})"
        )
        if raw.strip() and config.name in current and raw == before:
            filters[config.name] = current[config.name]
        elif raw.strip():
            filters[config.name] = _typed(raw.strip(), config.type)
    field_error("filters")
    return filters


def _typed(raw: str, kind: str) -> Any:
    if kind in ("number", "integer"):
        try:
            return int(raw) if kind == "integer" or raw.isdigit() else float(raw)
        except ValueError:
            return raw
    if kind == "boolean":
        return raw.lower() in ("true", "yes", "1")
    return raw


@st.cache_data(ttl=CATALOG_SECONDS, show_spinner="Asking Composio for its events…")
def _catalog(api_key: str, base_url: str) -> list[TriggerType]:
    """The catalog, asked of Composio once per key and address every ten minutes, not on
    every rerun of the dialog (each keystroke is one)."""
    return triggers.catalog(settings())


@st.dialog("Event trigger", width="large", on_dismiss=close_dialog)
def trigger_dialog() -> None:
    trigger, agent = _editing(EventTrigger)
    catalog = _catalog(settings().composio_api_key, settings().composio_base_url)
    name = st.text_input(
        "Name",
        value=trigger.name if trigger else "",
        key="trigger_name",
        placeholder="Email triage",
    )
    field_error("name")
    apps = sorted({t.toolkit_name for t in catalog})
    current = next((t for t in catalog if trigger and t.slug == trigger.event), None)
    app = st.selectbox(
        "App",
        apps,
        key="trigger_app",
        index=apps.index(current.toolkit_name if current else "Gmail"),
    )
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
    field_error("event")
    filters = _filter_inputs(
        kind, trigger.filters if trigger and trigger.event == kind.slug else {}
    )
    with reading() as session:
        envelope = inbox.sample_payload(session, kind.slug)
    sample = event_variables(kind.slug, envelope.get("data") or {})
    sample |= default_variables(
        now(), settings().timezone, name or "Trigger", agent.name, SAMPLE_KEY
    )
    action = _action_inputs(trigger, sample, [*kind.variables, *DEFAULT_VARIABLES])
    if confirmed("trigger"):
        fields = triggers.TriggerFields(
            agent=agent.id,
            event=kind.slug,
            filters=filters,
            name=name if trigger else None,
            **action,
        )

        def change() -> None:
            with writing() as db:
                if trigger is None:
                    triggers.create_trigger(db, name, fields, settings(), now())
                else:
                    triggers.update_trigger(db, trigger.id, fields, settings(), now())

        _save(change, f"Saved {plain(name)}.")


@st.dialog("Delete?", on_dismiss=close_dialog)
def delete_dialog() -> None:
    spec = st.session_state.dialog
    model = ScheduledJob if spec["kind"] == "delete_job" else EventTrigger
    with reading() as session:
        item = session.get(model, spec["id"])
    if item is None:
        close_dialog()
        st.rerun()
    what = OWNER_WORDS[model]
    st.write(f"Delete the {what} **{plain(item.name)}** and its history? This cannot be undone.")
    if confirmed("delete", confirm="Delete", keep="Keep it", action="confirm"):

        def change() -> None:
            with writing() as db:
                if model is ScheduledJob:
                    jobs.delete_job(db, item.id)
                else:
                    triggers.delete_trigger(db, item.id, settings())

        _save(change, f"Deleted {plain(item.name)}.")


DIALOGS = {
    "job": job_dialog,
    "trigger": trigger_dialog,
    "delete_job": delete_dialog,
    "delete_trigger": delete_dialog,
}


def show_open_dialog() -> None:
    spec = st.session_state.get("dialog")
    if spec:
        DIALOGS[spec["kind"]]()
