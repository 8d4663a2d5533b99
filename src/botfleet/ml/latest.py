"""Many bots' newest feature rows in one numpy pass: what a close's batch of model reads costs.

`features.latest_row` computes one bot's row feature by feature on the tail each needs, a few
dozen numpy calls on arrays of a hundred-odd bars; for 100 bots that is thousands of calls and
most of a cycle's inference time. Here the bots' tails are stacked into 2-D arrays and each
feature's newest value is computed for all of them at once, with the same arithmetic in the
same order as `features.feature_block` on each tail (the cumulative sums start at the tail's
first bar, the logarithms are element-wise), so every value is bit for bit the one-bot value
(tests/test_ml_latest.py): the batch, the one-bot read and `predict_latest` serve the same
number. Indicators run per bot (TA-Lib has no batch form) with their parameters resolved once.

A sequence model reads the newest `seq_len` rows of every feature's tail (the plan lengthens
each tail by seq_len - 1 bars): each helper here computes the rows at given positions of the
tail, so the window comes out of the same pass, the row at position t still with sums started
at the tail's first bar, as `feature_block` has it on that tail.

Falls back to `features.latest_row` per bot for what does not stack: a bot with fewer candles
than the longest tail, a higher timeframe over a gap in the candles or not a fixed multiple
(weeks, months), and any feature type this module does not know.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from botfleet.config.ml import FeatureSpec, ModelSpec
from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms
from botfleet.ml.features import _DAY_MS, _EPOCH_MONDAY_MS, _WEEK_MS, feature_block, latest_row
from botfleet.ml.sequence import seq_len

_STACKED = ("returns", "volatility", "volume", "time", "indicator", "higher_timeframe")


def latest_rows(tails: Sequence[np.ndarray], spec: ModelSpec,
                plan: list[tuple[int, ModelSpec]]) -> np.ndarray:
    """[bots, features]: row i is `features.latest_row(tails[i], spec, plan=plan)`; for a
    sequence model that is the newest `seq_len` rows of each feature's tail, flattened oldest
    first (`sequence.latest_window`)."""
    cs = [np.asarray(c, dtype=CANDLE_DTYPE) for c in tails]
    if not plan:
        return np.vstack([latest_row(c, spec, plan=plan) for c in cs])
    rows_per_bot = seq_len(spec)
    longest = max(need for need, _ in plan)
    full = [i for i, c in enumerate(cs) if len(c) >= longest]
    short = [i for i, c in enumerate(cs) if len(c) < longest]
    rows: np.ndarray | None = None
    if full:
        fields = {k: np.stack([cs[i][k][-longest:] for i in full]) for k in CANDLE_DTYPE.names}
        parts = [_entry(fields, need, one, spec.timeframe, rows_per_bot) for need, one in plan]
        got = np.concatenate(parts, axis=2).reshape(len(full), -1)
        if not short:
            return got
        rows = np.empty((len(cs), got.shape[1]))
        rows[full] = got
    for i in short:
        row = latest_row(cs[i], spec, plan=plan)
        if rows is None:
            rows = np.empty((len(cs), len(row)))
        rows[i] = row
    return rows


def _entry(fields: dict[str, np.ndarray], need: int, one: ModelSpec, timeframe: str,
           m: int) -> np.ndarray:
    """[bots, m, columns] of one plan entry (one feature): its newest m rows on each bot's
    last `need` bars, as `feature_block` computes them on that tail."""
    f = one.features[0]
    tail = {k: v[:, -need:] for k, v in fields.items()}
    pos = np.arange(need - m, need)
    if f.type == "returns":
        return _returns(np.log(tail["close"]), f.horizons, pos)
    if f.type == "volatility":
        return _volatility(tail, f.windows, pos)
    if f.type == "volume":
        v = tail["volume"].astype(float, copy=False)
        csum = np.cumsum(v, axis=1)
        return np.stack([np.log((v[:, pos] + 1e-12) / (_mean_at(csum, w, pos) + 1e-12))
                         for w in f.windows], axis=2)
    if f.type == "time":
        ts = tail["ts"][:, pos]
        hour = 2 * np.pi * (ts % _DAY_MS) / _DAY_MS
        week = 2 * np.pi * ((ts - _EPOCH_MONDAY_MS) % _WEEK_MS) / _WEEK_MS
        return np.stack([np.sin(hour), np.cos(hour), np.sin(week), np.cos(week)], axis=2)
    if f.type == "indicator":
        return _indicator(tail, f, one, m)
    if f.type == "higher_timeframe":
        return _higher(tail, f, one, timeframe, pos)
    return _per_bot(tail, one, m)


def _per_bot(tail: dict[str, np.ndarray], one: ModelSpec, m: int) -> np.ndarray:
    """The entry through `feature_block`, bot by bot (and its errors, as they are)."""
    n, length = tail["close"].shape
    out = []
    for i in range(n):
        c = np.empty(length, dtype=CANDLE_DTYPE)
        for k, v in tail.items():
            c[k] = v[i]
        out.append(feature_block(c, one).values[-m:])
    return np.stack(out)


def _mean_at(csum: np.ndarray, w: int, pos: np.ndarray) -> np.ndarray:
    """`features.rolling_mean(x, w)[pos]` per row ([rows, len(pos)]), from x's cumulative sum
    along the row; NaN where the window reaches before the first value (or pos < 0)."""
    before = pos - w
    prev = np.where(before >= 0, csum[:, np.maximum(before, 0)], 0.0)
    out = (csum[:, np.maximum(pos, 0)] - prev) / w
    out[:, pos < w - 1] = np.nan
    return out


def _std_at(x: np.ndarray, w: int, pos: np.ndarray) -> np.ndarray:
    mean = _mean_at(np.cumsum(x, axis=1), w, pos)
    sq = _mean_at(np.cumsum(x * x, axis=1), w, pos)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def _returns(lc: np.ndarray, horizons: Sequence[int], pos: np.ndarray) -> np.ndarray:
    cols = []
    for h in horizons:
        col = lc[:, np.maximum(pos, 0)] - lc[:, np.maximum(pos - h, 0)]
        col[:, pos < h] = np.nan
        cols.append(col)
    return np.stack(cols, axis=2)


def _volatility(c: dict[str, np.ndarray], windows: Sequence[int], pos: np.ndarray,
                lc=None) -> np.ndarray:
    lc = np.log(c["close"]) if lc is None else lc
    n, length = lc.shape
    r1z = np.zeros((n, length))
    r1z[:, 1:] = lc[:, 1:] - lc[:, :-1]
    r1z[np.isnan(r1z)] = 0.0  # the first bar's missing return counts as none
    hl = np.cumsum(np.log(c["high"] / c["low"]), axis=1)
    cols = []
    for w in windows:
        std = _std_at(r1z, w, pos)
        std[:, pos < w] = np.nan  # a full window of returns needs w + 1 closes
        cols += [std, _mean_at(hl, w, pos)]
    return np.stack(cols, axis=2)


def _indicator(tail: dict[str, np.ndarray], f: FeatureSpec, one: ModelSpec,
               m: int) -> np.ndarray:
    from botfleet.indicators import REGISTRY

    if f.indicator not in REGISTRY:
        return _per_bot(tail, one, m)  # raises FeatureError naming it
    ind = REGISTRY.get(f.indicator)
    params = ind.defaults()
    for key, value in f.params.items():
        param = ind.param(key)
        if param is None or param.check(value):
            return _per_bot(tail, one, m)
        params[key] = param.coerce(value)
    out_name = ind.output(f.output) if f.output else ind.outputs[0]
    if out_name is None:
        return _per_bot(tail, one, m)
    at = ind.outputs.index(out_name)
    inputs = [tail[i].astype(float, copy=False) for i in ind.inputs]
    close = tail["close"]
    out = np.empty((len(close), m, 1))
    for b in range(len(close)):
        value = np.asarray(ind.compute(*(x[b] for x in inputs), **params)[at],
                           dtype=float)[-m:]
        out[b, :, 0] = value / close[b, -m:] - 1.0 if f.relative else value
    return out


def _higher(tail: dict[str, np.ndarray], f: FeatureSpec, one: ModelSpec,
            timeframe: str, pos: np.ndarray) -> np.ndarray:
    """The features of the newest complete higher candle each of the bars `pos` sees. On a
    gap-free tail whose bars sit on the base grid, which bars form complete buckets depends
    only on the first bar's phase in the higher candle: bots of one phase stack. Bar t sees
    bucket (t - phase + 1) // ratio - 1, the last whose final base bar is at or before t
    (`features._higher`'s visibility rule); none while that is negative."""
    m = len(pos)
    tf = f.timeframe or ""
    if tf.endswith(("w", "M")):
        return _per_bot(tail, one, m)
    base, high = timeframe_ms(timeframe), timeframe_ms(tf)
    if high <= base or high % base:
        return _per_bot(tail, one, m)  # raises FeatureError saying why
    ratio = high // base
    ts = tail["ts"]
    n, length = ts.shape
    steady = np.all(np.diff(ts, axis=1) == base, axis=1) & (ts[:, 0] % base == 0)
    phase = np.where(steady, ((-ts[:, 0]) % high) // base, -1)
    width = (len(f.horizons) + 2 * len(f.windows)) or 1
    out = np.empty((n, m, width))
    for s in np.unique(phase):
        rows = np.flatnonzero(phase == s)
        sub = {k: v[rows] for k, v in tail.items()}
        if s < 0:
            out[rows] = _per_bot(sub, one, m)
            continue
        nb = (length - int(s)) // ratio
        if nb == 0:
            out[rows] = np.nan
            continue
        span = slice(int(s), int(s) + nb * ratio)
        hc = {"close": sub["close"][:, span][:, ratio - 1::ratio],
              "high": sub["high"][:, span].reshape(len(rows), nb, ratio).max(axis=2),
              "low": sub["low"][:, span].reshape(len(rows), nb, ratio).min(axis=2)}
        lhc = np.log(hc["close"])
        seen = (pos - int(s) + 1) // ratio - 1
        cols = []
        if f.horizons:
            cols.append(_returns(lhc, f.horizons, seen))
        if f.windows:
            cols.append(_volatility(hc, f.windows, seen, lhc))
        if not cols:
            cols.append(_returns(lhc, (1,), seen))
        out[rows] = np.concatenate(cols, axis=2)
    return out
