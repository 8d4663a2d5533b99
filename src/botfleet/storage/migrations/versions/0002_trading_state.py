"""trading state: bots, runs, cycles, orders and their events, fills, positions, balances, equity,
audit log

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Written by hand against `storage/trading.py` (not imported from it), like 0001;
`tests/test_storage_trading.py` checks that the models and the migrations agree on both backends.
No foreign key cascades: an order, a fill or an audit row is a financial record, so deleting a bot
that has any is refused by the database rather than silently erasing its history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(38, 12)
TS = sa.DateTime(timezone=True)


def _id(table: str) -> tuple[sa.Column, sa.PrimaryKeyConstraint]:
    return (sa.Column("id", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}"))


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"],
                                   name=f"fk_{table}_{column}_{target}")


def _money(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, MONEY, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bots",
        *_id("bots"),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("exchange", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("name", name="uq_bots_name"),
        sa.CheckConstraint("mode IN ('paper', 'live')", name="ck_bots_mode"),
    )

    op.create_table(
        "bot_runs",
        *_id("bot_runs"),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("stopped_at", TS, nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("stop_reason", sa.String(200), nullable=True),
        _fk("bot_runs", "bot_id", "bots"),
    )
    op.create_index("ix_bot_runs_bot_id_started_at", "bot_runs", ["bot_id", "started_at"])

    op.create_table(
        "cycles",
        *_id("cycles"),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(32), nullable=False),
        sa.Column("candle_ms", sa.BigInteger(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _fk("cycles", "bot_id", "bots"),
        _fk("cycles", "run_id", "bot_runs"),
        sa.UniqueConstraint("correlation_id", name="uq_cycles_correlation_id"),
    )
    op.create_index("ix_cycles_bot_id_key", "cycles", ["bot_id", "key"])
    op.create_index("ix_cycles_run_id", "cycles", ["run_id"])

    op.create_table(
        "orders",
        *_id("orders"),
        sa.Column("client_order_id", sa.String(36), nullable=False),
        sa.Column("exchange_order_id", sa.String(64), nullable=True),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=True),
        sa.Column("cycle_key", sa.String(64), nullable=False),
        sa.Column("intent_key", sa.String(200), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        _money("amount"),
        _money("price", nullable=True),
        _money("stop_price", nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        _money("filled"),
        _money("average_price", nullable=True),
        _money("fee"),
        sa.Column("fee_currency", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("cancel_requested_at", TS, nullable=True),
        sa.Column("exchange_created_ms", sa.BigInteger(), nullable=True),
        sa.Column("exchange_updated_ms", sa.BigInteger(), nullable=True),
        _fk("orders", "bot_id", "bots"),
        _fk("orders", "cycle_id", "cycles"),
        sa.UniqueConstraint("client_order_id", name="uq_orders_client_order_id"),
    )
    op.create_index("ix_orders_bot_id_status", "orders", ["bot_id", "status"])
    op.create_index("ix_orders_exchange_order_id", "orders", ["exchange_order_id"])
    op.create_index("ix_orders_cycle_id", "orders", ["cycle_id"])

    op.create_table(
        "order_events",
        *_id("order_events"),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        _fk("order_events", "order_id", "orders"),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])

    op.create_table(
        "fills",
        *_id("fills"),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        _money("amount"),
        _money("price"),
        _money("fee"),
        sa.Column("fee_currency", sa.String(16), nullable=True),
        sa.Column("liquidity", sa.String(8), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        _fk("fills", "order_id", "orders"),
        _fk("fills", "bot_id", "bots"),
        sa.UniqueConstraint("order_id", "trade_id", name="uq_fills_order_id_trade_id"),
    )
    op.create_index("ix_fills_bot_id_symbol_ts_ms", "fills", ["bot_id", "symbol", "ts_ms"])

    op.create_table(
        "positions",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=False),
        _money("amount"),
        _money("entry_price"),
        _money("realized_pnl"),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "symbol", name="pk_positions"),
        _fk("positions", "bot_id", "bots"),
    )

    op.create_table(
        "balance_snapshots",
        *_id("balance_snapshots"),
        sa.Column("bot_id", sa.Integer(), nullable=True),
        sa.Column("account", sa.String(100), nullable=True),
        sa.Column("asset", sa.String(32), nullable=False),
        _money("free"),
        _money("used"),
        _money("total"),
        sa.Column("ts", TS, nullable=False),
        _fk("balance_snapshots", "bot_id", "bots"),
        sa.CheckConstraint("bot_id IS NOT NULL OR account IS NOT NULL",
                           name="ck_balance_snapshots_owner"),
    )
    op.create_index("ix_balance_snapshots_bot_id_ts", "balance_snapshots", ["bot_id", "ts"])
    op.create_index("ix_balance_snapshots_account_ts", "balance_snapshots", ["account", "ts"])

    op.create_table(
        "equity_points",
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("ts", TS, nullable=False),
        _money("equity"),
        sa.PrimaryKeyConstraint("bot_id", "ts", name="pk_equity_points"),
        _fk("equity_points", "bot_id", "bots"),
    )

    op.create_table(
        "audit_log",
        *_id("audit_log"),
        sa.Column("ts", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])


def downgrade() -> None:
    for table in ("audit_log", "equity_points", "balance_snapshots", "positions", "fills",
                  "order_events", "orders", "cycles", "bot_runs", "bots"):
        op.drop_table(table)  # its indexes go with it
