"""A job's or trigger's own retries, call timeout and overlap policy, where it has them;
else Planner's: PLANNER_MAX_RETRIES, PLANNER_HTTP_TIMEOUT_SECONDS, and for overlap
`skip` for a job (today's occurrence is not run twice at once) and `allow` for a
trigger (every event gets its run).

Jobs and triggers set them alike, so the rules live here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from core.config import Settings
from core.errors import ValidationError
from core.scheduling.timing import whole_seconds
from core.store.models import Automation, ScheduledJob

MOST_RETRIES = 10
SHORTEST_TIMEOUT_SECONDS = 1
LONGEST_TIMEOUT_SECONDS = 3600


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

    retries: int | None = None
    timeout: timedelta | None = None
    overlap: Overlap | None = None


def retries_refused(given: object) -> ValidationError:
    """The one sentence that refuses retries, out of range or not a number at all."""
    return ValidationError(
        f"Retries must be a whole number from 0 to {MOST_RETRIES} (or default), not '{given}'.",
        "retries",
    )


def checked(policies: Policies) -> Policies:
    """`policies` when each is within its range, else the ValidationError saying why."""
    if policies.retries is not None and not 0 <= policies.retries <= MOST_RETRIES:
        raise retries_refused(policies.retries)
    if policies.timeout is not None:
        what = "A call's timeout"
        seconds = whole_seconds(policies.timeout, what, "timeout", LONGEST_TIMEOUT_SECONDS)
        if seconds < SHORTEST_TIMEOUT_SECONDS:
            raise ValidationError("A call's timeout must be at least 1 second.", "timeout")
    return policies


def of(automation: Automation) -> Policies:
    """What the automation has of its own."""
    timeout = automation.timeout_seconds
    return Policies(
        automation.max_retries,
        None if timeout is None else timedelta(seconds=timeout),
        Overlap(automation.overlap) if automation.overlap else None,
    )


def apply(automation: Automation, policies: Policies) -> None:
    """Set the automation's own settings, once `checked` (not saved until the caller
    commits)."""
    timeout = policies.timeout
    automation.max_retries = policies.retries
    automation.timeout_seconds = None if timeout is None else int(timeout.total_seconds())
    automation.overlap = None if policies.overlap is None else str(policies.overlap)


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
