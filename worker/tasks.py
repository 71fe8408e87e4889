"""The worker process's huey instance, which `python -m worker` (worker/__main__.py)
consumes, with this process's Worker serving the queue.

The dashboard, the webhook and the CLI submit through the same kind of queue
(`queueing.queue_for`); they never run its messages themselves.
"""

from core.config import get_settings
from core.errors import ConfigError
from queueing import queue_for
from worker.consumer import Worker

try:
    settings = get_settings()
    task_queue = queue_for(settings)
except ConfigError as error:  # one line for whoever set it, not an import traceback
    raise SystemExit(f"planner worker: {error}") from None
worker = Worker(task_queue, settings)
huey = task_queue.huey
