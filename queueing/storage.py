"""Where the queue's messages live: the huey storage a QUEUE_URL names."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from huey import Huey, RedisHuey, SqliteHuey
from huey.storage import SqliteStorage
from redis import ConnectionPool

from core.errors import ConfigError


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
