"""The catalog of event types: what a trigger can listen to, the filters it takes and the
variables its events offer to a template.

Offline it is the list shipped in `core/data/trigger_types.json` (captured from Composio);
with COMPOSIO_API_KEY set, Composio's own list replaces it. Friendly aliases
(`{emailFrom}`) name the fields people use most. A filter speaks to people through its
label, example and help: Composio's description and default where its catalog has them,
else the curated `core/data/filter_fields.json`, else its name in words.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.automations.templates import DEFAULT_VARIABLES
from core.errors import ValidationError

DATA = Path(__file__).parents[1] / "data"
NUMBER_TYPES = ("number", "integer")
# "…, e.g. INBOX." / "such as 'primary'" in a description: the example it gives.
EXAMPLE_IN_TEXT = re.compile(
    r"(?:e\.g\.|for example|such as)[:,]?\s*['\"`]?"
    r"([^'\"`,;()\s][^'\"`,;()]*?)['\"`]?(?:[,;.()]|$)",
    re.IGNORECASE,
)
ACRONYMS = {"id": "ID", "ids": "IDs", "url": "URL", "gid": "GID", "ttl": "TTL"}

ALIASES: dict[str, dict[str, str]] = {
    "GMAIL": {
        "emailFrom": "sender",
        "emailTo": "to",
        "emailSubject": "subject",
        "emailBody": "message_text",
        "emailId": "message_id",
        "emailThreadId": "thread_id",
        "emailTime": "message_timestamp",
    },
    "SLACK": {
        "messageText": "text",
        "channel": "channel",
        "messageUser": "user",
        "messageTime": "ts",
    },
    "GITHUB": {
        "commitMessage": "message",
        "commitAuthor": "author",
        "commitUrl": "url",
        "commitId": "id",
    },
    "GOOGLECALENDAR": {
        "eventTitle": "summary",
        "eventDescription": "description",
        "eventStart": "start_time",
        "eventEnd": "end_time",
        "eventLocation": "location",
        "eventLink": "html_link",
        "organizer": "organizer_email",
    },
}
ALIASES["SLACKBOT"] = ALIASES["SLACK"]
TOOLKIT_NAMES = {
    "GMAIL": "Gmail",
    "SLACK": "Slack",
    "SLACKBOT": "Slack (bot)",
    "GITHUB": "GitHub",
    "GOOGLECALENDAR": "Google Calendar",
    "GOOGLEDRIVE": "Google Drive",
    "GOOGLESHEETS": "Google Sheets",
    "GOOGLESUPER": "Google Workspace",
    "HUBSPOT": "HubSpot",
    "ONE": "OneDrive",
}


@lru_cache(maxsize=1)
def _curated_fields() -> dict[str, dict[str, Any]]:
    return json.loads((DATA / "filter_fields.json").read_text(encoding="utf-8"))["fields"]


def _in_words(name: str) -> str:
    """A field name as words: "labelIds" → "Label IDs", "course_id" → "Course ID"."""
    parts = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").split()
    words = [ACRONYMS.get(part.lower(), part.lower()) for part in parts] or [name]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


@dataclass(frozen=True)
class ConfigField:
    """One filter an event type takes (a property of Composio's trigger config)."""

    name: str
    type: str
    title: str
    required: bool
    description: str = ""
    default: Any = None

    @classmethod
    def from_schema(cls, name: str, spec: dict[str, Any], required: bool) -> ConfigField:
        """A filter from its JSON-schema property, keeping its description and default."""
        default = spec.get("default")
        return cls(
            name,
            spec.get("type") or "string",
            spec.get("title") or name,
            required,
            " ".join(str(spec.get("description") or "").split()),
            default if isinstance(default, (str, int, float)) else None,
        )

    @property
    def _curated(self) -> dict[str, Any]:
        return _curated_fields().get(self.name, {})

    @property
    def example(self) -> str:
        """A value to show as "e.g.": the curated one, Composio's default, or the one its
        description gives."""
        if self._curated.get("example"):
            return self._curated["example"]
        if self.default not in (None, "") and not isinstance(self.default, bool):
            return str(self.default)
        found = EXAMPLE_IN_TEXT.search(self.description)
        return found.group(1).strip() if found else ""

    @property
    def short_label(self) -> str:
        """The field's name in words: "Label", "Course ID"."""
        return self._curated.get("label") or _in_words(self.name)

    @property
    def label(self) -> str:
        """What the field is called on a form, with an example: "Label (e.g. INBOX)"."""
        if self.example and self.type not in (*NUMBER_TYPES, "boolean"):
            return f"{self.short_label} (e.g. {self.example})"
        return self.short_label

    @property
    def help(self) -> str:
        return self.description or self._curated.get("help", "")

    @property
    def advanced(self) -> bool:
        """Folded away on a form: optional, and not one people commonly set."""
        return not self.required and not self._curated.get("common", False)

    def value_of(self, text: str) -> Any:
        """What a person typed, as this filter's value: a number for a number field (else
        a refusal naming the field), yes or no for a boolean one, else the text."""
        if self.type in NUMBER_TYPES:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or (self.type == "integer" and not number.is_integer()):
                kind = "a whole number" if self.type == "integer" else "a number"
                raise ValidationError(f"{self.label} must be {kind}, not {text!r}.", "filters")
            return int(number) if number.is_integer() else number
        if self.type == "boolean":
            return text.strip().lower() in ("true", "yes", "1")
        return text


def missing_filters(fields: tuple[ConfigField, ...], filters: dict[str, Any]) -> list[ConfigField]:
    """The required filters that have no value."""
    return [f for f in fields if f.required and filters.get(f.name) in (None, "", [])]


@dataclass(frozen=True)
class TriggerType:
    slug: str
    toolkit: str
    name: str
    type: str = ""
    description: str = ""
    config_fields: tuple[ConfigField, ...] = ()
    payload_fields: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def toolkit_name(self) -> str:
        return TOOLKIT_NAMES.get(self.toolkit, self.toolkit.title())

    @property
    def variables(self) -> list[str]:
        """Names a template can use with this event: the aliases, then the payload fields."""
        return [*self.aliases, *self.payload_fields]

    @property
    def offered_variables(self) -> list[str]:
        """The variables a form offers, one name per value: the friendly aliases of fields
        this event has, its other fields, then the ones every run has."""
        fields = self.payload_fields
        aliases = {
            alias: path for alias, path in self.aliases.items() if path in fields or not fields
        }
        own = [*aliases, *(name for name in fields if name not in aliases.values())]
        return list(dict.fromkeys([*own, *DEFAULT_VARIABLES]))

    def as_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "toolkit": self.toolkit,
            "toolkit_name": self.toolkit_name,
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "config_fields": [vars(f) for f in self.config_fields],
            "variables": self.variables,
        }


