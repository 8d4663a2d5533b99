"""State databases and backtest results for the storage tests.

`state_url(kind)` gives a fresh, empty state database: a SQLite file in tmp_path, or a schema of
its own in the real PostgreSQL `test` database (other test files create candle tables there), so
nothing these tests create or migrate is seen by others; the schema is dropped afterwards.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import numpy as np
import psycopg
import pytest

from botfleet.orders import Reason
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE
from botfleet.sim.result import BacktestResult, Coverage

from stores import PG_URL, pg_available, pg_schema_url

BACKENDS = ("sqlite", "postgresql")
HOUR_MS = 3_600_000
FIVE_YEARS_HOURLY = 43_824  # 5 * 365.25 * 24


@pytest.fixture
def state_url(tmp_path):
    """state_url(kind) -> URL of an empty state database of that kind (skips without
    PostgreSQL, saying why)."""
    schemas: list[str] = []
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:8]}.db'}"
        reason = pg_available()
        if reason:
            pytest.skip(reason)
        schema = f"t_state_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        return pg_schema_url(schema)

    yield make
    if schemas:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def make_result(bars: int = 500, trades: int = 20, seed: int = 0, name: str = "btc-trend",
                strategy: str = "sma_cross", symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
                metrics: dict | None = None) -> BacktestResult:
    """A result shaped like the kernel's: full-precision floats (more digits than the 12
    decimals money is stored with), NaN closes where a pair has no bar, every record kind."""
    rng = np.random.default_rng(seed)
    n_assets = len(symbols)
    ts = 1_577_836_800_000 + np.arange(bars, dtype=np.int64) * HOUR_MS
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (bars, n_assets)), axis=0))
    close[: bars // 10, -1] = np.nan  # the last pair listed later
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
    cash = equity * rng.uniform(0.2, 1.0, bars)

    tr = np.zeros(trades, dtype=TRADE_DTYPE)
    entry = np.sort(rng.integers(0, max(bars - 2, 1), trades))
    tr["asset"] = rng.integers(0, n_assets, trades)
    tr["direction"] = rng.choice([-1, 1], trades)
    tr["entry_bar"] = entry
    tr["exit_bar"] = np.minimum(entry + rng.integers(1, 48, trades), bars - 1)
    tr["amount"] = rng.uniform(0.001, 3, trades)
    tr["entry_price"] = rng.uniform(10, 70_000, trades)
    tr["exit_price"] = tr["entry_price"] * rng.uniform(0.9, 1.1, trades)
    tr["fees"] = tr["amount"] * tr["entry_price"] * 0.002
    tr["slippage"] = rng.uniform(0, 1, trades)
    tr["pnl"] = (tr["direction"] * (tr["exit_price"] - tr["entry_price"]) * tr["amount"]
                 - tr["fees"])
    tr["ret"] = tr["pnl"] / (tr["entry_price"] * tr["amount"])
    if trades:
        tr["ret"][0] = np.nan  # a zero-cost trade has no return
    tr["entry_reason"] = Reason.SIGNAL
    tr["exit_reason"] = rng.choice([r.value for r in Reason], trades)

    fills = np.zeros(2 * trades, dtype=FILL_DTYPE)
    fills["bar"] = np.sort(np.concatenate([tr["entry_bar"], tr["exit_bar"]]))
    fills["asset"] = np.repeat(tr["asset"], 2)
    fills["side"] = np.tile([1, -1], trades)
    fills["amount"] = np.repeat(tr["amount"], 2)
    fills["price"] = np.repeat(tr["entry_price"], 2)
    fills["fee"] = np.repeat(tr["fees"] / 2, 2)
    rejects = np.zeros(3, dtype=REJECT_DTYPE)
    rejects["bar"] = [1, 2, 3]
    rejects["amount"] = [1e-9, 0.5, 2.0]

    return BacktestResult(
        name=name, strategy=strategy, timeframe="1h", symbols=list(symbols),
        params={"fast": np.int64(10), "slow": 30, "stop": Decimal("0.025"),
                "ratio": np.float64(0.1), "mode": "long", "levels": [1, 2.5]},
        capital=Decimal(10000), ts=ts, close=close, equity=equity, cash=cash,
        exposure=1 - cash / equity, fills=fills, trades=tr, rejects=rejects,
        fill_model={"fee_bps": 10, "slippage": {"model": "fixed", "bps": np.float64(2.5)}},
        coverage=[Coverage(s, int(ts[0]), int(ts[-1]), bars, 3, "sqlite:///data/candles.db")
                  for s in symbols] if bars else [],
        series={"sma_fast": close[:, 0] * 0.99, "signal": rng.integers(-1, 2, bars)
                .astype(np.int8)},
        metrics={"sharpe": 1.2345678901234567, "profit_factor": float("inf"),
                 "sortino": float("nan"), "worst": float("-inf"),
                 "n_trades": np.int64(trades), "win_rate": np.float32(0.5),
                 "final": Decimal("10512.125"), "huge": 1e300, "tiny": 5e-324}
        if metrics is None else metrics,
        meta={"command": "botfleet backtest", "seed": seed, "versions": {"numpy": np.__version__}})
