"""Monte Carlo of a backtest's trade sequence: how much of its drawdown (and return) was the luck
of the order in which trades came.

One backtest is one ordering of its trades. Re-ordering them (`shuffle`) keeps every trade and
therefore the final result, but the path between — and so the max drawdown — changes; resampling
with replacement (`bootstrap`) also varies the mix of trades, so the final return spreads too.
The 5th percentile of max drawdown is a sober answer to "how bad could this have looked".

Two ways to chain trades, which are two sizing assumptions:

- ``kind="pnl"``: each trade adds its quote-currency pnl to equity (fixed position size).
- ``kind="ret"``: each trade multiplies equity by ``1 + ret`` (all equity committed per trade,
  compounding). Trade `ret` is pnl / entry value, so this fits strategies sized to equity.

Equity at or below zero is ruin and absorbing: the path stays at zero (counted in
`prob_ruin`), so a shuffled path that is ruined does not reach the common final return.
Drawdowns follow `sim.metrics`: equity / running peak - 1 (<= 0), the capital the first peak.

Runs are simulated in fixed-size chunks with one numpy Generator, so a seed gives the same
numbers on every machine and memory stays bounded (10,000 runs x 500 trades takes about 0.2 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (5, 25, 50, 75, 95)
_CHUNK = 2048  # runs per block: part of the seeded stream's definition, so keep it fixed


@dataclass(frozen=True)
class MonteCarloResult:
    method: str
    kind: str
    runs: int
    n_trades: int
    seed: int | None
    dd_threshold: float  # positive fraction: prob_drawdown is P(max drawdown <= -dd_threshold)
    final_return: dict[int, float]  # percentile -> final equity / capital - 1
    max_drawdown: dict[int, float]  # percentile -> max drawdown (<= 0; the 5th is the worst)
    prob_loss: float  # P(final return < 0)
    prob_drawdown: float
    prob_ruin: float  # P(equity reaches zero)
    observed_return: float  # the trades in their actual order
    observed_max_drawdown: float
    final_returns: np.ndarray = field(repr=False)  # (runs,), for histograms
    max_drawdowns: np.ndarray = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """Plain numbers for reports and storage (no arrays)."""
        return {
            "method": self.method, "kind": self.kind, "runs": self.runs,
            "n_trades": self.n_trades, "seed": self.seed, "dd_threshold": self.dd_threshold,
            "final_return": dict(self.final_return), "max_drawdown": dict(self.max_drawdown),
            "prob_loss": self.prob_loss, "prob_drawdown": self.prob_drawdown,
            "prob_ruin": self.prob_ruin, "observed_return": self.observed_return,
            "observed_max_drawdown": self.observed_max_drawdown,
        }


def monte_carlo(values, capital, *, kind: str = "pnl", runs: int = 1000,
                method: str = "shuffle", seed: int | None = None, dd_threshold: float = 0.2,
                percentiles: tuple[int, ...] = PERCENTILES) -> MonteCarloResult:
    """Simulate `runs` re-orderings (`shuffle`) or resamplings (`bootstrap`) of the trades'
    `values` (pnl in quote currency for kind="pnl", trade returns for kind="ret") starting from
    `capital`. `dd_threshold` is a positive fraction (0.2 = a drawdown of 20% or worse)."""
    if method not in ("shuffle", "bootstrap"):
        raise ValueError(f"method must be 'shuffle' or 'bootstrap', not {method!r}")
    if kind not in ("pnl", "ret"):
        raise ValueError(f"kind must be 'pnl' or 'ret', not {kind!r}")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    capital = float(capital)
    if capital <= 0:
        raise ValueError("capital must be positive")
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(v).all():
        raise ValueError("trade values must be finite")
    threshold = abs(float(dd_threshold))

    obs_final, obs_dd, _ = _paths(v[None, :], capital, kind)
    finals = np.empty(runs)
    dds = np.empty(runs)
    ruined = np.zeros(runs, dtype=bool)
    rng = np.random.default_rng(seed)
    n = len(v)
    for start in range(0, runs, _CHUNK):
        k = min(_CHUNK, runs - start)
        if n == 0:
            sample = np.zeros((k, 0))
        elif method == "shuffle":
            sample = np.tile(v, (k, 1))
            rng.permuted(sample, axis=1, out=sample)
        else:
            sample = v[rng.integers(0, n, size=(k, n))]
        sl = slice(start, start + k)
        finals[sl], dds[sl], ruined[sl] = _paths(sample, capital, kind)

    pct = [float(p) for p in percentiles]
    return MonteCarloResult(
        method=method, kind=kind, runs=runs, n_trades=n, seed=seed, dd_threshold=threshold,
        final_return=dict(zip(percentiles, map(float, np.percentile(finals, pct)), strict=True)),
        max_drawdown=dict(zip(percentiles, map(float, np.percentile(dds, pct)), strict=True)),
        prob_loss=float(np.mean(finals < 0)),
        prob_drawdown=float(np.mean(dds <= -threshold)) if threshold > 0 else
        float(np.mean(dds < 0)),
        prob_ruin=float(np.mean(ruined)),
        observed_return=float(obs_final[0]), observed_max_drawdown=float(obs_dd[0]),
        final_returns=finals, max_drawdowns=dds,
    )


def _paths(sample: np.ndarray, capital: float, kind: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(final return, max drawdown, ruined) per row of a (runs, trades) block."""
    if sample.shape[1] == 0:
        zero = np.zeros(len(sample))
        return zero, zero.copy(), np.zeros(len(sample), dtype=bool)
    if kind == "pnl":
        equity = capital + np.cumsum(sample, axis=1)
    else:
        equity = capital * np.cumprod(np.maximum(1.0 + sample, 0.0), axis=1)
    alive = np.logical_and.accumulate(equity > 0, axis=1)
    ruined = ~alive[:, -1]
    if ruined.any():
        equity = np.where(alive, equity, 0.0)
    peak = np.maximum(np.maximum.accumulate(equity, axis=1), capital)
    max_dd = np.minimum((equity / peak).min(axis=1) - 1.0, 0.0)
    return equity[:, -1] / capital - 1.0, max_dd, ruined


def from_result(result, **kwargs) -> MonteCarloResult:
    """Monte Carlo of a `BacktestResult`'s trades (by pnl unless kind="ret" is passed), in the
    order they closed, from its capital."""
    trades = np.sort(result.trades, order=["exit_bar", "entry_bar"], kind="stable")
    kind = kwargs.pop("kind", "pnl")
    return monte_carlo(trades["pnl"] if kind == "pnl" else trades["ret"], result.capital,
                       kind=kind, **kwargs)
