"""A plugin indicator whose warm-up is declared too short: an EMA that states only TA-Lib's
lookback (period - 1 bars), the mistake a plugin author makes when copying `lookback` for
`warmup`. The EMA's seed (the first period's mean) is still in its values long after that;
the recursive bias check must catch it and say how many bars it really needs.
"""

from __future__ import annotations

import talib

from botfleet.indicators import Indicator, Param


def _ema(close, timeperiod):
    return (talib.EMA(close, timeperiod=timeperiod),)


INDICATORS = [
    Indicator(name="ema_nowarm", inputs=("close",),
              params=(Param("timeperiod", "int", 30, 2, 100_000, help="bars"),),
              outputs=("value",), compute=_ema, warmup=lambda p: p["timeperiod"] - 1,
              description="EMA declaring only its lookback as warm-up (a test fixture)"),
]
