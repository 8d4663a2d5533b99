"""The grid's fast path: one `engine.prepare`, every combination's signals as columns, and one
`kernel.simulate_grid` call per chunk of columns (numba prange over the cores, no curves).

It applies when a combination changes nothing but the signals: one pair (the grid kernel
trades one market), market entries (the fill model's other entry types need per-order state
the grid mode does not keep), no detail candles, no short signals, and stops and cooldown
equal to the base strategy's (they are YAML literals today, but a code strategy could differ).
When a condition fails, `fast_grid` says why and the caller takes the full path; the numbers
are the same either way (tests compare them column by column).
"""

from __future__ import annotations

import numpy as np

from botfleet.orders import OrderType
from botfleet.sim.objectives import TABLE_METRICS

CHUNK_BYTES = 64 << 20  # entry + exit columns held at once
CACHE_BYTES = 256 << 20  # shared indicator steps kept (LRU)


def applicable(target) -> str | None:
    """None when the fast path can run this target, else why not."""
    if len(target.pairs) != 1:
        return f"{len(target.pairs)} pairs (the grid kernel trades one)"
    if target.fills.entry_type != OrderType.MARKET:
        return f"{target.fills.entry_type.name.lower()} entries (grid mode fills market orders)"
    if target.fills.detail_timeframe:
        return "detail candles resolve stops (grid mode has none)"
    return None


def fast_grid(target, combos: list[dict], settings) -> tuple[list | None, str | None]:
    """Trials for `combos` (see optimize.Trial), or (None, why) when the path does not apply."""
    from botfleet.sim import engine, metrics
    from botfleet.sim.kernel_grid import simulate_grid
    from botfleet.sim.optimize import Trial, compile_params, keyed
    from botfleet.strategy.program import step_cache

    why = applicable(target)
    if why:
        return None, why
    pair = target.pairs[0]
    base = keyed(target.strategy)
    with step_cache(CACHE_BYTES):
        prepared = engine.prepare(base, target.pairs, target.timeframe, target.fills,
                                  sizing=target.sizing, start_ms=settings.start_ms,
                                  end_ms=settings.end_ms)
        win = engine._window(pair.candles["ts"], settings.start_ms, settings.end_ms)
        n_bars = len(prepared.ts)
        width = max(1, CHUNK_BYTES // (2 * max(n_bars, 1)))
        capital = float(target.capital)
        trials: list = [None] * len(combos)
        for lo in range(0, len(combos), width):
            # one row per combination (contiguous writes); the kernel gets the (T, C) view
            cols, entries, exits = [], np.zeros((width, n_bars), bool), \
                np.zeros((width, n_bars), bool)
            for i in range(lo, min(lo + width, len(combos))):
                strategy, error = compile_params(target, combos[i])
                if strategy is None:
                    trials[i] = Trial(combos[i], None, skipped=error)
                    continue
                if strategy.stops != base.stops or strategy.cooldown != base.cooldown:
                    return None, "parameters change the stops or cooldown"
                sig = strategy.signals(pair.candles, pair.higher)
                if target.fills.shorts and sig.entry_short[win].any():
                    return None, "short signals (grid mode trades longs)"
                entries[len(cols)] = sig.entry_long[win]
                exits[len(cols)] = sig.exit_long[win]
                cols.append(i)
            if not cols:
                continue
            k = len(cols)
            out = simulate_grid(prepared.market, np.ascontiguousarray(entries[:k].T),
                                np.ascontiguousarray(exits[:k].T),
                                prepared.params, capital,
                                close_at_end=target.fills.close_at_end)
            gm = metrics.grid_metrics(out, capital, target.timeframe)
            for j, i in enumerate(cols):
                m = {key: float(gm[key][j]) for key in gm}
                trials[i] = Trial(combos[i], {k2: m[k2] for k2 in (*TABLE_METRICS, *m)
                                              if k2 in m})
    return trials, None
