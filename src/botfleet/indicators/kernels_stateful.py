"""Numba kernels for path-dependent bar recursions: SuperTrend's bands and Heikin-Ashi candles.

Both carry state from bar to bar, so they are plain loops; each is one jitted function writing
into output arrays the caller allocates (see `kernels`).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def supertrend(high, low, close, atr, mult, line, dirn, upper, lower):
    """SuperTrend from an ATR series (NaN until the ATR has a value).

    Writes line, direction, final upper band, final lower band. With hl2 = (high+low)/2:
        basic upper = hl2 + mult*atr,  basic lower = hl2 - mult*atr
        upper[t] = basic upper[t] if basic upper[t] < upper[t-1] or close[t-1] > upper[t-1]
                   else upper[t-1]          (the upper band only ratchets down)
        lower[t] = basic lower[t] if basic lower[t] > lower[t-1] or close[t-1] < lower[t-1]
                   else lower[t-1]          (the lower band only ratchets up)
        down trend (-1) turns up (+1) when close[t] > upper[t];
        up trend turns down when close[t] < lower[t];
        line = lower band in an up trend, upper band in a down trend.
    On the first bar with an ATR the bands are the basic ones and the trend is up (+1), as in
    TA-Lib's SUPERTREND (and pandas-ta); TradingView starts down. The two agree from the first
    reversal on.
    """
    n = len(close)
    s = 0
    while s < n and math.isnan(atr[s]):
        line[s] = np.nan
        dirn[s] = np.nan
        upper[s] = np.nan
        lower[s] = np.nan
        s += 1
    if s >= n:
        return
    hl2 = (high[s] + low[s]) / 2.0
    fu = hl2 + mult * atr[s]
    fl = hl2 - mult * atr[s]
    d = 1.0
    upper[s] = fu
    lower[s] = fl
    dirn[s] = d
    line[s] = fl
    for i in range(s + 1, n):
        # selects, not branches: trend phases make these comparisons hard to predict
        hl2 = (high[i] + low[i]) / 2.0
        bu = hl2 + mult * atr[i]
        bl = hl2 - mult * atr[i]
        pc = close[i - 1]
        fu = bu if (bu < fu) | (pc > fu) else fu
        fl = bl if (bl > fl) | (pc < fl) else fl
        c = close[i]
        d = 1.0 if (d < 0.0) & (c > fu) else (-1.0 if (d > 0.0) & (c < fl) else d)
        upper[i] = fu
        lower[i] = fl
        dirn[i] = d
        line[i] = fl if d > 0.0 else fu


@numba.njit(cache=True, nogil=True, error_model="numpy")
def heikin_ashi(open_, high, low, close, ho, hh, hl, hc):
    """Heikin-Ashi candles, written into ho, hh, hl, hc.

        ha_close[t] = (open+high+low+close)[t] / 4
        ha_open[0]  = (open[0] + close[0]) / 2
        ha_open[t]  = (ha_open[t-1] + ha_close[t-1]) / 2
        ha_high[t]  = max(high[t], ha_open[t], ha_close[t])
        ha_low[t]   = min(low[t], ha_open[t], ha_close[t])
    """
    n = len(close)
    o = (open_[0] + close[0]) / 2.0 if n else 0.0
    c = 0.0
    for i in range(n):
        if i:
            o = (o + c) / 2.0
        c = (open_[i] + high[i] + low[i] + close[i]) / 4.0
        ho[i] = o
        hh[i] = max(high[i], max(o, c))
        hl[i] = min(low[i], min(o, c))
        hc[i] = c
