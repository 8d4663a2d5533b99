"""Features from candles: the same no-look-ahead rule as signals.

The value of every feature at bar t is a function of the candles that closed at or before t's
close, and only of them: rolling windows end at t, indicators run forward from the first bar,
and a higher timeframe's candle becomes visible on the first base bar that closes at or after
that candle's close (complete buckets only). So features computed on candles cut at any bar
equal the features of the full history up to that bar (tested bit for bit in
tests/test_ml_features.py, like the strategy bias checks).

Rows are bars, consecutive in the array: a gap in the candles makes "h bars ago" reach further
back in time, as it does for the strategy language. All numpy (cumulative sums for windows),
so a bot's features for a cycle cost microseconds, which is what 100 bots in 50 ms needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from botfleet.config.ml import FeatureSpec, ModelSpec
from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms

_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
_EPOCH_MONDAY_MS = 4 * _DAY_MS  # 1970-01-05 was a Monday


class FeatureError(ValueError):
    """A feature cannot be computed as declared; the message says which and why."""


@dataclass(frozen=True)
class Block:
    names: list[str]
    values: np.ndarray  # float64 [bars, len(names)]


def _lag_diff(x: np.ndarray, h: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if h < len(x):
        out[h:] = x[h:] - x[:-h]
    return out


def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean of x[t-w+1..t]; NaN until w values, and after a NaN for w bars (NaN propagates)."""
    out = np.full(len(x), np.nan)
    if w <= len(x):
        c = np.concatenate([[0.0], np.cumsum(x)])
        out[w - 1:] = (c[w:] - c[:-w]) / w
    return out


def rolling_std(x: np.ndarray, w: int) -> np.ndarray:
    """Population standard deviation over x[t-w+1..t] (centred first, so sums of squares of
    small returns do not cancel)."""
    mean = rolling_mean(x, w)
    sq = rolling_mean(x * x, w)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def _returns(lc: np.ndarray, f: FeatureSpec, prefix: str) -> Block:
    return Block([f"{prefix}ret_{h}" for h in f.horizons],
                 np.column_stack([_lag_diff(lc, h) for h in f.horizons]))


def _volatility(c: np.ndarray, lc: np.ndarray, windows, prefix: str) -> Block:
    r1 = _lag_diff(lc, 1)
    r1[:1] = np.nan  # (a tail holding no complete higher-timeframe candle is empty)
    r1z = np.where(np.isnan(r1), 0.0, r1)  # the first bar's missing return counts as none
    hl = np.log(c["high"] / c["low"])
    names, cols = [], []
    for w in windows:
        std = rolling_std(r1z, w)
        std[:w] = np.nan  # a full window of returns needs w + 1 closes
        names += [f"{prefix}vol_{w}", f"{prefix}range_{w}"]
        cols += [std, rolling_mean(hl, w)]
    return Block(names, np.column_stack(cols))


def _volume(c: np.ndarray, f: FeatureSpec) -> Block:
    v = np.asarray(c["volume"], dtype=float)
    cols = [np.log((v + 1e-12) / (rolling_mean(v, w) + 1e-12)) for w in f.windows]
    return Block([f"volu_{w}" for w in f.windows], np.column_stack(cols))


def indicator_name(f: FeatureSpec) -> str:
    parts = [f.indicator or ""] + [str(v) for _, v in sorted(f.params.items())]
    if f.output:
        parts.append(f.output)
    return "_".join(parts) + ("_rel" if f.relative else "")


