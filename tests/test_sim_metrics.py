"""Backtest metrics: every ratio against empyrical on real BTC returns, trade statistics against
hand-computed numbers, monthly returns against pandas, the grid path against the full path,
and the edge cases (no trades, flat, one bar, no losers, ruin) defined rather than NaN."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache

import empyrical
import numpy as np
import pandas as pd
import pytest

from botfleet.sim import metrics
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE
from botfleet.sim.result import BacktestResult

from shared_data import load

pytestmark = pytest.mark.filterwarnings("error")  # a divide-by-zero warning is a failure

CAPITAL = 10_000.0
H = 3_600_000


def make_result(equity, *, capital=CAPITAL, timeframe="1h", ts=None, exposure=None,
                trades=(), fills=(), rejects=(), symbols=("BTC/USDT",)) -> BacktestResult:
    """A result as the kernel would hand it over, built from plain lists."""
    equity = np.asarray(equity, dtype=np.float64)
    n = len(equity)
    if ts is None:
        ts = 1_600_560_000_000 + np.arange(n, dtype=np.int64) * H
    return BacktestResult(
        name="test", strategy="test", timeframe=timeframe, symbols=list(symbols), params={},
        capital=Decimal(str(capital)), ts=np.asarray(ts, dtype=np.int64),
        close=np.full((n, len(symbols)), 1.0), equity=equity, cash=equity.copy(),
        exposure=np.zeros(n) if exposure is None else np.asarray(exposure, dtype=np.float64),
        fills=_records(fills, FILL_DTYPE), trades=_records(trades, TRADE_DTYPE),
        rejects=_records(rejects, REJECT_DTYPE))


def _records(rows, dtype) -> np.ndarray:
    out = np.zeros(len(rows), dtype)
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[i][k] = v
    return out


def trade(pnl, ret, entry_bar=0, exit_bar=1, asset=0, direction=1):
    return {"pnl": pnl, "ret": ret, "entry_bar": entry_bar, "exit_bar": exit_bar,
            "asset": asset, "direction": direction, "amount": 1.0}


# ----------------------------------------------------------------------------- real curves

def _btc(step: int = 1):
    candles = load("binance_BTC-USDT_1h.csv")[::step]
    return candles["ts"], candles["close"]


def _trend_curve(close: np.ndarray, window: int = 200, fee: float = 0.001) -> np.ndarray:
    """Long when the close is above its SMA, flat otherwise, paying `fee` per switch: a real
    return series with drawdowns, flat stretches and both signs."""
    sma = np.convolve(close, np.ones(window) / window, mode="full")[:len(close)]
    sma[:window - 1] = np.inf
    pos = (close > sma).astype(np.float64)
    held = np.concatenate(([0.0], pos[:-1]))
    r = held * np.concatenate(([0.0], close[1:] / close[:-1] - 1.0))
    r -= fee * np.abs(np.diff(np.concatenate(([0.0], pos))))
    return CAPITAL * np.cumprod(1.0 + r)


@cache
def _curves():
    ts, close = _btc()
    return {"trend": (ts, _trend_curve(close)), "hold": (ts, CAPITAL * close / close[0] * 0.999)}


def _pandas_returns(equity: np.ndarray) -> np.ndarray:
    """Returns as pandas computes them, with the capital as the value before the first bar."""
    return pd.Series(np.concatenate(([CAPITAL], equity))).pct_change().to_numpy()[1:]


@pytest.mark.parametrize("curve", ["trend", "hold"])
@pytest.mark.parametrize("timeframe,step", [("1h", 1), ("1d", 24)])
def test_ratios_match_empyrical_on_real_btc(curve, timeframe, step):
    ts, equity = _curves()[curve]
    ts, equity = ts[::step], equity[::step]
    m = metrics.compute(make_result(equity, ts=ts, timeframe=timeframe))
    r = _pandas_returns(equity)
    ppy = {"1h": 8760, "1d": 365}[timeframe]
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=ppy), rel=1e-9)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r, annualization=ppy), rel=1e-9)
    assert m["volatility"] == pytest.approx(empyrical.annual_volatility(r, annualization=ppy),
                                            rel=1e-9)
    assert m["cagr"] == pytest.approx(empyrical.annual_return(r, annualization=ppy), rel=1e-9)
    assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), rel=1e-9)
    assert m["calmar"] == pytest.approx(empyrical.calmar_ratio(r, annualization=ppy), rel=1e-9)
    assert m["total_return"] == pytest.approx(equity[-1] / CAPITAL - 1, rel=1e-12)
    assert m["bars"] == len(equity) and m["start"] == ts[0] and m["end"] == ts[-1]
    assert m["max_drawdown"] < -0.3  # real BTC: the curves did draw down


def _longest_underwater(equity, capital) -> int:
    """The duration the slow, obvious way: walk the curve and count."""
    peak, run, best = capital, 0, 0
    for e in equity:
        peak = max(peak, e)
        run = run + 1 if e < peak * (1 - 1e-12) else 0
        best = max(best, run)
    return best


def test_drawdown_duration_on_real_curve_and_by_hand():
    ts, equity = _curves()["trend"]
    m = metrics.compute(make_result(equity, ts=ts))
    assert m["max_drawdown_duration"] == _longest_underwater(equity, CAPITAL) > 100
    assert m["max_drawdown_duration_s"] == m["max_drawdown_duration"] * 3600

    dd, mdd, bars = metrics.drawdown(np.array([100, 90, 95, 100, 80, 85, 90, 95, 99.0]), 100)
    assert mdd == pytest.approx(-0.2) and bars == 5  # bars 4..8, still open at the end
    assert dd[1] == pytest.approx(-0.1) and dd[3] == 0
    # the capital is the first peak: a fee on bar 0 is already a drawdown
    assert metrics.drawdown(np.array([99.0, 100.0]), 100)[1:] == (pytest.approx(-0.01), 1)
    assert metrics.drawdown(np.array([99.0, 100.0]))[1:] == (0.0, 0)


@pytest.mark.parametrize("curve", ["trend", "hold"])  # hold pays a fee on bar 0: base = capital
def test_monthly_returns_match_pandas_resample(curve):
    ts, equity = _curves()[curve]
    monthly = metrics.monthly_returns(ts, equity, initial=CAPITAL)
    s = pd.Series(equity, index=pd.to_datetime(ts, unit="ms", utc=True))
    month_end = s.resample("ME").last()
    expected = month_end.pct_change()
    expected.iloc[0] = month_end.iloc[0] / CAPITAL - 1
    assert len(monthly) == len(expected) > 50
    assert np.array_equal(monthly["year"], expected.index.year)
    assert np.array_equal(monthly["month"], expected.index.month)
    np.testing.assert_allclose(monthly["ret"], expected.to_numpy(), rtol=1e-12, atol=1e-15)

    years, table = metrics.monthly_table(monthly)
    year_end = s.resample("YE").last()
    yearly = year_end.pct_change()
    yearly.iloc[0] = year_end.iloc[0] / CAPITAL - 1
    assert years == list(year_end.index.year)
    np.testing.assert_allclose(table[:, 12], yearly.to_numpy(), rtol=1e-9)
    assert np.isnan(table[0, 0])  # the data starts in September 2020
    assert table[0, 8] == pytest.approx(expected.iloc[0])


def _kernel_moments(equity, capital):
    """Sums accumulated bar by bar, as the kernel's grid mode does (no numpy reductions)."""
    count = total = sumsq = neg = 0.0
    prev = capital
    for e in equity.tolist():
        r = e / prev - 1.0
        count += 1
        total += r
        sumsq += r * r
        neg += min(r, 0.0) ** 2
        prev = e
    return int(count), total, sumsq, neg


