"""Alembic environment: migrations run on Planner's own engine (same SQLite pragmas)."""

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import core.store.models
from core.store.db import get_engine

config = context.config


def render_plain_types(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write generated migrations with plain SQLAlchemy types, independent of our code."""
    if type_ == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    if type_ == "type" and isinstance(obj, core.store.models.UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration copies a table and drops the old one; with foreign keys
            # enforced, that drop would cascade-delete the rows pointing at it (a job's
            # runs). The pragma only takes effect outside a transaction, so it is set on
            # the driver's connection before SQLAlchemy begins one.
            _foreign_keys(connection, enforced=False)
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=sqlite,
            render_item=render_plain_types,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            _foreign_keys(connection, enforced=True)


def _foreign_keys(connection: Any, enforced: bool) -> None:
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={int(enforced)}")


run_migrations()
