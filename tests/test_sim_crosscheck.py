"""botfleet's backtester against established ones on real candles: the same strategy under the
same assumptions must give the same trades and the same final equity.

Conventions aligned, and why:
- backtesting.py's `crossover(a, b)` is `a[-2] < b[-2] and a[-1] > b[-1]` (strict on the bar
  before); botfleet's `crosses_above` allows equality there, so the botfleet side writes the
  crossing out as `fast > slow and shift(fast) < shift(slow)`.
- backtesting.py sizes in whole units: both sides trade a fixed 1 BTC (`fixed_base`), with cash
  large enough that cash never binds.
- backtesting.py leaves a trade open at the end (`finalize_trades=False`) and marks it at the last
  close: botfleet runs with `fills.close_at_end: false`.
- No slippage, no exchange precision (backtesting.py has neither); commission 0.1% of notional at
  entry and at exit on both sides.
- SMAs: backtesting.py's strategy computes them with pandas' rolling mean, botfleet with TA-Lib;
  the prices and crossings are compared, so an indicator disagreement would show too.
vectorbt: `Portfolio.from_signals` on botfleet's own signals, shifted one bar and priced at the
open (vectorbt fills at the bar it is given), as a second, independent accounting check.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from botfleet.sim.engine import PairData, backtest
from botfleet.sim.fillmodel import FillModel
from botfleet.strategy.declarative import load_strategy

from shared_data import load

FAST, SLOW, FEE, CASH = 10, 30, 0.001, 10_000_000

STRATEGY = f"""
kind: strategy
version: 1
name: sma_strict_cross
parameters:
  fast: {{default: {FAST}}}
  slow: {{default: {SLOW}}}
indicators:
  f: sma(close, fast)
  s: sma(close, slow)
entry: f > s and shift(f) < shift(s)
exit: f < s and shift(f) > shift(s)
sizing: {{method: fixed_base, value: 1}}
"""


@pytest.fixture(scope="module")
def candles():
    c = load("binance_BTC-USDT_1h.csv")
    start = np.searchsorted(c["ts"], 1609459200000)  # 2021-01-01: three years of hourly bars
    return c[start:start + 3 * 8760]


@pytest.fixture(scope="module")
def ours(candles, tmp_path_factory):
    path = tmp_path_factory.mktemp("xc") / "sma_strict_cross.yaml"
    path.write_text(STRATEGY, encoding="utf-8")
    strategy = load_strategy(path, "1h")
    fills = FillModel.from_yaml({"precision": "none", "close_at_end": False,
                                 "fees": {"maker": "0.1%", "taker": "0.1%"},
                                 "slippage": {"model": "none"}})
    result = backtest(strategy, [PairData("BTC/USDT", candles)], "1h", Decimal(CASH), fills)
    return strategy, result


def _frame(candles) -> pd.DataFrame:
    return pd.DataFrame({"Open": candles["open"], "High": candles["high"],
                         "Low": candles["low"], "Close": candles["close"],
                         "Volume": candles["volume"]},
                        index=pd.to_datetime(candles["ts"], unit="ms"))


def test_same_trades_and_equity_as_backtesting_py(candles, ours):
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(x, n):
        return pd.Series(x).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self):
            self.f = self.I(sma, self.data.Close, FAST)
            self.s = self.I(sma, self.data.Close, SLOW)

        def next(self):
            if crossover(self.f, self.s) and not self.position:
                self.buy(size=1)
            elif crossover(self.s, self.f) and self.position:
                self.position.close()

    bt = Backtest(_frame(candles), SmaCross, cash=CASH, commission=FEE, trade_on_close=False,
                  finalize_trades=False)
    stats = bt.run()
    theirs = stats["_trades"]
    _, result = ours
    t = result.trades
    assert len(t) == len(theirs) > 100
    ts = result.ts
    entry_times = pd.to_datetime(ts[t["entry_bar"]], unit="ms")
    exit_times = pd.to_datetime(ts[t["exit_bar"]], unit="ms")
    assert (entry_times == theirs["EntryTime"].to_numpy()).all()
    assert (exit_times == theirs["ExitTime"].to_numpy()).all()
    np.testing.assert_allclose(t["entry_price"], theirs["EntryPrice"], rtol=1e-12)
    np.testing.assert_allclose(t["exit_price"], theirs["ExitPrice"], rtol=1e-12)
    np.testing.assert_allclose(t["pnl"], theirs["PnL"], rtol=1e-9)
    assert result.final_equity == pytest.approx(stats["Equity Final [$]"], rel=1e-6)
    equity = stats["_equity_curve"]["Equity"].to_numpy()
    np.testing.assert_allclose(result.equity, equity, rtol=1e-9)


def test_same_accounting_as_vectorbt(candles, ours):
    import vectorbt as vbt

    strategy, result = ours
    sig = strategy.signals(candles)
    idx = pd.to_datetime(candles["ts"], unit="ms")
    entries = pd.Series(sig.entry_long, idx).shift(1, fill_value=False)
    exits = pd.Series(sig.exit_long, idx).shift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(pd.Series(candles["close"], idx), entries, exits,
                                    price=pd.Series(candles["open"], idx), size=1.0,
                                    size_type="amount", fees=FEE, init_cash=CASH, freq="1h")
    closed = pf.trades.closed.records_readable
    t = result.trades
    assert len(t) == len(closed)
    np.testing.assert_allclose(t["entry_price"], closed["Avg Entry Price"], rtol=1e-12)
    np.testing.assert_allclose(t["exit_price"], closed["Avg Exit Price"], rtol=1e-12)
    np.testing.assert_allclose(t["pnl"], closed["PnL"], rtol=1e-9)
    np.testing.assert_allclose(result.equity, pf.value().to_numpy(), rtol=1e-9)
    assert result.final_equity == pytest.approx(float(pf.final_value()), rel=1e-6)
