"""told by default: channels told about every failure, and automations that follow them

Once a channel exists, failures are told without each job or trigger asking: a channel
is told about every failure unless a person turns that off, and a job or trigger tells
those channels unless it chose its own. Rows that told nobody so far did so because
"Nobody" was the only default there was, so they follow the channels from now on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOMATION_TABLES = ("scheduled_job", "event_trigger")


def upgrade() -> None:
    with op.batch_alter_table("notification_channel", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("every_failure", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    for table in AUTOMATION_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "notify_as_settings", sa.Boolean(), nullable=False, server_default=sa.true()
                )
            )
        op.execute(
            f"UPDATE {table} SET notify_as_settings = (CAST(notify_channel_ids AS TEXT) = '[]')"
        )


def downgrade() -> None:
    for table in AUTOMATION_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("notify_as_settings")
    with op.batch_alter_table("notification_channel", schema=None) as batch_op:
        batch_op.drop_column("every_failure")
