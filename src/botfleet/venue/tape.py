"""One symbol's market as the matching engine sees it: the bars of the matching timeframe and the
fill model's per-bar slippage inputs, computed once for the whole series.

The backtest fills against bars, so the venue must too, or a paper replay could not reproduce a
backtest: the slippage fraction of bar t (`FillModel.slip_frac`, causal: from bars before t) and
the volatility for square-root impact (`FillModel.sigma`) are the very arrays the backtest reads.
They are computed over the whole recorded series, whereas a backtest computes them over its own
window: models that look back (spread estimate, ATR, volume impact) can differ in the first
`lookback` bars of a backtest window, never afterwards.

The reference price at a venue instant is the latest price known then: the open of the bar
forming at that instant (a trade printed at or before it), or in a gap of the data the last
close. Nothing later in the forming bar is used.
"""

from __future__ import annotations

import numpy as np

from botfleet.data.candles import timeframe_ms
from botfleet.sim import fills as F
from botfleet.sim.fillmodel import FillModel

CHUNK = 64  # bars whose extremes are tested together before any bar is tested alone


class Tape:
    def __init__(self, symbol: str, candles: np.ndarray, timeframe: str, fills: FillModel):
        self.symbol, self.timeframe = symbol, timeframe
        self.tf_ms = timeframe_ms(timeframe)
        self.ts = np.ascontiguousarray(candles["ts"], dtype=np.int64)
        self.open = np.ascontiguousarray(candles["open"], dtype=np.float64)
        self.high = np.ascontiguousarray(candles["high"], dtype=np.float64)
        self.low = np.ascontiguousarray(candles["low"], dtype=np.float64)
        self.close = np.ascontiguousarray(candles["close"], dtype=np.float64)
        self.volume = np.ascontiguousarray(candles["volume"], dtype=np.float64)
        n = len(self.ts)
        self.slip = np.nan_to_num(fills.slip_frac(self.high, self.low, self.close)) if n \
            else np.zeros(0)
        self.sigma = fills.sigma(self.close) if n else np.zeros(0)
        self.impact = fills.impact if fills.slippage == "volume" else 0.0
        self.volume_cap = fills.volume_cap

    def __len__(self) -> int:
        return len(self.ts)

    # --- time ------------------------------------------------------------------------------

    def first_at_or_after(self, ms: int) -> int:
        """Index of the first bar opening at or after `ms` (len when none)."""
        return int(np.searchsorted(self.ts, ms, side="left"))

    def opened_by(self, ms: int) -> int:
        """How many bars have opened by `ms` (their open time <= ms)."""
        return int(np.searchsorted(self.ts, ms, side="right"))

    def close_time(self, i: int) -> int:
        """When bar i is over and its range known: the next bar's open time."""
        return int(self.ts[i]) + self.tf_ms

    def ref(self, now: int) -> tuple[int, float] | None:
        """(bar index, price) of the latest known price at `now`, None before the data."""
        i = self.opened_by(now) - 1
        if i < 0:
            return None
        if now < self.close_time(i):
            return i, float(self.open[i])
        return i, float(self.close[i])

    # --- per-bar fill inputs ---------------------------------------------------------------

    def slip_frac(self, i: int, amount: float) -> float:
        """The adverse price fraction of a taker fill of `amount` in bar i (as the kernel's
        `_slip`: the model's fraction plus square-root impact)."""
        s = float(self.slip[i])  # Python floats: numba dispatches numpy scalars far slower
        if not s >= 0.0:
            s = 0.0
        return s + F.impact_frac(self.impact, float(self.sigma[i]), amount,
                                 float(self.volume[i]))

    def capped(self, i: int, amount: float, step: float) -> float:
        """The share of bar i's volume one order may take, on the amount step (the kernel's
        `_cap`)."""
        got = F.volume_capped(amount, float(self.volume[i]), self.volume_cap)
        if got < amount:
            got = F.round_amount(got, step)
        return got

    # --- scanning --------------------------------------------------------------------------

    def first_hit(self, start: int, stop: int, test) -> int:
        """The first bar in [start, stop) for which `test(low, high)` holds, else `stop`.

        `test` is one of the fill rules on a bar's range (trade-through, stop trigger); they
        are thresholds, so when a chunk's lowest low and highest high fail the test no bar of
        it can pass, and quiet stretches are skipped a chunk at a time."""
        i = start
        while i < stop:
            j = min(i + CHUNK, stop)
            if test(float(self.low[i:j].min()), float(self.high[i:j].max())):
                for k in range(i, j):
                    if test(float(self.low[k]), float(self.high[k])):
                        return k
            i = j
        return stop
