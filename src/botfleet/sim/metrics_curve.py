"""What an equity curve gives, by the conventions of `botfleet.sim.metrics`: the year a
timeframe's bars annualise to, per-bar returns and their moments, drawdowns, and calendar-month
returns.
"""

from __future__ import annotations

import numpy as np

from botfleet.data.candles import timeframe_ms

_YEAR_S = 365 * 86_400
UNDERWATER_TOL = 1e-12  # relative: float noise of a recovered curve is not a drawdown


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
    and there are len(equity) returns; without it, len(equity) - 1. Ruin is absorbing: see
    `botfleet.sim.metrics`."""
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
    under = dd < -UNDERWATER_TOL
    if not under.any():
        return dd, float(dd.min()), 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], under.view(np.int8), [0]))))
    return dd, float(dd.min()), int((edges[1::2] - edges[::2]).max())


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