def test_grid_path_gives_the_full_paths_numbers():
    curves = _curves()
    results = [make_result(eq, ts=ts, exposure=(eq != np.roll(eq, 1)).astype(float),
                           trades=[trade(100, 0.01), trade(-40, -0.004), trade(0, 0.0)])
               for ts, eq in curves.values()]
    full = [metrics.compute(r) for r in results]
    columns = {k: [] for k in metrics.GRID_KEYS}
    for r, m in zip(results, full, strict=True):
        for key, value in zip(("ret_count", "ret_sum", "ret_sumsq", "ret_negsq"),
                              _kernel_moments(r.equity, CAPITAL), strict=True):
            columns[key].append(value)
        columns["final_equity"].append(r.equity[-1])
        columns["n_trades"].append(3)
        columns["n_wins"].append(1)
        columns["gross_profit"].append(100.0)
        columns["gross_loss"].append(40.0)  # positive on purpose: either sign is accepted
        columns["max_drawdown"].append(abs(metrics.drawdown(r.equity, CAPITAL)[1]))
        columns["bars_in_market"].append(int(np.sum(r.exposure > 0)))
        columns["fees"].append(1.5)
    grid = metrics.grid_metrics({k: np.array(v) for k, v in columns.items()}, CAPITAL, "1h")
    for i, m in enumerate(full):
        for key in ("sharpe", "sortino", "volatility", "cagr", "total_return", "calmar",
                    "max_drawdown", "win_rate", "profit_factor", "expectancy", "exposure"):
            assert grid[key][i] == pytest.approx(m[key], rel=1e-12), key

    one = metrics.grid_metrics({k: v[0] for k, v in columns.items()}, CAPITAL, "1h")
    assert type(one["sharpe"]) is float and type(one["n_trades"]) is int
    assert one["sharpe"] == grid["sharpe"][0] and one["max_drawdown"] == full[0]["max_drawdown"]

    # compute accumulates bar by bar as the kernel does: the numbers are identical, not close
    for r, m in zip(results, full, strict=True):
        same = metrics.ratios_from_moments(*_kernel_moments(r.equity, CAPITAL), 8760)
        assert (same["sharpe"], same["sortino"], same["volatility"]) == \
            (m["sharpe"], m["sortino"], m["volatility"])


