"""core.running.queue.RunQueue on huey: messages of up to RUNS_PER_MESSAGE runs, now or at
a future moment, and messages naming inbox events.

The two tasks are registered here, under the same names in every process, so that any
process can submit; their bodies call the queue's taker, which only a worker process
has (worker.consumer.Worker). Elsewhere a message is never run, only sent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from huey import Huey

from core.config import Settings
from core.store.models import utcnow
from queueing.storage import make_huey

# A message carries at most this many runs, so several worker processes share a moment.
RUNS_PER_MESSAGE = 250


class Taker(Protocol):
    """What a worker process does with the queue's messages."""

    def start_runs(self, run_ids: list[int]) -> None: ...

    def process_events(self, event_ids: list[str]) -> None: ...

    def take_now(self, run_ids: Sequence[int]) -> bool:
        """Take runs submitted inside the worker at once, without a trip through the queue
        and back; False when it cannot (not consuming yet, or stopping)."""
        ...


class HueyQueue:
    """Submits runs and events as huey messages; runs them once a worker has `served`."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._taker: Taker | None = None
        self.start_runs = huey.task(name="start_runs")(self._start_runs)
        self.process_events = huey.task(name="process_events")(self._process_events)

    def serve(self, taker: Taker) -> None:
        """From now on this process runs the messages it takes (a worker process)."""
        self._taker = taker

    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        now = eta is None or eta <= utcnow()
        if now and self._taker is not None and self._taker.take_now(run_ids):
            return
        for start in range(0, len(run_ids), RUNS_PER_MESSAGE):
            chunk = list(run_ids[start : start + RUNS_PER_MESSAGE])
            if now:
                self.start_runs(chunk)
            else:
                self.start_runs.schedule((chunk,), eta=eta)

    def submit_events(self, event_ids: Sequence[str]) -> None:
        """One message for a batch of events (the webhook stores them in batches)."""
        if event_ids:
            self.process_events(list(event_ids))

    def _start_runs(self, run_ids: list[int]) -> None:
        self._served().start_runs(run_ids)

    def _process_events(self, event_ids: list[str]) -> None:
        self._served().process_events(event_ids)

    def _served(self) -> Taker:
        if self._taker is None:
            raise RuntimeError("only a worker process (python -m worker) runs queue messages")
        return self._taker


_queues: dict[str, HueyQueue] = {}
_queues_lock = threading.Lock()


def queue_for(settings: Settings) -> HueyQueue:
    """The queue at `settings.queue_url`, made once per URL in a process: a page or a
    command submits to the queue its own settings name, not the one read at import."""
    with _queues_lock:
        if settings.queue_url not in _queues:
            _queues[settings.queue_url] = HueyQueue(make_huey(settings.queue_url))
        return _queues[settings.queue_url]
