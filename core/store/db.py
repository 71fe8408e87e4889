"""Engines, sessions and migrations.

SQLite is tuned for three processes sharing one file: WAL (readers never block the
writer), a busy timeout (writers wait instead of failing with "database is locked"), and
foreign keys switched on.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "planner_read_only"


def normalize_url(url: str) -> str:
    """Accept Heroku-style `postgres://` URLs, which SQLAlchemy no longer does."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def _prepare_sqlite_file(url: sa.URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's own BEGIN run, so a transaction takes its lock when it writes.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A multi-row insert's statement journal in memory, not a file created and deleted in
    # /var/tmp by every group commit of the webhook.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _on_sqlite_begin(connection: sa.Connection) -> None:
    # A session that may write takes the write lock up front (BEGIN IMMEDIATE), so it
    # queues for it under busy_timeout instead of failing to upgrade a read snapshot
    # later, which SQLite does not retry. A read-only session reads a WAL snapshot and
    # neither waits for writers nor blocks them.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


@lru_cache(maxsize=8)
def get_engine(database_url: str) -> sa.Engine:
    """One engine (and connection pool) per database URL per process."""
    url = sa.make_url(normalize_url(database_url))
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    _prepare_sqlite_file(url)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def session(database_url: str) -> Session:
    """A session for work that writes; objects stay readable after commit.

    On SQLite it holds the database's write lock from its first statement until commit
    or rollback: keep it short, and never wait on something else while it is open.
    """
    return Session(get_engine(database_url), expire_on_commit=False)


def read_session(database_url: str) -> Session:
    """A session for reading only (lists, pages, reports): it never blocks a writer."""
    engine = get_engine(database_url).execution_options(**{READ_ONLY: True})
    return Session(engine, expire_on_commit=False)


def take_many_turns(session: Session, turns: Iterable[tuple[int, int]]) -> None:
    """Make transactions about the same things (each a `namespace`, `key` pair) run one
    after another, until commit or rollback; all in one statement, in a fixed order (two
    transactions taking overlapping turns never wait on each other in a cycle).

    PostgreSQL: advisory locks, which unlike row locks do not make the tick's `SKIP
    LOCKED` pass over a row. SQLite: nothing to do, BEGIN IMMEDIATE already serializes
    every writer.
    """
    ordered = sorted(set(turns))
    if not ordered or session.get_bind().dialect.name != "postgresql":
        return
    wanted = (
        sa.values(sa.column("namespace", sa.Integer), sa.column("key", sa.Integer), name="turn")
        .data(ordered)
        .alias("wanted")
    )
    in_order = sa.select(wanted.c.namespace, wanted.c.key).order_by("namespace", "key").subquery()
    session.exec(sa.select(sa.func.pg_advisory_xact_lock(in_order.c.namespace, in_order.c.key)))


def insert_ignoring_conflicts(engine: sa.Engine, table: sa.Table) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` for the engine's dialect (the exactly-once tool)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def not_set_up(error: sa.exc.DBAPIError) -> bool:
    """Whether the database refused for want of Planner's tables: not migrated yet."""
    said = str(error)
    return "no such table" in said or ("relation" in said and "does not exist" in said)


def alembic_config(database_url: str) -> Config:
    """Alembic's settings for this database; Alembic is imported only by what migrates, so
    every process that only reads and writes starts a quarter of a second sooner."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    """Bring the schema to the newest migration; running it again changes nothing."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
