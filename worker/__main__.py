"""`python -m worker`: the worker process, huey's consumer of `worker.tasks.huey` with
Planner's options, so the Procfile's `worker` and the web process's embedded worker are
started the same way.

Threads: WORKER_THREADS (4) huey threads, which only plan, fan out and hand runs to the
flight (calls are in flight on one event loop, not in threads). `max_delay` 0.5 s keeps an
idle consumer polling the queue twice a second (huey's default backs off to 10 s); TERM is
the graceful signal because it is how platforms, honcho and the web process stop one. The
periodic tick runs at start and then every PLANNER_TICK_SECONDS (huey's is every minute).
"""

from __future__ import annotations

import logging
from typing import Any

from huey import Huey
from huey.consumer import Consumer, Scheduler
from huey.consumer_options import ConsumerConfig

from core.access.secrets import check_key
from core.config import get_settings
from core.errors import ConfigError


class TickingConsumer(Consumer):
    """huey's consumer with its periodic tasks every `tick_seconds` instead of 60."""

    def __init__(self, huey: Huey, tick_seconds: int, **options: Any) -> None:
        self.tick_seconds = tick_seconds
        super().__init__(huey, **options)

    def _create_scheduler(self) -> Scheduler:
        scheduler = super()._create_scheduler()
        scheduler.periodic_task_seconds = self.tick_seconds
        return scheduler


def main() -> None:
    try:
        settings = get_settings()
        check_key(settings)
    except ConfigError as error:  # one line for whoever set it, not a traceback
        raise SystemExit(f"planner worker: {error}") from None
    from worker.tasks import huey  # after the settings are known good

    config = ConsumerConfig(
        workers=settings.worker_threads, worker_type="thread", max_delay=0.5, graceful_signal="TERM"
    )
    config.validate()
    config.setup_logger(logging.getLogger("huey"))
    TickingConsumer(huey, settings.tick_seconds, **config.values).run()


if __name__ == "__main__":
    main()
