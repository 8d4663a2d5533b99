"""`algorithm: ensemble`: several learners trained on the same samples, their outputs averaged.

Why average outputs rather than stack: stacking needs a second out-of-sample layer (more data
held back, more ways to leak), while a (weighted) mean of probabilities, or of predicted
returns, needs nothing beyond what each member already is. Each member is exactly the learner
its own algorithm block would train with the spec's seed, so the ensemble's prediction is
checkable against members trained separately (tests/test_ml_ensemble.py).

A version's files: one sub-folder per member (`member_0/`, ...) written by `ml.artefacts` in
that member's own format (LightGBM text, joblib), and `ensemble.json` with the algorithms,
parameters and normalised weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec
from botfleet.ml.output import learner_output, member_spec

ENSEMBLE_FILE = "ensemble.json"


@dataclass
class Ensemble:
    algorithms: list[str]
    params: list[dict]
    weights: list[float]  # sum to 1
    learners: list[Any]  # fitted (ml.train.fit) or loaded (ml.artefacts.load) members

    def member_specs(self, spec: ModelSpec) -> list[ModelSpec]:
        return [member_spec(spec, a, p) for a, p in zip(self.algorithms, self.params,
                                                       strict=True)]

    def member_outputs(self, spec: ModelSpec, X: np.ndarray) -> list[np.ndarray]:
        return [learner_output(s, m, X) for s, m in zip(self.member_specs(spec), self.learners,
                                                        strict=True)]

    def output(self, spec: ModelSpec, X: np.ndarray) -> np.ndarray:
        """The weighted mean of the members' outputs (P(up), returns, or [n, 3] classes)."""
        outs = self.member_outputs(spec, X)
        return sum(w * o for w, o in zip(self.weights, outs, strict=True))

    def save(self, folder: Path, columns: list[str]) -> None:
        from botfleet.ml import artefacts

        for i, (algo, learner) in enumerate(zip(self.algorithms, self.learners, strict=True)):
            artefacts.save(folder / f"member_{i}", learner, algo, columns, {"member": i})
        (folder / ENSEMBLE_FILE).write_text(json.dumps(
            {"algorithms": self.algorithms, "params": self.params, "weights": self.weights},
            indent=1, default=str), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Ensemble:
        from botfleet.ml import artefacts

        path = folder / ENSEMBLE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"ensemble file missing: {path}")
        meta = json.loads(path.read_text(encoding="utf-8"))
        learners = [artefacts.load(folder / f"member_{i}", algo)
                    for i, algo in enumerate(meta["algorithms"])]
        return cls(meta["algorithms"], meta["params"], meta["weights"], learners)


SEQUENCE_MEMBERS = ("lstm", "transformer")


def fit_ensemble(spec: ModelSpec, X: np.ndarray, y: np.ndarray, columns: list[str], *,
                 threads: int | None = None, start: np.ndarray | None = None,
                 end: np.ndarray | None = None) -> Ensemble:
    """Each member fitted on all of (X, y) with the spec's seed, as it would be alone.

    Sequence learners are refused as members: they read windows of rows (`ml.sequence`), a
    different feature matrix from the flat rows the other members share."""
    from botfleet.ml.train import ModelError, fit

    ens = spec.ensemble
    where = spec.source or spec.name
    if ens is None or len(ens.members) < 2:
        raise ModelError(f"{where}: algorithm.members: an ensemble needs at least two members")
    learners = []
    for i, (algo, params) in enumerate(ens.members):
        if algo in SEQUENCE_MEMBERS:
            raise ModelError(f"{where}: algorithm.members[{i}]: '{algo}' reads windows of rows "
                             "and cannot share the ensemble's features; use lightgbm, "
                             "sklearn_gbt or logistic members")
        try:
            learners.append(fit(member_spec(spec, algo, params), X, y, columns,
                                threads=threads, start=start, end=end))
        except ModelError as exc:
            raise ModelError(f"algorithm.members[{i}] ({algo}): {exc}") from None
    return Ensemble([a for a, _ in ens.members], [dict(p) for _, p in ens.members],
                    list(ens.weights), learners)
