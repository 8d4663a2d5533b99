"""Model work for a loaded fleet: read its candles, train and register, evaluate a version.

What `botfleet model …` and the `retrain` flow share. Candles come from the fleet's candle store
(`botfleet data fetch` fills it), keyed by the model's exchange, pair and timeframe.

When a version is promoted already, a new candidate is also compared with it on the part of the
candidate's holdout the promoted version never trained on (its samples after the promoted
version's last training label): both are scored on the same samples, and promotion compares
those numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec
from botfleet.data.candles import timeframe_ms
from botfleet.ml.dataset import make_dataset
from botfleet.ml.evaluate import evaluate_predictions
from botfleet.ml.registry import ModelRegistry, ModelVersion, RegistryError
from botfleet.ml.train import ModelError, TrainResult, train_version


class NoCandles(ModelError):
    """The candle store holds none of a model's series: nothing to train on (yet)."""


@dataclass
class Trained:
    version: ModelVersion
    result: TrainResult


def model_of(fleet, name: str) -> ModelSpec:
    spec = fleet.models.get(name)
    if spec is None:
        known = ", ".join(sorted(fleet.models)) or "none (add 'models: [models.d/*.yaml]')"
        raise RegistryError(f"no model named {name!r} in {fleet.path}; models: {known}")
    return spec


def registry_of(fleet) -> ModelRegistry:
    return ModelRegistry(fleet.storage.state, fleet.data_dir)


def load_candles(fleet, spec: ModelSpec, *, end_ms: int | None = None) -> dict[str, np.ndarray]:
    from botfleet.data.store import SeriesKey, open_store

    exchange = spec.exchange or next(iter(fleet.exchanges), "")
    out = {}
    with open_store(fleet.storage.candles) as store:
        for pair in spec.pairs:
            c = store.read(SeriesKey(exchange, pair, spec.timeframe), None, end_ms)
            if len(c) == 0:
                raise NoCandles(f"{spec.name}: no {spec.timeframe} candles of {pair} on "
                                 f"{exchange} in the candle store; run 'botfleet data fetch'")
            out[pair] = c
    return out


def _incumbent(reg: ModelRegistry, spec: ModelSpec, result: TrainResult) -> dict | None:
    from botfleet.ml.predict import load_version

    current = reg.promoted(spec.name)
    if current is None or current.columns != result.columns:
        return None
    holdout = result.extra["holdout"]
    unseen_after = current.train_end_ms + spec.label.horizon * timeframe_ms(spec.timeframe)
    idx = np.nonzero(holdout.start > unseen_after)[0]
    if len(idx) == 0:
        return {"version": current.version, "samples": 0,
                "note": "the promoted version trained on all of this holdout"}
    sub = holdout.take(idx)
    loaded = load_version(reg.engine, spec.name, current.version)
    cand = result.estimator
    from botfleet.ml.train import predict_scores

    train_y = result.extra["train_y"]
    return {"version": current.version, "samples": len(idx),
            "model": evaluate_predictions(spec, loaded.predict(sub.X), sub,
                                          train_y=train_y)["model"],
            "candidate": evaluate_predictions(spec, predict_scores(spec, cand, sub.X), sub,
                                              train_y=train_y)["model"]}


def train_and_register(fleet, name: str, *, end_ms: int | None = None, actor: str = "botfleet",
                       threads: int | None = None) -> Trained:
    """Train a new candidate version of `name` on the fleet's candles and register it."""
    spec = model_of(fleet, name)
    reg = registry_of(fleet)
    result = train_version(spec, load_candles(fleet, spec, end_ms=end_ms), end_ms=end_ms,
                           threads=threads)
    inc = _incumbent(reg, spec, result)
    if inc is not None:
        result.metrics["incumbent"] = inc
    return Trained(reg.register(result, actor=actor), result)


def evaluate_version(fleet, name: str, version: int | None = None) -> dict[str, Any]:
    """A version's metrics on the candles after its data ended (never seen by it), with the
    baselines; falls back to its recorded holdout metrics when no newer candles exist."""
    from botfleet.ml.predict import load_version

    model_of(fleet, name)
    reg = registry_of(fleet)
    loaded = load_version(reg.engine, name, version)
    v = loaded.version
    candles = load_candles(fleet, loaded.spec)
    ds = make_dataset(candles, loaded.spec)
    fresh = np.nonzero(ds.start > v.data_end_ms)[0]
    if len(fresh) < 10:
        return {"version": v.version, "scope": "holdout (recorded at training)",
                "metrics": v.metrics}
    sub = ds.take(fresh)
    train_y = ds.y[ds.start <= v.train_end_ms]
    metrics = evaluate_predictions(loaded.spec, loaded.predict(sub.X), sub, train_y=train_y)
    return {"version": v.version, "scope": "candles after the version's data", "metrics": metrics}
