"""Attempts: one call of a run, as a worker owns it (`Attempt`, `Prepared`), made by `call`
through core.running.executor, and when a failed one is tried again. core.running.claims
takes them, core.running.outcomes records what came of them; worker.flight strings the
steps together on an event loop.

Every state change is conditional, so a duplicate queue message, a second worker or a
sweep racing with a slow worker can never make a run execute twice at once or finish
twice.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import httpx

from core.automations.policies import Overlap, overlap_of
from core.automations.shared import AUTOMATION_WORDS
from core.config import Settings
from core.running.executor import Action, ChatAction, RunResult, execute
from core.store.models import Agent, Automation, Run, RunSource, Workflow

# A worker may pick a run up this early, and then waits for the exact moment: huey starts
# eta tasks up to 1.5 s late, and a thousand runs take a few tenths of a second to
# prepare, so the dispatcher submits them 3 s ahead (core.scheduling.tick.SUBMIT_AHEAD).
EARLY_START = timedelta(seconds=4)
MAX_BACKOFF_SECONDS = 86_400.0
# Runs that exist because of the automation's schedule or subscription, not a person's request:
# they do not start once the automation is paused.
AUTOMATIC_SOURCES = (RunSource.schedule, RunSource.catch_up, RunSource.event)
log = logging.getLogger("planner.runner")


@dataclass(frozen=True)
class Attempt:
    """One attempt this worker owns: run `run_id` is `running` with attempt `number`."""

    run_id: int
    automation: tuple[type[Automation], int] | None
    number: int
    started_at: datetime
    earlier: list[dict[str, Any]]
    retries: int  # how many times a failed call is tried again (core.automations.policies)


@dataclass(frozen=True)
class Prepared:
    """A waiting run as read, with what its next attempt sends (or why it cannot)."""

    run: Run
    automation: Automation
    action: Action | RunResult

    @cached_property  # asked several times per run on the claim's path
    def target(self) -> Agent | Workflow | None:
        if isinstance(self.action, RunResult):
            return None
        return self.action.agent if isinstance(self.action, ChatAction) else self.action.workflow

    @cached_property
    def target_key(self) -> str | None:
        """What Run.target holds for this run's calls: "agent:3", "workflow:7"."""
        target = self.target
        return None if target is None else f"{type(target).__name__.lower()}:{target.id}"

    @cached_property
    def automation_tag(self) -> str:
        """Its job or trigger, as the key of the runs held for it: "job:5", "trigger:2"."""
        return f"{AUTOMATION_WORDS[type(self.automation)]}:{self.automation.id}"

    @cached_property
    def overlap(self) -> Overlap:
        return overlap_of(self.automation)

    @property
    def timeout(self) -> float | None:
        """The call's timeout, when it makes one."""
        return None if isinstance(self.action, RunResult) else self.action.timeout


@dataclass(frozen=True)
class Held:
    """A run this worker keeps and tries again soon: it waits for a free slot of its
    target (`key` "agent:3", at most `limit` tried at once) or for the previous run of
    its job or trigger to end (`key` "job:5", one)."""

    prepared: Prepared
    key: str
    limit: int


@dataclass
class Claims:
    """What a claim did: attempts this worker now owns, runs that wait (for a slot or the
    previous run), and (claimed ahead of their moment) runs left for a claim at the
    moment to decide."""

    attempts: list[tuple[Prepared, Attempt]]
    waiting: list[Held]
    undecided: list[Prepared] = field(default_factory=list)


def retry_delay(retry_number: int, base_seconds: float) -> float:
    """Seconds before the n-th retry: base·2^(n-1), at most a day (a doubling without
    end would overflow a date), with ±20% jitter against stampedes."""
    backoff = base_seconds * 2.0 ** min(retry_number - 1, 64)
    return min(backoff, MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)


def lease_length(settings: Settings, timeout_seconds: float | None = None) -> timedelta:
    """How long an attempt may run: the call's timeout (else Planner's) and a margin for
    the rest."""
    seconds = timeout_seconds or settings.http_timeout_seconds
    return timedelta(seconds=seconds + settings.lease_margin_seconds)


async def call(prepared: Prepared, client: httpx.AsyncClient) -> RunResult:
    """The attempt's call (or the reason it cannot be made); never raises for the call."""
    action = prepared.action
    if isinstance(action, RunResult):
        return action
    try:
        return await execute(action, prepared.run.key, client)
    except Exception as error:
        log.exception("The call failed")
        return RunResult(succeeded=False, error=f"The call failed: {type(error).__name__}: {error}")
