"""Numba kernels for rolling windows and exponential smoothing, shared by botfleet's indicators.

Each kernel is causal (the value at t reads inputs at bars <= t) and gives NaN where its window
is not full yet. Window kernels also accept leading NaN (a series an earlier indicator produced)
and stay NaN while the window holds one.

Kernels write into output arrays the caller allocates with numpy (a zero-length array skips an
output): numpy's allocator asks for transparent huge pages (madvise), numba's does not, and on
a 1M-bar series the page faults of a fresh numba array (~5 ms on the development VM, ~2 ms for
numpy's) cost more than most computations here. Compile time matters
too (a few hundred ms per jitted function on a cold cache), so a few general kernels serve
every indicator: `rolling_extremes` serves Donchian and Ichimoku, `rolling_stats` z-score and
realised volatility. Callers pass contiguous float64 arrays and plain int/float scalars, so
each kernel compiles once.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rolling_extremes(high, low, p, lag, up, dn, mid):
    """Highest `high` and lowest `low` over the `p` bars ending at t, written at t + lag.

    `up`, `dn`, `mid` ((up+dn)/2) are outputs as long as the inputs, or zero-length to skip.
    A lag displaces the window forward (Ichimoku's spans); indices before p-1+lag are NaN, as is
    any window holding a NaN. van Herk/Gil-Werman, block by block: a window [t-p+1, t] spans
    the tail of the previous block of p bars and the head of the current one, so its extreme is
    that of the previous block's suffix extreme and the current block's prefix extreme. Each
    bar is read twice whatever p; the suffix extremes live in a buffer of p + 1 values.
    """
    n = len(high)
    wu = len(up) > 0
    wd = len(dn) > 0
    wm = len(mid) > 0
    first = p - 1 + lag if p >= 1 else n
    for i in range(min(first, n)):
        if wu:
            up[i] = np.nan
        if wd:
            dn[i] = np.nan
        if wm:
            mid[i] = np.nan
    if p < 1:
        return
    sx = np.empty(p + 1)  # suffix maxima of the previous block; sx[p] closes a whole block
    sn = np.empty(p + 1)
    sx[p] = -np.inf
    sn[p] = np.inf
    last_nan = -1
    bs = 0  # start of the current block
    while bs < n:
        if bs > 0:
            mx = -np.inf
            mn = np.inf
            for j in range(bs - 1, bs - p - 1, -1):
                a = high[j]
                b = low[j]
                if not (math.isnan(a) or math.isnan(b)):
                    mx = max(mx, a)
                    mn = min(mn, b)
                sx[j - bs + p] = mx
                sn[j - bs + p] = mn
        gx = -np.inf
        gn = np.inf
        for t in range(bs, min(bs + p, n)):
            a = high[t]
            b = low[t]
            if math.isnan(a) or math.isnan(b):
                last_nan = t
            else:
                gx = max(gx, a)
                gn = min(gn, b)
            o = t + lag
            if t < p - 1 or o >= n:
                continue
            if last_nan > t - p:
                u = np.nan
                d = np.nan
            elif bs == 0:
                u = gx
                d = gn
            else:
                u = max(sx[t - bs + 1], gx)
                d = min(sn[t - bs + 1], gn)
            if wu:
                up[o] = u
            if wd:
                dn[o] = d
            if wm:
                mid[o] = (u + d) / 2.0
        bs += p


@numba.njit(cache=True, nogil=True, error_model="numpy")
def smooth(x, n, alpha, out):
    """Exponential smoothing seeded with a simple mean, as TA-Lib's EMA, into `out`.

    From the first non-NaN bar s: out[s+n-1] = mean(x[s:s+n]), then
    out[i] = out[i-1] + alpha * (x[i] - out[i-1]). alpha = 2/(n+1) is TA-Lib's EMA, 1/n is
    Wilder's smoothing. A NaN after the seed propagates, as in TA-Lib.
    """
    m = len(x)
    s = 0
    while s < m and math.isnan(x[s]):
        s += 1
    stop = s + n - 1 if n >= 1 else m
    for i in range(min(stop, m)):
        out[i] = np.nan
    if stop >= m:
        return
    acc = 0.0
    for i in range(s, s + n):
        acc += x[i]
    v = acc / n
    out[stop] = v
    for i in range(stop + 1, m):
        v = v + alpha * (x[i] - v)
        out[i] = v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def atr(high, low, close, n, out):
    """TA-Lib's ATR into `out`: Wilder's smoothing of the true range
    max(high, previous close) - min(low, previous close).

    Bar 0 has no true range; the first value, at bar n, is the mean of the true ranges of bars
    1..n, then atr[t] = atr[t-1] + (tr[t] - atr[t-1]) / n.
    """
    m = len(close)
    for i in range(min(n, m) if n >= 1 else m):
        out[i] = np.nan
    if n < 1 or m <= n:
        return
    acc = 0.0
    for i in range(1, n + 1):
        pc = close[i - 1]
        acc += max(high[i], pc) - min(low[i], pc)
    v = acc / n
    out[n] = v
    a = 1.0 / n
    for i in range(n + 1, m):
        pc = close[i - 1]
        v = v + a * ((max(high[i], pc) - min(low[i], pc)) - v)
        out[i] = v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rolling_stats(x, p, ddof, mean, std, z):
    """Rolling mean, deviation (divisor p - ddof) and z-score (x - mean) / deviation.

    Outputs are caller-allocated, zero-length to skip. Running sums of x - K, with K a value of
    the window: centring keeps the sum of squares free of cancellation at price scale, and every
    `p` bars the sums are rebuilt from the window with a fresh K, so rounding cannot drift over
    long series. A window whose spread is tiny against its distance from K (over four digits
    would cancel) is re-summed around its own mean: O(p) for that bar, so a series that stays
    almost flat costs O(n p). A window of identical values has a deviation of exactly 0 and a
    z-score of NaN; a window holding a non-finite value gives NaN.
    """
    n = len(x)
    wm = len(mean) > 0
    ws = len(std) > 0
    wz = len(z) > 0
    ok = p >= 1 and p - ddof >= 1
    inv_p = 1.0 / p if ok else 0.0
    inv_q = 1.0 / (p - ddof) if ok else 0.0
    k = 0.0
    s1 = 0.0
    s2 = 0.0
    bad = 0  # non-finite values in the window
    same = 0  # run of bars equal to the current one, ending here
    rebuild = 0  # bars until the sums are rebuilt
    prev = np.nan
    for i in range(n):
        xi = x[i]
        same = same + 1 if xi == prev else 1
        prev = xi
        if not ok:
            pass
        elif rebuild == 0:
            rebuild = p
            lo = i - p + 1 if i >= p - 1 else 0
            k = 0.0
            for j in range(lo, i + 1):
                if math.isfinite(x[j]):
                    k = x[j]
                    break
            s1 = 0.0
            s2 = 0.0
            bad = 0
            for j in range(lo, i + 1):
                v = x[j]
                if math.isfinite(v):
                    d = v - k
                    s1 += d
                    s2 += d * d
                else:
                    bad += 1
        else:
            # one add per sum on the loop-carried chain: (new - old) is formed off it
            a1 = 0.0
            a2 = 0.0
            if math.isfinite(xi):
                d = xi - k
                a1 = d
                a2 = d * d
            else:
                bad += 1
            if i >= p:
                v = x[i - p]
                if math.isfinite(v):
                    d = v - k
                    a1 -= d
                    a2 -= d * d
                else:
                    bad -= 1
            s1 += a1
            s2 += a2
        rebuild -= 1
        mu = np.nan
        sd = np.nan
        zz = np.nan
        if ok and i >= p - 1 and bad == 0:
            m = s1 * inv_p
            ss = s2 - s1 * m
            if ss < 1e-4 * s2 and same < p:
                # the window's spread is small against its distance from K: more than four
                # digits would cancel, so re-centre K on the window's mean and re-sum (two-pass)
                acc = 0.0
                for j in range(i - p + 1, i + 1):
                    acc += x[j] - k
                k = k + acc * inv_p
                s1 = 0.0
                s2 = 0.0
                for j in range(i - p + 1, i + 1):
                    d = x[j] - k
                    s1 += d
                    s2 += d * d
                rebuild = p
                m = s1 * inv_p
                ss = s2 - s1 * m
            mu = k + m
            if same >= p:
                sd = 0.0
            else:
                var = ss * inv_q
                sd = math.sqrt(var) if var > 0.0 else 0.0
                if wz and sd > 0.0:
                    zz = ((xi - k) - m) / sd
        if wm:
            mean[i] = mu
        if ws:
            std[i] = sd
        if wz:
            z[i] = zz
