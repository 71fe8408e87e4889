"""calls in flight: per-target limits, and what a run calls

Agents and workflows may take at most N calls at once (across all workers); a run
records the target it calls when an attempt is claimed, and why it is still waiting.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("agent", "workflow"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("waiting_reason", sa.String(), nullable=True))
        batch_op.create_index("ix_run_status_target", ["status", "target"])


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index("ix_run_status_target")
        batch_op.drop_column("waiting_reason")
        batch_op.drop_column("target")
    for table in ("workflow", "agent"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("max_concurrency")
