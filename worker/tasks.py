"""The worker process's huey instance: `huey_consumer worker.tasks.huey` runs it.

The dashboard, the webhook and the CLI submit work through `task_queue`; they never
execute it themselves.
"""

from core.config import get_settings
from worker.queue import HueyRunQueue, make_huey

settings = get_settings()
huey = make_huey(settings.queue_url)
task_queue = HueyRunQueue(huey, settings)
