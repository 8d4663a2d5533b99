"""How metrics are named, explained and shown: `METRIC_INFO` (label, kind, definition of every
key `botfleet.sim.metrics.compute` returns), `format_metric` for text, `json_safe` for storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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