def _indicator(c: np.ndarray, f: FeatureSpec) -> Block:
    from botfleet.indicators import REGISTRY, UnknownIndicator

    try:
        ind = REGISTRY.get(f.indicator or "")
    except UnknownIndicator:
        raise FeatureError(f"unknown indicator '{f.indicator}'") from None
    params = ind.defaults()
    for key, value in f.params.items():
        param = ind.param(key)
        if param is None or (why := param.check(value)):
            raise FeatureError(f"indicator {f.indicator}: "
                               f"{why if param else f'no parameter {key!r}'}")
        params[key] = param.coerce(value)
    out_name = ind.output(f.output) if f.output else ind.outputs[0]
    if out_name is None:
        raise FeatureError(f"indicator {f.indicator} has no output '{f.output}'")
    inputs = [np.ascontiguousarray(c[i], dtype=float) for i in ind.inputs]
    value = np.asarray(ind.compute(*inputs, **params)[ind.outputs.index(out_name)], dtype=float)
    if f.relative:
        value = value / c["close"] - 1.0
    return Block([indicator_name(f)], value[:, None])


def _time(ts: np.ndarray) -> Block:
    hour = 2 * np.pi * (ts % _DAY_MS) / _DAY_MS
    week = 2 * np.pi * ((ts - _EPOCH_MONDAY_MS) % _WEEK_MS) / _WEEK_MS
    return Block(["hour_sin", "hour_cos", "dow_sin", "dow_cos"],
                 np.column_stack([np.sin(hour), np.cos(hour), np.sin(week), np.cos(week)]))


def _higher(c: np.ndarray, f: FeatureSpec, timeframe: str) -> Block:
    from botfleet.data.resample import resample

    tf = f.timeframe or ""
    base, high = timeframe_ms(timeframe), timeframe_ms(tf)
    if high <= base or high % base:
        raise FeatureError(f"higher_timeframe {tf} is not a whole multiple above {timeframe}")
    hc = resample(c, timeframe, tf)  # complete buckets only
    prefix = f"{tf}_"
    blocks = []
    lhc = np.log(hc["close"]) if len(hc) else np.empty(0)
    if f.horizons:
        blocks.append(_returns(lhc, f, prefix))
    if f.windows:
        blocks.append(_volatility(hc, lhc, f.windows, prefix))
    if not blocks:
        blocks.append(Block([f"{prefix}ret_1"], _lag_diff(lhc, 1)[:, None]))
    names = [n for b in blocks for n in b.names]
    values = np.column_stack([b.values for b in blocks]) if len(hc) else \
        np.empty((0, len(names)))
    # a higher candle is known once its last base bar has closed: that bar opens at
    # ts + high - base, so it serves every base bar opening at or after that
    visible = hc["ts"] + (high - base)
    idx = np.searchsorted(visible, c["ts"], side="right") - 1
    out = np.full((len(c), len(names)), np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return Block(names, out)


def feature_block(candles: np.ndarray, spec: ModelSpec) -> Block:
    """Every feature of `spec` for one market's candles, as a float matrix."""
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    lc = np.log(np.ascontiguousarray(c["close"]))
    blocks = []
    for f in spec.features:
        if f.type == "returns":
            blocks.append(_returns(lc, f, ""))
        elif f.type == "volatility":
            blocks.append(_volatility(c, lc, f.windows, ""))
        elif f.type == "volume":
            blocks.append(_volume(c, f))
        elif f.type == "indicator":
            blocks.append(_indicator(c, f))
        elif f.type == "time":
            blocks.append(_time(c["ts"]))
        elif f.type == "higher_timeframe":
            blocks.append(_higher(c, f, spec.timeframe))
        else:
            raise FeatureError(f"unknown feature type '{f.type}'")
    names = [n for b in blocks for n in b.names]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FeatureError(f"feature {', '.join(dup)} is declared twice")
    values = np.column_stack([b.values for b in blocks]) if blocks else np.empty((len(c), 0))
    if spec.algorithm in ("lstm", "transformer"):  # windows of rows, one market's (ml.sequence)
        from botfleet.ml.sequence import seq_len, window_names, window_values

        n = seq_len(spec)
        return Block(window_names(names, n), window_values(values, n))
    return Block(names, values)


def feature_names(spec: ModelSpec) -> list[str]:
    """The columns `build` produces, in order (computed on a tiny synthetic series)."""
    n = 8
    ts = np.arange(n, dtype=np.int64) * timeframe_ms(spec.timeframe)
    c = np.zeros(n, dtype=CANDLE_DTYPE)
    c["ts"], c["open"], c["high"], c["low"], c["close"], c["volume"] = ts, 1, 1, 1, 1, 1
    return feature_block(c, spec).names


def build(candles_by_pair: dict[str, np.ndarray], spec: ModelSpec) -> pd.DataFrame:
    """Features of every pair, stacked: columns `pair`, `ts` (bar open, ms UTC) and one per
    feature; rows ordered by (ts, pair) so that time splits are contiguous."""
    frames = []
    for pair, candles in candles_by_pair.items():
        block = feature_block(candles, spec)
        frame = pd.DataFrame(block.values, columns=block.names)
        frame.insert(0, "ts", np.asarray(candles["ts"], dtype=np.int64))
        frame.insert(0, "pair", pair)
        frames.append(frame)
    if not frames:
        raise FeatureError("no candles to build features from")
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["ts", "pair"], kind="stable").reset_index(drop=True)


