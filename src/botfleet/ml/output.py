"""What a learner outputs, whatever form it is in: fitted by `ml.train.fit`, loaded from a
version's files (a LightGBM Booster, an unpickled scikit-learn estimator), or an ensemble.

Two shapes exist because two consumers differ: evaluation and ensembles need the full class
probabilities of a regime model ([n, 3]: RANGE, TREND, HIGH_VOL) to compute a log loss or
average members, while a strategy series holds one number per bar (the class code). For the
binary and `return` labels the two are the same 1-D array (P(up), or the predicted return).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from botfleet.config.ml import ModelSpec


def member_spec(spec: ModelSpec, algorithm: str, params: dict) -> ModelSpec:
    """The spec one ensemble member trains under: the ensemble's data, label and seed."""
    return dataclasses.replace(spec, algorithm=algorithm, params=dict(params), ensemble=None)


def learner_output(spec: ModelSpec, learner, X: np.ndarray) -> np.ndarray:
    """P(label = 1) or the predicted return (1-D); [n, 3] class probabilities for a regime
    label."""
    from botfleet.ml.ensemble import Ensemble
    from botfleet.ml.train import ModelError, predict_scores

    if isinstance(learner, Ensemble):
        return learner.output(spec, X)
    if spec.algorithm == "lightgbm":  # fitted (booster_) or loaded (the Booster itself)
        booster = getattr(learner, "booster_", learner)
        return np.asarray(booster.predict(X), dtype=float)
    if spec.label.multiclass:
        if not hasattr(learner, "predict_proba"):
            raise ModelError(f"{spec.name}: algorithm '{spec.algorithm}' gives no class "
                             "probabilities; a regime label needs lightgbm, sklearn_gbt or "
                             "logistic")
        from botfleet.ml.regime import full_proba

        return full_proba(learner.predict_proba(X), learner.classes_)
    return np.asarray(predict_scores(spec, learner, X), dtype=float)


def scores(spec: ModelSpec, learner, X: np.ndarray) -> np.ndarray:
    """One number per row: the class code (as float) for a regime label, else the output."""
    out = learner_output(spec, learner, X)
    if spec.label.multiclass:
        return np.argmax(out, axis=1).astype(float)
    return out


def evaluation_scores(spec: ModelSpec, learner, X: np.ndarray) -> np.ndarray:
    """What `ml.evaluate.evaluate_predictions` scores: class probabilities for a regime label
    (so it can report a log loss), else the 1-D scores."""
    return learner_output(spec, learner, X) if spec.label.multiclass else \
        scores(spec, learner, X)
