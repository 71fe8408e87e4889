"""Planner's work on huey: the storage a QUEUE_URL means, the tasks, and the RunQueue.

A HueyRunQueue registers its methods as huey's tasks on the huey instance it is given,
so a process can submit to any queue URL (a test's temporary queue, say) under the same
task names the consumer runs. Each task is one call into core; the calls themselves are
the process's Flight's (worker.flight), so a task hands its runs over and returns, and the
worker's threads stay free for the clock, the fan-out and the inbox.
"""

from __future__ import annotations

import logging
import resource
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.storage import SqliteStorage
from redis import ConnectionPool

from core.config import Settings
from core.errors import ConfigError
from core.events.inbox import process_events
from core.running.heartbeats import beat, worker_name
from core.scheduling.tick import tick
from core.store.models import utcnow
from worker.flight import STOP_MARGIN_SECONDS, Flight
from worker.outbox import Outbox


class SqliteQueueStorage(SqliteStorage):
    """huey's SQLite storage without an fsync per message (`synchronous=NORMAL`, as the
    database has): in WAL mode a commit survives a crash of the process and the file is
    never corrupted; a power cut may lose the last messages, which the tick's sweep
    submits again from the rows they stand for (the rows are the truth)."""

    def _create_connection(self) -> sqlite3.Connection:
        connection = super()._create_connection()
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection


def _redis_pool(queue_url: str) -> ConnectionPool:
    """Connections to a `redis://` or `rediss://` URL. A `rediss://` URL that says nothing of
    certificates is not verified: Heroku's Key-Value Store serves a self-signed one (clients
    must pass ssl_cert_reqs=None); add `?ssl_cert_reqs=required` to verify."""
    said = "ssl_cert_reqs" in parse_qs(urlsplit(queue_url).query)
    if queue_url.startswith("rediss://") and not said:
        return ConnectionPool.from_url(queue_url, ssl_cert_reqs="none")
    return ConnectionPool.from_url(queue_url)


