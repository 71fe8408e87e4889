"""The port through which core hands runs to the worker.

Core never imports the queue library: the worker adapter implements this protocol with
huey, and passes it in. A submission is only a hint — the Run row is the truth, and the
tick's sweep re-submits runs whose hint was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class RunQueue(Protocol):
    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        """Ask a worker to execute these runs, not before `eta` (None: now)."""
        ...

    def submit_events(self, event_ids: Sequence[str]) -> None:
        """Ask a worker to process these inbox events now."""
        ...
