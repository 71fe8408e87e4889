"""Values every database stores and every client reads. Python's `json` reads and writes
NaN and ±Infinity, which are not JSON (PostgreSQL's json type and most clients refuse
them), and Python strings may hold a NUL or a lone surrogate (from a command line's
undecodable bytes, say), which PostgreSQL and UTF-8 refuse. Everything Planner reads from
outside, or is given to store, goes through here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

# A NUL, or half of a UTF-16 surrogate pair on its own: neither can be stored.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class NotStandardJson(ValueError):
    """A value no database stores; the message says which part."""


def _refuse(name: str) -> NoReturn:
    raise NotStandardJson(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        _refuse(text if len(text) <= 20 else text[:20] + "…")
    return number


def loads(text: str | bytes, **options: Any) -> Any:
    """`json.loads` that refuses NaN and ±Infinity, also as an overflowing number like
    1e999 (NotStandardJson, a ValueError); `options` go to json.loads."""
    return json.loads(text, parse_constant=_refuse, parse_float=_finite, **options)


def check_text(text: str) -> None:
    """Refuse text that holds a NUL or a lone surrogate."""
    if UNSTORABLE.search(text):
        raise NotStandardJson("it holds a NUL or a character that is not valid Unicode")


def check(value: Any) -> None:
    """Refuse an already parsed value holding NaN or ±Infinity, unstorable text, or what
    JSON has no form for (a key that is not text, bytes, a date: YAML can give those)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            _refuse(str(item).replace("inf", "Infinity").replace("nan", "NaN"))
        elif isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                raise NotStandardJson("a key is not text")
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif not (item is None or isinstance(item, (bool, int, float))):
            raise NotStandardJson(f"it holds {type(item).__name__} data, which JSON cannot hold")
