"""One pass over an equity curve for the metrics that need the whole curve.

`metrics.compute` used numpy for these (returns, running peak, drawdown runs, exposure): eight
temporary arrays and as many passes, a millisecond on five years of hourly bars — as long as the
simulation itself. This compiled loop gives the same numbers under the same conventions (see
`metrics.bar_returns` and `metrics.drawdown`, which stay the readable definition and produce the
series for charts; `tests/test_sim_metrics.py` holds the two to agreement).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# indices of the returned array
COUNT, SUM, SUMSQ, NEGSQ, MAX_DD, DD_BARS, EXPOSED, GROSS_SUM, EQ_SUM = range(9)


@njit(cache=True, nogil=True, error_model="numpy")
def curve_stats(equity, initial, exposure, tol):
    """Return moments (the first bar against `initial`), max drawdown (<= 0) and the longest
    run of bars more than `tol` below the running peak, bars with a non-zero exposure, the sum
    of |exposure| (non-finite counts as 0) and the sum of max(equity, 0)."""
    prev = max(initial, 0.0)
    peak = prev
    count = total = sumsq = negsq = exposed = gross = eq_sum = mdd = 0.0
    run = longest = 0
    below = False  # the previous bar was more than tol under the peak
    for i in range(equity.shape[0]):
        e = max(equity[np.uint64(i)], 0.0)  # unsigned: no negative-index handling per bar
        if e == prev and e < np.inf:
            # a flat bar (out of the market): its return is exactly 0 and its drawdown the
            # previous bar's, so the sums and the low stand; only the counts move. Half the
            # bars of a typical backtest, and the loop is bound by its two divisions.
            count += 1.0
            if below:
                run += 1
                longest = max(longest, run)
        else:
            r = e / prev - 1.0 if prev > 0.0 else 0.0
            count += 1.0
            total += r
            sumsq += r * r
            neg = min(0.0, r)  # r if r < 0 else 0: a select, where a branch would be a coin flip
            negsq += neg * neg
            if e >= peak:  # at the peak: no drawdown, no division
                peak = e
                run = 0
                below = False
            else:
                dd = e / peak - 1.0 if peak > 0.0 else 0.0
                mdd = min(mdd, dd)
                below = dd < -tol
                if below:
                    run += 1
                    longest = max(longest, run)
                else:
                    run = 0
        x = abs(exposure[np.uint64(i)])
        if np.isfinite(x):
            gross += x
            if x > 0.0:
                exposed += 1.0
        eq_sum += e
        prev = e
    out = np.empty(9)
    out[COUNT], out[SUM], out[SUMSQ], out[NEGSQ] = count, total, sumsq, negsq
    out[MAX_DD], out[DD_BARS] = mdd, longest
    out[EXPOSED], out[GROSS_SUM], out[EQ_SUM] = exposed, gross, eq_sum
    return out
