"""Functions of the expression language that are not indicators: crossings, lags, rolling
windows, element-wise helpers. Each is causal (reads bars <= t) and declares its warm-up, so
the compiler can prove a rule never reads the future and knows when its signals are valid.

Rolling windows go through TA-Lib's C loops (MAX, MIN, SMA, STDDEV, SUM), which skip leading
NaN the way chained indicators need. `std` is the population deviation (ddof=0), as TA-Lib's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Argument kinds: "series" (float or bool series, or a number broadcast), "num" (a series of
# numbers), "cond" (a condition), "period" (a whole number >= 1 known before the run), "lag"
# (a whole number >= 0), "number" (any constant number).


@dataclass(frozen=True)
class Builtin:
    name: str
    args: tuple[tuple[str, str], ...]  # (name, kind)
    defaults: dict
    result: str  # "float" or "bool"
    run: Callable
    warmup: Callable[[list[int], dict], int]  # (argument warm-ups, constant args) -> bars
    doc: str


def _ta():
    """TA-Lib, imported on first use: it imports pandas, a second that `botfleet validate`
    (which compiles but computes nothing) should not pay."""
    import talib

    return talib


def _f(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return x
    out = np.empty_like(x, dtype=np.float64 if x.dtype != bool else bool)
    fill = False if x.dtype == bool else np.nan
    out[:n] = fill
    out[n:] = x[:-n] if n < len(x) else x[:0]
    return out


def _crosses_above(a, b):
    a, b = np.broadcast_arrays(_f(a), _f(b))
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def _crosses_below(a, b):
    a, b = np.broadcast_arrays(_f(a), _f(b))
    out = np.zeros(len(a), dtype=bool)
    out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out


def _bars_since(cond, n):
    """Bars since `cond` was last true (0 on the bar itself), looking back at most n bars:
    n when it was not true in that span. The cap keeps the value independent of where the
    data starts, so a live window of warm-up length gives the backtest's value."""
    cond = np.broadcast_to(np.asarray(cond, dtype=bool), np.shape(cond))
    idx = np.where(cond, np.arange(len(cond)), -1)
    last = np.maximum.accumulate(idx) if len(idx) else idx
    out = np.arange(len(cond), dtype=np.float64) - last
    out[last < 0] = n
    return np.minimum(out, n)


def _rolling(fn):
    def run(x, n):
        x = _f(x)
        if len(x) < n or np.isnan(x).all():
            return np.full(len(x), np.nan)
        return fn(x, n)
    return run


def _std(x, n):
    """TA-Lib's STDDEV, not pandas' rolling std: on BTC prices pandas' add-and-remove
    updates drift by 1e-7 relative from an exact two-pass computation; TA-Lib stays at 1e-12
    (the test compares both ways)."""
    if n == 1:
        return np.where(np.isnan(x), np.nan, 0.0)
    return _ta().STDDEV(x, timeperiod=n, nbdev=1.0)


def _lag_warm(w, c, name="n"):
    return w[0] + c[name]


def _window_warm(w, c):
    return w[0] + c["n"] - 1


def _same_warm(w, c):
    return max(w) if w else 0


BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("crosses_above", (("a", "num"), ("b", "num")), {}, "bool", _crosses_above,
            lambda w, c: max(w) + 1, "a rises above b on this bar (it was at or below b on "
            "the bar before)"),
    Builtin("crosses_below", (("a", "num"), ("b", "num")), {}, "bool", _crosses_below,
            lambda w, c: max(w) + 1, "a falls below b on this bar"),
    Builtin("shift", (("x", "series"), ("n", "lag")), {"n": 1}, "same",
            lambda x, n: _shift(x, n), _lag_warm, "x as it was n bars ago"),
    Builtin("highest", (("x", "num"), ("n", "period")), {}, "float",
            _rolling(lambda x, n: _ta().MAX(x, timeperiod=n) if n > 1 else x), _window_warm,
            "highest x over the last n bars, this one included"),
    Builtin("lowest", (("x", "num"), ("n", "period")), {}, "float",
            _rolling(lambda x, n: _ta().MIN(x, timeperiod=n) if n > 1 else x), _window_warm,
            "lowest x over the last n bars, this one included"),
    Builtin("mean", (("x", "num"), ("n", "period")), {}, "float",
            _rolling(lambda x, n: _ta().SMA(x, timeperiod=n) if n > 1 else x), _window_warm,
            "mean of x over the last n bars"),
    Builtin("std", (("x", "num"), ("n", "period")), {}, "float", _rolling(_std), _window_warm,
            "population standard deviation of x over the last n bars"),
    Builtin("change", (("x", "num"), ("n", "lag")), {"n": 1}, "float",
            lambda x, n: _f(x) - _shift(_f(x), n), _lag_warm, "x minus x n bars ago"),
    Builtin("pct_change", (("x", "num"), ("n", "lag")), {"n": 1}, "float",
            lambda x, n: _f(x) / _shift(_f(x), n) - 1.0, _lag_warm,
            "relative change of x over n bars (0.01 = 1%)"),
    Builtin("rising", (("x", "num"), ("n", "lag")), {"n": 1}, "bool",
            lambda x, n: _f(x) > _shift(_f(x), n), _lag_warm, "x is above its value n bars ago"),
    Builtin("falling", (("x", "num"), ("n", "lag")), {"n": 1}, "bool",
            lambda x, n: _f(x) < _shift(_f(x), n), _lag_warm, "x is below its value n bars ago"),
    Builtin("bars_since", (("cond", "cond"), ("n", "period")), {"n": 500}, "float",
            _bars_since, _lag_warm, "bars since cond was last true (0 when it is true "
            "now), at most n (default 500)"),
    Builtin("maximum", (("a", "num"), ("b", "num")), {}, "float",
            lambda a, b: np.maximum(_f(a), _f(b)), _same_warm, "the larger of a and b, bar by bar"),
    Builtin("minimum", (("a", "num"), ("b", "num")), {}, "float",
            lambda a, b: np.minimum(_f(a), _f(b)), _same_warm,
            "the smaller of a and b, bar by bar"),
    Builtin("abs", (("x", "num"),), {}, "float", lambda x: np.abs(_f(x)), _same_warm,
            "absolute value"),
    Builtin("if_else", (("cond", "cond"), ("a", "num"), ("b", "num")), {}, "float",
            lambda cond, a, b: np.where(cond, _f(a), _f(b)), _same_warm,
            "a where cond holds, else b"),
    Builtin("nz", (("x", "num"), ("value", "number")), {"value": 0.0}, "float",
            lambda x, value: np.where(np.isnan(_f(x)), value, _f(x)), _same_warm,
            "x with missing values replaced by value"),
]}

# Series every expression can read, from the candles of its timeframe.
FIELDS = {
    "open": "the bar's first price", "high": "its highest price", "low": "its lowest price",
    "close": "its last price", "volume": "its volume in the base asset",
    "hl2": "(high + low) / 2", "hlc3": "(high + low + close) / 3",
    "ohlc4": "(open + high + low + close) / 4",
    "hour": "UTC hour of the bar's open (0-23)", "weekday": "UTC weekday of its open (0 = Monday)",
    "quote_volume": "volume times close: an estimate of the volume in the quote currency",
}


def field(candles: np.ndarray, name: str) -> np.ndarray:
    if name in ("open", "high", "low", "close", "volume"):
        return np.ascontiguousarray(candles[name])
    if name == "hl2":
        return (candles["high"] + candles["low"]) / 2
    if name == "hlc3":
        return (candles["high"] + candles["low"] + candles["close"]) / 3
    if name == "ohlc4":
        return (candles["open"] + candles["high"] + candles["low"] + candles["close"]) / 4
    if name == "hour":
        return ((candles["ts"] // 3_600_000) % 24).astype(np.float64)
    if name == "weekday":
        return ((candles["ts"] // 86_400_000 + 3) % 7).astype(np.float64)  # 1970-01-01: Thu
    if name == "quote_volume":
        return candles["volume"] * candles["close"]
    if name == "ts":
        return candles["ts"]
    raise KeyError(name)
