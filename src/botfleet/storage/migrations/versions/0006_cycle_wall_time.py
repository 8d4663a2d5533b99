"""cycles.wall_ms: a cycle's duration on the wall clock

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06

Written by hand against `storage/trading.py` (not imported from it). A cycle's `started_at` and
`finished_at` are on the clock the runner trades by, which for a replay is simulated time (at
speed N a 5 ms cycle spans N x 5 ms of it): the panel's latency needs the real duration too.
Rows written before this revision keep NULL (their latency falls back to the two times).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("wall_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("wall_ms")
