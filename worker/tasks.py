"""The worker process's huey instance, which `python -m worker` (worker/__main__.py) consumes.

The dashboard, the webhook and the CLI submit work through the same kind of queue
(`worker.queue.queue_for`); they never execute it themselves.
"""

from core.config import get_settings
from core.errors import ConfigError
from worker.queue import queue_for

try:
    task_queue = queue_for(get_settings())
except ConfigError as error:  # one line for whoever set it, not an import traceback
    raise SystemExit(f"planner worker: {error}") from None
huey = task_queue.huey
