"""`{variable}` templates for chat messages.

`{name}` and `{{name}}` both mark a variable. A name is an identifier or a dotted path
(`{sender.email}`), so JSON braces in a message (`{"a": 1}`) are left alone. A variable
with no value renders as empty text; `missing_variables` lets a form warn about it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.schedule import zone

PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<double>[A-Za-z_]\w*(?:\.\w+)*)\s*\}\}|\{(?P<single>[A-Za-z_]\w*(?:\.\w+)*)\}"
)
DEFAULT_VARIABLES = (
    "date",
    "time",
    "datetime",
    "dayOfWeek",
    "timezone",
    "jobName",
    "agentName",
    "runId",
)


def variable_names(template: str) -> list[str]:
    """The variables a template uses, in order of first appearance."""
    names = (m.group("double") or m.group("single") for m in PLACEHOLDER.finditer(template))
    return list(dict.fromkeys(names))


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """A variable's value: a flat key first, else a dotted path into nested data."""
    if name in variables:
        return variables[name]
    value: Any = variables
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Replace every variable in `template` with its value as text."""

    def substitute(match: re.Match[str]) -> str:
        return _as_text(lookup(variables, match.group("double") or match.group("single")))

    return PLACEHOLDER.sub(substitute, template)


def missing_variables(template: str, variables: Mapping[str, Any]) -> list[str]:
    """Variables the template uses that have no value (they would render empty)."""
    return [name for name in variable_names(template) if lookup(variables, name) is None]


def default_variables(
    moment: datetime, timezone: str, job_name: str, agent_name: str, run_key: str
) -> dict[str, str]:
    """The variables every job offers, with `moment` shown in the job's timezone."""
    local = moment.astimezone(zone(timezone))
    return {
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M"),
        "datetime": local.isoformat(timespec="seconds"),
        "dayOfWeek": local.strftime("%A"),
        "timezone": timezone,
        "jobName": job_name,
        "agentName": agent_name,
        "runId": run_key,
    }
