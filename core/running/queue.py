"""The port through which core hands runs to the worker.

Core never imports the queue library: the worker adapter implements this protocol with
huey, and passes it in. A submission is only a hint — the Run row is the truth, and the
tick's sweep re-submits runs whose hint was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

log = logging.getLogger("planner.queue")


class RunQueue(Protocol):
    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        """Ask a worker to execute these runs, not before `eta` (None: now)."""
        ...

    def submit_events(self, event_ids: Sequence[str]) -> None:
        """Ask a worker to process these inbox events now."""
        ...


def handed_on(submit: Callable[[], None], what: str) -> bool:
    """Submit what was just committed; whether the queue took it. A queue that fails is
    logged and left to the tick's sweeps, never raised: the rows are saved, and an error
    answered for them would make a caller try again and start them twice."""
    try:
        submit()
    except Exception as error:  # whatever the queue's client raised, the rows are saved
        log.warning(
            "%s saved but not handed to the queue (%s: %s); the sweep will",
            what, type(error).__name__, error,
        )  # fmt: skip
        return False
    return True
