"""A workflow's input as people fill it in: rows of a name and a value, not JSON.

The rows say exactly what an input of text values is; an input with a number, a list or
nested values can't be shown as rows without changing it, so forms show it as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.automations.shared import storable_text
from core.errors import ValidationError


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
