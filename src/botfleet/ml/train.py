"""Training one model version: the window, the holdout, the learner, deterministic.

A version trains on the samples of its window except the newest `holdout`, purged so that no
training label reads a holdout price; the holdout then measures it out of sample against the
naive baselines, and those are the numbers promotion compares. The artefact is exactly the
learner that was measured (it is not refitted on the holdout afterwards): what was evaluated is
what runs.

Same candles, same spec, same seed: same model, bit for bit (LightGBM with `deterministic`
and one thread unless the spec asks for more; scikit-learn with `random_state`; the PyTorch
sequence learners of `ml.sequence` seeded, deterministic kernels, one thread).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec
from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms
from botfleet.ml.dataset import Dataset, data_hash, make_dataset
from botfleet.ml.evaluate import evaluate_predictions
from botfleet.ml.features import lookback
from botfleet.ml.sequence import SEQUENCE_ALGORITHMS, SequenceModel
from botfleet.ml.splits import Split, holdout, leaks


class ModelError(ValueError):
    """A model cannot be trained, loaded or used as asked; the message says why."""


@dataclass
class TrainResult:
    spec: ModelSpec
    estimator: Any
    columns: list[str]
    data_start_ms: int  # first candle used (features' warm-up included)
    data_end_ms: int  # last candle used
    train_range: tuple[int, int]  # first and last training sample's bar
    holdout_range: tuple[int, int]
    n_train: int
    n_holdout: int
    metrics: dict  # ml.evaluate.evaluate_predictions on the holdout
    data_sha256: str
    seconds: float
    extra: dict = field(default_factory=dict)


def sequence_unavailable(spec: ModelSpec) -> str | None:
    """Why a sequence model cannot be trained here (None when it can): PyTorch is an optional
    extra, and without it there is no honest stand-in (a tree model under an LSTM's name would
    be a fake)."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return None
    return (f"{spec.source or spec.name}: algorithm '{spec.algorithm}' needs the 'torch' extra "
            "(torch==2.13.0 CPU build), not installed (docs/ml.md); use lightgbm, sklearn_gbt "
            "or logistic")


def make_estimator(spec: ModelSpec, *, threads: int | None = None):
    """The learner of `spec`, seeded; `ModelError` naming the bad hyper-parameter."""
    params = dict(spec.params)
    classify = spec.label.classifier
    if spec.algorithm in SEQUENCE_ALGORITHMS:
        if why := sequence_unavailable(spec):
            raise ModelError(why)
        return SequenceModel.from_spec(spec, threads=threads)
    try:
        if spec.algorithm == "lightgbm":
            import lightgbm as lgb

            base = {"random_state": spec.seed, "deterministic": True, "force_row_wise": True,
                    "n_jobs": threads or 1, "verbose": -1}
            cls = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
            return cls(**{**base, **params})
        if spec.algorithm == "sklearn_gbt":
            from sklearn.ensemble import HistGradientBoostingClassifier as HGBC
            from sklearn.ensemble import HistGradientBoostingRegressor as HGBR

            return (HGBC if classify else HGBR)(**{"random_state": spec.seed, **params})
        if spec.algorithm == "logistic":
            from sklearn.impute import SimpleImputer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            if not classify:
                raise ModelError(f"{spec.name}: 'logistic' needs a classification label")
            return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                 LogisticRegression(**{"max_iter": 1000,
                                                       "random_state": spec.seed, **params}))
    except TypeError as exc:
        raise ModelError(f"{spec.source or spec.name}: algorithm.params: {exc}") from None
    raise ModelError(f"{spec.name}: unknown algorithm '{spec.algorithm}'")


def fit(spec: ModelSpec, X: np.ndarray, y: np.ndarray, columns: list[str], *,
        threads: int | None = None, start: np.ndarray | None = None,
        end: np.ndarray | None = None):
    """The fitted learner. Sequence learners also need the samples' `start`/`end` bar times
    (`Dataset.start`/`end`): they carve an early-stopping tail with the purge respected."""
    if spec.algorithm == "ensemble":  # ml.ensemble: each member fitted as it would be alone
        from botfleet.ml.ensemble import fit_ensemble

        return fit_ensemble(spec, X, y, columns, threads=threads, start=start, end=end)
    if spec.label.multiclass:  # ml.regime: every class must be learnable
        from botfleet.ml.regime import check_classes

        check_classes(spec, y)
    est = make_estimator(spec, threads=threads)
    if spec.label.classifier and len(np.unique(y)) < 2:
        raise ModelError(f"{spec.name}: every training label is {y[0]:g}; the window holds no "
                         "example of the other class")
    try:
        if spec.algorithm in SEQUENCE_ALGORITHMS:
            if start is None or end is None:
                raise ModelError(f"{spec.name}: a sequence learner needs the samples' start "
                                 "and end times to carve its validation tail")
            est.fit(X, y, start, end, spec.purge * timeframe_ms(spec.timeframe))
        elif spec.algorithm == "lightgbm":
            est.fit(X, y, feature_name=[_safe(c) for c in columns])
        else:
            est.fit(X, y)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{spec.source or spec.name}: training failed: {exc}") from None
    return est


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def predict_scores(spec: ModelSpec, est, X: np.ndarray) -> np.ndarray:
    """P(label = 1) for classifiers, the predicted return for a `return` label; the class
    code for a regime label (ml.output)."""
    if spec.algorithm == "ensemble" or spec.label.multiclass:
        from botfleet.ml.output import scores

        return scores(spec, est, X)
    if spec.algorithm in SEQUENCE_ALGORITHMS:
        return est.predict_scores(X)
    if spec.algorithm == "lightgbm":  # the booster: same numbers, no feature-name check
        return np.asarray(est.booster_.predict(X), dtype=float)
    if spec.label.classifier:
        return est.predict_proba(X)[:, 1]
    return est.predict(X)


