"""A code strategy plugin: buy RSI dips while the daily Hull MA rises and the market trends
(Choppiness Index, from the `chop` plugin next to this file); sell on recovery.

Shows what Python adds over YAML (any numpy) while keeping the YAML guarantees: parameters
with ranges for the optimiser, registry indicators (TA-Lib's and plugins') with their warm-up
tracked, a higher timeframe joined only once its candle has closed, and
stops and sizing in the same shapes as a YAML strategy. Check it with
`botfleet strategy check plugins/rsi_trend.py`, which also runs the look-ahead check.
"""

from __future__ import annotations

from botfleet.strategy.code import CodeStrategy, Parameter, fn


class RsiTrend(CodeStrategy):
    name = "rsi_trend"
    description = "RSI dips in a rising daily Hull-MA trend."
    parameters = {
        "rsi_period": Parameter(14, range=(5, 30)),
        "dip": Parameter(35, range=(15, 45)),
        "recover": Parameter(60, range=(50, 80)),
        "trend": Parameter(20, range=(10, 60)),
        "chop_max": Parameter(55, range=(40, 70)),
    }
    timeframes = ("1d",)
    stops = {"stop_loss": "6%", "trailing": {"activate": "4%", "distance": "3%"}}
    sizing = {"method": "percent_equity", "value": "25%"}
    cooldown = "12h"

    def signals(self, bars, p):
        rsi = bars.indicator("rsi", bars.close, timeperiod=p.rsi_period)
        daily = bars.at("1d")
        hma = daily.indicator("hma", daily.close, timeperiod=p.trend)
        rising = daily.join(hma > fn.shift(hma, 1))  # a daily value, seen from that day's close
        trending = bars.indicator("chop", period=14) < p.chop_max
        return {"entry": fn.crosses_below(rsi, p.dip) & rising & trending,
                "exit": (rsi > p.recover) | (~rising & (rsi > 50))}
