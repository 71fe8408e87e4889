"""A worker process's sender: rounds of core.notifications.alerts.deliver in a thread of
their own, so the queue's task that asks for one returns at once and the worker's threads stay free
for the clock, the fan-out and the inbox however long a channel takes.

On a graceful stop no new send starts; a send in progress has until its own deadline or
`within` seconds after the stop, whichever comes first, then its child is killed and the
message is left to be sent again at once (by another worker, or this one restarted).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from time import monotonic

from core.config import Settings
from core.notifications.alerts import deliver
from core.notifications.sending import SEND_DEADLINE_SECONDS, Stopping
from core.store.models import utcnow

log = logging.getLogger("planner.outbox")


class Outbox:
    """One process's sending: at most one round at a time (a round asked for meanwhile
    runs right after it), and its stop."""

    def __init__(
        self, settings: Settings, deadline: float = SEND_DEADLINE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:  # fmt: skip
        self.settings, self.deadline, self.clock = settings, deadline, clock
        self.stopping = Stopping()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self._stop_by: float | None = None

    def send_due(self) -> None:
        """Send what is due, in this process's sending thread; returns at once."""
        with self._lock:
            if self.stopping.is_set():
                return
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(target=self._rounds, name="outbox", daemon=True)
            self._thread.start()

    def _rounds(self) -> None:
        while True:
            try:
                deliver(self.settings, self.clock(), self.deadline, self.stopping)
            except Exception:  # the database away, say: the next minute tries again
                log.exception("could not send the outbox's messages")
            with self._lock:
                if not self._again or self.stopping.is_set():
                    self._thread = None
                    return
                self._again = False

    def stop(self, within: float) -> None:
        """Start no send any more; end those still open `within` seconds from the first
        call (returns at once: `wait` waits)."""
        with self._lock:
            if self._stop_by is not None:
                return
            self._stop_by = monotonic() + within
            self.stopping.ask()
        ending = threading.Timer(within, self.stopping.end_all)
        ending.daemon = True
        ending.start()

    def wait(self, margin: float) -> bool:
        """After `stop`: wait until the sending thread is done (its outcomes written), at
        most `margin` seconds beyond the moment open sends are ended; whether it is."""
        with self._lock:
            thread, stop_by = self._thread, self._stop_by
        if thread is None:
            return True
        until = (monotonic() if stop_by is None else stop_by) + margin
        thread.join(max(until - monotonic(), 0))
        return not thread.is_alive()
