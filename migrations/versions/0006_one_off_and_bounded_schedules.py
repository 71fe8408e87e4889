"""one-off and bounded schedules, and a random delay

A job may run between a first and a last day, and each run up to a random delay after
its time; a one-off job is a schedule written `once 2026-12-24 09:00` (no new column).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scheduled_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("starts_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("ends_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("jitter_seconds", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("scheduled_job", schema=None) as batch_op:
        batch_op.drop_column("jitter_seconds")
        batch_op.drop_column("ends_on")
        batch_op.drop_column("starts_on")
