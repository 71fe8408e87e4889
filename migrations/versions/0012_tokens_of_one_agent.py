"""tokens of one agent: an API token may reach only one agent's jobs, triggers and runs

An agent that schedules its own follow-ups (over MCP or the HTTP API) gets a token made
for it alone (core.access.scopes). Tokens made before reach every agent, as they did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_api_token_agent_id_agent", "agent", ["agent_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_token_agent_id_agent", type_="foreignkey")
        batch_op.drop_column("agent_id")
