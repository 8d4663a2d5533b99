"""The market-regime label and how a regime model is scored.

A regime label at bar t names what the next `horizon` bars (t+1 .. t+h) were:

- HIGH_VOL (2) when their realised volatility (root mean square of the 1-bar log returns)
  is above the `vol_quantile` of the realised volatilities of the `vol_window` h-bar windows
  that had closed by bar t (each ending at a bar s <= t). The threshold moves with the market
  and reads nothing after t: a rolling quantile over the whole history, or over a training
  window that includes the test period, would leak the future into every label;
- else TREND (1) when their efficiency ratio |close[t+h] - close[t]| / sum |1-bar moves| (log
  prices) is above `trend_efficiency`: most of the path went one way;
- else RANGE (0).

So a label reads bars up to t+h only, like a direction label, and carries the same `end_ts`:
the purging of `ml.splits` applies unchanged.

Metrics: accuracy, balanced accuracy (mean recall over classes, which a model cannot game by
always naming the commonest regime), log loss and per-class precision/recall, beside two
baselines that need no learning: the training set's majority class (with its class shares as
probabilities) and the previous regime (the label of the window that closed at bar t, which is
known at t: regimes persist, so this is the one to beat).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from botfleet.config.ml import REGIME_CLASSES, LabelSpec
from botfleet.data.candles import CANDLE_DTYPE

N_CLASSES = len(REGIME_CLASSES)
CLASS_NAMES = sorted(REGIME_CLASSES, key=REGIME_CLASSES.get)  # by code: RANGE, TREND, HIGH_VOL


def realised_vol(close: np.ndarray, h: int) -> np.ndarray:
    """RMS of the 1-bar log returns of the h bars ending at each bar (NaN for the first h)."""
    lc = np.log(np.asarray(close, dtype=float))
    out = np.full(len(lc), np.nan)
    if len(lc) > h:
        sq = np.concatenate([[0.0], np.cumsum(np.diff(lc) ** 2)])  # sq[i]: sum up to bar i
        out[h:] = np.sqrt((sq[h:] - sq[:-h]) / h)
    return out


def vol_threshold(close: np.ndarray, label: LabelSpec) -> np.ndarray:
    """At each bar t, the `vol_quantile` of the realised volatility of the `vol_window`
    h-bar windows ending at bars t-vol_window+1 .. t (NaN until there are that many)."""
    back = pd.Series(realised_vol(close, label.horizon))
    roll = back.rolling(label.vol_window, min_periods=label.vol_window)
    return roll.quantile(label.vol_quantile, interpolation="linear").to_numpy()


def regime_labels(candles: np.ndarray, label: LabelSpec) -> np.ndarray:
    """The class code of each bar's next `horizon` bars (NaN where unresolved)."""
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    n, h = len(c), label.horizon
    close = np.asarray(c["close"], dtype=float)
    y = np.full(n, np.nan)
    if n <= h:
        return y
    lc = np.log(close)
    back = realised_vol(close, h)
    thr = vol_threshold(close, label)
    m = n - h
    fwd_vol = back[h:]  # the window ending at t+h is the one after t
    path = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(lc)))])
    travel = path[h:] - path[:m]
    net = np.abs(lc[h:] - lc[:m])
    with np.errstate(invalid="ignore", divide="ignore"):
        eff = np.where(travel > 0, net / travel, 0.0)
    code = np.where(fwd_vol > thr[:m], REGIME_CLASSES["HIGH_VOL"],
                    np.where(eff > label.trend_efficiency, REGIME_CLASSES["TREND"],
                             REGIME_CLASSES["RANGE"])).astype(float)
    y[:m] = np.where(np.isnan(thr[:m]), np.nan, code)
    return y


def check_classes(spec, y: np.ndarray) -> None:
    """Refuse training without an example of every regime: a learner that never saw one
    would output two columns, not three, and could never name the missing regime."""
    from botfleet.ml.train import ModelError

    seen = set(np.unique(np.asarray(y)).astype(int).tolist())
    missing = [n for k, n in enumerate(CLASS_NAMES) if k not in seen]
    if missing:
        raise ModelError(f"{spec.source or spec.name}: the training window holds no "
                         f"{' or '.join(missing)} label; widen train.window or change "
                         "label.vol_quantile / label.trend_efficiency")


