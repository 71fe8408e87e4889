"""What `planner jobs|triggers add|update` set, read from their options into core's
typed fields: one reader for jobs and triggers alike, each option by the reader of its
kind of text (core.automations.text); an option left out is UNCHANGED."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

from core.automations import text
from core.automations.fields import AutomationFields

Fields = TypeVar("Fields", bound=AutomationFields)


def given_fields(args: argparse.Namespace, kind: type[Fields]) -> Fields:
    """The fields of `kind` (JobFields, TriggerFields) that the command line gives;
    `--name` renames (the name to add is the command's argument)."""
    values = {}
    for field in dataclasses.fields(kind):
        option = "new_name" if field.name == "name" else field.name
        given = getattr(args, option, None)
        if given is not None:
            values[field.name] = text.read(field.name, given)
    return kind(**values)
