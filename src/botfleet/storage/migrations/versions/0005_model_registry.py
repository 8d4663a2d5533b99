"""model registry: ml_model_versions, ml_model_events

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05

Written by hand against `storage/ml_models.py` (not imported from it), like 0001-0004;
`tests/test_ml_registry.py` checks that models and migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ml_model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("promoted_at", TS, nullable=True),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("pairs", sa.JSON(), nullable=False),
        sa.Column("timeframe", sa.String(16), nullable=False),
        sa.Column("data_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("data_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("train_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("train_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("holdout_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("holdout_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("spec_sha256", sa.String(64), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artefact", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ml_model_versions"),
        sa.UniqueConstraint("name", "version", name="uq_ml_model_versions_name_version"),
    )
    op.create_index("ix_ml_model_versions_name_status", "ml_model_versions", ["name", "status"])
    op.create_table(
        "ml_model_events",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ml_model_events"),
    )
    op.create_index("ix_ml_model_events_name_ts", "ml_model_events", ["name", "ts"])


def downgrade() -> None:
    op.drop_index("ix_ml_model_events_name_ts", table_name="ml_model_events")
    op.drop_table("ml_model_events")
    op.drop_index("ix_ml_model_versions_name_status", table_name="ml_model_versions")
    op.drop_table("ml_model_versions")
