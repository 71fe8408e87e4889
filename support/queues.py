"""A RunQueue that only records what it is given, for core tests and benchmarks that
drive core without a worker process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class RecordingQueue:
    """core.running.queue.RunQueue that records submissions, for tests of core without a worker."""

    submitted: list[tuple[list[int], datetime | None]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        self.submitted.append((list(run_ids), eta))

    def submit_events(self, event_ids: Sequence[str]) -> None:
        self.events.extend(event_ids)

    @property
    def run_ids(self) -> list[int]:
        return [run_id for ids, _ in self.submitted for run_id in ids]
