"""The worker process's huey instance: `huey_consumer worker.tasks.huey` runs it.

The dashboard, the webhook and the CLI submit work through the same kind of queue
(`worker.queue.queue_for`); they never execute it themselves.
"""

from core.config import get_settings
from worker.queue import queue_for

task_queue = queue_for(get_settings())
huey = task_queue.huey
