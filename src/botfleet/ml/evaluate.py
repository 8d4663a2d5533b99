"""Out-of-sample metrics of a model, always beside the naive baselines it must beat.

A crypto direction model that scores 52% accuracy means nothing alone: prices rose in most of
2020-2025, so "always long" may score more. Every evaluation therefore reports, on the same
samples, the model and two baselines that need no learning:
- `always_long`: predicts up every bar (probability: the training set's share of ups);
- `prev_direction`: predicts the direction of the last `horizon` bars (momentum).

The strategy metric trades each prediction for one bar (long when the model says up, flat
otherwise, per pair, paying `fee` per unit of position change), which avoids the overlap of
`horizon`-bar holds; it is a yardstick of usefulness, not a backtest (`botfleet backtest`
with `proba()` is).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec

DEFAULT_FEE = 0.001  # per side, 0.1%: Binance spot taker without discounts


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return _finite(roc_auc_score(y, s))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(y) == 0:
        return None
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return _finite(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))


def _ic(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    from scipy.stats import spearmanr

    return _finite(spearmanr(a, b).statistic)


def strategy_return(long: np.ndarray, next_return: np.ndarray, pair: np.ndarray, *,
                    fee: float = DEFAULT_FEE) -> dict[str, float | None]:
    """Long-or-flat for one bar per signal, per pair: the mean over pairs of the compounded
    simple return after fees (and before them, `gross_return`), round trips, and the share of
    bars in the market."""
    totals, gross, trades = [], [], 0
    for p in np.unique(pair):
        m = pair == p
        pos = long[m].astype(float)
        r = np.nan_to_num(next_return[m])
        turns = np.abs(np.diff(np.concatenate([[0.0], pos, [0.0]])))
        trades += int(turns.sum() // 2)
        market = float(np.sum(pos * r))
        totals.append(math.expm1(market + float(np.sum(np.log1p(-fee * turns)))))
        gross.append(math.expm1(market))
    return {"strategy_return": _finite(float(np.mean(totals))) if totals else None,
            "gross_return": _finite(float(np.mean(gross))) if gross else None,
            "round_trips": trades,
            "exposure": _finite(float(np.mean(long))) if len(long) else None}


def _classification(y, p, long, ds, fee: float, *, probabilities: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "accuracy": _finite(float(np.mean(long == (y > 0.5)))) if len(y) else None,
        "auc": _auc(y, p),
        "log_loss": _log_loss(y, p) if probabilities else None,
        "hit_rate": _finite(float(np.mean(y[long] > 0.5))) if long.any() else None,
        "long_signals": int(long.sum()),
    }
    out.update(strategy_return(long, ds.next_return, ds.pair, fee=fee))
    return out


def _regression(y, pred, long, ds, fee: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ic": _ic(pred, y),
        "accuracy": _finite(float(np.mean((pred > 0) == (y > 0)))) if len(y) else None,
        "hit_rate": _finite(float(np.mean(y[long] > 0))) if long.any() else None,
        "long_signals": int(long.sum()),
    }
    out.update(strategy_return(long, ds.next_return, ds.pair, fee=fee))
    return out


def evaluate_predictions(spec: ModelSpec, scores: np.ndarray, ds, *, train_y: np.ndarray,
                         fee: float = DEFAULT_FEE) -> dict[str, Any]:
    """Metrics of `scores` (P(up), or predicted returns) on the samples `ds`, with the
    baselines; `train_y` gives the always-long baseline its probability. A regime label is
    scored by `ml.regime.evaluate_regime` (scores: [n, 3] probabilities or class codes)."""
    if spec.label.multiclass:
        from botfleet.ml.regime import evaluate_regime

        return {**evaluate_regime(scores, ds, train_y=train_y), "fee": fee}
    y = ds.y
    prev_up = np.nan_to_num(ds.prev_return) > 0
    always = np.ones(len(y), dtype=bool)
    out: dict[str, Any] = {"samples": len(y), "fee": fee,
                           "start_ms": int(ds.start.min()) if len(y) else None,
                           "end_ms": int(ds.start.max()) if len(y) else None}
    if spec.label.classifier:
        base_rate = float(np.mean(train_y)) if len(train_y) else 0.5
        out["up_share"] = _finite(float(np.mean(y))) if len(y) else None
        out["model"] = _classification(y, scores, scores > 0.5, ds, fee, probabilities=True)
        out["always_long"] = _classification(y, np.full(len(y), base_rate), always, ds, fee,
                                             probabilities=True)
        out["prev_direction"] = _classification(y, prev_up.astype(float), prev_up, ds, fee,
                                                probabilities=False)
    else:
        out["model"] = _regression(y, scores, scores > 0, ds, fee)
        out["always_long"] = _regression(y, np.ones(len(y)), always, ds, fee)
        out["prev_direction"] = _regression(y, ds.prev_return, prev_up, ds, fee)
    return out


def summary_rows(metrics: dict[str, Any]) -> list[tuple[str, dict]]:
    """(who, metrics) rows for a table: the model and each baseline."""
    return [(k, metrics[k]) for k in ("model", "always_long", "prev_direction", "majority",
                                      "prev_regime") if k in metrics]
