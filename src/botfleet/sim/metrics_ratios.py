"""The formulas both paths of `botfleet.sim.metrics` share: risk and return ratios from the
moments of the per-bar returns, and trade statistics from trade counts and sums. Scalars in
(one run), floats out; arrays in (one entry per grid column), arrays out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


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
