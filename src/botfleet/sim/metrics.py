"""Performance metrics of a backtest, computed from a `BacktestResult` or from the kernel's grid
output, with one set of formulas for both.

Conventions (they decide every number a user compares, so they are fixed here, once):

- **Returns** are per-bar simple returns of the equity curve, with the starting capital as the
  value before the first bar: ``r[t] = equity[t] / equity[t-1] - 1``, ``equity[-1] = capital``.
  A curve of T bars therefore has T returns, and compounding them gives exactly
  ``final_equity / capital``. Once equity reaches zero it stays "ruined": the bar that reaches
  zero returns -1 and later bars return 0 (there is nothing left to lose), so nothing divides by
  zero. Negative equity (possible only with leverage) is treated as zero.
- **Annualisation**: crypto trades 24/7, so a year is 365 days of bars: ``ppy = 365 d / bar``
  (8760 for 1h, 365 for 1d, 365/7 = 52.142857 for 1w). A calendar month has no fixed length, so
  ``nM`` gives ``12 / n``; a month bar is also 365/12 days wherever a duration is needed. Every
  timeframe thus refers to the same 365-day year (12 months = 52.14 weeks = 365 days).
- **Risk-free rate** is 0. Sharpe uses the sample standard deviation (ddof=1); Sortino uses the
  downside deviation ``sqrt(mean(min(r, 0)**2))`` over *all* returns (empyrical's convention).
- **Drawdown** is ``equity / running peak - 1`` (<= 0), the capital counting as the first peak;
  ``max_drawdown`` is its minimum, a negative fraction (-0.25 = 25% below the peak).
- **Fractions, not percents** everywhere; money in the quote currency.
- **Undefined ratios are defined**: no returns or zero spread gives 0 (Sharpe of one bar or a
  flat curve), a positive numerator over a zero denominator gives ``inf`` (profit factor
  without losers, Sortino without down bars as in empyrical, Calmar without drawdown). ``format_metric`` and ``json_safe`` render these.

The grid path (`grid_metrics`) sees only sums, so the full path reduces its curve to the same
sums (`return_moments`) and both call `ratios_from_moments` and `trade_stats`: a parameter set
ranked in an optimisation shows the same Sharpe when re-run in full.

This module computes a result's metrics; the formulas live in `metrics_curve` (returns,
drawdowns, months), `metrics_ratios` (the ratios and trade statistics both paths share) and
`metrics_info` (labels, formatting, JSON), and are re-exported here, where callers find them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from botfleet.sim.curve_stats import (
    COUNT,
    DD_BARS,
    EQ_SUM,
    EXPOSED,
    GROSS_SUM,
    MAX_DD,
    NEGSQ,
    SUM,
    SUMSQ,
    curve_stats,
)
from botfleet.sim.metrics_curve import (
    MONTHLY_DTYPE,
    UNDERWATER_TOL,
    bar_returns,
    bar_seconds,
    drawdown,
    monthly_returns,
    monthly_table,
    periods_per_year,
    return_moments,
)
from botfleet.sim.metrics_info import METRIC_INFO, MetricInfo, format_metric, json_safe
from botfleet.sim.metrics_ratios import ratios_from_moments, trade_stats

__all__ = [
    "GRID_KEYS", "METRIC_INFO", "MONTHLY_DTYPE", "MetricInfo", "bar_returns", "bar_seconds",
    "compute", "drawdown", "format_metric", "grid_metrics", "json_safe", "monthly_returns",
    "monthly_table", "per_pair", "periods_per_year", "ratios_from_moments", "return_moments",
    "trade_stats",
]


# ----------------------------------------------------------------------------- full result

def compute(result) -> dict[str, Any]:
    """All metrics of a `BacktestResult` (see `METRIC_INFO`), as plain Python numbers; also
    stored in `result.metrics` so reports and storage read them from the result."""
    tf = result.timeframe
    ppy, bar_s = periods_per_year(tf), bar_seconds(tf)
    capital = float(result.capital)
    equity = np.asarray(result.equity, dtype=np.float64)
    bars = len(equity)
    final = float(equity[-1]) if bars else capital

    expo = np.asarray(result.exposure, dtype=np.float64)
    cs = curve_stats(equity, capital, expo, UNDERWATER_TOL)
    mdd, mdd_bars = float(cs[MAX_DD]), int(cs[DD_BARS])
    m: dict[str, Any] = ratios_from_moments(int(cs[COUNT]), float(cs[SUM]), float(cs[SUMSQ]),
                                            float(cs[NEGSQ]), ppy, capital=capital,
                                            final_equity=final, max_drawdown=mdd)
    m["max_drawdown"] = mdd
    m["max_drawdown_duration"] = mdd_bars
    m["max_drawdown_duration_s"] = mdd_bars * bar_s
    m.update(_trade_metrics(result.trades, bar_s))
    m["exposure"] = float(cs[EXPOSED]) / bars if bars else 0.0
    m["avg_gross_exposure"] = float(cs[GROSS_SUM]) / bars if bars else 0.0

    fills = result.fills
    notional = float(np.sum(fills["amount"] * fills["price"])) if len(fills) else 0.0
    mean_eq = float(cs[EQ_SUM]) / bars if bars else 0.0
    m["turnover"] = notional / mean_eq if mean_eq > 0 else 0.0
    m["turnover_annual"] = m["turnover"] * ppy / bars if bars else 0.0
    m["fees_paid"] = float(fills["fee"].sum()) if len(fills) else 0.0
    m["slippage_paid"] = float(fills["slippage"].sum()) if len(fills) else 0.0
    m["n_rejected"] = len(result.rejects)
    m["start"] = result.start_ms
    m["end"] = result.end_ms
    m["bars"] = bars
    m["final_equity"] = final
    result.metrics = m
    return m


def _trade_metrics(trades: np.ndarray, bar_s: float) -> dict[str, Any]:
    pnl = np.asarray(trades["pnl"], dtype=np.float64)
    ret = np.asarray(trades["ret"], dtype=np.float64)
    n = len(pnl)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_profit, gross_loss = float(wins.sum()), float(losses.sum())
    m = trade_stats(n, len(wins), gross_profit, gross_loss)
    # means as sum / count: what ndarray.mean computes, without summing twice; the holding
    # sum is of whole bars, exact in integers as in floats
    held = int((trades["exit_bar"] - trades["entry_bar"]).sum())
    avg_holding = held / n if n else 0.0
    m.update({
        "n_trades": n,
        "n_wins": len(wins),
        "n_losses": len(losses),
        "gross_profit": gross_profit,
        "gross_loss": gross_loss,
        "expectancy_pct": float(ret.sum()) / n if n else 0.0,
        "avg_win": gross_profit / len(wins) if len(wins) else 0.0,
        "avg_loss": gross_loss / len(losses) if len(losses) else 0.0,
        "best_trade": float(ret.max()) if n else 0.0,
        "worst_trade": float(ret.min()) if n else 0.0,
        "avg_holding": avg_holding,
        "avg_holding_s": avg_holding * bar_s,
    })
    return m


def per_pair(result) -> dict[str, dict[str, Any]]:
    """Trade metrics per symbol. A portfolio shares one cash balance, so pairs have no equity
    curve of their own: this is what each pair's trades and fills contributed.
    `return_contribution` = the pair's net pnl / capital."""
    bar_s = bar_seconds(result.timeframe)
    capital = float(result.capital)
    out = {}
    for asset, symbol in enumerate(result.symbols):
        trades = result.trades[result.trades["asset"] == asset]
        fills = result.fills[result.fills["asset"] == asset]
        m = _trade_metrics(trades, bar_s)
        pnl = float(trades["pnl"].sum())
        m.update({
            "pnl": pnl,
            "return_contribution": pnl / capital if capital else 0.0,
            "n_long": int(np.sum(trades["direction"] > 0)),
            "n_short": int(np.sum(trades["direction"] < 0)),
            "traded_notional": float(np.sum(fills["amount"] * fills["price"])),
            "fees_paid": float(fills["fee"].sum()),
            "slippage_paid": float(fills["slippage"].sum()),
            "n_rejected": int(np.sum(result.rejects["asset"] == asset)),
        })
        out[symbol] = m
    return out


