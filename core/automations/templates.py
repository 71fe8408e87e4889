"""`{variable}` templates for chat messages.

`{name}` and `{{name}}` both mark a variable. A name is an identifier or a dotted path
(`{sender.email}`), so JSON braces in a message (`{"a": 1}`) are left alone. A variable
with no value renders as empty text; `missing_variables` lets a form warn about it, and
`missing_warning` says so in words, with the name most likely meant ("did you mean
{dayOfWeek}?"). Where a name no run can fill is refused instead (a workflow's input),
`unknown_refusal` says it with the same help.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from core.scheduling.occurrences import zone

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
# How alike a typed name and a known one must be (difflib's ratio) to suggest the known one:
# "dayOfWek" or "emailFrm" are near misses; "agenda" (0.67 to "agentName") is not.
NEAR_MISS = 0.75
# How deep into nested values a suggestion looks for dotted names ("sender.email").
SUGGESTION_DEPTH = 2


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


def _known_names(variables: Mapping[str, Any], depth: int = SUGGESTION_DEPTH) -> Iterator[str]:
    """The names a template could use: flat keys, and dotted paths into nested mappings."""
    for key, value in variables.items():
        yield str(key)
        if depth > 1 and isinstance(value, Mapping):
            yield from (f"{key}.{inner}" for inner in _known_names(value, depth - 1))


def did_you_mean(name: str, variables: Mapping[str, Any]) -> str | None:
    """The variable `name` is most likely a typo of: the same name in other capitals, else
    the closest known name when it is close enough to be a near miss."""
    known = {candidate.casefold(): candidate for candidate in _known_names(variables)}
    typed = name.casefold()
    if typed in known:
        return known[typed]
    close = difflib.get_close_matches(typed, list(known), n=1, cutoff=NEAR_MISS)
    return known[close[0]] if close else None


def missing_warning(template: str, variables: Mapping[str, Any]) -> str | None:
    """What a form (or the CLI) says about variables without a value: which ones, that they
    will be left empty, and the names they were most likely meant to be."""
    missing = missing_variables(template, variables)
    if not missing:
        return None
    listed = ", ".join(f"{{{name}}}" for name in missing)
    left = "it will be left empty" if len(missing) == 1 else "they will be left empty"
    guesses = [(name, did_you_mean(name, variables)) for name in missing]
    meant = [(name, guess) for name, guess in guesses if guess]
    if not meant:
        return f"No value for: {listed} — {left}."
    if len(missing) == 1:
        return f"No value for: {listed} — did you mean {{{meant[0][1]}}}? As it is, {left}."
    hints = ", ".join(f"{{{guess}}} for {{{name}}}" for name, guess in meant)
    return f"No value for: {listed} — {left}. Did you mean {hints}?"


def unknown_refusal(unknown: list[str], known: list[str], where: str) -> str:
    """The one line that refuses variables no run can fill (`unknown`, used in `where`):
    the names most likely meant, as `missing_warning` gives them, else the ones there are."""
    listed = ", ".join(f"{{{name}}}" for name in unknown)
    offered = dict.fromkeys(known)
    meant = [(name, guess) for name in unknown if (guess := did_you_mean(name, offered))]
    noun = "variable" if len(unknown) == 1 else "variables"
    said = f"{where[:1].upper()}{where[1:]} uses the unknown {noun} {listed}"
    if len(unknown) == 1 and meant:
        return f"{said} — did you mean {{{meant[0][1]}}}?"
    if meant:
        hints = ", ".join(f"{{{guess}}} for {{{name}}}" for name, guess in meant)
        return f"{said} — did you mean {hints}?"
    return f"{said}; the ones there are: " + ", ".join(f"{{{name}}}" for name in known) + "."


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
