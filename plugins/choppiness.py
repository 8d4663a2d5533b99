"""A custom indicator plugin: the Choppiness Index, which TA-Lib lacks.

CHOP(n) = 100 * log10(sum of true range over n bars / (highest high - lowest low)) / log10(n):
near 100 when price chops sideways, near 0 when it trends. Once this file sits in `plugins/`,
`chop(14) < 50` works in YAML strategies, `bars.indicator("chop", period=14)` in code
strategies, and the UI lists it.
"""

from __future__ import annotations

import math

import numpy as np
import talib

from botfleet.indicators import Indicator, Param


def choppiness(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int
               ) -> tuple[np.ndarray]:
    if len(close) <= period:
        return (np.full(len(close), np.nan),)
    tr_sum = talib.SUM(talib.TRANGE(high, low, close), timeperiod=period)
    span = talib.MAX(high, timeperiod=period) - talib.MIN(low, timeperiod=period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100 * np.log10(tr_sum / span) / math.log10(period)
    return (np.where(span > 0, out, np.nan),)


INDICATORS = [
    Indicator(
        name="chop", inputs=("high", "low", "close"),
        params=(Param("period", "int", 14, 2, 10_000, help="bars in the window"),),
        outputs=("chop",), compute=choppiness, warmup=lambda p: p["period"],
        description="Choppiness Index (100 = sideways, 0 = trending)", group="Volatility"),
]