# ----------------------------------------------------------------------------- grid

# the names of the kernel's `STAT_KEYS` (sim.kernel), which produces them
GRID_KEYS = ("final_equity", "n_trades", "n_wins", "gross_profit", "gross_loss", "max_drawdown",
             "bars_in_market", "fees", "ret_count", "ret_sum", "ret_sumsq", "ret_negsq")


def grid_metrics(grid_out: dict[str, Any], capital, timeframe: str) -> dict[str, Any]:
    """Metrics per parameter column from the kernel's grid mode, which keeps sums instead of
    curves (`GRID_KEYS`; `ret_count`..`ret_negsq` are the moments of the per-bar returns, which
    match `compute` only under this module's convention: the first bar's return is measured
    against the capital). Same formulas as `compute`; `max_drawdown` and `gross_loss` are
    accepted with either sign. exposure = bars_in_market / ret_count. Values may be arrays
    (one entry per parameter column) or scalars (one run's `KernelOut.stats`)."""
    missing = [k for k in GRID_KEYS if k not in grid_out]
    if missing:
        raise KeyError(f"grid output lacks {', '.join(missing)} (expected {', '.join(GRID_KEYS)})")
    g = {k: np.asarray(grid_out[k]) for k in GRID_KEYS}
    mdd = -np.abs(g["max_drawdown"].astype(np.float64))
    out = ratios_from_moments(g["ret_count"], g["ret_sum"], g["ret_sumsq"], g["ret_negsq"],
                              periods_per_year(timeframe), capital=float(capital),
                              final_equity=g["final_equity"], max_drawdown=mdd)
    out.update(trade_stats(g["n_trades"], g["n_wins"], g["gross_profit"], g["gross_loss"]))
    n = g["ret_count"].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["exposure"] = np.where(n > 0, g["bars_in_market"] / np.where(n > 0, n, 1), 0.0)
    out["max_drawdown"] = mdd
    out["n_trades"] = g["n_trades"]
    out["fees_paid"] = g["fees"].astype(np.float64)
    out["final_equity"] = g["final_equity"].astype(np.float64)
    if n.ndim == 0:  # one run: plain numbers, like compute()
        return {k: int(v) if k == "n_trades" else float(v) for k, v in out.items()}
    return {k: np.broadcast_to(v, n.shape) if np.ndim(v) == 0 else v for k, v in out.items()}