def test_one_runs_python_float_formulas_give_the_array_formulas_bits():
    """`ratios_from_moments` and `trade_stats` compute one run in Python floats (numpy's cost
    per 0-d operation is most of a metric's time); 0-d arrays take the array formulas, which the
    grid uses. Both must give the same bits, edge cases included."""
    rng = np.random.default_rng(3)
    special = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, math.inf, -math.inf, math.nan]

    def pick():
        return float(rng.choice(special)) if rng.random() < 0.2 else \
            float(rng.uniform(-2, 2) * 10.0 ** rng.integers(-8, 9))

    def same(a, b):
        return type(a) is float and (a == b or (math.isnan(a) and math.isnan(b)))

    for _ in range(3000):
        count = int(rng.choice([0, 1, 2, int(rng.integers(3, 10**6))]))
        args = (count, pick(), abs(pick()), abs(pick()), float(rng.choice([8760.0, 365.0, 12.0])))
        kw = {"capital": float(rng.choice([1.0, 1e4])), "final_equity": pick(),
              "max_drawdown": -abs(pick())}
        fast = metrics.ratios_from_moments(*args, **kw)
        arrays = metrics.ratios_from_moments(*map(np.asarray, args[:4]), args[4],
                                             **{k: np.asarray(v) for k, v in kw.items()})
        assert fast.keys() == arrays.keys()
        assert all(same(fast[k], arrays[k]) for k in fast), (args, kw, fast, arrays)
        n = int(rng.integers(0, 50))
        trades = (n, int(rng.integers(0, n + 1)), abs(pick()), -abs(pick()))
        fast = metrics.trade_stats(*trades)
        with np.errstate(over="ignore"):  # the array path warns on 1e300 / 1e-300 (inf)
            arrays = metrics.trade_stats(*map(np.asarray, trades))
        assert all(same(fast[k], arrays[k]) for k in fast), (trades, fast, arrays)


