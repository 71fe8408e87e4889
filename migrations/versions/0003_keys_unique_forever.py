"""keys unique forever: runs, jobs and triggers get random keys; inbox dedupe key

Run ids were the Idempotency-Key and job ids part of the thread id; SQLite hands a
deleted row's id out again, so a new job could reuse a deleted one's key and thread.
Existing rows get a random key each.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED_TABLES = ("run", "scheduled_job", "event_trigger")


def _fill_keys(table_name: str) -> None:
    connection = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("key", sa.String))
    ids = connection.execute(sa.select(table.c.id)).scalars().all()
    if ids:
        connection.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": row_id, "key": uuid.uuid4().hex} for row_id in ids],
        )


def upgrade() -> None:
    for table_name in KEYED_TABLES:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("key", sa.String(), nullable=True))
        _fill_keys(table_name)
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.alter_column("key", existing_type=sa.String(), nullable=False)
            batch_op.create_unique_constraint(f"uq_{table_name}_key", ["key"])

    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(), nullable=True))
        batch_op.create_unique_constraint("uq_webhook_event_dedupe_key", ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_constraint("uq_webhook_event_dedupe_key", type_="unique")
        batch_op.drop_column("dedupe_key")
    for table_name in reversed(KEYED_TABLES):
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table_name}_key", type_="unique")
            batch_op.drop_column("key")
