"""What `planner jobs|triggers add|update` set, read from their options into core's
typed fields: one reader for jobs and triggers alike, each option by the reader of its
kind of text (core.automations.text); an option left out is UNCHANGED."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TypeVar

from core.automations import text
from core.automations.fields import AutomationFields
from core.errors import ValidationError

Fields = TypeVar("Fields", bound=AutomationFields)
# The options that take a JSON object, each with an example of one as typed in a shell.
JSON_OPTIONS = {"input": """'{"from": "{emailFrom}"}'""", "filters": """'{"labelIds": "INBOX"}'"""}


def _json_typed(option: str, given: str) -> None:
    """Refuse an option's text that is not JSON at all in words about typing it (quotes
    a shell took away, most often), not the parser's "Expecting value: line 1 column 1";
    what JSON it holds is core's to judge."""
    try:
        json.loads(given.strip() or "{}")
    except ValueError:
        raise ValidationError(
            f"--{option} is not JSON: write an object such as {JSON_OPTIONS[option]}, in "
            "single quotes so that the shell keeps the double quotes.",
            option,
        ) from None


def given_fields(args: argparse.Namespace, kind: type[Fields]) -> Fields:
    """The fields of `kind` (JobFields, TriggerFields) that the command line gives;
    `--name` renames (the name to add is the command's argument)."""
    values = {}
    for field in dataclasses.fields(kind):
        option = "new_name" if field.name == "name" else field.name
        given = getattr(args, option, None)
        if given is not None:
            if field.name in JSON_OPTIONS:
                _json_typed(field.name, given)
            values[field.name] = text.read(field.name, given)
    return kind(**values)