def test_grid_output_missing_a_key_is_named():
    with pytest.raises(KeyError, match="ret_negsq"):
        metrics.grid_metrics({"final_equity": np.ones(2)}, CAPITAL, "1h")


# ----------------------------------------------------------------------------- trades

HAND_TRADES = [trade(100.0, 0.10, 0, 4), trade(-50.0, -0.05, 5, 6), trade(30.0, 0.03, 7, 10),
               trade(0.0, 0.0, 11, 11), trade(-20.0, -0.02, 12, 20)]


def test_trade_statistics_by_hand():
    m = metrics.compute(make_result(np.full(24, CAPITAL + 60), trades=HAND_TRADES))
    assert m["n_trades"] == 5 and m["n_wins"] == 2 and m["n_losses"] == 2
    assert m["win_rate"] == pytest.approx(2 / 5)
    assert m["gross_profit"] == 130 and m["gross_loss"] == -70
    assert m["profit_factor"] == pytest.approx(130 / 70)
    assert m["expectancy"] == pytest.approx(60 / 5)
    assert m["expectancy_pct"] == pytest.approx(0.06 / 5)
    assert m["avg_win"] == pytest.approx(65) and m["avg_loss"] == pytest.approx(-35)
    assert m["best_trade"] == pytest.approx(0.10) and m["worst_trade"] == pytest.approx(-0.05)
    assert m["avg_holding"] == pytest.approx((4 + 1 + 3 + 0 + 8) / 5)
    assert m["avg_holding_s"] == pytest.approx(16 / 5 * 3600)


def test_costs_exposure_and_turnover_by_hand():
    fills = [{"bar": 1, "amount": 0.5, "price": 20_000.0, "fee": 10.0, "slippage": 2.0},
             {"bar": 3, "amount": 0.5, "price": 22_000.0, "fee": 11.0, "slippage": 2.5}]
    equity = [10_000, 10_000, 10_500, 10_500]
    result = make_result(equity, exposure=[0, 1.0, 0.5, 0], fills=fills, rejects=[{}, {}])
    m = metrics.compute(result)
    assert m["fees_paid"] == 21 and m["slippage_paid"] == 4.5 and m["n_rejected"] == 2
    assert m["exposure"] == 0.5 and m["avg_gross_exposure"] == pytest.approx(1.5 / 4)
    assert m["turnover"] == pytest.approx(21_000 / 10_250)
    assert m["turnover_annual"] == pytest.approx(21_000 / 10_250 * 8760 / 4)
    assert result.metrics is m


def test_per_pair_splits_trades_fills_and_rejects():
    trades = [trade(100, 0.1, asset=0), trade(-30, -0.03, asset=1, direction=-1),
              trade(50, 0.05, asset=1)]
    fills = [{"asset": 0, "amount": 1, "price": 100, "fee": 1}, {"asset": 1, "amount": 2,
                                                                 "price": 50, "fee": 3}]
    result = make_result(np.full(3, CAPITAL), trades=trades, fills=fills,
                         rejects=[{"asset": 1}], symbols=("BTC/USDT", "ETH/USDT"))
    pairs = metrics.per_pair(result)
    btc, eth = pairs["BTC/USDT"], pairs["ETH/USDT"]
    assert btc["n_trades"] == 1 and btc["profit_factor"] == math.inf and btc["pnl"] == 100
    assert eth["n_trades"] == 2 and eth["win_rate"] == 0.5
    assert eth["profit_factor"] == pytest.approx(50 / 30)
    assert eth["n_long"] == 1 and eth["n_short"] == 1
    assert eth["return_contribution"] == pytest.approx(20 / CAPITAL)
    assert (btc["fees_paid"], eth["fees_paid"]) == (1, 3)
    assert (btc["traded_notional"], eth["traded_notional"]) == (100, 100)
    assert (btc["n_rejected"], eth["n_rejected"]) == (0, 1)


# ----------------------------------------------------------------------------- edge cases

