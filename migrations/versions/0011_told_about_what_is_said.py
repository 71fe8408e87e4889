"""told about what is said: a job or trigger that tells someone stores its events

A job or trigger that tells channels and chose no events is told about failures and
recoveries (core.notifications.channels.told_about). Rows saved before core stored that
held [], so the API and `--json` answered "told about nothing" for them; they now hold
the events they are told about.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOMATION_TABLES = ("scheduled_job", "event_trigger")
TOLD_ABOUT = '["failure", "recovery"]'  # DEFAULT_EVENTS, as it stood when this was written


def upgrade() -> None:
    for table in AUTOMATION_TABLES:
        op.execute(
            f"UPDATE {table} SET notify_on = '{TOLD_ABOUT}' WHERE CAST(notify_on AS TEXT) = '[]'"
            " AND (notify_as_settings OR CAST(notify_channel_ids AS TEXT) <> '[]')"
        )


def downgrade() -> None:
    """Nothing to undo: [] and these events were told the same."""
