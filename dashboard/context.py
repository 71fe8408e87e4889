"""What every dashboard page needs: settings, sessions, the worker's queue, the time."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core.config import Settings, get_settings
from core.db import read_session
from core.db import session as open_session
from core.models import utcnow
from core.queue import RunQueue


def settings() -> Settings:
    return get_settings()


def writing() -> Session:
    """A session for one change; close it (with `with`) as soon as the change is made."""
    return open_session(settings().database_url)


def reading() -> Session:
    return read_session(settings().database_url)


def queue() -> RunQueue:
    """The worker's queue: "run now" and test events are submitted, never run here."""
    from worker.tasks import task_queue

    return task_queue


def now() -> datetime:
    return utcnow()
