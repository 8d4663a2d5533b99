"""The typed `kind: model` declaration, and the checks its schema cannot express.

Kept apart from `config.model` because a model spec is also built outside a fleet (tests, the
benchmark, `ml.pit` in a backtest) from a plain mapping, and because the per-feature rules
(which keys a feature type takes) read better as code than as JSON Schema `if/then` whose
errors would say "does not match" instead of naming the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botfleet.config.schedule import Schedule, ScheduleError, parse_schedule
from botfleet.config.units import duration_seconds, parse_percent, timeframe_seconds

DEFAULT_RETRAIN = "0 3 * * SUN UTC"
DEFAULT_DRIFT_CHECK = "every 1d"
# feature type -> (keys it needs, keys it may take besides `type`)
FEATURE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "returns": (("horizons",), ()),
    "volatility": (("windows",), ()),
    "volume": (("windows",), ()),
    "indicator": (("indicator",), ("params", "output", "relative")),
    "time": ((), ()),
    "higher_timeframe": (("timeframe",), ("horizons", "windows")),
}
LABEL_KEYS = {"direction": ((), ("threshold",)), "return": ((), ()),
              "triple_barrier": (("take", "stop"), ()),
              "regime": ((), ("vol_quantile", "vol_window", "trend_efficiency"))}
CLASSIFIERS = ("direction", "triple_barrier", "regime")
LOWER_IS_BETTER = ("log_loss",)
# the classes of a `regime` label, as codes (ml.regime; `regime(m) == TREND` in strategies)
REGIME_CLASSES = {"RANGE": 0, "TREND": 1, "HIGH_VOL": 2}
REGIME_METRICS = ("accuracy", "balanced_accuracy", "log_loss")


@dataclass(frozen=True)
class FeatureSpec:
    type: str
    horizons: tuple[int, ...] = ()
    windows: tuple[int, ...] = ()
    indicator: str | None = None
    params: dict = field(default_factory=dict)
    output: str | None = None
    relative: bool = False
    timeframe: str | None = None


@dataclass(frozen=True)
class LabelSpec:
    type: str
    horizon: int
    threshold: float = 0.0  # fraction, for `direction`
    take: float | None = None  # fraction, for `triple_barrier`
    stop: float | None = None
    vol_quantile: float = 0.8  # for `regime`: see ml.regime
    vol_window: int = 720
    trend_efficiency: float = 0.3

    @property
    def classifier(self) -> bool:
        return self.type in CLASSIFIERS

    @property
    def multiclass(self) -> bool:
        """A `regime` label: three classes, predicted as a class code, not P(up)."""
        return self.type == "regime"


@dataclass(frozen=True)
class EnsembleSpec:
    members: tuple[tuple[str, dict], ...]  # (algorithm, params) of each member
    weights: tuple[float, ...]  # normalised to sum to 1 (equal for `combine: mean`)
    combine: str = "mean"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    pairs: tuple[str, ...]
    timeframe: str
    features: tuple[FeatureSpec, ...]
    label: LabelSpec
    exchange: str | None = None
    algorithm: str = "lightgbm"
    params: dict = field(default_factory=dict)
    train_window_s: int = 730 * 86400
    holdout_s: int = 90 * 86400
    retrain: Schedule | None = None
    purge: int = 0
    embargo: int = 24
    metric: str = "auc"
    min_improvement: float = 0.0
    min_samples: int = 500
    seed: int = 42
    drift_psi: float = 0.25  # population stability index that counts as drift (ml.drift)
    drift_hit_rate_drop: float = 0.10  # fall of the live hit rate below the holdout's
    drift_window: int = 500  # recent bars the drift check reads
    drift_check: Schedule | None = None  # when the drift check runs (default every 1d)
    ensemble: EnsembleSpec | None = None  # for `algorithm: ensemble` (ml.ensemble)
    description: str = ""
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def spec_hash(self) -> str:
        """SHA-256 of what determines a version's meaning (not its name or description)."""
        keep = {k: v for k, v in self.raw.items()
                if k not in ("name", "description", "kind", "version", "promotion", "drift")}
        text = json.dumps(keep, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """YAML values (Decimal numbers) as plain JSON-able Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _feature(d: dict) -> FeatureSpec:
    return FeatureSpec(
        type=d["type"], horizons=tuple(int(h) for h in d.get("horizons") or ()),
        windows=tuple(int(w) for w in d.get("windows") or ()), indicator=d.get("indicator"),
        params=_plain(dict(d.get("params") or {})), output=d.get("output"),
        relative=bool(d.get("relative", False)), timeframe=d.get("timeframe"))


def _fraction(text: str | None) -> float | None:
    return None if text is None else float(parse_percent(text).fraction)


def model_spec(data: dict, *, default_exchange: str | None = None,
               fleet_retrain: str | None = None, source: str = "") -> ModelSpec:
    """The typed spec from a schema-valid mapping (a `kind: model` file's data)."""
    data = _plain(data)
    lab = data["label"]
    label = LabelSpec(lab["type"], int(lab["horizon"]), _fraction(lab.get("threshold")) or 0.0,
                      _fraction(lab.get("take")), _fraction(lab.get("stop")),
                      float(lab.get("vol_quantile", 0.8)), int(lab.get("vol_window", 720)),
                      float(lab.get("trend_efficiency", 0.3)))
    algo = data.get("algorithm") or {}
    ensemble = _ensemble(algo) if algo.get("name") == "ensemble" else None
    default_metric = "balanced_accuracy" if label.multiclass else \
        "auc" if label.classifier else "ic"
    train = data.get("train") or {}
    promo = data.get("promotion") or {}
    drift = data.get("drift") or {}
    retrain = train.get("retrain") or fleet_retrain or DEFAULT_RETRAIN
    return ModelSpec(
        name=data["name"], pairs=tuple(data["pairs"]), timeframe=data["timeframe"],
        features=tuple(_feature(f) for f in data["features"]), label=label,
        exchange=data.get("exchange") or default_exchange,
        algorithm=algo.get("name", "lightgbm"), ensemble=ensemble,
        params=dict(algo.get("params") or {}) if ensemble is None else
        {k: v for k, v in algo.items() if k != "name"},
        train_window_s=int(duration_seconds(train.get("window", "730d"))),
        holdout_s=int(duration_seconds(train.get("holdout", "90d"))),
        retrain=parse_schedule(retrain), purge=int(train.get("purge", 0)),
        embargo=int(train.get("embargo", 24)),
        metric=promo.get("metric", default_metric),
        min_improvement=float(promo.get("min_improvement", 0)),
        min_samples=int(promo.get("min_samples", 500)), seed=int(data.get("seed", 42)),
        drift_psi=float(drift.get("psi", 0.25)),
        drift_hit_rate_drop=float(drift.get("hit_rate_drop", 0.10)),
        drift_window=int(drift.get("window", 500)),
        drift_check=parse_schedule(drift.get("check", DEFAULT_DRIFT_CHECK)),
        description=data.get("description", ""), source=source, raw=data)


def _ensemble(algo: dict) -> EnsembleSpec:
    members = tuple((m.get("name", "lightgbm"), dict(m.get("params") or {}))
                    for m in algo.get("members") or ())
    combine = algo.get("combine", "mean")
    raw = [float(w) for w in algo.get("weights") or ()] if combine == "weighted" else []
    if len(raw) != len(members) or not sum(raw) > 0:
        raw = [1.0] * len(members)
    total = sum(raw) or 1.0
    return EnsembleSpec(members, tuple(w / total for w in raw), combine)


def _ensemble_problems(algo: dict, label_type: str | None) -> Iterator[tuple]:
    members = algo.get("members") or []
    if algo.get("name") != "ensemble":
        for key in ("members", "combine", "weights"):
            if key in algo:
                yield (("algorithm", key), f"'{key}' applies only to 'name: ensemble'", None,
                       True)
        return
    if "params" in algo:
        yield (("algorithm", "params"), "an ensemble has no parameters of its own",
               "give each member its params: members: [{name: lightgbm, params: {…}}]", True)
    if len(members) < 2:
        yield (("algorithm",), "an ensemble needs 'members': at least two algorithm blocks",
               "e.g. members: [{name: lightgbm}, {name: logistic}]")
    combine = algo.get("combine", "mean")
    weights = algo.get("weights")
    if combine == "weighted" and weights is None:
        yield (("algorithm",), "'combine: weighted' needs 'weights', one per member", None)
    if combine == "mean" and weights is not None:
        yield (("algorithm", "weights"), "'weights' apply only to 'combine: weighted'",
               "set combine: weighted, or remove weights", True)
    if weights is not None and len(weights) != len(members):
        yield (("algorithm", "weights"), (f"{len(weights)} weights for {len(members)} "
               "members"), "give one weight per member, in the members' order")
    for i, m in enumerate(members):
        if m.get("name") == "logistic" and label_type == "return":
            yield (("algorithm", "members", i, "name"), ("'logistic' is a classifier and "
                   "the label 'return' is a number"), "use lightgbm or sklearn_gbt")


def model_problems(data: dict) -> Iterator[tuple]:
    """(path, message, hint[, True when the key itself is wrong]) for mistakes in a
    schema-valid model mapping."""
    for i, feat in enumerate(data.get("features") or []):
        need, may = FEATURE_KEYS[feat["type"]]
        for key in need:
            if key not in feat:
                yield ("features", i), f"feature type '{feat['type']}' needs '{key}'", None
        for key in feat:
            if key != "type" and key not in need + may:
                yield (("features", i, key), (f"'{key}' does not apply to feature type "
                       f"'{feat['type']}'"), f"it takes: {', '.join(need + may) or 'nothing'}",
                       True)
        if feat["type"] == "higher_timeframe" and "timeframe" in feat:
            yield from _htf_problems(data, feat, i)
    label = data.get("label") or {}
    need, may = LABEL_KEYS.get(label.get("type"), ((), ()))
    for key in need:
        if key not in label:
            yield ("label",), f"label type '{label['type']}' needs '{key}'", None
    for key in label:
        if key not in ("type", "horizon") + need + may:
            yield (("label", key), f"'{key}' does not apply to label type '{label['type']}'",
                   None, True)
    algo = (data.get("algorithm") or {}).get("name", "lightgbm")
    if algo in ("lstm", "transformer") and label.get("type") == "regime":
        yield (("algorithm", "name"), f"'{algo}' does not predict the three regime classes",
               "use lightgbm, sklearn_gbt, logistic or an ensemble of them")
    if algo == "logistic" and label.get("type") == "return":
        yield (("algorithm", "name"), ("'logistic' is a classifier and the label 'return' is "
               "a number"), "use lightgbm or sklearn_gbt, or a direction label")
    if algo in ("lstm", "transformer"):
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            yield (("algorithm", "name"), (f"'{algo}' needs the 'torch' extra (torch==2.13.0 "
                   "CPU build), not installed"), "use lightgbm, sklearn_gbt or logistic")
        from botfleet.ml.sequence import param_problems  # numpy only; torch is not imported

        for key, why in param_problems(algo, (data.get("algorithm") or {}).get("params") or {}):
            yield ("algorithm", "params", key), why, None, True
        if label.get("type") == "regime":
            yield (("algorithm", "name"), (f"'{algo}' predicts two classes or a return, not "
                   "the three regimes"), "use lightgbm, sklearn_gbt or logistic for a regime label")
    yield from _ensemble_problems(data.get("algorithm") or {}, label.get("type"))
    metric = (data.get("promotion") or {}).get("metric")
    if metric and label.get("type") == "regime" and metric not in REGIME_METRICS:
        yield (("promotion", "metric"), (f"'{metric}' does not apply to a regime model (three "
               "classes)"), f"use {', '.join(REGIME_METRICS)}")
    if metric == "balanced_accuracy" and label.get("type") != "regime":
        yield (("promotion", "metric"), "'balanced_accuracy' is for regime labels",
               "use auc, accuracy, log_loss, hit_rate, strategy_return or ic")
    if metric and label.get("type") == "return" and metric in ("auc", "accuracy", "log_loss"):
        yield (("promotion", "metric"), (f"'{metric}' needs a classification label; the label "
               "'return' is a number"), "use ic, hit_rate or strategy_return")
    train = data.get("train") or {}
    if "window" in train and "holdout" in train and \
            duration_seconds(train["holdout"]) >= duration_seconds(train["window"]):
        yield (("train", "holdout"), (f"holdout {train['holdout']} is not shorter than the "
               f"window {train['window']}"), "the holdout is the newest part of the window")
    check = (data.get("drift") or {}).get("check")
    if check is not None:
        try:
            if parse_schedule(check).on_candle_close:
                yield ("drift", "check"), "'on_candle_close' is only for a bot's cycle", None
        except ScheduleError as exc:
            yield ("drift", "check"), str(exc), exc.hint
    if "retrain" in train:
        try:
            sched = parse_schedule(train["retrain"])
            if sched.on_candle_close:
                yield ("train", "retrain"), "'on_candle_close' is only for a bot's cycle", None
        except ScheduleError as exc:
            yield ("train", "retrain"), str(exc), exc.hint


def _htf_problems(data: dict, feat: dict, i: int) -> Iterator[tuple[tuple, str, str | None]]:
    low, high = data.get("timeframe", ""), feat["timeframe"]
    try:
        low_s, high_s = timeframe_seconds(low), timeframe_seconds(high)
    except ValueError:
        return
    if high.endswith("M") or high_s <= low_s or high_s % low_s:
        yield (("features", i, "timeframe"), (f"{high} is not a higher timeframe that is a "
               f"whole multiple of the model's {low}"), "e.g. 4h or 1d for a 1h model")