def _plain(m: dict) -> None:
    """Every value a plain int/float that is not NaN, as storage and the UI expect."""
    for k, v in m.items():
        assert type(v) in (int, float), (k, type(v))
        assert not (isinstance(v, float) and math.isnan(v)), k


def test_no_trades_and_flat_equity_are_zeros():
    m = metrics.compute(make_result(np.full(100, CAPITAL)))
    _plain(m)
    for key in ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar",
                "max_drawdown", "win_rate", "profit_factor", "expectancy", "expectancy_pct",
                "avg_win", "avg_loss", "best_trade", "worst_trade", "avg_holding", "exposure",
                "turnover", "fees_paid"):
        assert m[key] == 0, key
    assert m["max_drawdown_duration"] == 0 and m["n_trades"] == 0


def test_one_bar():
    m = metrics.compute(make_result([CAPITAL * 1.01]))
    _plain(m)
    assert m["total_return"] == pytest.approx(0.01) and m["volatility"] == 0
    assert m["sharpe"] == 0  # one return has no spread: defined as 0
    assert m["sortino"] == math.inf  # a gain and no downside
    assert m["cagr"] == pytest.approx(1.01 ** 8760 - 1)
    assert metrics.compute(make_result([]))["final_equity"] == CAPITAL


def test_all_winners_report_infinite_profit_factor_safely():
    m = metrics.compute(make_result(np.linspace(CAPITAL, CAPITAL * 1.2, 50),
                                    trades=[trade(100, 0.01), trade(50, 0.005)]))
    _plain(m)
    assert m["profit_factor"] == math.inf and m["win_rate"] == 1.0
    assert m["calmar"] == math.inf and m["max_drawdown"] == 0
    assert metrics.format_metric("profit_factor", m["profit_factor"]) == "∞"
    stored = json.loads(json.dumps(metrics.json_safe(m), allow_nan=False))
    assert stored["profit_factor"] == "inf" and stored["win_rate"] == 1.0


def test_equity_going_to_zero_is_total_loss_not_nan():
    equity = [CAPITAL, 5_000, 0.0, 0.0, -10.0]
    m = metrics.compute(make_result(equity, trades=[trade(-CAPITAL, -1.0)]))
    _plain(m)
    assert m["total_return"] == -1.0 and m["cagr"] == -1.0 and m["max_drawdown"] == -1.0
    assert m["max_drawdown_duration"] == 4
    assert m["win_rate"] == 0 and m["profit_factor"] == 0
    np.testing.assert_array_equal(metrics.bar_returns(np.array(equity), CAPITAL),
                                  [0, -0.5, -1.0, 0, 0])
    monthly = metrics.monthly_returns(make_result(equity).ts, np.array(equity), CAPITAL)
    assert monthly["ret"].tolist() == [-1.0]


def test_grid_edge_columns_are_defined():
    zeros = np.zeros(2)
    grid = metrics.grid_metrics({
        "final_equity": np.array([CAPITAL, 0.0]), "n_trades": np.array([0, 1]),
        "n_wins": np.array([0, 0]), "gross_profit": zeros, "gross_loss": np.array([0, -CAPITAL]),
        "max_drawdown": np.array([0.0, -1.0]), "bars_in_market": np.array([0, 1]),
        "fees": zeros, "ret_count": np.array([0, 1]), "ret_sum": np.array([0, -1.0]),
        "ret_sumsq": np.array([0, 1.0]), "ret_negsq": np.array([0, 1.0])}, CAPITAL, "4h")
    for key, values in grid.items():
        assert values.shape == (2,) and not np.isnan(values).any(), key
    assert grid["cagr"].tolist() == [0.0, -1.0] and grid["sharpe"].tolist() == [0.0, 0.0]
    assert grid["sortino"].tolist() == [0.0, -math.sqrt(2190)]
    assert grid["profit_factor"].tolist() == [0.0, 0.0] and grid["exposure"].tolist() == [0, 1]


# ----------------------------------------------------------------------------- helpers

