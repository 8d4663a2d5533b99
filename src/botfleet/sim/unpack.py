"""Candles into the kernel's layers, compiled.

A pair's candles are records (`data.candles.CANDLE_DTYPE`: ts, open, high, low, close,
volume side by side); the kernel wants each field as a layer of its own. numpy copies a
field out of records at about 0.6 ns a value, five fields and the times a third of a
backtest's preparation on five years of hourly bars; one compiled pass over the records
writes all six in a third of that.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from botfleet.data.candles import CANDLE_DTYPE
from botfleet.sim.kernel_state import B_CLOSE, B_HIGH, B_LOW, B_OPEN, B_VOL


@njit(cache=True, nogil=True, error_model="numpy")
def _unpack(candles, rows, a, bars, ts):
    identity = rows.size == 0
    times = ts.size > 0
    for i in range(candles.shape[0]):
        c = candles[np.uint64(i)]
        r = np.uint64(i if identity else rows[i])
        bars[B_OPEN, r, a] = c.open
        bars[B_HIGH, r, a] = c.high
        bars[B_LOW, r, a] = c.low
        bars[B_CLOSE, r, a] = c.close
        bars[B_VOL, r, a] = c.volume
        if times:
            ts[r] = c.ts


def unpack_candles(candles: np.ndarray, rows: np.ndarray | None, a: int, bars: np.ndarray,
                   ts: np.ndarray | None = None) -> None:
    """Write `candles` (CANDLE_DTYPE) into column `a` of the (N_BARS, T, A) layers at `rows`
    (None: row i for candle i), and their times into `ts` if given."""
    if candles.dtype != CANDLE_DTYPE or not candles.flags.c_contiguous:
        candles = np.ascontiguousarray(candles, dtype=CANDLE_DTYPE)
    _unpack(candles, np.zeros(0, np.int64) if rows is None else rows.astype(np.int64, copy=False),
            a, bars, np.zeros(0, np.int64) if ts is None else ts)
