"""Alembic environment: migrations run on Planner's own engine (same SQLite pragmas)."""

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import core.models
from core.db import get_engine

config = context.config


def render_plain_types(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write generated migrations with plain SQLAlchemy types, independent of our code."""
    if type_ == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    if type_ == "type" and isinstance(obj, core.models.UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations() -> None:
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            render_item=render_plain_types,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
