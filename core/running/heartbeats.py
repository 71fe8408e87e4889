"""Each worker process says it is alive; the dashboard counts those seen recently.

How often a worker beats (BEAT_EVERY) and when the dashboard calls it down
(core.views.overview.OFFLINE_AFTER) are read together: a worker that dies is shown down
within a minute, and a beat that comes a little late is no false alarm.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlmodel import col, delete

from core.config import Settings
from core.store.db import session as open_session
from core.store.models import Heartbeat

# How often each worker process writes its heartbeat: often enough that the dashboard can
# call a silent worker down within a minute while still allowing two late beats.
BEAT_EVERY = timedelta(seconds=15)
# Heartbeats of workers gone this long are deleted (each restart has a new name); the
# ticking worker's own row is fresh, so the last one seen is never lost.
FORGET_WORKERS_AFTER = timedelta(days=1)


def beat(settings: Settings, worker: str, now: datetime) -> None:
    """Say that worker process `worker` is alive (the dashboard counts these)."""
    with open_session(settings.database_url) as session:
        session.merge(Heartbeat(worker=worker, last_tick_at=now))
        session.exec(
            delete(Heartbeat).where(col(Heartbeat.last_tick_at) < now - FORGET_WORKERS_AFTER)
        )
        session.commit()


def stopped(settings: Settings, worker: str) -> None:
    """Say that worker process `worker` has stopped (a graceful stop): the dashboard counts
    it out at once, instead of after its heartbeat has aged past OFFLINE_AFTER."""
    with open_session(settings.database_url) as session:
        session.exec(delete(Heartbeat).where(col(Heartbeat.worker) == worker))
        session.commit()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
