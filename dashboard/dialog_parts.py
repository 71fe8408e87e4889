"""What the job and trigger dialogs share: opening and closing, a refusal shown by its
field, the Save/Cancel row, and the action (a chat message with its variables and
preview, or a workflow). They only gather input and call core; every rule is core's.

A dialog stays open while `st.session_state.dialog` names it, so it survives reruns
(and live refreshes of the page) until it is saved or cancelled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.agents import registry
from core.automations import text, workflow_input
from core.automations.templates import missing_warning, render
from core.errors import Checks, PlannerError, ValidationError, ValidationErrors
from core.store.models import ActionKind, Agent, Automation, Workflow
from core.views.words import one_line, value_lines
from dashboard.context import plain, reading

SAMPLE_KEY = "3f9c2a7be1d04c5e8a6f0b1d2c3e4f5a"  # what {runId} looks like in a preview
WIDGET_PREFIXES = ("job_", "action_", "trigger_", "f_", "input_")
TEMPLATE_KEY = "action_template"
INPUT_ROWS = "input_rows"  # the ids of the input editor's rows, in order


ERRORS = "dialog_errors"  # field → {"message", "value": what the field held, "seen"}
FORM = "form"  # the field of a refusal that names none: said above the buttons


def open_dialog(kind: str, item_id: int | None = None, agent_id: int | None = None) -> None:
    """Open a dialog afresh: widgets of an earlier one must not lend it their values."""
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIXES)]:
        del st.session_state[key]
    st.session_state.dialog = {"kind": kind, "id": item_id, "agent_id": agent_id}
    st.session_state.pop(ERRORS, None)


def close_dialog() -> None:
    st.session_state.pop("dialog", None)
    st.session_state.pop(ERRORS, None)


def refused(*fields: str) -> bool:
    """Whether one of `fields` was refused by the last Save and not yet shown."""
    errors = st.session_state.get(ERRORS, {})
    return any(field in errors and not errors[field]["seen"] for field in fields)


def fold(label: str, key: str, opened: bool, refusal_inside: bool = False) -> Any:
    """A fold that stays as the person left it while the dialog is open: its state is a
    widget's, so what appears above it (a preview, a warning) does not close it again.
    It opens at first when `opened`, and on a refusal of a field inside it."""
    if key not in st.session_state or refusal_inside:
        st.session_state[key] = opened or refusal_inside
    return st.expander(label, key=key, on_change="rerun")


def field_error(field: str, value: Any = None) -> None:
    """Show the refusal of `field` under it until the field changes: `value` is what the
    field holds now (the first draw after Save keeps it as the refused value)."""
    error = st.session_state.get(ERRORS, {}).get(field)
    if error is None:
        return
    if not error["seen"]:
        error["seen"], error["value"] = True, value
    elif error["value"] != value:
        del st.session_state[ERRORS][field]
        return
    st.error(plain(error["message"]))


def live_error(field: str, message: str) -> None:
    """A check made as `field` is filled in; Save's refusal of it, the same sentence, goes
    (each error said once)."""
    st.session_state.get(ERRORS, {}).pop(field, None)
    st.error(plain(message))


def _keep_refusals(errors: list[ValidationError]) -> None:
    """The refusals to show, each under its field, one per field (the first said)."""
    kept: dict[str, dict[str, Any]] = {}
    for error in errors:
        entry = {"message": str(error), "value": None, "seen": False}
        kept.setdefault(error.field or FORM, entry)
    st.session_state[ERRORS] = kept
    st.session_state[SCROLL] = True


def confirmed(
    prefix: str, confirm: str = "Save", keep: str = "Cancel", action: str = "save"
) -> bool:
    """The dialog's last row: the form-wide message, then cancel (which closes it) and
    the confirming button, whose press is returned."""
    for field, error in st.session_state.get(ERRORS, {}).items():
        if field == FORM or not error["seen"]:  # no field of this form shows it
            error["seen"] = True
            st.error(plain(error["message"]))
    _scroll_to_first_error()
    yes, no = st.columns(2)
    if no.button(keep, key=f"{prefix}_cancel", use_container_width=True):
        close_dialog()
        st.rerun()
    return yes.button(confirm, type="primary", key=f"{prefix}_{action}", use_container_width=True)


SCROLL = "dialog_scroll"  # set when refusals are new: the dialog scrolls to the first
SCROLL_TO_FIRST_ERROR = """<script>
(function scroll(tries) {
  const error = document.querySelector('[role="dialog"] [data-testid="stAlertContentError"]');
  if (error) error.scrollIntoView({block: "center"});
  else if (tries > 0) setTimeout(() => scroll(tries - 1), 100);
})(30);
</script>"""


def _scroll_to_first_error() -> None:
    """Once after a refusal: the first error in view, wherever Save was pressed from."""
    if st.session_state.pop(SCROLL, False):
        st.html(SCROLL_TO_FIRST_ERROR, unsafe_allow_javascript=True)


def save(
    action: Callable[[], Any], done: str, own: Checks | None = None,
    check: Callable[[], None] | None = None,
) -> None:  # fmt: skip
    """Run a core change; close on success and say `done` (a toast on the page the rerun
    shows), keep the dialog with every refusal under its field. With refusals of the
    form's `own`, nothing is saved: `check` adds what core refuses besides."""
    try:
        if own is not None and own.errors:
            if check is not None:
                own.check(check)
            own.raise_any()
        action()
    except ValidationErrors as errors:
        _keep_refusals(errors.errors)
    except ValidationError as error:
        _keep_refusals([error])
    except PlannerError as error:
        _keep_refusals([ValidationError(str(error))])
    else:
        close_dialog()
        st.session_state.toast = done
    st.rerun()


