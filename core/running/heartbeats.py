"""Each worker process says it is alive; the dashboard counts those seen recently."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlmodel import col, delete

from core.config import Settings
from core.store.db import session as open_session
from core.store.models import Heartbeat

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


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
