"""Higher timeframes built from lower ones, exactly as exchanges build them.

open = first open, high = max, low = min, close = last close, volume = sum, labelled by the
bucket's open time. A bucket is emitted only when every lower candle in it is present (unless
`partial=True`): a 4h candle built from three of four hours would silently disagree with the
exchange's own.
"""

from __future__ import annotations

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, empty, next_open, timeframe_ms

_WEEK_OFFSET = 4 * 86_400_000  # weeks start on Monday; 1970-01-01 was a Thursday


def bucket_starts(ts: np.ndarray, timeframe: str) -> np.ndarray:
    if timeframe.endswith("M"):
        months = int(timeframe[:-1])
        m = ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
        m = m - m % months
        return m.astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
    step = timeframe_ms(timeframe)
    offset = _WEEK_OFFSET if timeframe.endswith("w") else 0
    return ts - (ts - offset) % step


def _buckets(ts: np.ndarray, timeframe: str) -> tuple[np.ndarray, np.ndarray]:
    """(index of each bucket's first candle, the bucket's open time), for sorted `ts`.

    Fixed-length buckets are found by binary search of each bucket's start (a few thousand
    searches) instead of a modulo per candle: 7 ms -> 0.3 ms on a million candles."""
    if timeframe.endswith("M"):
        buckets = bucket_starts(ts, timeframe)
        starts = np.flatnonzero(np.concatenate([[True], buckets[1:] != buckets[:-1]]))
        return starts, buckets[starts]
    step = timeframe_ms(timeframe)
    offset = _WEEK_OFFSET if timeframe.endswith("w") else 0
    first = int(ts[0]) - (int(ts[0]) - offset) % step
    edges = np.arange(first, int(ts[-1]) + 1, step, dtype=np.int64)
    pos = np.searchsorted(ts, edges)
    nonempty = pos < len(ts)
    nonempty[nonempty] = ts[pos[nonempty]] < edges[nonempty] + step
    return pos[nonempty], edges[nonempty]


def resample(candles: np.ndarray, source_tf: str, target_tf: str, *,
             partial: bool = False) -> np.ndarray:
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    if len(c) == 0:
        return empty()
    src = timeframe_ms(source_tf)
    if not target_tf.endswith("M") and timeframe_ms(target_tf) % src:
        raise ValueError(f"{target_tf} is not a whole multiple of {source_tf}")
    ts = np.ascontiguousarray(c["ts"])  # contiguous copies: strided fields are 2x slower
    if np.any(ts[1:] <= ts[:-1]):
        raise ValueError("candles must be sorted by time without duplicates")
    starts, opens = _buckets(ts, target_tf)
    ends = np.concatenate([starts[1:], [len(c)]])
    out = np.empty(len(starts), dtype=CANDLE_DTYPE)
    out["ts"] = opens
    out["open"] = c["open"][starts]
    out["close"] = c["close"][ends - 1]
    out["high"] = np.maximum.reduceat(np.ascontiguousarray(c["high"]), starts)
    out["low"] = np.minimum.reduceat(np.ascontiguousarray(c["low"]), starts)
    out["volume"] = np.add.reduceat(np.ascontiguousarray(c["volume"]), starts)
    if partial:
        return out
    if target_tf.endswith("M"):
        expected = np.array([(next_open(int(t), target_tf) - int(t)) // src for t in out["ts"]])
    else:
        expected = timeframe_ms(target_tf) // src
    return out[(ends - starts) == expected]