def show_pending_toast() -> None:
    """The toast a dialog left for the page after it closed."""
    message = st.session_state.pop("toast", None)
    if message:
        st.toast(message)


def editing(model: type[Automation]) -> tuple[Any, Agent]:
    """The job or trigger the open dialog edits (None for a new one) and its agent."""
    spec = st.session_state.dialog
    with reading() as session:
        item = session.get(model, spec["id"]) if spec["id"] else None
        return item, session.get(Agent, item.agent_id if item else spec["agent_id"])


def _insert_variable(name: str) -> None:
    """A chip's click: `{name}` goes at the end of the message, a space apart."""
    text = st.session_state.get(TEMPLATE_KEY, "")
    gap = "" if not text or text[-1].isspace() else " "
    st.session_state[TEMPLATE_KEY] = f"{text}{gap}{{{name}}}"


def _variable_chips(offered: list[str]) -> None:
    st.caption("Click a variable to add it to the message:")
    with st.container(horizontal=True, gap="small"):
        for name in offered:
            st.button(
                plain(f"{{{name}}}"),
                key=f"action_var_{name}",
                on_click=_insert_variable,
                args=(name,),
            )


def _chat_inputs(automation: Automation | None, sample: dict[str, Any], offered: list[str],
                 preview_for: str) -> dict[str, str]:  # fmt: skip
    """The message with its variable chips and a live preview, and the thread mode."""
    is_chat = automation is not None and automation.action == ActionKind.chat
    if TEMPLATE_KEY not in st.session_state:
        st.session_state[TEMPLATE_KEY] = automation.config.get("template", "") if is_chat else ""
    template = st.text_area(
        "Message to the agent",
        key=TEMPLATE_KEY,
        placeholder="What the agent should get; the variables below add themselves when clicked",
    )
    field_error("chat", template)
    _variable_chips(offered)
    if template.strip():
        st.markdown(f"**Preview** — the message exactly as the agent will get it {preview_for}")
        st.container(border=True).text(render(template, sample))
        warning = missing_warning(template, sample)
        if warning:
            st.warning(plain(warning))
    continues = st.checkbox(
        "Continue the same conversation each time",
        value=bool(is_chat and automation.config.get("thread") == "continue"),
        key="action_thread",
    )
    return {"chat": template, "thread": "continue" if continues else "new"}


def action_inputs(automation: Automation | None, sample: dict[str, Any], offered: list[str],
                  preview_for: str) -> dict[str, str]:  # fmt: skip
    """Chat message (previewed against `sample`, `preview_for` saying when) or workflow."""
    is_workflow = automation is not None and automation.action == ActionKind.workflow
    kind = st.radio(
        "What should happen",
        ["Start a chat", "Run a workflow"],
        index=1 if is_workflow else 0,
        horizontal=True,
        key="action_kind",
    )
    if kind == "Start a chat":
        return _chat_inputs(automation, sample, offered, preview_for)
    with reading() as session:
        workflows = registry.list_all(session, Workflow)
    if not workflows:
        st.warning("No workflows yet — add one on the Agents & workflows page.")
        return {"workflow": ""}
    names = [w.name for w in workflows]
    current = next(
        (w.name for w in workflows if automation and w.id == automation.config.get("workflow_id")),
        names[0],
    )
    workflow = st.selectbox("Workflow", names, index=names.index(current), key="action_workflow")
    field_error("workflow", workflow)
    return {"workflow": workflow}


def _add_row() -> None:
    rows = st.session_state[INPUT_ROWS]
    rows.append(max(rows, default=-1) + 1)


def _remove_row(row: int) -> None:
    st.session_state[INPUT_ROWS].remove(row)


def _row_pairs(ids: list[int]) -> list[tuple[str, str]]:
    state = st.session_state
    return [
        (state.get(f"input_name_{row}", ""), state.get(f"input_value_{row}", "")) for row in ids
    ]


