"""What a setup file may hold, and reading it: YAML as plain data, each section a list
of entries with known fields of known types. `core.setup.transfer` writes and applies it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

import yaml

from core.automations import text
from core.automations.shared import name_key
from core.errors import ValidationError

FORMAT = 1
MAX_FILE_BYTES = 10 * 1024 * 1024
TOO_LARGE = "The file is larger than 10 MiB; that is no Planner setup."
MAX_DEPTH = 64
TIMESTAMP = "tag:yaml.org,2002:timestamp"
SECTIONS = ("agents", "workflows", "jobs", "triggers")
TEXT, NUMBER, SWITCH, OBJECT = (str,), (int, type(None)), (bool,), (dict,)
MAYBE_TEXT, TEXT_OR_NUMBER = (str, type(None)), (str, int)
MAYBE_TEXT_OR_NUMBER = (str, int, type(None))
# What a refusal calls each kind of value.
KINDS = {
    TEXT: "text", NUMBER: "a whole number or null", SWITCH: "true or false",
    OBJECT: "a mapping", MAYBE_TEXT: "text or null", TEXT_OR_NUMBER: "text or a number",
    MAYBE_TEXT_OR_NUMBER: "text, a number or null",
}  # fmt: skip
# A job's and a trigger's own retries, call timeout and overlap (null: Planner's).
POLICIES = {"retries": MAYBE_TEXT_OR_NUMBER, "timeout": MAYBE_TEXT_OR_NUMBER, "overlap": MAYBE_TEXT}
# Who a job or trigger tells ("default", "none" or channels' names) and about what.
TELLING = {"notify": TEXT, "notify_on": TEXT}
# The fields an entry of each section may have, with the types YAML may give them.
FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "agents": {"name": TEXT, "backend": TEXT, "url": TEXT, "model": TEXT, "system_prompt": TEXT,
               "api_key_env": TEXT, "max_concurrency": NUMBER, "pasted_key": SWITCH},
    "workflows": {"name": TEXT, "url": TEXT, "auth_env": TEXT, "max_concurrency": NUMBER,
                  "pasted_key": SWITCH},
    "jobs": {"name": TEXT, "agent": TEXT, "schedule": TEXT, "timezone": TEXT,
             "starts_on": MAYBE_TEXT, "ends_on": MAYBE_TEXT, "jitter": TEXT_OR_NUMBER,
             "chat": TEXT, "thread": TEXT, "conversation": MAYBE_TEXT, "workflow": TEXT,
             "input": OBJECT, "misfire": TEXT, **POLICIES, **TELLING, "paused": SWITCH},
    "triggers": {"name": TEXT, "agent": TEXT, "event": TEXT, "filters": OBJECT,
                 "user_id": TEXT, "chat": TEXT, "thread": TEXT, "conversation": MAYBE_TEXT,
                 "workflow": TEXT, "input": OBJECT,
                 **POLICIES, **TELLING, "paused": SWITCH},
}  # fmt: skip
SINGULAR = {"agents": "agent", "workflows": "workflow", "jobs": "job", "triggers": "trigger"}
Document = dict[str, list[dict[str, Any]]]


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


class _PlainLoader(yaml.SafeLoader):
    """YAML as plain data: no aliases and at most MAX_DEPTH levels deep (a setup needs
    neither; a few nested aliases make a small file expand to billions of values, deep
    nesting exhausts Python's stack), no key twice in a mapping (the second would quietly
    win), and dates left as text (a job's input is JSON, which has no dates)."""

    depth = 0
    yaml_implicit_resolvers: ClassVar[dict[Any, list[Any]]] = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for index, key in enumerate(keys):
            if isinstance(key, Hashable) and key in keys[:index]:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", node.value[index][0].start_mark
                )
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        if self.depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read_setup(text: str) -> Document:
    """The sections of a setup file, each entry checked for its fields and their types;
    a ValidationError that says where, else."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ValidationError(TOO_LARGE)
    try:
        document = yaml.load(text, Loader=_PlainLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as error:
        raise ValidationError(f"The file is not valid YAML: {_where(error)}.") from None
    except (ValueError, OverflowError):  # a number too long to read, binary data …
        raise ValidationError("The file holds a value that is not plain data.") from None
    version = document.get("planner") if isinstance(document, dict) else None
    if type(version) is not int or version != FORMAT:  # not true, not 1.0
        raise ValidationError(
            f"This is not a Planner setup file: it must start with 'planner: {FORMAT}' "
            "(write one with 'planner export')."
        )
    unknown = sorted(str(key) for key in document if key not in (*SECTIONS, "planner"))
    if unknown:
        raise ValidationError(f"Unknown section {unknown[0]!r}; use {', '.join(SECTIONS)}.")
    return {section: _entries(document.get(section), section) for section in SECTIONS}


def _where(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "it cannot be read"
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def _entries(value: Any, section: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"'{section}' must be a list of {section}.")
    seen: dict[str, int] = {}
    for number, entry in enumerate(value, start=1):
        where = f"{section}, entry {number}"
        if not isinstance(entry, dict):
            raise ValidationError(f"{where}: each entry must be a mapping of fields.")
        if not isinstance(entry.get("name"), str):
            raise ValidationError(f"{where}: give it a name (text).")
        where = f"{SINGULAR[section]} {entry['name']!r}"
        for key, item in entry.items():
            types = FIELDS[section].get(key)
            if types is None:
                known = ", ".join(FIELDS[section])
                raise ValidationError(f"{where}: unknown field {key!r}; use {known}.")
            if not isinstance(item, types) or (isinstance(item, bool) and bool not in types):
                raise ValidationError(f"{where}: {key!r} must be {KINDS[types]}.")
        key = name_key(entry["name"])
        if key in seen:
            raise ValidationError(
                f"{where} is in the file twice (entries {seen[key]} and {number})."
            )
        seen[key] = number
    return value


def typed(entry: dict[str, Any]) -> dict[str, Any]:
    """A job's or trigger's entry as core's commands take it: what it gives as text or a
    number read as people type it (core.automations.text: "5m", "default", a day); null
    (no day, Planner's policy), a mapping and a yes or no as they are."""
    return {
        key: text.read(key, value) if isinstance(value, (str, int)) else value
        for key, value in entry.items()
    }
