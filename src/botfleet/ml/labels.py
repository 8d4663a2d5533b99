"""Labels: what happens after bar t, and the window of bars each label depends on.

A label at bar t is decided at t's close and resolved by bars t+1 .. t+horizon. That window is
why training and test must be kept apart by more than a time cut: a training sample a few bars
before the test period has a label made of test-period prices. `end_ts` carries the open time of
the last bar each label reads, which is what `ml.splits` purges against.

Barrier touches are judged on the highs and lows of the following bars; when one bar touches
both barriers the stop is assumed first (the conservative reading of an OHLC bar).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from botfleet.config.ml import LabelSpec
from botfleet.data.candles import CANDLE_DTYPE


@dataclass(frozen=True)
class Labels:
    y: np.ndarray  # float64: 0/1 (0/1/2 for `regime`), a log return for `return`; NaN: unresolved
    end_ts: np.ndarray  # int64 open time of the last bar the label reads (-1: unresolved)
    fwd_return: np.ndarray  # log return close[t] -> close[t+horizon] (NaN at the end)
    next_return: np.ndarray  # log return close[t] -> close[t+1], for the strategy metrics


def make_labels(candles: np.ndarray, label: LabelSpec) -> Labels:
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    n, h = len(c), label.horizon
    close = np.ascontiguousarray(c["close"], dtype=float)
    lc = np.log(close)
    fwd = np.full(n, np.nan)
    nxt = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    if n > h:
        fwd[: n - h] = lc[h:] - lc[: n - h]
        end[: n - h] = c["ts"][h:]
    if n > 1:
        nxt[:-1] = lc[1:] - lc[:-1]
    if label.type == "direction":
        y = np.where(np.isnan(fwd), np.nan, (fwd > np.log1p(label.threshold)).astype(float))
    elif label.type == "return":
        y = fwd.copy()
    elif label.type == "triple_barrier":
        y = _triple_barrier(c, close, fwd, h, label.take or 0.0, label.stop or 0.0)
    elif label.type == "regime":  # RANGE/TREND/HIGH_VOL codes of bars t+1..t+h (ml.regime)
        from botfleet.ml.regime import regime_labels

        y = regime_labels(c, label)
    else:
        raise ValueError(f"unknown label type '{label.type}'")
    return Labels(y, end, fwd, nxt)


def _triple_barrier(c: np.ndarray, close: np.ndarray, fwd: np.ndarray, h: int, take: float,
                    stop: float) -> np.ndarray:
    n = len(c)
    y = np.full(n, np.nan)
    m = n - h
    if m <= 0:
        return y
    highs = sliding_window_view(np.ascontiguousarray(c["high"][1:], dtype=float), h)[:m]
    lows = sliding_window_view(np.ascontiguousarray(c["low"][1:], dtype=float), h)[:m]
    upper = close[:m, None] * (1 + take)
    lower = close[:m, None] * (1 - stop)
    up_hit, down_hit = highs >= upper, lows <= lower
    never = h + 1
    first_up = np.where(up_hit.any(axis=1), up_hit.argmax(axis=1), never)
    first_down = np.where(down_hit.any(axis=1), down_hit.argmax(axis=1), never)
    timeout = (first_up == never) & (first_down == never)
    y[:m] = np.where(timeout, (fwd[:m] > 0).astype(float),
                     (first_up < first_down).astype(float))
    return y