def trigger_type(slug: str, toolkit: str, name: str, **extra: Any) -> TriggerType:
    """A TriggerType with the friendly aliases of its toolkit."""
    toolkit = toolkit.upper()
    return TriggerType(slug=slug, toolkit=toolkit, name=name, aliases=ALIASES.get(toolkit, {}),
                       **extra)  # fmt: skip


@lru_cache(maxsize=1)
def offline_catalog() -> tuple[TriggerType, ...]:
    captured = json.loads((DATA / "trigger_types.json").read_text())["trigger_types"]
    return tuple(
        trigger_type(
            item["slug"],
            item["toolkit"],
            item["name"],
            type=item.get("type", ""),
            config_fields=tuple(
                ConfigField.from_schema(f["name"], f, f["name"] in item.get("config_required", []))
                for f in item.get("config_fields", [])
            ),
            payload_fields=tuple(f["name"] for f in item.get("payload_fields", [])),
        )
        for item in captured
    )


def toolkit_of(slug: str) -> str:
    """The toolkit a slug belongs to (known ones from the catalog, else its first word)."""
    for known in offline_catalog():
        if known.slug == slug:
            return known.toolkit
    return slug.split("_", 1)[0]


@lru_cache(maxsize=1)
def sample_events() -> dict[str, dict[str, Any]]:
    """Realistic V3 envelopes by trigger slug, for test-firing."""
    examples = json.loads((DATA / "sample_events.json").read_text())
    return {event["metadata"]["trigger_slug"]: event for event in examples.values()}


def event_variables(slug: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """What an event offers a template: its data by field (and dotted path), plus the
    friendly aliases of its toolkit."""
    aliases = ALIASES.get(toolkit_of(slug or ""), {})
    return {**data, **{alias: data.get(path) for alias, path in aliases.items()}}
