"""Using a registered version: load it once, then predict from candles or feature frames.

`load_promoted(state_url, name)` is what live and paper bots call: the version promoted now.
The loaded model checks its input columns against the ones it was trained on, so a spec edited
after training (a feature added or removed) fails loudly instead of feeding shifted columns.

For a cycle, `latest_features` computes each feature on the tail of a bot's candles it needs
(indicators on twice their warm-up, so exponential ones have settled) and `predict_latest`
scores many bots with their rows computed together (`latest_matrix`, `ml.latest`) and one
call to the learner: that is what keeps 100 bots under 50 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from botfleet.config.ml import ModelSpec, model_spec
from botfleet.ml.features import feature_names, latest_plan, latest_row
from botfleet.ml.registry import ModelRegistry, ModelVersion, RegistryError
from botfleet.ml.train import ModelError

SETTLE = 2  # indicators read this many times their warm-up before the newest bar
SMALL_ROWS = 4096  # a learner call on at most this many rows runs on one thread


@dataclass
class LoadedModel:
    version: ModelVersion
    spec: ModelSpec
    learner: Any  # lightgbm.Booster, a fitted scikit-learn estimator or ml.sequence's model
    _plan: list | None = None  # features.latest_plan, made on first use

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def columns(self) -> list[str]:
        return list(self.version.columns)

    def _matrix(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(features, pd.DataFrame):
            missing = [c for c in self.columns if c not in features.columns]
            if missing:
                raise ModelError(f"{self.name} v{self.version.version}: the features lack "
                                 f"{', '.join(missing)} (trained on {', '.join(self.columns)})")
            return features[self.columns].to_numpy(dtype=float)
        x = np.asarray(features, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.columns):
            raise ModelError(f"{self.name} v{self.version.version}: expected "
                             f"{len(self.columns)} feature columns, got shape {x.shape}")
        return x

    def _raw(self, x: np.ndarray) -> np.ndarray:
        if self.version.algorithm == "ensemble" or self.spec.label.multiclass:
            from botfleet.ml.output import scores  # a class code, or the members' mean

            return scores(self.spec, self.learner, x)
        if hasattr(self.learner, "predict_scores"):  # ml.sequence.SequenceModel
            return self.learner.predict_scores(x)
        if self.version.algorithm == "lightgbm":  # a cycle's few rows: one thread (OpenMP
            # threads waiting on a loaded box cost up to 20 ms a call; the values are the same)
            kw = {"num_threads": 1} if len(x) <= SMALL_ROWS else {}
            return np.asarray(self.learner.predict(x, **kw), dtype=float)
        if self.spec.label.classifier:
            return self.learner.predict_proba(x)[:, 1]
        return np.asarray(self.learner.predict(x), dtype=float)

    def predict_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """P(label = 1) per row (classifiers only)."""
        if self.spec.label.multiclass:
            raise ModelError(f"{self.name}: a regime model has three classes; use "
                             "class_proba() or predict() (the class code)")
        if not self.spec.label.classifier:
            raise ModelError(f"{self.name}: its label 'return' is a number, not a class; "
                             "use predict()")
        return self._raw(self._matrix(features))

    def class_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """[n, 3] probabilities of RANGE, TREND, HIGH_VOL (regime models only)."""
        if not self.spec.label.multiclass:
            raise ModelError(f"{self.name}: not a regime model; use predict_proba()")
        from botfleet.ml.output import learner_output

        return learner_output(self.spec, self.learner, self._matrix(features))

    def predict(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """P(up) for classifiers, the predicted log return for a `return` label."""
        return self._raw(self._matrix(features))

    def tail_bars(self) -> int:
        """Candles a bot must hold for `latest_features` (the longest tail of any feature)."""
        return max(need for need, _ in latest_plan(self.spec, settle=SETTLE))

    def latest_features(self, candles: np.ndarray) -> np.ndarray:
        """The feature row of the newest bar, each feature from the tail it needs."""
        if self._plan is None:
            names = feature_names(self.spec)
            if names != self.columns:
                raise ModelError(f"{self.name} v{self.version.version}: the spec's features "
                                 f"({', '.join(names)}) differ from the trained ones")
            self._plan = latest_plan(self.spec, settle=SETTLE)
        return latest_row(candles, self.spec, plan=self._plan)

    def latest_matrix(self, tails: list[np.ndarray]) -> np.ndarray:
        """`latest_features` of many bots' candles, computed for all at once (`ml.latest`:
        bit for bit the same rows, a fraction of the numpy calls)."""
        from botfleet.ml.latest import latest_rows

        if self._plan is None:
            self.latest_features(tails[0])  # checks the columns, makes the plan
        return latest_rows(tails, self.spec, self._plan)

    def predict_latest(self, candles_by_bot: dict[str, np.ndarray]) -> dict[str, float]:
        """The newest bar's prediction for every bot, in one call to the learner."""
        names = list(candles_by_bot)
        if not names:
            return {}
        x = self.latest_matrix([candles_by_bot[n] for n in names])
        return dict(zip(names, self._raw(x).tolist(), strict=True))


def load_version(state: str | URL | Engine, name: str, version: int | None = None) -> LoadedModel:
    """The given version (default: the promoted one) with its learner loaded."""
    reg = ModelRegistry(state)
    v = reg.promoted(name) if version is None else reg.get(name, version)
    if v is None:
        known = reg.versions(name)
        what = "promoted version" if version is None else f"version {version}"
        raise RegistryError(f"model {name!r} has no {what}" + (
            f" (versions: {', '.join(f'{x.version} {x.status}' for x in known)}; "
            + ("botfleet model promote)" if version is None else "pin one of these in the "
               "bot's model_versions)") if known else " (no versions: botfleet model train)"))
    return from_version(v)


def from_version(v: ModelVersion) -> LoadedModel:
    """A registry row with its learner loaded from its artefact (ModelError when missing)."""
    from pathlib import Path

    from botfleet.ml import artefacts

    try:
        learner = artefacts.load(Path(v.artefact), v.algorithm)
    except FileNotFoundError as exc:
        raise ModelError(f"{v.name} v{v.version}: {exc}") from None
    return LoadedModel(v, _spec_of(v), learner)


def _spec_of(v: ModelVersion) -> ModelSpec:
    """The spec the version was trained with, from its meta.json (the YAML may have moved on)."""
    import json
    from pathlib import Path

    from botfleet.ml.artefacts import META_FILE

    meta = json.loads((Path(v.artefact) / META_FILE).read_text(encoding="utf-8"))
    return model_spec(meta["spec"])


def load_promoted(state: str | URL | Engine, name: str) -> LoadedModel:
    """The promoted version of `name`: what live and paper bots predict with."""
    return load_version(state, name, None)
