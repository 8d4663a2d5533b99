"""backtest results: runs, trades, equity curves and the other result arrays

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand against the models (not imported from them), so later model changes need a new
revision; `tests/test_storage_results.py` checks that the models and the migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(38, 12)
DOUBLE = sa.Float(53)


def _run_id(primary_key: bool = True) -> sa.Column:
    return sa.Column("run_id", sa.Integer(), nullable=False, primary_key=primary_key)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["backtest_runs.id"], ondelete="CASCADE",
                                   name=f"fk_{table}_run_id_backtest_runs")


def upgrade() -> None:
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(200), nullable=False),
        sa.Column("timeframe", sa.String(16), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("capital", MONEY, nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("final_equity", MONEY, nullable=True),
        sa.Column("total_return", DOUBLE, nullable=True),
        sa.Column("max_drawdown", DOUBLE, nullable=True),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("fill_model", sa.JSON(), nullable=False),
        sa.Column("coverage", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("tag", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_backtest_runs"),
        sa.ForeignKeyConstraint(["parent_id"], ["backtest_runs.id"], ondelete="CASCADE",
                                name="fk_backtest_runs_parent_id_backtest_runs"),
    )
    op.create_index("ix_backtest_runs_kind_created_at", "backtest_runs", ["kind", "created_at"])
    op.create_index("ix_backtest_runs_name", "backtest_runs", ["name"])
    op.create_index("ix_backtest_runs_strategy", "backtest_runs", ["strategy"])
    op.create_index("ix_backtest_runs_parent_id", "backtest_runs", ["parent_id"])
    op.create_index("ix_backtest_runs_tag", "backtest_runs", ["tag"])

    op.create_table(
        "backtest_trades",
        _run_id(),
        sa.Column("seq", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("direction", sa.SmallInteger(), nullable=False),
        sa.Column("entry_ms", sa.BigInteger(), nullable=False),
        sa.Column("exit_ms", sa.BigInteger(), nullable=False),
        *(sa.Column(name, MONEY, nullable=False)
          for name in ("amount", "entry_price", "exit_price", "pnl", "fees", "slippage")),
        sa.Column("ret", DOUBLE, nullable=True),
        sa.Column("entry_reason", sa.String(32), nullable=False),
        sa.Column("exit_reason", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_backtest_trades"),
        _run_fk("backtest_trades"),
    )

    op.create_table(
        "backtest_equity",
        _run_id(),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("ts", sa.LargeBinary(), nullable=False),
        sa.Column("equity", sa.LargeBinary(), nullable=False),
        sa.Column("drawdown", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_backtest_equity"),
        _run_fk("backtest_equity"),
    )

    op.create_table(
        "backtest_arrays",
        _run_id(),
        sa.Column("name", sa.String(160), nullable=False, primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_backtest_arrays"),
        _run_fk("backtest_arrays"),
    )


def downgrade() -> None:
    for table in ("backtest_arrays", "backtest_equity", "backtest_trades"):
        op.drop_table(table)
    for index in ("tag", "parent_id", "strategy", "name", "kind_created_at"):
        op.drop_index(f"ix_backtest_runs_{index}", table_name="backtest_runs")
    op.drop_table("backtest_runs")
