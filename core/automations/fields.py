"""What a person sets on a job or a trigger, as typed values: `AutomationFields`, and
`UNCHANGED` for a field left as it is (on a change; on a new one, its default), the same
for every field. Text is read into these at the edges (core.automations.text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, Final, TypeVar

from core.automations import policies
from core.automations.policies import Overlap, Policies
from core.store.models import Automation

Value = TypeVar("Value")


class Unchanged(Enum):
    """The type of UNCHANGED: a field not given keeps what it holds."""

    UNCHANGED = "unchanged"

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged.UNCHANGED


def kept(value: Value | Unchanged, current: Value) -> Value:
    """`value` as given, or `current` when it is UNCHANGED."""
    return current if isinstance(value, Unchanged) else value


def given_or_none(value: Value | Unchanged) -> Value | None:
    """`value`, None when it is UNCHANGED: for the rules that take None as "keep it"."""
    return None if isinstance(value, Unchanged) else value


@dataclass(frozen=True)
class AutomationFields:
    """What a user sets on a job or a trigger alike; UNCHANGED keeps what it has."""

    name: str | Unchanged = UNCHANGED
    agent: str | int | Unchanged = UNCHANGED  # a name, or an id
    chat: str | Unchanged = UNCHANGED  # the message, a {variable} template
    thread: str | Unchanged = UNCHANGED  # "new" or "continue", for a chat
    # The conversation a continuing chat goes back into, by its thread id (an agent's own
    # follow-up: core.automations.followups); None: the job's or trigger's own.
    conversation: str | Unchanged | None = UNCHANGED
    workflow: str | int | Unchanged = UNCHANGED  # a name, or an id
    input: dict[str, Any] | Unchanged = UNCHANGED  # the workflow's
    retries: int | Unchanged | None = UNCHANGED  # None: Planner's (core.automations.policies)
    timeout: timedelta | Unchanged | None = UNCHANGED  # one call's; None: Planner's
    overlap: Overlap | Unchanged | None = UNCHANGED  # None: Planner's
    notify: list[str] | Unchanged = UNCHANGED  # channel names ([] for nobody)
    notify_on: list[str] | Unchanged = UNCHANGED  # failure, recovery, digest

    def chosen_policies(self, automation: Automation | None) -> Policies:
        """The automation's policies (a new one's: Planner's) with what these fields
        change, each checked."""
        current = policies.of(automation) if automation is not None else Policies()
        return policies.checked(
            Policies(
                kept(self.retries, current.retries),
                kept(self.timeout, current.timeout),
                kept(self.overlap, current.overlap),
            )
        )

    def telling(self) -> tuple[list[str] | None, list[str] | None]:
        """Who is told and about what, as core.notifications.channels.subscription takes
        them (None: as it is)."""
        return given_or_none(self.notify), given_or_none(self.notify_on)
