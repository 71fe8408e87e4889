"""The web process's own worker (PLANNER_EMBEDDED_WORKER, on by default): `python -m
worker` as a child process, so that one service runs jobs and triggers (Render's free tier
has no background workers; Heroku starts only `web` until a worker is scaled up).

A child process rather than threads: the worker's calls, tick and inbox get a core of
their own instead of taking turns for the interpreter with the dashboard, and it is
stopped as every worker is, by SIGTERM (its calls in flight end and are recorded). Runs are
claimed in the database, so it may run beside any number of `worker` processes; each run
still happens once. It is restarted if it dies, and dies with the web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger("planner.web")
COMMAND = (sys.executable, "-m", "worker")
RESTART_SECONDS = 5.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """In the child before it starts: SIGTERM it when the web process dies, even by SIGKILL,
    so no worker is left running without the process that started it (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedWorker:
    """Keeps one `python -m worker` child running until `stop`."""

    def __init__(self, stop_timeout: float) -> None:
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False

    def start(self) -> None:
        self.process = subprocess.Popen(COMMAND, preexec_fn=_die_with_parent)
        log.info("started the embedded worker (process %s)", self.process.pid)

    async def keep_running(self) -> None:
        """Start the child again, after a pause, whenever it ends without being asked to."""
        while not self.stopping:
            assert self.process is not None
            code = await asyncio.to_thread(self.process.wait)
            if self.stopping:
                return
            log.error("the embedded worker ended (exit %s); starting it again", code)
            await asyncio.sleep(RESTART_SECONDS)
            if not self.stopping:
                self.start()

    def stop(self) -> None:
        """SIGTERM, then wait for the calls in flight to be recorded; kill after the wait."""
        self.stopping = True
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            log.error("the embedded worker did not stop in %.0f s; killing it", self.stop_timeout)
            self.process.kill()
            self.process.wait()


@asynccontextmanager
async def embedded_worker(stop_timeout: float) -> AsyncIterator[None]:
    """A worker child for as long as the web process serves."""
    worker = EmbeddedWorker(stop_timeout)
    worker.start()
    watcher = asyncio.create_task(worker.keep_running())
    try:
        yield
    finally:
        await asyncio.to_thread(worker.stop)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
