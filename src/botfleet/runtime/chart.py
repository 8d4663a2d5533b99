"""A bot's strategy indicators for its price chart, split by the scale they live on.

The control panel draws a bot's named indicator series over its candles. A moving average
belongs on the price axis; an RSI (0-100), an ADX or a MACD line would flatten the candles
to a line there, so they get their own panel. A strategy's indicators are free expressions
(`rsi(close, p) - 50`, `sma(close, 20) * 1.02`), so the split is made on the values: a series
whose typical level is within a factor of two of the close's is on the price scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from botfleet.data.candles import timeframe_ms
from botfleet.data.store import SeriesKey, open_store

PRICE_BAND = (0.5, 2.0)  # median(series) / median(close) inside this: drawn over the candles


@dataclass
class IndicatorPanels:
    ts: np.ndarray  # ms, the bars shown
    price: dict[str, np.ndarray] = field(default_factory=dict)  # over the candles
    oscillators: dict[str, np.ndarray] = field(default_factory=dict)  # in a panel below


def on_price_scale(series: np.ndarray, close: np.ndarray) -> bool:
    """Whether `series` is drawn over the candles (see the module's note)."""
    series, close = np.asarray(series, dtype=np.float64), np.asarray(close, dtype=np.float64)
    if not np.isfinite(series).any() or not np.isfinite(close).any():
        return False
    level = float(np.nanmedian(close))
    if level <= 0:
        return False
    ratio = float(np.nanmedian(series[np.isfinite(series)])) / level
    return PRICE_BAND[0] < ratio < PRICE_BAND[1]


def split_series(series: dict[str, np.ndarray], close: np.ndarray) -> IndicatorPanels:
    """Named series over the same bars as `close`, sorted onto the price or a lower panel;
    series with no finite value are left out (nothing to draw)."""
    out = IndicatorPanels(ts=np.empty(0, dtype=np.int64))
    for name, values in series.items():
        values = np.asarray(values, dtype=np.float64)
        if len(values) != len(close):
            raise ValueError(f"indicator '{name}': {len(values)} values for {len(close)} bars")
        if not np.isfinite(values).any():
            continue
        (out.price if on_price_scale(values, close) else out.oscillators)[name] = values
    return out


def bot_indicators(load, bot_name: str, pair: str, since_ms: int) -> IndicatorPanels:
    """The indicator series of `bot_name`'s strategy on `pair` from `since_ms` on, computed
    from the fleet's candle store with the strategy's warm-up before it (so the first bar
    shown has a settled value). `load` is a valid `FleetLoad`."""
    from botfleet.strategy.fleet import compiled_for_bots

    fleet = load.fleet
    bot = fleet.bots[bot_name]
    strategy = compiled_for_bots(load)[bot_name]
    lo = int(since_ms) - strategy.warmup * timeframe_ms(bot.timeframe)
    with open_store(fleet.storage.candles) as store:
        base = store.read(SeriesKey(bot.exchange, pair, bot.timeframe), lo)
        higher = {tf: store.read(SeriesKey(bot.exchange, pair, tf), lo)
                  for tf in strategy.timeframes}
    sig = strategy.signals(base, higher)
    keep = np.asarray(sig.ts) >= since_ms
    panels = split_series({k: np.asarray(v)[keep] for k, v in sig.series.items()},
                          np.asarray(base["close"], dtype=np.float64)[keep])
    panels.ts = np.asarray(sig.ts)[keep]
    return panels
