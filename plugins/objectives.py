"""An optimisation objective plugin: Sharpe discounted for few trades.

Why: an optimiser maximising raw Sharpe loves parameter sets that traded three times and got
lucky. `robust_sharpe` scales Sharpe by sqrt(min(trades, 50) / 50), so a result needs about 50
trades before it is trusted in full. Use it as `--objective plugin:robust_sharpe` or in a bot's
`optimize: {objectives: [plugin:robust_sharpe]}`.

An objective gets a backtest's metrics (names as in `botfleet.sim.metrics`; a grid's fast path
supplies the subset `metrics.grid_metrics` computes, which includes sharpe, sortino, calmar,
total_return, cagr, max_drawdown, volatility, win_rate, profit_factor, expectancy, exposure,
n_trades, fees_paid, final_equity) and returns a float. It is maximised unless the function
has `direction = "minimize"`.
"""

from __future__ import annotations

import math

FULL_TRUST_TRADES = 50


def robust_sharpe(metrics: dict) -> float:
    trades = float(metrics["n_trades"])
    return float(metrics["sharpe"]) * math.sqrt(min(trades, FULL_TRUST_TRADES) / FULL_TRUST_TRADES)


def fee_drag(metrics: dict) -> float:
    """Fees paid as a share of the final equity: lower is better."""
    final = float(metrics["final_equity"])
    return float(metrics["fees_paid"]) / final if final > 0 else math.inf


fee_drag.direction = "minimize"

OBJECTIVES = {"robust_sharpe": robust_sharpe, "fee_drag": fee_drag}
