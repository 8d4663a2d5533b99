"""risk state: kill switches (with history), circuit breakers, risk events

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

Written by hand against `storage/risk_models.py` (not imported from it), like 0001;
`tests/test_risk_killswitch.py` checks that models and migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "risk_kill_switches",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("engaged", sa.Boolean(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("engaged_at", TS, nullable=False),
        sa.Column("release", sa.String(16), nullable=False),
        sa.Column("release_at", TS, nullable=True),
        sa.Column("released_at", TS, nullable=True),
        sa.Column("released_by", sa.String(200), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_risk_kill_switches"),
        sa.UniqueConstraint("scope", "target", "engaged",
                            name="uq_risk_kill_switches_scope_target_engaged"),
    )
    op.create_index("ix_risk_kill_switches_engaged_at", "risk_kill_switches", ["engaged_at"])

    op.create_table(
        "risk_breakers",
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("open_until", TS, nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("level", "target", name="pk_risk_breakers"),
    )

    op.create_table(
        "risk_events",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_events"),
    )
    op.create_index("ix_risk_events_ts", "risk_events", ["ts"])
    op.create_index("ix_risk_events_target_ts", "risk_events", ["target", "ts"])


def downgrade() -> None:
    op.drop_index("ix_risk_events_target_ts", table_name="risk_events")
    op.drop_index("ix_risk_events_ts", table_name="risk_events")
    op.drop_table("risk_events")
    op.drop_table("risk_breakers")
    op.drop_index("ix_risk_kill_switches_engaged_at", table_name="risk_kill_switches")
    op.drop_table("risk_kill_switches")
