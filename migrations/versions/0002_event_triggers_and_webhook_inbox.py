"""event triggers and webhook inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_event",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("trigger_slug", sa.String(), nullable=True),
        sa.Column("composio_trigger_id", sa.String(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_event_status_received_at", ["status", "received_at"], unique=False
        )

    op.create_table(
        "event_trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("toolkit", sa.String(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("composio_trigger_id", sa.String(), nullable=True),
        sa.Column("sync_state", sa.String(), nullable=False),
        sa.Column("sync_error", sa.String(), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("composio_trigger_id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("event_trigger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_trigger_event"), ["event"], unique=False)

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_run_trigger_id", "event_trigger", ["trigger_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_constraint("fk_run_trigger_id", type_="foreignkey")

    with op.batch_alter_table("event_trigger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_trigger_event"))

    op.drop_table("event_trigger")
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_event_status_received_at")

    op.drop_table("webhook_event")
