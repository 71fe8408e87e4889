"""Reading what people type for a job or a trigger, on the command line, in a setup file
or in the API's text fields: lengths of time ("90", "30s", "5m", "1h"), `default` for
Planner's own setting, `none` (or nothing) for none, days, names, JSON objects.

One reader per kind of text, shared by every edge that reads it, so "5m" means the same
everywhere; core's commands take the typed values and check their ranges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from core.automations.policies import Overlap, retries_refused
from core.automations.shared import checked_object, json_refused
from core.errors import ValidationError
from core.scheduling.timing import moment_from_text
from core.store import standard_json
from core.store.models import MisfirePolicy

DEFAULT = "default"  # Planner's own setting (retries, timeout, overlap)
NONE = ("", "none")  # no day, no delay, nobody told
DURATION = re.compile(r"(?P<amount>[0-9]{1,5}) *(?P<unit>s|sec|m|min|h)?", re.IGNORECASE)
UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _said(value: str | int, words: tuple[str, ...]) -> bool:
    return isinstance(value, str) and value.strip().lower() in words


def duration(value: str | int, field: str) -> timedelta:
    """A length of time: 90 (seconds), 30s, 5m, 5 min, 1h."""
    text = str(value).strip()
    written = DURATION.fullmatch(text)
    if written is None:
        raise ValidationError(f"{text!r} is not a length of time like 30s, 5m or 1h.", field)
    return timedelta(
        seconds=int(written["amount"]) * UNIT_SECONDS[(written["unit"] or "s").lower()]
    )


def retries(value: str | int) -> int | None:
    """A number of retries; `default`: Planner's (None)."""
    if _said(value, (DEFAULT,)):
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise retries_refused(text)
    return int(text)


def timeout(value: str | int) -> timedelta | None:
    """A call's timeout (90, 90s, 5m); `default`: Planner's (None)."""
    return None if _said(value, (DEFAULT,)) else duration(value, "timeout")


def overlap(value: str) -> Overlap | None:
    """An overlap policy (skip, queue, allow), in any case; `default`: Planner's (None)."""
    if _said(value, (DEFAULT,)):
        return None
    text = value.strip().lower()
    if text not in Overlap.__members__:
        raise ValidationError(
            f"Overlap must be skip, queue or allow (or default), not {value.strip()!r}.",
            "overlap",
        )
    return Overlap(text)


def delay(value: str | int) -> timedelta:
    """A random delay (5m); 0, `none` or nothing for none."""
    return timedelta(0) if _said(value, NONE) else duration(value, "jitter")


def day(value: str, field: str) -> date | None:
    """A first or last day, 2026-12-24; `none` or nothing for no such day."""
    text = value.strip()
    if text.lower() in NONE:
        return None
    try:
        if not DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a date like 2026-12-24.", field) from None


def misfire(value: str) -> MisfirePolicy:
    """What a job does about runs missed while no worker ran: catch_up_once or skip."""
    if value not in MisfirePolicy.__members__:
        raise ValidationError("Misfire policy must be 'catch_up_once' or 'skip'.", "misfire")
    return MisfirePolicy(value)


def listed(value: str) -> list[str]:
    """Comma-separated words, spaces around them dropped: "failure, digest"."""
    return [item.strip() for item in value.split(",") if item.strip()]


def channel_names(value: str) -> list[str]:
    """The channels told, by name (comma-separated); `none` for nobody ([]); nothing
    given stays [""], which core refuses (a name left out is not "nobody")."""
    names = listed(value)
    if not names:
        return [""]
    return [] if [name.lower() for name in names] == ["none"] else names


def json_object(value: str, field: str, what: str) -> dict[str, Any]:
    """A JSON object as text (nothing: {}); NaN and Infinity are not JSON."""
    try:
        parsed = standard_json.loads(value.strip() or "{}")
    except ValueError as error:
        raise json_refused(error, field, what) from None
    return checked_object(parsed, field, what)


# The reader of each field of a job or a trigger that people give as text.
READERS: dict[str, Callable[[Any], Any]] = {
    "at": moment_from_text,
    "starts_on": lambda value: day(value, "starts_on"),
    "ends_on": lambda value: day(value, "ends_on"),
    "jitter": delay,
    "misfire": misfire,
    "retries": retries,
    "timeout": timeout,
    "overlap": overlap,
    "notify": channel_names,
    "notify_on": listed,
    "input": lambda value: json_object(value, "input", "workflow input"),
    "filters": lambda value: json_object(value, "filters", "filters"),
}


def read(field: str, value: Any) -> Any:
    """`value` of the job's or trigger's `field` as core takes it: read by its reader
    when people type it; else (a name, a schedule, a message) as it is."""
    reader = READERS.get(field)
    return value if reader is None else reader(value)