def full_proba(proba: np.ndarray, classes) -> np.ndarray:
    """Learner probabilities as [n, 3] columns RANGE, TREND, HIGH_VOL, whatever classes the
    learner saw (a class it never saw gets 0)."""
    p = np.asarray(proba, dtype=float)
    out = np.zeros((len(p), N_CLASSES))
    for j, k in enumerate(classes):
        out[:, int(k)] = p[:, j]
    return out


def previous_regime(ds) -> np.ndarray:
    """The label of the window that closed at each sample's bar (same pair), NaN when that
    sample is not in `ds` (the first `horizon` bars of a test block)."""
    out = np.full(len(ds), np.nan)
    index = {(p, int(e)): i for i, (p, e) in enumerate(zip(ds.pair, ds.end, strict=True))}
    for i, (p, s) in enumerate(zip(ds.pair, ds.start, strict=True)):
        j = index.get((p, int(s)))
        if j is not None:
            out[i] = ds.y[j]
    return out


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def class_metrics(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> dict[str, Any]:
    """Accuracy, balanced accuracy, log loss (given probabilities) and per-class precision,
    recall and support; classes absent from both `y` and `pred` are left out of the balanced
    accuracy, as scikit-learn does."""
    y = np.asarray(y, dtype=int)
    pred = np.asarray(pred, dtype=int)
    out: dict[str, Any] = {"accuracy": None, "balanced_accuracy": None, "log_loss": None,
                           "per_class": {}}
    if len(y) == 0:
        return out
    out["accuracy"] = _finite(np.mean(pred == y))
    recalls = []
    for k, name in enumerate(CLASS_NAMES):
        support, said = int(np.sum(y == k)), int(np.sum(pred == k))
        hit = int(np.sum((y == k) & (pred == k)))
        recall = hit / support if support else None
        if support:
            recalls.append(recall)
        out["per_class"][name] = {"precision": hit / said if said else None, "recall": recall,
                                  "support": support, "predicted": said}
    out["balanced_accuracy"] = _finite(np.mean(recalls)) if recalls else None
    if proba is not None:
        p = np.clip(np.asarray(proba, dtype=float), 1e-15, None)
        p = p / p.sum(axis=1, keepdims=True)
        out["log_loss"] = _finite(-np.mean(np.log(p[np.arange(len(y)), y])))
    return out


def evaluate_regime(scores: np.ndarray, ds, *, train_y: np.ndarray) -> dict[str, Any]:
    """Metrics of a regime model on `ds`: `scores` are [n, 3] probabilities (or class codes,
    then without log loss), beside the majority-class and previous-regime baselines."""
    s = np.asarray(scores, dtype=float)
    proba = s if s.ndim == 2 else None
    pred = s.argmax(axis=1) if s.ndim == 2 else s.astype(int)
    y = ds.y
    shares = np.bincount(np.asarray(train_y, dtype=int), minlength=N_CLASSES) / max(
        len(train_y), 1)
    majority = int(np.argmax(shares))
    prev = previous_regime(ds)
    known = ~np.isnan(prev)
    prev_pred = np.where(known, np.nan_to_num(prev), majority).astype(int)
    out: dict[str, Any] = {
        "samples": len(y), "start_ms": int(ds.start.min()) if len(y) else None,
        "end_ms": int(ds.start.max()) if len(y) else None,
        "class_shares": {n: _finite(np.mean(y == k)) if len(y) else None
                         for k, n in enumerate(CLASS_NAMES)},
        "model": class_metrics(y, pred, proba),
        "majority": {**class_metrics(y, np.full(len(y), majority),
                                     np.tile(shares, (len(y), 1))),
                     "class": CLASS_NAMES[majority]},
        "prev_regime": {**class_metrics(y, prev_pred, None),
                        "unknown_filled_with_majority": int((~known).sum())},
    }
    return out