@pytest.mark.parametrize("timeframe,ppy", [
    ("1m", 525_600), ("5m", 105_120), ("1h", 8760), ("4h", 2190), ("1d", 365),
    ("1w", 365 / 7), ("1M", 12), ("3M", 4)])
def test_periods_per_year_is_a_365_day_year(timeframe, ppy):
    assert metrics.periods_per_year(timeframe) == pytest.approx(ppy, rel=1e-15)
    assert metrics.bar_seconds(timeframe) * metrics.periods_per_year(timeframe) == \
        pytest.approx(365 * 86400)


def test_bad_timeframe_is_refused():
    with pytest.raises(ValueError):
        metrics.periods_per_year("1x")


def test_metric_info_covers_every_computed_key_and_formats():
    m = metrics.compute(make_result([CAPITAL, 10_100.0], trades=HAND_TRADES))
    assert set(m) == set(metrics.METRIC_INFO)
    assert all(i.kind in ("pct", "ratio", "money", "int", "duration", "number", "timestamp")
               for i in metrics.METRIC_INFO.values())
    assert metrics.format_metric("total_return", 0.1234) == "12.34%"
    assert metrics.format_metric("final_equity", 12345.678) == "12,345.68"
    assert metrics.format_metric("sharpe", 1.234) == "1.23"
    assert metrics.format_metric("max_drawdown_duration_s", 3 * 86400 + 7200) == "3d 2h"
    assert metrics.format_metric("avg_holding_s", 5400) == "1h 30m"
    assert metrics.format_metric("start", 1_600_560_000_000) == "2020-09-20 00:00"
    assert metrics.format_metric("sortino", -math.inf) == "-∞"
    assert metrics.format_metric("sharpe", math.nan) == "n/a"


@pytest.mark.parametrize("case", ["trend", "hold", "ruin", "flat", "empty", "recovers"])
def test_one_pass_curve_stats_equal_the_numpy_definitions(case):
    """`metrics.compute` reads one compiled pass (`sim.curve_stats`); `bar_returns`, `drawdown`
    and the exposure means are the readable definitions it must reproduce."""
    from botfleet.sim import curve_stats as cs

    curves = {k: eq for k, (_, eq) in _curves().items()}
    curves["ruin"] = np.array([CAPITAL * 1.1, CAPITAL * 0.5, 0.0, -5.0, 0.0, 3.0])
    curves["flat"] = np.full(50, float(CAPITAL))
    curves["empty"] = np.zeros(0)
    curves["recovers"] = np.array([CAPITAL, CAPITAL * 0.9, CAPITAL * 0.95, CAPITAL * 1.2,
                                   CAPITAL * 1.1, CAPITAL * 1.1, CAPITAL * 1.3])
    eq = curves[case]
    rng = np.random.default_rng(7)
    expo = rng.choice([0.0, 0.4, -1.2, np.nan, np.inf], size=len(eq))
    got = cs.curve_stats(eq, float(CAPITAL), expo, 1e-12)
    n, total, sumsq, neg = metrics.return_moments(metrics.bar_returns(eq, CAPITAL))
    _, mdd, dd_bars = metrics.drawdown(eq, CAPITAL)
    finite = np.where(np.isfinite(np.abs(expo)), np.abs(expo), 0.0)
    assert got[cs.COUNT] == n
    assert got[cs.SUM] == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert got[cs.SUMSQ] == pytest.approx(sumsq, rel=1e-9, abs=1e-12)
    assert got[cs.NEGSQ] == pytest.approx(neg, rel=1e-9, abs=1e-12)
    assert got[cs.MAX_DD] == pytest.approx(mdd, rel=1e-12, abs=1e-15)
    assert got[cs.DD_BARS] == dd_bars
    assert got[cs.EXPOSED] == np.sum(finite > 0)
    assert got[cs.GROSS_SUM] == pytest.approx(finite.sum(), rel=1e-12)
    assert got[cs.EQ_SUM] == pytest.approx(np.maximum(eq, 0).sum(), rel=1e-12)
