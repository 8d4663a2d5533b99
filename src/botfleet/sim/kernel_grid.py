"""Many signal variants of one asset at once: `simulate_grid` runs `kernel.run` (the very same
bar step as `simulate`, not a second copy of the semantics) over C signal columns in parallel
and keeps only a summary per column.

No equity curves are kept (a column's curve lives only while a thread runs that column), so a
parameter sweep over thousands of columns needs O(C) memory; the curve statistics a ranking
needs are computed per column instead: final equity, trade counts, gross profit/loss, max
drawdown, bars in market, fees, and the per-bar return moments (count, sum, sum of squares,
sum of squared negative returns) from which Sharpe and Sortino follow.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from botfleet.sim.arrays import AssetParams, Detail, Market, Signals, validate_inputs
from botfleet.sim.kernel import STAT_KEYS, run, stats_row
from botfleet.sim.kernel_pack import make_ctx
from botfleet.sim.kernel_state import new_state
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _grid(ctx0, entries, exits, entries_s, exits_s, has_short, capital, ring_len,
          close_at_end, rec, no_curve, out):
    """Column c: its signals as a (4, T, 1) block, a fresh state, `run`, one stats row."""
    n_bars, n_cols = entries.shape
    per_bar = np.zeros(3, dtype=np.int64)  # unused: the grid stores no records
    for c in prange(n_cols):
        sig = np.zeros((4, n_bars, 1), dtype=np.bool_)
        for t in range(n_bars):
            sig[0, t, 0] = entries[t, c]
            sig[1, t, 0] = exits[t, c]
            if has_short:
                sig[2, t, 0] = entries_s[t, c]
                sig[3, t, 0] = exits_s[t, c]
        st = new_state(1, capital, ring_len, False)
        curves = (np.empty(n_bars), no_curve, no_curve)  # the equity the statistics read
        ctx = (ctx0[0], ctx0[1], sig, ctx0[3], ctx0[4], ctx0[5], ctx0[6])
        run(0, ctx, st, rec, curves, close_at_end, per_bar)
        stats_row(st, out[c])


def simulate_grid(market: Market, entries: np.ndarray, exits: np.ndarray,
                  params: AssetParams, capital: float, entries_short: np.ndarray | None = None,
                  exits_short: np.ndarray | None = None, detail: Detail | None = None,
                  close_at_end: bool = True) -> dict[str, np.ndarray]:
    """One asset (market and params of shape (T, 1)), C signal columns (T, C) -> a dict of
    (C,) arrays keyed by `kernel.STAT_KEYS`. Column c equals `simulate` on column c."""
    n_bars, n_assets = market.shape
    if n_assets != 1:
        raise ValueError(f"market: shape {market.shape}, simulate_grid takes one asset (T, 1)")
    cols = {"entries": entries, "exits": exits}
    if entries_short is not None or exits_short is not None:
        z = np.zeros_like(entries, dtype=bool)
        cols["entries_short"] = z if entries_short is None else entries_short
        cols["exits_short"] = z if exits_short is None else exits_short
    for name, arr in cols.items():
        if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape != entries.shape \
                or arr.shape[0] != n_bars or arr.dtype != np.bool_:
            raise ValueError(f"{name}: shape {getattr(arr, 'shape', None)} dtype "
                             f"{getattr(arr, 'dtype', None)}, expected bool ({n_bars}, C) "
                             f"like entries {getattr(entries, 'shape', None)}")
    one = np.zeros((n_bars, 1), dtype=bool)
    validate_inputs(market, Signals(one, one, one, one), params, detail)
    has_short = "entries_short" in cols
    dummy = np.zeros((1, 1), dtype=bool)
    ctx = make_ctx(market, np.zeros((4, 0, 1), dtype=bool), params, detail)  # signals per column
    rec = (np.zeros(0, FILL_DTYPE), np.zeros(0, TRADE_DTYPE), np.zeros(0, REJECT_DTYPE))
    out = np.zeros((entries.shape[1], len(STAT_KEYS)))
    _grid(ctx, np.ascontiguousarray(entries), np.ascontiguousarray(exits),
          np.ascontiguousarray(cols.get("entries_short", dummy)),
          np.ascontiguousarray(cols.get("exits_short", dummy)), has_short, float(capital),
          int(params.kelly_lookback.max(initial=1)), close_at_end, rec, np.zeros(0), out)
    res = {k: out[:, i].copy() for i, k in enumerate(STAT_KEYS)}
    for k in ("n_trades", "n_wins", "bars_in_market", "ret_count"):
        res[k] = res[k].astype(np.int64)
    return res
