"""Standard JSON only. Python's `json` reads and writes NaN and ±Infinity, which are not
JSON: PostgreSQL's json type and most clients refuse them. Everything Planner reads from
outside, or is given to store, goes through here, so no stored value ever holds one.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn


class NotStandardJson(ValueError):
    """JSON holding NaN or ±Infinity; the message names the value."""


def _refuse(name: str) -> NoReturn:
    raise NotStandardJson(f"{name} is not a number JSON allows")


def loads(text: str | bytes) -> Any:
    """`json.loads` that refuses NaN and ±Infinity (NotStandardJson, a ValueError)."""
    return json.loads(text, parse_constant=_refuse)


def check(value: Any) -> None:
    """Refuse an already parsed value that holds NaN or ±Infinity."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            _refuse(str(item).replace("inf", "Infinity").replace("nan", "NaN"))
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