def warmup_bars(spec: ModelSpec) -> int:
    """Bars loaded behind the training window so that its first bar is a complete sample:
    three times the features' lookback (indicators converge), and for a regime label the
    `vol_window` h-bar volatility windows its threshold ranks (else the window's first
    `vol_window + horizon` bars would have no label and silently drop out of training)."""
    warm = 3 * lookback(spec)
    if spec.label.multiclass:
        warm = max(warm, spec.label.vol_window + spec.label.horizon)
    return warm


def window_candles(candles_by_pair: dict[str, np.ndarray], spec: ModelSpec,
                   end_ms: int | None = None) -> dict[str, np.ndarray]:
    """Each pair's candles of the training window (plus `warmup_bars`), none after
    `end_ms` (default: the newest candle of any pair)."""
    out = {}
    if end_ms is None:
        end_ms = max(int(np.asarray(c["ts"]).max()) for c in candles_by_pair.values() if len(c))
    warm = warmup_bars(spec) * timeframe_ms(spec.timeframe)
    first = end_ms - spec.train_window_s * 1000 - warm
    for pair in spec.pairs:
        if pair not in candles_by_pair:
            raise ModelError(f"{spec.name}: no candles for {pair}")
        c = np.asarray(candles_by_pair[pair], dtype=CANDLE_DTYPE)
        out[pair] = c[(c["ts"] >= first) & (c["ts"] <= end_ms)]
    return out


def train_version(spec: ModelSpec, candles_by_pair: dict[str, np.ndarray], *,
                  end_ms: int | None = None, threads: int | None = None) -> TrainResult:
    """Train and measure one version on the window ending at `end_ms`."""
    began = time.perf_counter()
    window = window_candles(candles_by_pair, spec, end_ms)
    ds = make_dataset(window, spec)
    newest = max((int(c["ts"].max()) for c in window.values() if len(c)), default=0)
    in_window = np.nonzero(ds.start >= newest - spec.train_window_s * 1000)[0]
    ds = ds.take(in_window)
    min_rows = 50
    if len(ds) < min_rows:
        raise ModelError(f"{spec.name}: only {len(ds)} labelled samples in the window; "
                         f"need at least {min_rows} (load more candles: botfleet data fetch)")
    split = _holdout(spec, ds)
    est = fit(spec, ds.X[split.train], ds.y[split.train], ds.columns, threads=threads,
              start=ds.start[split.train], end=ds.end[split.train])
    test = ds.take(split.test)
    from botfleet.ml.output import evaluation_scores  # class probabilities for a regime

    metrics = evaluate_predictions(spec, evaluation_scores(spec, est, test.X), test,
                                   train_y=ds.y[split.train])
    from botfleet.ml.drift import reference  # what drift checks compare live features with

    metrics["drift_reference"] = reference(ds.X[split.train], ds.columns)
    return TrainResult(
        spec=spec, estimator=est, columns=ds.columns,
        data_start_ms=min(int(c["ts"].min()) for c in window.values() if len(c)),
        data_end_ms=newest,
        train_range=(int(ds.start[split.train].min()), int(ds.start[split.train].max())),
        holdout_range=(int(test.start.min()), int(test.start.max())),
        n_train=len(split.train), n_holdout=len(split.test), metrics=metrics,
        data_sha256=data_hash(window), seconds=time.perf_counter() - began,
        extra={"holdout": test, "train_y": ds.y[split.train]})


def _holdout(spec: ModelSpec, ds: Dataset) -> Split:
    from botfleet.ml.splits import SplitError

    purge_ms = spec.purge * timeframe_ms(spec.timeframe)
    try:
        split = holdout(ds.start, ds.end, spec.holdout_s * 1000, purge_ms=purge_ms)
    except SplitError as exc:
        days = (int(ds.start[-1]) - int(ds.start[0])) / 86_400_000
        raise ModelError(f"{spec.name}: train.holdout {spec.holdout_s // 86400}d: {exc} "
                         f"({days:.0f} days of labelled samples)") from None
    if leaks(split, ds.start, ds.end):  # the splitter's guarantee, checked where it matters
        raise ModelError(f"{spec.name}: internal error: a training label overlaps the holdout")
    return split
