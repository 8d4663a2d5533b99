"""Point-in-time predictions for backtests: walk-forward retraining, no version from the future.

A backtest that used today's model on 2021 bars would grade the model on data it was trained
on. `proba_series` instead cuts the bars into windows of `retrain_every` bars; the model serving
a window is trained only on samples whose labels were fully resolved before the window's first
bar opened (and within the spec's training window), exactly as the retrain flow would have
trained it then. Each bar records which window's model served it, so a test (and a curious
user) can check that no bar was predicted by a model that had seen it.

The strategy language's `proba(model)` reads this series in backtests; live bots read the
promoted version through `ml.predict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from botfleet.config.ml import ModelSpec
from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms
from botfleet.ml.dataset import make_dataset
from botfleet.ml.features import feature_block
from botfleet.ml.output import learner_output
from botfleet.ml.train import ModelError, fit, predict_scores

MIN_TRAIN_SAMPLES = 50


@dataclass(frozen=True)
class PitWindow:
    first_bar: int  # index into the predicted candles
    last_bar: int  # inclusive
    first_ts: int  # open time of first_bar
    trained: bool
    n_train: int
    train_first_ts: int | None  # earliest training sample's bar
    train_last_ts: int | None  # latest training sample's bar
    label_end_max_ts: int | None  # the newest bar any training label read
    note: str = ""


@dataclass
class PitSeries:
    pair: str
    ts: np.ndarray  # the predicted candles' open times
    proba: np.ndarray  # P(up) (or predicted return) per bar; NaN where no model served
    version: np.ndarray  # int: index into `windows` of the model serving each bar, -1 if none
    windows: list[PitWindow] = field(default_factory=list)
    classes: np.ndarray | None = None  # [bars, 3] P(RANGE, TREND, HIGH_VOL): regime models


def _as_dict(candles, spec: ModelSpec, pair: str | None) -> tuple[dict[str, np.ndarray], str]:
    if isinstance(candles, dict):
        target = pair or next((p for p in spec.pairs if p in candles), None)
        if target is None or target not in candles:
            raise ModelError(f"{spec.name}: no candles for {pair or ', '.join(spec.pairs)}")
        pool = {p: np.asarray(c, dtype=CANDLE_DTYPE) for p, c in candles.items()
                if p in spec.pairs or p == target}
        return pool, target
    target = pair or spec.pairs[0]
    return {target: np.asarray(candles, dtype=CANDLE_DTYPE)}, target


def proba_series(candles, spec: ModelSpec, *, retrain_every: int, pair: str | None = None,
                 first_bar: int | None = None, threads: int | None = None) -> PitSeries:
    """Walk-forward predictions for `pair`'s candles (`candles`: its array, or a dict of the
    spec's pairs, pooled for training as in `model train`).

    The first window starts at `first_bar` (default: once the training window, or half the
    data if that is shorter, has passed); a new model is trained every `retrain_every` bars.
    """
    if retrain_every < 1:
        raise ModelError(f"{spec.name}: retrain_every must be at least 1 bar")
    pool, target = _as_dict(candles, spec, pair)
    c = pool[target]
    n = len(c)
    ts = np.asarray(c["ts"], dtype=np.int64)
    proba = np.full(n, np.nan)
    version = np.full(n, -1, dtype=np.int64)
    out = PitSeries(target, ts, proba, version)
    if spec.label.multiclass:
        out.classes = np.full((n, 3), np.nan)
    if n == 0:
        return out
    if first_bar is None:
        span = int(ts[-1] - ts[0])
        wait = min(spec.train_window_s * 1000, span // 2)
        first_bar = int(np.searchsorted(ts, ts[0] + wait, side="left"))
    ds = make_dataset(pool, spec)
    x_target = feature_block(c, spec).values
    purge_ms = spec.purge * timeframe_ms(spec.timeframe)
    for s in range(max(first_bar, 0), n, retrain_every):
        e = min(s + retrain_every, n)
        t0 = int(ts[s])
        train = np.nonzero((ds.end + purge_ms < t0) &
                           (ds.start >= t0 - spec.train_window_s * 1000))[0]
        k = len(out.windows)
        note, trained = "", False
        if len(train) < MIN_TRAIN_SAMPLES:
            note = f"{len(train)} resolved samples before this window; need {MIN_TRAIN_SAMPLES}"
        elif spec.label.classifier and \
                len(np.unique(ds.y[train])) < (3 if spec.label.multiclass else 2):
            note = "the training labels lack a class"
        else:
            est = fit(spec, ds.X[train], ds.y[train], ds.columns, threads=threads,
                      start=ds.start[train], end=ds.end[train])
            if out.classes is not None:  # the class code is the most probable class
                out.classes[s:e] = learner_output(spec, est, x_target[s:e])
                proba[s:e] = np.argmax(out.classes[s:e], axis=1).astype(float)
            else:
                proba[s:e] = predict_scores(spec, est, x_target[s:e])
            version[s:e] = k
            trained = True
        out.windows.append(PitWindow(
            s, e - 1, t0, trained, len(train),
            int(ds.start[train].min()) if len(train) else None,
            int(ds.start[train].max()) if len(train) else None,
            int(ds.end[train].max()) if len(train) else None, note))
    return out


def registered_series(candles: np.ndarray, state, name: str, *,
                      pair: str = "") -> PitSeries:
    """Predictions for `candles` from the versions in the registry, point in time: each bar is
    served by the newest version whose data ended before that bar opened (rolled-back versions
    excluded), with that version's own features. Bars before the first such version get NaN.
    For replaying what the registry's versions would have said, where `proba_series` retrains.
    """
    from botfleet.ml.predict import load_version
    from botfleet.ml.registry import ModelRegistry

    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    ts = np.asarray(c["ts"], dtype=np.int64)
    out = PitSeries(pair, ts, np.full(len(c), np.nan), np.full(len(c), -1, dtype=np.int64))
    reg = ModelRegistry(state)
    versions = sorted((v for v in reg.versions(name) if v.status != "rolled_back"),
                      key=lambda v: (v.data_end_ms, v.version))
    if not versions or len(c) == 0:
        return out
    ends = np.array([v.data_end_ms for v in versions], dtype=np.int64)
    serving = np.searchsorted(ends, ts, side="left") - 1  # newest version ending before the bar
    for k in np.unique(serving[serving >= 0]):
        v = versions[int(k)]
        bars = np.nonzero(serving == k)[0]
        loaded = load_version(reg.engine, name, v.version)
        x = feature_block(c, loaded.spec).values[bars]
        out.proba[bars] = loaded.predict(x)
        if loaded.spec.label.multiclass:
            if out.classes is None:
                out.classes = np.full((len(c), 3), np.nan)
            out.classes[bars] = loaded.class_proba(x)
        out.version[bars] = len(out.windows)
        out.windows.append(PitWindow(int(bars[0]), int(bars[-1]), int(ts[bars[0]]), True, 0,
                                     v.train_start_ms, v.train_end_ms, v.data_end_ms,
                                     f"registry version {v.version}"))
    return out
