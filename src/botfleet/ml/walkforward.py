"""Walk-forward out-of-sample evaluation of a model spec over a long history.

One holdout says little about a model that will be retrained every week for years; this cuts
the second part of the history into consecutive test blocks, trains a model for each on the
samples before it (within the spec's training window, purged of labels reaching into the block),
and scores the concatenated out-of-sample predictions against the naive baselines, overall and
per block. docs/ml.md reports it on five years of real Binance candles.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec
from botfleet.data.candles import timeframe_ms
from botfleet.ml.dataset import make_dataset
from botfleet.ml.evaluate import evaluate_predictions
from botfleet.ml.splits import leaks, walk_forward
from botfleet.ml.train import ModelError, fit, predict_scores


def walk_forward_report(spec: ModelSpec, candles_by_pair: dict[str, np.ndarray], *,
                        n_splits: int = 8, test_from: float = 0.5,
                        threads: int | None = None) -> dict[str, Any]:
    """OOS metrics over `n_splits` consecutive blocks covering the last `1 - test_from` of
    the samples; `{"overall": metrics, "blocks": [metrics, ...], "seconds": ...}`."""
    began = time.perf_counter()
    ds = make_dataset(candles_by_pair, spec)
    purge_ms = spec.purge * timeframe_ms(spec.timeframe)
    splits = walk_forward(ds.start, ds.end, n_splits, test_from=int(len(ds) * test_from),
                          train_ms=spec.train_window_s * 1000, purge_ms=purge_ms)
    scores = np.full(len(ds), np.nan)
    blocks = []
    tested = []
    for split in splits:
        if leaks(split, ds.start, ds.end):
            raise ModelError(f"{spec.name}: internal error: a walk-forward split leaks")
        train = ds.take(split.train)
        est = fit(spec, train.X, train.y, ds.columns, threads=threads, start=train.start,
                  end=train.end)
        test = ds.take(split.test)
        s = predict_scores(spec, est, test.X)
        scores[split.test] = s
        tested.append(split.test)
        m = evaluate_predictions(spec, s, test, train_y=train.y)
        m["n_train"] = len(split.train)
        blocks.append(m)
    idx = np.concatenate(tested)
    all_train_y = ds.y[: idx[0]]
    overall = evaluate_predictions(spec, scores[idx], ds.take(idx), train_y=all_train_y)
    return {"overall": overall, "blocks": blocks, "samples": len(ds),
            "pairs": sorted(candles_by_pair), "seconds": time.perf_counter() - began}
