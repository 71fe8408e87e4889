"""A worker process's side of the queue: it takes the queue's messages, ticks, and keeps
the calls in flight.

The tasks hand their runs to the process's Flight (worker.flight) and return, so the
worker's threads stay free for the clock, the fan-out and the inbox. The periodic tick
and notify run every PLANNER_TICK_SECONDS (a minute unless set) and at the consumer's
start (worker/__main__.py).
"""

from __future__ import annotations

import logging
import resource
import threading
from collections.abc import Sequence

import sqlalchemy as sa
from huey import crontab

from core.config import Settings
from core.events.processing import process_events
from core.running.heartbeats import BEAT_EVERY, beat, stopped, worker_name
from core.scheduling.tick import tick
from core.store.models import utcnow
from queueing import HueyQueue
from worker.flight import STOP_MARGIN_SECONDS, Flight
from worker.outbox import Outbox

# Files a worker keeps open besides its calls' sockets: database, queue, logs, libraries.
OTHER_OPEN_FILES = 256
log = logging.getLogger("planner.worker")


def allow_open_calls(max_in_flight: int) -> None:
    """Raise this process's open-files limit so every call in flight gets its socket (the
    soft limit is often 1,024); say so when the hard limit is too low."""
    needed = max_in_flight + OTHER_OPEN_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return
    allowed = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
    if allowed < needed:
        log.warning(
            "open files are limited to %s: fewer than PLANNER_MAX_IN_FLIGHT=%s calls can be "
            "open at once (raise the limit with ulimit -n, or lower the setting)",
            allowed,
            max_in_flight,
        )


class Worker:
    """The queue's taker in a worker process (queueing.Taker), with its periodic tasks,
    heartbeat and graceful stop registered on the queue's huey."""

    def __init__(self, queue: HueyQueue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings
        self.outbox = Outbox(settings)
        self.flight = Flight(settings, queue, told=self.outbox.send_due)  # told at once
        self._consumer_started = False  # huey started this process as a consumer
        self._heartbeat_lock = threading.Lock()
        # Events handed over while a group is being processed wait here and go together
        # as the next group: one read and one write for them all, not for each.
        self._events_lock = threading.Lock()
        self._waiting_events: list[str] = []
        self._waiting_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()
        huey = queue.huey
        huey.on_startup()(self.start_heartbeat)
        huey.on_shutdown()(self.finish_calls)
        huey.periodic_task(crontab(), name="tick")(self.dispatcher_tick)
        huey.periodic_task(crontab(), name="notify")(self.send_notifications)
        queue.serve(self)

    def start_heartbeat(self) -> None:
        """Once per consumer process (huey calls this in each worker thread): the heartbeat,
        and room for the calls in flight."""
        with self._heartbeat_lock:
            if self._consumer_started:
                return
            self._consumer_started = True
        allow_open_calls(self.settings.max_in_flight)
        self._heartbeat = threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True)
        self._heartbeat.start()

    def dispatcher_tick(self) -> None:
        """Every PLANNER_TICK_SECONDS, and at consumer start: the dispatcher pass."""
        tick(self.settings, self.queue, utcnow(), worker_name())

    def send_notifications(self) -> None:
        """With each tick: what there is to tell, sent by this process's outbox in a thread
        of its own (worker.outbox), so the task returns at once and a slow channel holds no
        worker thread."""
        self.outbox.send_due()

    def finish_calls(self) -> None:
        """On a graceful stop (huey calls this in each worker thread): the open calls end
        and are recorded; runs not started go back to the queue; the heartbeat stops; no
        message is sent any more, and a send still open PLANNER_HTTP_TIMEOUT_SECONDS after
        the stop is ended (it is sent again at once by another worker). All of it within
        PLANNER_HTTP_TIMEOUT_SECONDS + STOP_MARGIN_SECONDS. Last, the process says it has
        stopped, so the dashboard shows it gone at once rather than when its heartbeat ages."""
        self._stopping.set()
        self.outbox.stop(within=self.settings.http_timeout_seconds)
        self.flight.drain()
        if not self.outbox.wait(margin=STOP_MARGIN_SECONDS):
            log.warning("the outbox's last outcomes were not written; their leases bring them back")
        self._say_stopped()

    def start_runs(self, run_ids: list[int]) -> None:
        """A due moment's runs, or runs submitted now: this process's flight takes them."""
        self.flight.submit(run_ids)

    def process_events(self, event_ids: list[str]) -> None:
        """Process these events, with any handed over meanwhile; a thread that finds
        another processing leaves its events to it (it looks again once it is done)."""
        with self._waiting_lock:
            self._waiting_events.extend(event_ids)
        while self._events_lock.acquire(blocking=False):
            try:
                with self._waiting_lock:
                    group, self._waiting_events = self._waiting_events, []
                if group:
                    process_events(self.settings, group, self.queue, utcnow())
            finally:
                self._events_lock.release()
            with self._waiting_lock:
                if not self._waiting_events:
                    return

    def take_now(self, run_ids: Sequence[int]) -> bool:
        """A consumer's own work (an event's runs, a sweep): its flight takes it at once,
        unless this process is not consuming or is stopping."""
        if not (self._consumer_started and self.flight.accepting):
            return False
        self.flight.submit(run_ids)
        return True

    def _say_stopped(self) -> None:
        """After the last beat (a beat written later would bring the worker back to life on
        the dashboard for OFFLINE_AFTER), its heartbeat goes."""
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=STOP_MARGIN_SECONDS)
        try:
            stopped(self.settings, worker_name())
        except sa.exc.SQLAlchemyError as error:
            log.warning("heartbeat not removed (counted as up a while longer): %s", error)

    def _beat_forever(self) -> None:
        """Each process beats on its own: whichever process takes the shared periodic
        tick beats too, but that alone cannot tell how many processes are up."""
        while not self._stopping.is_set():
            try:
                beat(self.settings, worker_name(), utcnow())
            except sa.exc.SQLAlchemyError as error:
                log.warning("heartbeat not written: %s", error)
            self._stopping.wait(BEAT_EVERY.total_seconds())  # between beats, cut short by a stop
