"""The catalog of event types: what a trigger can listen to, the filters it takes and the
variables its events offer to a template.

Offline it is the list shipped in `core/data/trigger_types.json` (captured from Composio);
with COMPOSIO_API_KEY set, Composio's own list replaces it. Friendly aliases
(`{emailFrom}`) name the fields people use most.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

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


@dataclass(frozen=True)
class ConfigField:
    name: str
    type: str
    title: str
    required: bool


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
                ConfigField(
                    f["name"],
                    f.get("type", "string"),
                    f.get("title", f["name"]),
                    f["name"] in item.get("config_required", []),
                )
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
