"""A workflow's input: a template of the fields a person picks, and rows to fill it in.

The template is a JSON object whose text may name `{variables}` (core.automations.templates),
as a chat message does: `{"from": "{emailFrom}", "subject": "{emailSubject}"}`. What a
run sends is exactly the template rendered (`rendered`): a value that is one whole
`{variable}` takes the variable's value as it is, so a number stays a number and an
object an object (a workflow would otherwise have to parse JSON out of text); any other
text is rendered as text; keys and other values are left alone. A name no run can fill is
refused when the template is saved (`checked_template`), not sent as a gap for ever after.

Without a template (an empty one), a run sends what it sent before templates existed:
a job `{}`, a trigger the event's data (`sent_input`).

The rows say exactly what an input of text values is; an input with a number, a list or
nested values can't be shown as rows without changing it, so forms show it as JSON.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from core.automations.shared import storable_text
from core.automations.templates import PLACEHOLDER, lookup, render, unknown_refusal, variable_names
from core.errors import ValidationError

WHERE = "the workflow input"


def _whole_variable(text: str) -> str | None:
    """The variable `text` is exactly (`{amount}`, `{{ amount }}`), else None."""
    match = PLACEHOLDER.fullmatch(text.strip())
    return (match.group("double") or match.group("single")) if match else None


def used_variables(template: Any) -> list[str]:
    """The variables the template's text names, in order of first appearance."""
    if isinstance(template, Mapping):
        names = [name for value in template.values() for name in used_variables(value)]
    elif isinstance(template, list):
        names = [name for value in template for name in used_variables(value)]
    elif isinstance(template, str):
        names = variable_names(template)
    else:
        names = []
    return list(dict.fromkeys(names))


def rendered(template: Any, variables: Mapping[str, Any]) -> Any:
    """The template with its variables filled in: a whole `{variable}` keeps its value's
    JSON type (null when the run has no value for it), other text becomes text."""
    if isinstance(template, Mapping):
        return {key: rendered(value, variables) for key, value in template.items()}
    if isinstance(template, list):
        return [rendered(value, variables) for value in template]
    if isinstance(template, str):
        whole = _whole_variable(template)
        return lookup(variables, whole) if whole else render(template, variables)
    return template


def sent_input(template: dict[str, Any], variables: Mapping[str, Any], without: Any) -> Any:
    """What a run sends as the workflow's `input`: the template rendered, or `without`
    (today's input: a job's {}, a trigger's event data) when there is no template."""
    return rendered(template, variables) if template else without


def _is_known(name: str, known: Collection[str]) -> bool:
    """A name a run can fill: one of `known`, or a dotted path into one ({sender.email})."""
    return name in known or name.split(".", 1)[0] in known


def checked_template(template: dict[str, Any], known: list[str] | None) -> dict[str, Any]:
    """The template, refused when it names a variable that is not among `known` (with the
    names most likely meant); None: the event's fields are not known here (an event type
    only Composio lists), so any name is taken."""
    if known is None:
        return template
    unknown = [name for name in used_variables(template) if not _is_known(name, known)]
    if unknown:
        raise ValidationError(unknown_refusal(unknown, known, WHERE), "input")
    return template


def ticked(names: Iterable[str]) -> dict[str, str]:
    """The template a form makes of the fields a person ticked: each under its own name."""
    return {name: f"{{{name}}}" for name in names}


def ticked_names(template: dict[str, Any]) -> list[str] | None:
    """The fields a template made by `ticked` holds, so a form can tick them again; None
    for any other template (a form shows it as text)."""
    names = [
        _whole_variable(value) if isinstance(value, str) else None for value in template.values()
    ]
    if all(name == key for key, name in zip(template, names, strict=True)):
        return list(template)
    return None


def as_rows(value: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The input as (name, value) rows when every value is text; None when rows would
    change it (a number, a yes/no, a list or an object among its values)."""
    if all(isinstance(item, str) for item in value.values()):
        return [(str(name), item) for name, item in value.items()]
    return None


def from_rows(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The input object from the rows a person filled; empty rows are skipped, a value
    without a name and a name given twice are refused."""
    result: dict[str, str] = {}
    for raw_name, value in rows:
        name = " ".join(raw_name.split())
        if not name and not value.strip():
            continue
        if not name:
            raise ValidationError(f"Give the value {value.strip()!r} a name.", "input")
        if name in result:
            raise ValidationError(f"{name!r} is given twice; keep one of them.", "input")
        result[storable_text(name, "input", "input name")] = storable_text(
            value, "input", "input value"
        )
    return result
