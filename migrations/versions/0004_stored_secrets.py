"""stored secrets: keys pasted in the dashboard or CLI, encrypted

Agents and workflows may keep their key encrypted in the database (the environment
variable still wins); Planner's own Composio key and webhook secret get a table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("api_key_secret", sa.String(), nullable=False, server_default="")
        )
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_secret", sa.String(), nullable=False, server_default="")
        )
    op.create_table(
        "stored_secret",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("ciphertext", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("stored_secret")
    with op.batch_alter_table("workflow", schema=None) as batch_op:
        batch_op.drop_column("auth_secret")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("api_key_secret")
