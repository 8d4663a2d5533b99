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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from botfleet.data.candles import timeframe_ms
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

_YEAR_S = 365 * 86_400
_UNDERWATER_TOL = 1e-12  # relative: float noise of a recovered curve is not a drawdown


# ----------------------------------------------------------------------------- time

def periods_per_year(timeframe: str) -> float:
    """Bars per year for annualisation. Crypto trades 24/7, so this is 365 days divided by the
    bar length (1h -> 8760, 4h -> 2190, 1d -> 365, 1w -> 52.142857); a calendar month has no
    fixed length, so ``nM`` -> 12 / n."""
    if timeframe.endswith("M"):
        months = int(timeframe[:-1])
        if months <= 0:
            raise ValueError(f"'{timeframe}' is not a timeframe such as '1M'")
        return 12.0 / months
    return _YEAR_S * 1000 / timeframe_ms(timeframe)


def bar_seconds(timeframe: str) -> float:
    """Length of a bar in seconds, consistent with `periods_per_year` (a month is 365/12 days)."""
    return _YEAR_S / periods_per_year(timeframe)


# ----------------------------------------------------------------------------- curve

def bar_returns(equity: np.ndarray, initial: float | None = None) -> np.ndarray:
    """Per-bar simple returns. With `initial` (the capital) the first bar is measured against it
    and there are len(equity) returns; without it, len(equity) - 1. Ruin is absorbing: see the
    module docstring."""
    e = np.maximum(np.asarray(equity, dtype=np.float64), 0.0)
    if initial is not None:
        e = np.concatenate(([max(float(initial), 0.0)], e))
    if len(e) < 2:
        return np.zeros(0)
    prev, cur = e[:-1], e[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prev > 0, cur / prev - 1.0, 0.0)


def return_moments(returns: np.ndarray) -> tuple[int, float, float, float]:
    """(count, sum, sum of squares, sum of squared negative returns): everything Sharpe, Sortino
    and volatility need, and what the kernel's grid mode accumulates per parameter set."""
    r = np.asarray(returns, dtype=np.float64)
    neg = np.minimum(r, 0.0)
    return len(r), float(r.sum()), float(np.dot(r, r)), float(np.dot(neg, neg))


def drawdown(equity: np.ndarray, initial: float | None = None
             ) -> tuple[np.ndarray, float, int]:
    """(drawdown series <= 0, max drawdown <= 0, longest run of bars below the running peak).

    `initial` (the capital) is the peak before the first bar, so fees paid on bar 0 already
    count. Equity at or below zero is a -1 drawdown. The duration counts bars strictly
    underwater, so a dip of one bar that recovers on the next has duration 1; a drawdown still
    open at the end counts to the last bar.
    """
    e = np.maximum(np.asarray(equity, dtype=np.float64), 0.0)
    if len(e) == 0:
        return np.zeros(0), 0.0, 0
    peak = np.maximum.accumulate(e)
    if initial is not None:
        peak = np.maximum(peak, float(initial))
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, e / peak - 1.0, 0.0)
    under = dd < -_UNDERWATER_TOL
    if not under.any():
        return dd, float(dd.min()), 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], under.view(np.int8), [0]))))
    return dd, float(dd.min()), int((edges[1::2] - edges[::2]).max())


# ----------------------------------------------------------------------------- shared formulas

def _out(x: np.ndarray) -> Any:
    """0-d results become plain floats, so scalar callers never see numpy types."""
    return float(x) if np.ndim(x) == 0 else x


