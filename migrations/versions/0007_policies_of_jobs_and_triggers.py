"""a job's or trigger's own retries, call timeout and overlap policy

Each is null where it follows Planner's settings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_TABLES = ("scheduled_job", "event_trigger")


def upgrade() -> None:
    for table in OWNER_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("max_retries", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("timeout_seconds", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("overlap", sa.String(), nullable=True))


def downgrade() -> None:
    for table in OWNER_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("overlap")
            batch_op.drop_column("timeout_seconds")
            batch_op.drop_column("max_retries")