def _feature_lookback(f: FeatureSpec, base: int) -> int:
    from botfleet.indicators import REGISTRY

    if f.type == "returns":
        return max(f.horizons) + 1
    if f.type in ("volatility", "volume"):
        return max(f.windows) + 1
    if f.type == "indicator" and f.indicator in REGISTRY:
        ind = REGISTRY.get(f.indicator)
        return int(ind.warmup({**ind.defaults(), **f.params})) + 1
    if f.type == "higher_timeframe" and f.timeframe:
        ratio = timeframe_ms(f.timeframe) // base
        return (max([*f.horizons, *f.windows, 1]) + 2) * ratio
    return 1


def latest_plan(spec: ModelSpec, *, settle: int = 2) -> list[tuple[int, ModelSpec]]:
    """(tail bars, one-feature spec) per feature, for `latest_row`: windows need their own
    length, indicators `settle` times their warm-up (exponential ones have converged there),
    a higher timeframe its span plus two of its candles (for bucket alignment)."""
    base = timeframe_ms(spec.timeframe)
    plan = []
    for f in spec.features:
        need = _feature_lookback(f, base)
        if f.type == "indicator":
            need = settle * need + 50
        elif f.type == "higher_timeframe":
            need += 2 * (timeframe_ms(f.timeframe or spec.timeframe) // base)
        plan.append((need + _seq_len(spec) - 1,
                     ModelSpec(spec.name, spec.pairs, spec.timeframe, (f,), spec.label)))
    return plan


def _seq_len(spec: ModelSpec) -> int:
    """Rows in a sequence model's window (1 for the others): each needs its own warm-up."""
    from botfleet.ml.sequence import seq_len

    return seq_len(spec)


def latest_row(candles: np.ndarray, spec: ModelSpec, *,
               plan: list[tuple[int, ModelSpec]] | None = None) -> np.ndarray:
    """The newest bar's features, each computed on just the tail it needs (`latest_plan`).
    Equal to `feature_block(...)[-1]` up to float rounding for window features and to within
    1e-6 for settled indicators (tests/test_ml_features.py); several times faster per cycle."""
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    plan = plan if plan is not None else latest_plan(spec)
    if spec.algorithm in ("lstm", "transformer"):
        from botfleet.ml.sequence import latest_window

        return latest_window([feature_block(c[-need:], one).values for need, one in plan],
                             _seq_len(spec))
    parts = [feature_block(c[-need:], one).values[-1] for need, one in plan]
    return np.concatenate(parts) if parts else np.empty(0)


def lookback(spec: ModelSpec) -> int:
    """Bars before a feature row has every value (indicators may converge later still; the
    inference tail in `ml.predict` takes several times this)."""
    base = timeframe_ms(spec.timeframe)
    return max([1, *(_feature_lookback(f, base) for f in spec.features)]) + _seq_len(spec) - 1