def ratios_from_moments(count, total, sumsq, sum_neg_sq, ppy: float, *,
                        capital=None, final_equity=None, max_drawdown=None) -> dict[str, Any]:
    """Sharpe, Sortino and volatility from return sums (and CAGR, total return, Calmar when the
    capital, final equity and max drawdown are given). Scalars in, floats out; arrays in (one
    entry per grid column), arrays out. Both the full-curve and the grid path call this.

    mean = sum / n; std = sqrt((sumsq - sum * mean) / (n - 1)), 0 for n < 2;
    volatility = std * sqrt(ppy); sharpe = mean / std * sqrt(ppy), 0 when std = 0 (one bar or
    a constant return: no measured risk is no evidence, and must not top a ranking);
    downside = sqrt(sum_neg_sq / n); sortino = mean / downside * sqrt(ppy);
    total_return = final / capital - 1; cagr = (final / capital) ** (ppy / n) - 1;
    calmar = cagr / |max_drawdown|.
    """
    if _scalars(count, total, sumsq, sum_neg_sq, final_equity, max_drawdown) \
            and capital is not None and float(capital) != 0.0:
        return _ratios_scalar(float(count), float(total), float(sumsq), float(sum_neg_sq), ppy,
                              float(capital), final_equity, max_drawdown)
    n = np.asarray(count, dtype=np.float64)
    s = np.asarray(total, dtype=np.float64)
    q = np.asarray(sumsq, dtype=np.float64)
    d = np.asarray(sum_neg_sq, dtype=np.float64)
    root = math.sqrt(ppy)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = np.where(n > 0, s / n, 0.0)
        var = np.where(n > 1, np.maximum(q - s * mean, 0.0) / (n - 1), 0.0)
        std = np.sqrt(var)
        downside = np.where(n > 0, np.sqrt(np.maximum(d, 0.0) / n), 0.0)
        out = {
            "volatility": _out(std * root),
            "sharpe": _out(np.where(std > 0, mean / np.where(std > 0, std, 1.0), 0.0) * root),
            "sortino": _out(_safe_ratio(mean, downside) * root),
        }
        if capital is not None and final_equity is not None:
            growth = np.maximum(np.asarray(final_equity, dtype=np.float64), 0.0) / float(capital)
            cagr = np.where(n > 0, growth ** (ppy / np.where(n > 0, n, 1.0)) - 1.0, 0.0)
            out["total_return"] = _out(growth - 1.0)
            out["cagr"] = _out(cagr)
            if max_drawdown is not None:
                mdd = np.abs(np.asarray(max_drawdown, dtype=np.float64))
                out["calmar"] = _out(_safe_ratio(cagr, mdd))
    return out


def _scalars(*values) -> bool:
    """All plain numbers (None allowed): one run's metrics, not a grid's columns."""
    return all(v is None or isinstance(v, (int, float, np.number)) for v in values)


def _ratios_scalar(n: float, s: float, q: float, d: float, ppy: float, capital: float,
                   final_equity, max_drawdown) -> dict[str, Any]:
    """`ratios_from_moments` for one run in Python floats: the same operations in the same
    order (so the same bits; tests compare the two), without numpy's cost per 0-d operation,
    which made these few formulas take longer than a pass over the equity curve."""
    root = math.sqrt(ppy)
    mean = s / n if n > 0 else 0.0
    var = max(q - s * mean, 0.0) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    downside = math.sqrt(max(d, 0.0) / n) if n > 0 else 0.0
    out = {
        "volatility": std * root,
        "sharpe": (mean / std if std > 0 else 0.0) * root,
        "sortino": _safe_ratio_scalar(mean, downside) * root,
    }
    if final_equity is not None:
        growth = max(float(final_equity), 0.0) / capital
        cagr = 0.0
        if n > 0:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                cagr = float(np.float64(growth) ** np.float64(ppy / n)) - 1.0
        out["total_return"] = growth - 1.0
        out["cagr"] = cagr
        if max_drawdown is not None:
            out["calmar"] = _safe_ratio_scalar(cagr, abs(float(max_drawdown)))
    return out


def _safe_ratio_scalar(num: float, den: float) -> float:
    if den != 0:
        return num / den
    return 0.0 if num == 0 else math.copysign(math.inf, num)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 / 0 = 0 and x / 0 = +-inf (the limit), never NaN."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0),
                        np.where(num == 0, 0.0, np.copysign(np.inf, num)))


