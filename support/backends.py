"""The backends a test or a benchmark runs on: SQLite files (the embedded default), or a
fresh PostgreSQL database and an emptied Redis database on the servers named by
TEST_DATABASE_URL and TEST_QUEUE_URL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from core.access.secrets import new_secret_key
from core.config import Settings
from core.store.db import get_engine, migrate, normalize_url


def _queue_of_this_process(url: str) -> str:
    """Under pytest-xdist each test process empties a Redis database of its own: the
    URL's database number plus the worker's index (gw0, gw1, …)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{number}"))


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_QUEUE_URL = _queue_of_this_process(os.environ.get("TEST_QUEUE_URL", ""))
BACKENDS = ["sqlite"] + (["postgres"] if TEST_DATABASE_URL and TEST_QUEUE_URL else [])


@contextmanager
def postgres_database(migrated: bool = True) -> Iterator[str]:
    """A new database on TEST_DATABASE_URL's server, migrated by Alembic unless not
    `migrated` (for a deploy's own release step), dropped after."""
    name = f"planner_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(normalize_url(TEST_DATABASE_URL)).set(database=name)
    database_url = url.render_as_string(hide_password=False)
    try:
        if migrated:
            migrate(database_url)
        yield database_url
    finally:
        get_engine(database_url).dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


SECRET_KEY = new_secret_key()


@contextmanager
def backend_settings(
    backend: str, folder: Path, template: Path | None = None, **fields: Any
) -> Iterator[Settings]:
    """Settings on a fresh database and queue of `backend` ("sqlite" or "postgres").

    SQLite files go into `folder`; `template`, an already migrated database file, is
    copied instead of migrating anew (what makes hundreds of tests cheap). Stored keys
    are encrypted with a key of this test process unless `secret_key` is given. A web
    process started with them runs no worker of its own unless `embedded_worker` is given:
    tests and benchmarks start the workers they count.
    """
    fields.setdefault("secret_key", SECRET_KEY)
    fields.setdefault("embedded_worker", False)
    if backend == "sqlite":
        database = folder / "planner.db"
        if template is None:
            migrate(f"sqlite:///{database}")
        else:
            shutil.copy(template, database)
        yield Settings(
            database_url=f"sqlite:///{database}", queue_url=f"sqlite:///{folder / 'queue.db'}",
            **fields,
        )  # fmt: skip
        return
    if backend not in BACKENDS:
        raise RuntimeError(
            f"backend {backend!r} is not available (PostgreSQL + Redis need TEST_DATABASE_URL "
            "and TEST_QUEUE_URL)"
        )
    import redis

    redis.Redis.from_url(TEST_QUEUE_URL).flushdb()
    with postgres_database() as database_url:
        yield Settings(database_url=database_url, queue_url=TEST_QUEUE_URL, **fields)
