"""A job's or trigger's own retries, call timeout and overlap policy, where it has them;
else Planner's: PLANNER_MAX_RETRIES, PLANNER_HTTP_TIMEOUT_SECONDS, and for overlap
`skip` for a job (today's occurrence is not run twice at once) and `allow` for a
trigger (every event gets its run).

Jobs and triggers set them alike, so the rules live here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import ValidationError
from core.scheduling.timing import duration_from_text
from core.store.models import Automation, ScheduledJob

if TYPE_CHECKING:
    from core.automations.shared import AutomationFields

MOST_RETRIES = 10
SHORTEST_TIMEOUT_SECONDS = 1
LONGEST_TIMEOUT_SECONDS = 3600
DEFAULT = "default"


class Overlap(StrEnum):
    """What a run does when the previous run of its job or trigger is still running."""

    skip = "skip"  # it is skipped, saying why
    queue = "queue"  # it waits for the previous one to end (one waits; more are skipped)
    allow = "allow"  # it runs at the same time


OVERLAP_WORDS = {
    Overlap.skip: "Skip the new run",
    Overlap.queue: "Run it when the previous one has finished",
    Overlap.allow: "Run both at the same time",
}


@dataclass(frozen=True)
class Policies:
    """An automation's own settings, None where it follows Planner's."""

    max_retries: int | None = None
    timeout_seconds: int | None = None
    overlap: str | None = None


def _is_default(value: str | int) -> bool:
    return isinstance(value, str) and value.strip().lower() == DEFAULT


def retries_from_text(value: str | int) -> int | None:
    """Retries as given (a number, or "default" for Planner's: None)."""
    if _is_default(value):
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or int(text) > MOST_RETRIES:
        raise ValidationError(
            f"Retries must be a whole number from 0 to {MOST_RETRIES} (or default), not {text!r}.",
            "retries",
        )
    return int(text)


def timeout_from_text(value: str | int) -> int | None:
    """A call's timeout as given (90, 90s, 5m), in seconds; "default": None."""
    if _is_default(value):
        return None
    seconds = duration_from_text(str(value), "timeout", LONGEST_TIMEOUT_SECONDS)
    if seconds < SHORTEST_TIMEOUT_SECONDS:
        raise ValidationError("A call's timeout must be at least 1 second.", "timeout")
    return seconds


def overlap_from_text(value: str) -> str | None:
    """An overlap policy as given (skip, queue, allow); "default": None."""
    if _is_default(value):
        return None
    text = value.strip().lower()
    if text not in Overlap.__members__:
        raise ValidationError(
            f"Overlap must be skip, queue or allow (or default), not {value.strip()!r}.",
            "overlap",
        )
    return text


def chosen(fields: AutomationFields, current: Policies) -> Policies:
    """`current` with what `fields` change, each checked: text as the CLI and a file
    give it, None keeps what is set, "default" goes back to Planner's."""
    return Policies(
        current.max_retries if fields.retries is None else retries_from_text(fields.retries),
        current.timeout_seconds if fields.timeout is None else timeout_from_text(fields.timeout),
        current.overlap if fields.overlap is None else overlap_from_text(fields.overlap),
    )


def of(automation: Automation) -> Policies:
    """What the automation has of its own."""
    return Policies(automation.max_retries, automation.timeout_seconds, automation.overlap)


def apply(automation: Automation, policies: Policies) -> None:
    """Set the automation's own settings (not saved until the caller commits)."""
    automation.max_retries = policies.max_retries
    automation.timeout_seconds = policies.timeout_seconds
    automation.overlap = policies.overlap


def retries_of(automation: Automation | None, settings: Settings) -> int:
    """How many times a failed call is tried again."""
    own = automation.max_retries if automation is not None else None
    return settings.max_retries if own is None else own


def timeout_of(automation: Automation | None, settings: Settings) -> float:
    """How long one call may take, in seconds."""
    own = automation.timeout_seconds if automation is not None else None
    return settings.http_timeout_seconds if own is None else float(own)


def default_overlap(model: type[Automation]) -> Overlap:
    """Planner's: a job's occurrence is not run twice at once; every event gets its run."""
    return Overlap.skip if model is ScheduledJob else Overlap.allow


def overlap_of(automation: Automation) -> Overlap:
    """The automation's overlap policy, its own or Planner's."""
    return Overlap(automation.overlap) if automation.overlap else default_overlap(type(automation))


def policies_json(automation: Automation) -> dict[str, object]:
    """The automation's own settings (null: Planner's), as JSON shows them."""
    return {
        "retries": automation.max_retries,
        "timeout_seconds": automation.timeout_seconds,
        "overlap": automation.overlap,
    }
