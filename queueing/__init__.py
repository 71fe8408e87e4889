"""The queue every process submits through: huey under core's RunQueue port.

The dashboard, the webhook, the CLI and the worker's own tick all submit with
`queue_for(settings)`; only a worker runs what the messages name (worker/ hands the queue
its taker). Messages are hints that name rows: the rows are the truth, and the tick's
sweeps submit again what a lost message named.
"""

from queueing.huey_queue import HueyQueue, Taker, queue_for
from queueing.storage import make_huey

__all__ = ["HueyQueue", "Taker", "make_huey", "queue_for"]
