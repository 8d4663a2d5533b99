"""Plugin indicators that read the future, as careless custom indicators do: a centred
rolling mean (pandas' `rolling(n, center=True)`) and a normalisation by the whole series'
maximum (`x / x.max()`). The look-ahead check must locate both in a YAML strategy.
"""

from __future__ import annotations

import numpy as np

from botfleet.indicators import Indicator, Param


def _centred(close, period):
    half = period // 2
    out = np.full(len(close), np.nan)
    for t in range(half, len(close) - half):
        out[t] = close[t - half: t + half + 1].mean()  # bars t+1 .. t+half: the future
    return (out,)


def _to_max(close):
    return (close / np.nanmax(close),) if len(close) else (close.copy(),)


INDICATORS = [
    Indicator(name="centred_mean", inputs=("close",),
              params=(Param("period", "int", 5, 3, 1000, help="odd window"),),
              outputs=("value",), compute=_centred, warmup=lambda p: p["period"] // 2,
              description="centred rolling mean (reads the future: a test fixture)"),
    Indicator(name="of_max", inputs=("close",), params=(), outputs=("value",),
              compute=_to_max, warmup=lambda p: 0,
              description="x / x.max() over the whole series (a test fixture)"),
]