def make_huey(queue_url: str) -> Huey:
    """A huey instance for `sqlite:///path` (the default) or `redis://host:port/db`
    (`rediss://` for TLS)."""
    if queue_url.startswith("sqlite:///"):
        path = Path(queue_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(
            "planner",
            filename=str(path),
            results=False,
            utc=True,
            storage_class=SqliteQueueStorage,
        )
    if queue_url.startswith(("redis://", "rediss://")):
        return RedisHuey("planner", connection_pool=_redis_pool(queue_url), results=False, utc=True)
    raise ConfigError(
        f"QUEUE_URL {queue_url!r} is not supported; use sqlite:///path/to/queue.db or redis://…"
    )


HEARTBEAT_SECONDS = 30
# A message carries at most this many runs, so several worker processes share a moment.
RUNS_PER_MESSAGE = 250
log = logging.getLogger("planner.worker")


# Files a worker keeps open besides its calls' sockets: database, queue, logs, libraries.
OTHER_OPEN_FILES = 256


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


def _chunks(run_ids: Sequence[int]) -> list[list[int]]:
    return [
        list(run_ids[i : i + RUNS_PER_MESSAGE]) for i in range(0, len(run_ids), RUNS_PER_MESSAGE)
    ]


class HueyRunQueue:
    """core.running.queue.RunQueue on huey: messages of up to RUNS_PER_MESSAGE runs, now or at a
    future moment (the thread executor: one message per run, so the threads share them)."""

    def __init__(self, huey: Huey, settings: Settings) -> None:
        self.huey = huey
        self.settings = settings
        self.flight = Flight(settings, self)
        self.outbox = Outbox(settings)
        self._threaded = settings.executor == "thread"
        self._consumer_started = False  # huey started this process as a consumer: it executes
        self._heartbeat_lock = threading.Lock()
        self._stopping = threading.Event()
        huey.on_startup()(self.start_heartbeat)
        huey.on_shutdown()(self.finish_calls)
        huey.periodic_task(crontab(), name="tick")(self.dispatcher_tick)
        huey.periodic_task(crontab(), name="notify")(self.send_notifications)
        self.start_runs = huey.task(name="start_runs")(self.start_due_runs)
        self.run_job = huey.task(name="run_job")(self.execute)
        self.process_events = huey.task(name="process_events")(self.process_inbox_events)

    def start_heartbeat(self) -> None:
        """Once per consumer process (huey calls this in each worker thread): the heartbeat,
        and room for the calls in flight."""
        with self._heartbeat_lock:
            if self._consumer_started:
                return
            self._consumer_started = True
        allow_open_calls(self.settings.max_in_flight)
        threading.Thread(target=self._beat_forever, name="heartbeat", daemon=True).start()

    def dispatcher_tick(self) -> None:
        """Every minute, and at consumer start: the dispatcher pass."""
        tick(self.settings, self, utcnow(), worker_name())

    def send_notifications(self) -> None:
        """Every minute (and at consumer start): what there is to tell, sent by this
        process's outbox in a thread of its own (worker.outbox), so the task returns at once
        and a slow channel holds no worker thread."""
        self.outbox.send_due()

    def finish_calls(self) -> None:
        """On a graceful stop (huey calls this in each worker thread): the open calls end
        and are recorded; runs not started go back to the queue; the heartbeat stops; no
        message is sent any more, and a send still open PLANNER_HTTP_TIMEOUT_SECONDS after
        the stop is ended (it is sent again at once by another worker). All of it within
        PLANNER_HTTP_TIMEOUT_SECONDS + STOP_MARGIN_SECONDS."""
        self._stopping.set()
        self.outbox.stop(within=self.settings.http_timeout_seconds)
        self.flight.drain()
        if not self.outbox.wait(margin=STOP_MARGIN_SECONDS):
            log.warning("the outbox's last outcomes were not written; their leases bring them back")

    def start_due_runs(self, run_ids: list[int]) -> None:
        """A due moment's runs, or runs submitted now: this process's flight takes them."""
        if self._threaded:
            self._submit_each(run_ids)
        else:
            self.flight.submit(run_ids)

    def execute(self, run_id: int) -> None:
        """One run: the thread executor's message (this thread waits for the call); a
        message of this kind left from before is handed to the flight like any other."""
        if self._threaded:
            self.flight.run([run_id])
        else:
            self.flight.submit([run_id])

    def process_inbox_events(self, event_ids: list[str]) -> None:
        process_events(self.settings, event_ids, self, utcnow())

    def _beat_forever(self) -> None:
        """Each process beats on its own: whichever process takes the shared periodic
        tick beats too, but that alone cannot tell how many processes are up."""
        while not self._stopping.is_set():
            try:
                beat(self.settings, worker_name(), utcnow())
            except sa.exc.SQLAlchemyError as error:
                log.warning("heartbeat not written: %s", error)
            self._stopping.wait(HEARTBEAT_SECONDS)  # a timer between beats, cut short by a stop

    def submit(self, run_ids: Sequence[int], eta: datetime | None = None) -> None:
        now = eta is None or eta <= utcnow()
        if now and self._threaded:
            self._submit_each(run_ids)
            return
        if now and self._consumer_started and self.flight.accepting:
            # A consumer's own work (an event's runs, a sweep): its flight takes them at once,
            # without a trip through the queue and back — unless it is stopping.
            self.flight.submit(run_ids)
            return
        for chunk in _chunks(run_ids):
            if now:
                self.start_runs(chunk)
            else:
                self.start_runs.schedule((chunk,), eta=eta)

    def _submit_each(self, run_ids: Sequence[int]) -> None:
        for run_id in run_ids:
            self.run_job(run_id)

    def submit_events(self, event_ids: Sequence[str]) -> None:
        """One message for a batch of events (the webhook stores them in batches)."""
        if event_ids:
            self.process_events(list(event_ids))


_queues: dict[str, HueyRunQueue] = {}
_queues_lock = threading.Lock()


def queue_for(settings: Settings) -> HueyRunQueue:
    """The queue at `settings.queue_url`, made once per URL in a process: a page or a
    command submits to the queue its own settings name, not the one read at import."""
    with _queues_lock:
        if settings.queue_url not in _queues:
            _queues[settings.queue_url] = HueyRunQueue(make_huey(settings.queue_url), settings)
        return _queues[settings.queue_url]