def _rows_so_far(given: dict[str, Any]) -> dict[str, Any]:
    """What the rows hold when the toggle turns to JSON, so nothing typed is lost."""
    if INPUT_ROWS not in st.session_state:
        return given
    try:
        return workflow_input.from_rows(_row_pairs(st.session_state[INPUT_ROWS]))
    except ValidationError:
        return given


def input_editor(given: dict[str, Any], offered: list[str]) -> Callable[[], dict[str, Any]]:
    """A workflow's input as rows of a name and a value, which may hold the `offered`
    variables; JSON only behind the advanced toggle (and from the start when rows can't
    show the input as it is). Returns what reads the input at save time, so a bad row is
    refused like any other field."""
    st.markdown("**Input for the workflow**")
    st.caption(plain("A value may hold variables, filled in at each run: " + ", ".join(
        f"{{{name}}}" for name in offered
    )))  # fmt: skip
    rows = workflow_input.as_rows(given)
    as_json = st.toggle("Edit as JSON (advanced)", value=rows is None, key="input_as_json")
    if rows is None:
        st.caption("This input holds numbers, lists or nested values, so it is shown as JSON.")
    if as_json:
        shown = json.dumps(_rows_so_far(given), indent=2)
        written = st.text_area("Input (JSON)", value=shown, key="input_json")
        field_error("input", written)
        return lambda: text.read("input", written)
    filled = rows or []
    ids = st.session_state.setdefault(INPUT_ROWS, list(range(max(len(filled), 1))))
    for row in ids:
        name, value = filled[row] if row < len(filled) else ("", "")
        left, right, remove = st.columns([2, 3, 1], vertical_alignment="bottom")
        left.text_input("Name", value=name, key=f"input_name_{row}", placeholder="scope")
        right.text_input("Value", value=value, key=f"input_value_{row}", placeholder="week")
        remove.button("Remove", key=f"input_remove_{row}", on_click=_remove_row, args=(row,))
    st.button("+ Add a value", key="input_add", on_click=_add_row)
    pairs = _row_pairs(ids)
    field_error("input", pairs)
    return lambda: workflow_input.from_rows(pairs)


def _shown_input(sent: Any, as_json_key: str) -> None:
    """The exact input a run will send: name: value lines, JSON behind a toggle."""
    if st.toggle("Show as JSON (advanced)", key=as_json_key):
        st.code(json.dumps(sent, indent=2, ensure_ascii=False), language="json")
    else:
        lines = [one_line(line, 160) for line in value_lines(sent)]
        st.container(border=True).text("\n".join(lines) or "Nothing (an empty input)")


def input_preview(read: Callable[[], dict[str, Any]], sample: dict[str, Any], key: str) -> None:
    """A job's input as its next run will send it: the rows' {variables} filled in."""
    try:
        template = read()
    except ValidationError:
        return  # the rows say what is wrong when saved
    st.markdown("**The input it will send**")
    _shown_input(workflow_input.sent_input(template, sample, {}), key)


def input_picker(
    given: dict[str, Any], fields: list[str], sample: dict[str, Any], without: Any
) -> Callable[[], dict[str, Any]]:
    """A trigger's workflow input: the event's `fields` to tick (each with its value in
    `sample`), and the exact input a run will send, rendered from the sample; the
    template as JSON text only under a fold, for the technical. Nothing ticked: the
    workflow gets `without` (the event's data), as before templates. Returns what reads
    the template at save time."""
    st.markdown("**Input for the workflow** — tick the fields of the event it should get")
    ticked_before = workflow_input.ticked_names(given)
    with st.container(horizontal=True, gap="small"):
        picked = [
            name
            for name in fields
            if st.checkbox(
                plain(name),
                value=name in (ticked_before or ()),
                key=f"input_tick_{name}",
                help=plain(one_line(_sample_text(sample.get(name)), 120)) or None,
            )
        ]
    with fold("Edit as text (for the technical)", "input_text_fold", ticked_before is None,
              refused("input")):  # fmt: skip
        as_text = st.toggle(
            "Use this text instead of the ticks", value=ticked_before is None, key="input_as_text"
        )
        start = given if ticked_before is None else workflow_input.ticked(picked)
        shown = json.dumps(start, indent=2, ensure_ascii=False)
        if as_text:  # from what the ticks made, then as typed
            written = st.text_area(
                "Input template (JSON; {variables} are filled in)", value=shown,
                key="input_template",
            )  # fmt: skip
        else:
            written = shown
            st.text(shown)
    try:
        template = text.read("input", written) if as_text else workflow_input.ticked(picked)
    except ValidationError as error:
        live_error("input", str(error))
        return lambda: text.read("input", written)
    field_error("input", (as_text, written, picked))
    st.markdown("**The input it will send** — for the last event of this type (or a sample)")
    if not template:
        st.caption("Nothing ticked: the workflow gets the whole event, as below.")
    _shown_input(workflow_input.sent_input(template, sample, without), "trigger_input_json")
    return lambda: template


def _sample_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
