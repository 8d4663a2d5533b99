"""operator controls: paused bots (bot_controls); audit_log.allowed for refused attempts

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04

Written by hand against `storage/control_models.py` and `storage/trading.py` (not imported from
them); `tests/test_controls.py` checks that models and migrations agree. `allowed` is FALSE on
an audit row that records a refused attempt (a Telegram command from a chat that is not
allowed); every row written before it existed was an allowed action, hence the default.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_controls",
        sa.Column("bot", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot", name="pk_bot_controls"),
    )
    op.add_column("audit_log", sa.Column("allowed", sa.Boolean(), nullable=False,
                                         server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("allowed")
    op.drop_table("bot_controls")
