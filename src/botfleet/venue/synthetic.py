"""A seeded synthetic market for demos, labelled as such everywhere it is served.

A demo or a smoke test needs a market that exists without the shared data files and behaves the
same on every run; it must never be mistaken for history. So the candles here are a plain
geometric random walk (no drift, a fixed volatility per bar), seeded per (seed, symbol), with
prices on the symbol's tick, and the `MarketData` carries the label `{"market": "synthetic",
"seed": N}`, which the venue repeats in exchangeInfo (`simulator`), in `/sim/v1/info` and in the
`X-Botfleet-Market` header of every answer. Nothing about real markets is claimed: no volatility
clustering, no fat tails beyond the bar extremes' half-normal, no volume profile.

Bar model: close_t = close_{t-1} * exp(N(0, sigma)), open_t = close_{t-1}; the high and low sit
a half-normal multiple of sigma/2 beyond the body; volume is log-normal around a base amount.
sigma = ANNUAL_VOL * sqrt(bar length / one year).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms
from botfleet.data.resample import resample
from botfleet.venue.clock import Clock
from botfleet.venue.market import MarketData
from botfleet.venue.rules import rules_for

ANNUAL_VOL = 0.6
YEAR_MS = 365 * 86_400_000
START_PRICES = {"BTC": 30_000.0, "ETH": 2_000.0, "BNB": 300.0, "SOL": 50.0, "XRP": 0.5}
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT")
HIGHER = ("5m", "15m", "30m", "1h", "4h", "1d")


def synthetic_candles(symbol: str, seed: int, start_ms: int, bars: int,
                      timeframe: str = "1h") -> np.ndarray:
    """`bars` candles of `symbol` from `start_ms` (aligned down to the timeframe)."""
    if bars < 1:
        raise ValueError("a synthetic series needs at least one bar")
    tf = timeframe_ms(timeframe)
    rng = np.random.default_rng([int(seed), zlib.crc32(symbol.encode())])
    sigma = ANNUAL_VOL * np.sqrt(tf / YEAR_MS)
    p0 = START_PRICES.get(symbol.split("/")[0], 100.0)
    close = p0 * np.exp(np.cumsum(rng.normal(0.0, sigma, bars)))
    open_ = np.concatenate([[p0], close[:-1]])
    body_hi, body_lo = np.maximum(open_, close), np.minimum(open_, close)
    high = body_hi * np.exp(np.abs(rng.normal(0.0, sigma / 2.0, bars)))
    low = body_lo * np.exp(-np.abs(rng.normal(0.0, sigma / 2.0, bars)))
    tick = float(rules_for(symbol).tick_size)
    out = np.empty(bars, dtype=CANDLE_DTYPE)
    out["ts"] = (start_ms - start_ms % tf) + tf * np.arange(bars, dtype=np.int64)
    for name, arr in (("open", open_), ("high", high), ("low", low), ("close", close)):
        out[name] = np.maximum(_on_tick(arr, tick), tick)
    out["high"] = np.maximum.reduce([out["high"], out["open"], out["close"]])
    out["low"] = np.minimum.reduce([out["low"], out["open"], out["close"]])
    base_volume = 1_000_000.0 / p0 * tf / 3_600_000
    out["volume"] = np.round(base_volume * rng.lognormal(0.0, 0.5, bars), 5)
    return out


def synthetic_market(seed: int, start_ms: int, end_ms: int, *,
                     symbols: Iterable[str] = DEFAULT_SYMBOLS, timeframe: str = "1h",
                     clock: Clock | None = None) -> MarketData:
    """Every symbol from `start_ms` (down to its UTC day, so every higher timeframe starts
    whole) to `end_ms` at `timeframe`, plus the standard higher timeframes that are whole
    multiples of it (resampled on first use)."""
    tf = timeframe_ms(timeframe)
    start_ms -= start_ms % 86_400_000
    bars = max(1, (end_ms - start_ms) // tf)
    series: dict[str, dict] = {}
    for symbol in symbols:
        if "/" not in symbol:
            raise ValueError(f"'{symbol}' is not a spot symbol such as 'BTC/USDT'")
        base = synthetic_candles(symbol, seed, start_ms, bars, timeframe)
        by_tf: dict = {timeframe: base}
        for higher in HIGHER:
            t = timeframe_ms(higher)
            if t > tf and t % tf == 0:
                by_tf[higher] = (lambda b=base, h=higher: resample(b, timeframe, h))
        series[symbol] = by_tf
    return MarketData(series, clock=clock or Clock(start_ms),
                      label={"market": "synthetic", "seed": int(seed)})


def _on_tick(x: np.ndarray, tick: float) -> np.ndarray:
    if not tick > 0:
        return x
    inv = round(1.0 / tick)
    if inv >= 1 and abs(1.0 / tick - inv) < 1e-9 * inv:  # 0.01 -> divide by 100: exact grid
        return np.round(x * inv) / inv
    return np.round(x / tick) * tick
