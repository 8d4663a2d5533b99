"""What an optimisation maximises or minimises: metric names with their natural direction, and
plugin objectives (`plugin:NAME`).

Directions follow `sim.metrics` conventions. `max_drawdown` is stored as a negative fraction
(-0.25 = 25% below the peak), so the objective is ``-|max_drawdown|`` maximised: the smallest
drawdown magnitude wins whichever sign a value arrives with. Volatility and costs are
minimised; returns and ratios are maximised. NaN (an undefined value) scores worst, so it is
never chosen as best.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

MAXIMIZE = ("sharpe", "sortino", "calmar", "total_return", "cagr", "profit_factor", "win_rate",
            "expectancy", "expectancy_pct", "final_equity", "max_drawdown", "exposure")
MINIMIZE = ("volatility", "max_drawdown_duration", "max_drawdown_duration_s", "fees_paid",
            "turnover", "turnover_annual")
# the metrics a grid (kernel sums) and a full backtest both report; tables show these
TABLE_METRICS = ("sharpe", "sortino", "calmar", "total_return", "cagr", "max_drawdown",
                 "volatility", "win_rate", "profit_factor", "expectancy", "n_trades",
                 "exposure", "fees_paid", "final_equity")


@dataclass(frozen=True)
class Objective:
    name: str  # as written: "sharpe" or "plugin:robust_sharpe"
    direction: str  # "maximize" or "minimize"
    fn: Callable[[dict], float]

    def value(self, metrics: dict) -> float:
        """The objective of one result; NaN becomes the worst value of its direction."""
        v = float(self.fn(metrics))
        if math.isnan(v):
            return -math.inf if self.direction == "maximize" else math.inf
        return v

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


def _metric(name: str) -> Callable[[dict], float]:
    if name == "max_drawdown":
        return lambda m: -abs(float(m["max_drawdown"]))
    return lambda m: float(m[name])


def resolve(names: list[str], plugins: dict[str, Callable] | None = None) -> list[Objective]:
    """Objectives by name; raises ValueError naming what exists for an unknown one."""
    out = []
    for name in names:
        if name.startswith("plugin:"):
            key = name[len("plugin:"):]
            fn = (plugins or {}).get(key)
            if fn is None:
                have = ", ".join(f"plugin:{k}" for k in sorted(plugins or {})) or "none found"
                raise ValueError(f"objective {name!r}: no plugin objective {key!r} (plugins "
                                 f"define OBJECTIVES = {{name: fn}}; available: {have})")
            out.append(Objective(name, getattr(fn, "direction", "maximize"), fn))
        elif name in MAXIMIZE:
            out.append(Objective(name, "maximize", _metric(name)))
        elif name in MINIMIZE:
            out.append(Objective(name, "minimize", _metric(name)))
        else:
            import difflib

            close = difflib.get_close_matches(name, [*MAXIMIZE, *MINIMIZE], n=1)
            raise ValueError(f"unknown objective {name!r}"
                             + (f"; did you mean {close[0]!r}?" if close else "")
                             + f" (metrics: {', '.join([*MAXIMIZE, *MINIMIZE])}, or plugin:NAME)")
    if len({o.name for o in out}) != len(out):
        raise ValueError(f"objective listed twice in {names}")
    return out


def dominates(a: list[float], b: list[float], objectives: list[Objective]) -> bool:
    """a is at least as good as b on every objective and better on one (Pareto)."""
    not_worse = all(not o.better(y, x) for o, x, y in zip(objectives, a, b, strict=True))
    return not_worse and any(o.better(x, y) for o, x, y in zip(objectives, a, b, strict=True))


def pareto_front(values: list[list[float]], objectives: list[Objective]) -> list[int]:
    """Indices of the non-dominated rows (O(n^2): studies have thousands of rows, not more)."""
    return [i for i, a in enumerate(values)
            if not any(dominates(b, a, objectives) for j, b in enumerate(values) if j != i)]
