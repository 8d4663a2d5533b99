"""SQLAlchemy models of the trading state: what a bot did, so a crash loses nothing.

The order is the centre: its row is written in status `new` before it is sent (with a client
order id derived from bot, cycle key and intent key, UNIQUE, so the same intent can never be
recorded twice), and every change of its status or filled amount is an `order_events` row written
in the same transaction. Fills are unique per (order, exchange trade id) so a fill reported twice
(websocket and poll, or a poll repeated after a restart) is stored once; positions are derived
from fills.

Enumerations are stored as lower-case words (`buy`, `partially_filled`, `stop_loss`), not the
integer codes of `orders.py`, so the tables read plainly in SQL and a dump does not depend on
the enum's numbering. Times we take are `DateTime(timezone=True)` in UTC; times the exchange
gives are its integer milliseconds (`*_ms`), kept as given.

No cascades: deleting a bot that has orders, fills or runs is refused by the database.
The tables are made by migration 0002 (`migrations/versions/0002_trading_state.py`); a test
checks that it and these models agree.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from botfleet.storage.columns import Document, Money
from botfleet.storage.models import Base

TS = DateTime(timezone=True)
STATUS = String(24)
MODES = ("paper", "live")


def _fk(table: str) -> ForeignKey:
    return ForeignKey(f"{table}.id")


class Bot(Base):
    __tablename__ = "bots"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    exchange: Mapped[str] = mapped_column(String(64))  # the fleet's exchange name
    mode: Mapped[str] = mapped_column(String(8))  # MODES
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("mode IN ('paper', 'live')", name="mode"),
    )


class BotRun(Base):
    """One process running a bot: the run a cycle belongs to says which code and host did it."""

    __tablename__ = "bot_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(_fk("bots"))
    mode: Mapped[str] = mapped_column(String(8))  # the bot's mode when the run started
    started_at: Mapped[datetime] = mapped_column(TS)
    stopped_at: Mapped[datetime | None] = mapped_column(TS)  # NULL: running, or crashed
    pid: Mapped[int | None]
    host: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(64))  # botfleet's version
    stop_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_bot_runs_bot_id_started_at", "bot_id", "started_at"),)


class Cycle(Base):
    """One attempt at a bot's cycle. `key` names the cycle's work (by default its candle time)
    and is the same when the cycle is retried after a crash, so its orders get the same client
    ids; `correlation_id` is this attempt's, for logs and notifications."""

    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(_fk("bots"))
    run_id: Mapped[int | None] = mapped_column(_fk("bot_runs"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str] = mapped_column(String(32), unique=True)
    candle_ms: Mapped[int | None] = mapped_column(BigInteger)  # the candle the cycle acted on
    started_at: Mapped[datetime] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    # the duration on the wall clock: started/finished are on the runner's clock, which a
    # replay runs faster than real time (migration 0006)
    wall_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_cycles_bot_id_key", "bot_id", "key"),)


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(36), unique=True)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    bot_id: Mapped[int] = mapped_column(_fk("bots"))
    cycle_id: Mapped[int | None] = mapped_column(_fk("cycles"), index=True)  # first recorded in
    cycle_key: Mapped[str] = mapped_column(String(64))
    intent_key: Mapped[str] = mapped_column(String(200))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal | None] = mapped_column(Money)
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(STATUS)
    filled: Mapped[Decimal] = mapped_column(Money)
    average_price: Mapped[Decimal | None] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)  # why it was rejected or is unknown
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(TS)
    exchange_created_ms: Mapped[int | None] = mapped_column(BigInteger)
    exchange_updated_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_orders_bot_id_status", "bot_id", "status"),)


class OrderEventRow(Base):
    """One change of an order: a transition, or more filled in the same status. `from_status`
    is NULL for the row that records the intent."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(_fk("orders"), index=True)
    from_status: Mapped[str | None] = mapped_column(STATUS)
    to_status: Mapped[str] = mapped_column(STATUS)
    ts: Mapped[datetime] = mapped_column(TS)
    source: Mapped[str] = mapped_column(String(32))  # intent, send, ack, fill, reconcile, ...
    detail: Mapped[dict[str, Any]] = mapped_column(Document)


class FillRow(Base):
    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(_fk("orders"))
    bot_id: Mapped[int] = mapped_column(_fk("bots"))
    trade_id: Mapped[str] = mapped_column(String(64))  # the exchange's trade id
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    fee_currency: Mapped[str | None] = mapped_column(String(16))
    liquidity: Mapped[str] = mapped_column(String(8))
    ts_ms: Mapped[int] = mapped_column(BigInteger)  # the exchange's time of the trade
    recorded_at: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (
        UniqueConstraint("order_id", "trade_id"),
        Index("ix_fills_bot_id_symbol_ts_ms", "bot_id", "symbol", "ts_ms"),
    )


class PositionRow(Base):
    """A bot's net position in a symbol, from its fills (`execution.positions`)."""

    __tablename__ = "positions"

    bot_id: Mapped[int] = mapped_column(_fk("bots"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money)  # signed: negative is short
    entry_price: Mapped[Decimal] = mapped_column(Money)  # average entry; 0 when flat
    realized_pnl: Mapped[Decimal] = mapped_column(Money)  # net of quote-currency fees
    updated_at: Mapped[datetime] = mapped_column(TS)


class BalanceSnapshot(Base):
    """What an exchange account held at a time, per asset: of a bot (paper wallets are per bot)
    or of a named account (a live exchange account several bots share)."""

    __tablename__ = "balance_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int | None] = mapped_column(_fk("bots"))
    account: Mapped[str | None] = mapped_column(String(100))
    asset: Mapped[str] = mapped_column(String(32))
    free: Mapped[Decimal] = mapped_column(Money)
    used: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    ts: Mapped[datetime] = mapped_column(TS)

    __table_args__ = (
        CheckConstraint("bot_id IS NOT NULL OR account IS NOT NULL", name="owner"),
        Index("ix_balance_snapshots_bot_id_ts", "bot_id", "ts"),
        Index("ix_balance_snapshots_account_ts", "account", "ts"),
    )


class EquityPoint(Base):
    __tablename__ = "equity_points"

    bot_id: Mapped[int] = mapped_column(_fk("bots"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(TS, primary_key=True)
    equity: Mapped[Decimal] = mapped_column(Money)  # quote currency


class AuditEntry(Base):
    """Who did what to what: operator commands, kill switch, config changes, manual orders."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(TS, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(200), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(Document)
    # FALSE: a refused attempt (e.g. a Telegram command from a chat that is not allowed); 0004
    allowed: Mapped[bool] = mapped_column(Boolean, server_default=true())
