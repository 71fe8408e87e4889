"""Running one run to its end in a test, through the worker's own Flight (core.flight)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.config import Settings
from core.flight import Flight
from core.models import utcnow
from core.queue import RunQueue


def execute_run(
    run_id: int, queue: RunQueue, settings: Settings, clock: Callable[[], datetime] = utcnow
) -> None:
    """One attempt of a run, as a worker makes it, seen by a clock that reads `clock()`."""
    flight = Flight(settings, queue, clock)
    try:
        flight.run([run_id])
    finally:
        flight.close()
