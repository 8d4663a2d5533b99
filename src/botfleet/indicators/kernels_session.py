"""Calendar sessions (UTC day, ISO week, month) and the session-anchored VWAP kernel.

Times are candle open times in int64 epoch milliseconds, UTC. A session is [start, end):
- day: midnight to midnight UTC;
- week: ISO week, Monday 00:00 UTC to the next Monday;
- month: the 1st 00:00 UTC to the 1st of the next month.
"""

from __future__ import annotations

import math

import numba
import numpy as np

DAY_MS = 86_400_000
ANCHORS = {"day": 0, "week": 1, "month": 2}


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _session_bounds(t, anchor):
    """[start, end) in ms of the `anchor` session holding time `t` (ms)."""
    d = t // DAY_MS  # floor division: days since 1970-01-01 (a Thursday)
    if anchor == 0:
        return d * DAY_MS, (d + 1) * DAY_MS
    if anchor == 1:
        w0 = ((d + 3) // 7) * 7 - 3  # the Monday on or before day d
        return w0 * DAY_MS, (w0 + 7) * DAY_MS
    # Month: civil date from day count (H. Hinnant's algorithm), then the 1st of this month and
    # the 1st of the next as day counts.
    z = d + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    dom = doy - (153 * mp + 2) // 5  # day of month, 0-based
    start = d - dom
    m = mp + 3 if mp < 10 else mp - 9  # 1..12
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        length = 29 if leap else 28
    elif m == 4 or m == 6 or m == 9 or m == 11:
        length = 30
    else:
        length = 31
    return start * DAY_MS, (start + length) * DAY_MS


@numba.njit(cache=True, nogil=True, error_model="numpy")
def session_vwap(ts, high, low, close, volume, anchor, k, vwap, upper, lower):
    """Session VWAP of the typical price x = (h+l+c)/3 and bands at `k` deviations, written
    into vwap, upper, lower.

    vwap = sum(x*v) / sum(v) over the session's bars so far; the deviation is the population one
    with volume weights, sqrt(sum(v*(x-vwap)^2) / sum(v)), from sums of x - x0 (x0 = the
    session's first traded typical price), which keeps the sum of squares free of cancellation
    at price scale. Sums restart on the first bar of each session. The first session is NaN
    unless the data starts exactly at its start (it would otherwise be a partial session, whose
    VWAP differs from the one computed with the session's earlier bars). A session is NaN until
    it has traded volume; bars without volume (or with a non-finite price) add nothing.
    """
    n = len(ts)
    start = 0
    end = 0
    whole = False
    x0 = np.nan
    spv = 0.0
    sv = 0.0
    sd1 = 0.0
    sd2 = 0.0
    for i in range(n):
        t = ts[i]
        if i == 0 or t >= end or t < start:
            start, end = _session_bounds(t, anchor)
            whole = i > 0 or t == start
            x0 = np.nan
            spv = 0.0
            sv = 0.0
            sd1 = 0.0
            sd2 = 0.0
        v = volume[i]
        x = (high[i] + low[i] + close[i]) / 3.0
        if v > 0.0 and math.isfinite(x) and math.isfinite(v):
            if sv == 0.0:
                x0 = x
            d = x - x0
            spv += x * v
            sv += v
            sd1 += d * v
            sd2 += d * d * v
        if whole and sv > 0.0:
            inv = 1.0 / sv
            c = spv * inv
            m = sd1 * inv
            var = sd2 * inv - m * m
            w = k * math.sqrt(var) if var > 0.0 else 0.0
            vwap[i] = c
            upper[i] = c + w
            lower[i] = c - w
        else:
            vwap[i] = np.nan
            upper[i] = np.nan
            lower[i] = np.nan


def anchor_code(anchor: str | int) -> int:
    if isinstance(anchor, str):
        return ANCHORS[anchor]
    return int(anchor)
