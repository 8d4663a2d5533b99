"""SQLAlchemy models of the state database. Today: backtest results.

A run's scalar facts (what was tested, on what, with which outcome) are columns, so the UI can
list, filter and sort runs in SQL; its trades are rows (one per round trip, money as `Money`),
so reports can query them; its curves are numpy `.npy` blobs, one row per run, because a 5-year
hourly curve is 44k points that are always read whole. `backtest_equity` holds what a chart
needs (time, equity, drawdown); `backtest_arrays` holds the rest of the result (cash, exposure,
closes, fills, rejects, indicator series), read only by `ResultStore.get`.

Every child row goes with its run (ON DELETE CASCADE), and the trials or windows of a study go
with the study's run (`parent_id`).

The schema is made by the migrations in `migrations/versions`, never by `create_all`; a test
checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from botfleet.storage.columns import Document, Money

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
Double = Float(53)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _run_fk() -> ForeignKey:
    return ForeignKey("backtest_runs.id", ondelete="CASCADE")


class BacktestRun(Base):
    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))  # storage.results.KINDS
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(200))
    timeframe: Mapped[str] = mapped_column(String(16))
    symbols: Mapped[list[str]] = mapped_column(Document)
    params: Mapped[dict[str, Any]] = mapped_column(Document)
    capital: Mapped[Decimal] = mapped_column(Money)
    start_ms: Mapped[int] = mapped_column(BigInteger)  # first bar's open time, ms UTC
    end_ms: Mapped[int] = mapped_column(BigInteger)  # last bar's open time
    bars: Mapped[int]
    # outcome, for lists that sort without loading curves: the result's metrics (sim.metrics
    # conventions) where present, else computed from its arrays; NULL where not finite
    final_equity: Mapped[Decimal | None] = mapped_column(Money)
    total_return: Mapped[float | None] = mapped_column(Double)
    max_drawdown: Mapped[float | None] = mapped_column(Double)  # <= 0, fraction of the peak
    trades: Mapped[int]
    fill_model: Mapped[dict[str, Any]] = mapped_column(Document)
    coverage: Mapped[list[Any]] = mapped_column(Document)
    metrics: Mapped[dict[str, Any]] = mapped_column(Document)
    meta: Mapped[dict[str, Any]] = mapped_column(Document)
    parent_id: Mapped[int | None] = mapped_column(_run_fk(), index=True)
    tag: Mapped[str | None] = mapped_column(String(200), index=True)

    __table_args__ = (
        Index("ix_backtest_runs_kind_created_at", "kind", "created_at"),
        Index("ix_backtest_runs_name", "name"),
        Index("ix_backtest_runs_strategy", "strategy"),
    )


class BacktestTrade(Base):
    __tablename__ = "backtest_trades"

    run_id: Mapped[int] = mapped_column(_run_fk(), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)  # position in the result's trade array
    symbol: Mapped[str] = mapped_column(String(64))
    direction: Mapped[int] = mapped_column(SmallInteger)  # +1 long, -1 short
    entry_ms: Mapped[int] = mapped_column(BigInteger)
    exit_ms: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Money)
    entry_price: Mapped[Decimal] = mapped_column(Money)
    exit_price: Mapped[Decimal] = mapped_column(Money)
    pnl: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money)
    slippage: Mapped[Decimal] = mapped_column(Money)
    ret: Mapped[float | None] = mapped_column(Double)  # a ratio, not money: float, exact
    entry_reason: Mapped[str] = mapped_column(String(32))  # orders.Reason label
    exit_reason: Mapped[str] = mapped_column(String(32))


class BacktestEquity(Base):
    __tablename__ = "backtest_equity"

    run_id: Mapped[int] = mapped_column(_run_fk(), primary_key=True)
    points: Mapped[int]
    ts: Mapped[bytes] = mapped_column(LargeBinary)  # .npy int64, ms UTC
    equity: Mapped[bytes] = mapped_column(LargeBinary)  # .npy float64
    drawdown: Mapped[bytes] = mapped_column(LargeBinary)  # .npy float64, sim.metrics.drawdown


class BacktestArray(Base):
    __tablename__ = "backtest_arrays"

    run_id: Mapped[int] = mapped_column(_run_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(String(160), primary_key=True)  # e.g. cash, series/sma
    data: Mapped[bytes] = mapped_column(LargeBinary)  # .npy, any dtype numpy saves unpickled

# the trading-state and risk-state tables share this metadata (schema_diff, migrations)
from botfleet.storage import control_models as _control_models  # noqa: F401
from botfleet.storage import ml_models as _ml_models  # noqa: F401
from botfleet.storage import risk_models as _risk_models  # noqa: F401
from botfleet.storage import trading as _trading  # noqa: F401
