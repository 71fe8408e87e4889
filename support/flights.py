"""Running one run to its end in a test, through the worker's own Flight (worker.flight)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.config import Settings
from core.running.queue import RunQueue
from core.store.models import utcnow
from worker.flight import Flight


def execute_run(
    run_id: int, queue: RunQueue, settings: Settings, clock: Callable[[], datetime] = utcnow
) -> None:
    """One attempt of a run, as a worker makes it, seen by a clock that reads `clock()`."""
    flight = Flight(settings, queue, clock)
    try:
        flight.run([run_id])
    finally:
        flight.close()