def trade_stats(n_trades, n_wins, gross_profit, gross_loss) -> dict[str, Any]:
    """Win rate, profit factor and expectancy from trade counts and sums, shared by both paths.

    A win has pnl > 0, a loss pnl < 0 (break-even trades count in n_trades only).
    win_rate = wins / trades; profit_factor = gross profit / |gross loss|;
    expectancy = (gross profit - |gross loss|) / trades. `gross_loss` may come with either sign.
    """
    if _scalars(n_trades, n_wins, gross_profit, gross_loss):  # as _ratios_scalar, one run
        n, gp, gl = float(n_trades), float(gross_profit), abs(float(gross_loss))
        return {"win_rate": float(n_wins) / n if n > 0 else 0.0,
                "profit_factor": _safe_ratio_scalar(gp, gl),
                "expectancy": (gp - gl) / n if n > 0 else 0.0}
    n = np.asarray(n_trades, dtype=np.float64)
    gp = np.asarray(gross_profit, dtype=np.float64)
    gl = np.abs(np.asarray(gross_loss, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "win_rate": _out(np.where(n > 0, np.asarray(n_wins) / np.where(n > 0, n, 1), 0.0)),
            "profit_factor": _out(_safe_ratio(gp, gl)),
            "expectancy": _out(np.where(n > 0, (gp - gl) / np.where(n > 0, n, 1), 0.0)),
        }


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
    cs = curve_stats(equity, capital, expo, _UNDERWATER_TOL)
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


# ----------------------------------------------------------------------------- monthly

MONTHLY_DTYPE = np.dtype([("year", np.int32), ("month", np.int8), ("ret", np.float64),
                          ("equity", np.float64)])


def monthly_returns(ts: np.ndarray, equity: np.ndarray, initial: float | None = None
                    ) -> np.ndarray:
    """Return of each calendar month (UTC, by bar open time) as MONTHLY_DTYPE records:
    month-end equity / previous month-end equity - 1; the first month is measured against
    `initial` (the capital) or, without it, the first bar's equity. Months without bars are
    absent, and the next month present is measured from the last equity before it."""
    ts = np.asarray(ts, dtype=np.int64)
    e = np.maximum(np.asarray(equity, dtype=np.float64), 0.0)
    if len(ts) == 0:
        return np.zeros(0, MONTHLY_DTYPE)
    months = ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    last = np.flatnonzero(np.append(months[1:] != months[:-1], True))
    ends = e[last]
    base = np.concatenate(([e[0] if initial is None else float(initial)], ends[:-1]))
    out = np.zeros(len(last), MONTHLY_DTYPE)
    out["year"] = 1970 + months[last] // 12
    out["month"] = months[last] % 12 + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ret"] = np.where(base > 0, ends / base - 1.0, 0.0)
    out["equity"] = ends
    return out


def monthly_table(monthly: np.ndarray) -> tuple[list[int], np.ndarray]:
    """(years, table of shape (years, 13)): months 1..12 in columns 0..11 (NaN where absent) and
    the compounded year in column 12 — the layout of a report's monthly heat map."""
    years = sorted({int(y) for y in monthly["year"]})
    table = np.full((len(years), 13), np.nan)
    for i, y in enumerate(years):
        rows = monthly[monthly["year"] == y]
        table[i, rows["month"] - 1] = rows["ret"]
        table[i, 12] = float(np.prod(1.0 + rows["ret"]) - 1.0)
    return years, table


# ----------------------------------------------------------------------------- presentation

@dataclass(frozen=True)
class MetricInfo:
    label: str
    kind: str  # pct, ratio, money, int, duration (seconds), number, timestamp (ms UTC)
    definition: str


_I = MetricInfo
METRIC_INFO: dict[str, MetricInfo] = {
    "total_return": _I("Total return", "pct", "final equity / capital - 1"),
    "cagr": _I("CAGR", "pct", "(final equity / capital) ** (bars per year / bars) - 1"),
    "volatility": _I("Volatility (ann.)", "pct",
                     "std of per-bar returns (ddof=1) * sqrt(bars per year)"),
    "sharpe": _I("Sharpe", "ratio", "mean / std of per-bar returns * sqrt(bars per year), rf 0"),
    "sortino": _I("Sortino", "ratio",
                  "mean per-bar return / sqrt(mean(min(r, 0)^2)) * sqrt(bars per year)"),
    "calmar": _I("Calmar", "ratio", "CAGR / |max drawdown|"),
    "max_drawdown": _I("Max drawdown", "pct",
                       "lowest equity / running peak - 1 (capital is the first peak)"),
    "max_drawdown_duration": _I("Max drawdown duration (bars)", "int",
                                "longest run of bars below the running equity peak"),
    "max_drawdown_duration_s": _I("Max drawdown duration", "duration",
                                  "longest underwater run in bars * bar length"),
    "win_rate": _I("Win rate", "pct", "trades with pnl > 0 / all trades"),
    "profit_factor": _I("Profit factor", "ratio", "sum of winning pnl / |sum of losing pnl|"),
    "expectancy": _I("Expectancy", "money", "mean net pnl per trade"),
    "expectancy_pct": _I("Expectancy (return)", "pct", "mean return per trade (pnl / entry value)"),
    "avg_win": _I("Average win", "money", "mean pnl of trades with pnl > 0"),
    "avg_loss": _I("Average loss", "money", "mean pnl of trades with pnl < 0 (negative)"),
    "best_trade": _I("Best trade", "pct", "highest trade return (pnl / entry value)"),
    "worst_trade": _I("Worst trade", "pct", "lowest trade return (pnl / entry value)"),
    "n_trades": _I("Trades", "int", "closed round trips"),
    "n_wins": _I("Winning trades", "int", "trades with pnl > 0"),
    "n_losses": _I("Losing trades", "int", "trades with pnl < 0"),
    "gross_profit": _I("Gross profit", "money", "sum of winning trades' pnl"),
    "gross_loss": _I("Gross loss", "money", "sum of losing trades' pnl (negative)"),
    "avg_holding": _I("Average holding (bars)", "number", "mean of exit bar - entry bar"),
    "avg_holding_s": _I("Average holding", "duration", "mean holding in bars * bar length"),
    "exposure": _I("Time in market", "pct", "share of bars closing with a position"),
    "avg_gross_exposure": _I("Average exposure", "pct", "mean of gross position value / equity"),
    "turnover": _I("Turnover", "ratio", "traded notional / mean equity"),
    "turnover_annual": _I("Turnover (ann.)", "ratio", "turnover * bars per year / bars"),
    "fees_paid": _I("Fees paid", "money", "sum of all fill fees"),
    "slippage_paid": _I("Slippage paid", "money", "sum of fill slippage against reference"),
    "n_rejected": _I("Rejected orders", "int", "orders the exchange would have refused"),
    "start": _I("Start", "timestamp", "open time of the first bar"),
    "end": _I("End", "timestamp", "open time of the last bar"),
    "bars": _I("Bars", "int", "bars stepped over"),
    "final_equity": _I("Final equity", "money", "equity at the last bar's close"),
}
del _I


def format_metric(key: str, value: Any) -> str:
    """Text for a metric value by its METRIC_INFO kind; inf renders as ∞ and NaN as n/a, so a
    profit factor without losers never breaks a report."""
    if value is None:
        return "n/a"
    kind = METRIC_INFO[key].kind if key in METRIC_INFO else "number"
    v = float(value)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if kind == "pct":
        return f"{v * 100:.2f}%"
    if kind == "money":
        return f"{v:,.2f}"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "duration":
        return _duration_text(v)
    if kind == "timestamp":
        return datetime.fromtimestamp(v / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    return f"{v:.2f}"


def _duration_text(seconds: float) -> str:
    s = round(seconds)
    days, rest = divmod(s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    """A copy whose non-finite floats are the strings "inf"/"-inf" (NaN -> None): strict JSON has
    no infinity, and a profit factor of inf is a real answer that must survive storage."""
    def conv(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return v
    return {k: conv(v) for k, v in metrics.items()}
