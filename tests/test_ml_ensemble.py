"""`algorithm: ensemble`: the (weighted) mean of members trained alone with the same seed,
saved and loaded through the registry like any version, point in time in backtests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ml_fixtures import pair_candles, spec
from test_ml_cli import fleet, run  # noqa: F401 - fixture
from test_ml_config import PARTS, _fleet

from botfleet.ml.dataset import make_dataset
from botfleet.ml.features import feature_block
from botfleet.ml.output import learner_output
from botfleet.ml.pit import proba_series
from botfleet.ml.predict import load_version
from botfleet.ml.registry import ModelRegistry
from botfleet.ml.train import ModelError, fit, predict_scores, train_version

LGB = {"name": "lightgbm", "params": {"n_estimators": 20, "num_leaves": 7,
                                      "min_child_samples": 50}}
GBT = {"name": "sklearn_gbt", "params": {"max_iter": 30, "max_depth": 3}}
LOGIT = {"name": "logistic", "params": {"C": 0.5}}


def ens(members, weights=None, **over):
    algo = {"name": "ensemble", "members": members}
    if weights is not None:
        algo.update(combine="weighted", weights=weights)
    return spec(algorithm=algo, **over)


def alone(member: dict, **over):
    """The member as a model of its own (no ensemble code involved)."""
    return spec(algorithm=member, **over)


@pytest.fixture(scope="module")
def data():
    c = pair_candles(3000)
    return c, make_dataset(c, spec())


def test_weighted_ensemble_is_the_weighted_mean_of_members_trained_alone(data):
    _, ds = data
    train, test = slice(0, 4000), slice(4000, None)
    s = ens([LGB, LOGIT, GBT], weights=[3, 1, 2])
    est = fit(s, ds.X[train], ds.y[train], ds.columns)
    got = predict_scores(s, est, ds.X[test])
    parts = []
    for m in (LGB, LOGIT, GBT):
        one = alone(m)
        parts.append(predict_scores(one, fit(one, ds.X[train], ds.y[train], ds.columns),
                                    ds.X[test]))
    want = (3 * parts[0] + 1 * parts[1] + 2 * parts[2]) / 6
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert 0 < got.min() and got.max() < 1
    # combine: mean is the plain mean
    s = ens([LGB, LOGIT])
    got = predict_scores(s, fit(s, ds.X[train], ds.y[train], ds.columns), ds.X[test])
    np.testing.assert_allclose(got, (parts[0] + parts[1]) / 2, rtol=1e-12, atol=1e-12)


def test_return_and_regime_ensembles_average_returns_and_class_probabilities(data):
    c, _ = data
    ret = {"label": {"type": "return", "horizon": 12},
           "promotion": {"metric": "ic", "min_samples": 100}}
    ds = make_dataset(c, spec(**ret))
    s = ens([LGB, GBT], **ret)
    got = predict_scores(s, fit(s, ds.X[:4000], ds.y[:4000], ds.columns), ds.X[4000:])
    want = np.mean([predict_scores(alone(m, **ret), fit(alone(m, **ret), ds.X[:4000],
                                                         ds.y[:4000], ds.columns),
                                   ds.X[4000:]) for m in (LGB, GBT)], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    reg = {"label": {"type": "regime", "horizon": 12, "vol_window": 240},
           "promotion": {"metric": "log_loss", "min_samples": 100}}
    ds = make_dataset(c, spec(**reg))
    s = ens([LGB, LOGIT], weights=[1, 3], **reg)
    est = fit(s, ds.X[:4000], ds.y[:4000], ds.columns)
    probs = [learner_output(alone(m, **reg), fit(alone(m, **reg), ds.X[:4000], ds.y[:4000],
                                                 ds.columns), ds.X[4000:]) for m in (LGB, LOGIT)]
    want = 0.25 * probs[0] + 0.75 * probs[1]
    np.testing.assert_allclose(learner_output(s, est, ds.X[4000:]), want, rtol=1e-12)
    np.testing.assert_array_equal(predict_scores(s, est, ds.X[4000:]), want.argmax(axis=1))


def test_an_ensemble_round_trips_the_registry(tmp_path: Path, data):
    c, _ = data
    s = ens([LGB, LOGIT], weights=[2, 1])
    result = train_version(s, c)
    assert result.metrics["model"]["auc"] is not None and "always_long" in result.metrics
    url = f"sqlite:///{tmp_path / 's.db'}"
    v = ModelRegistry(url, tmp_path / "data").register(result)
    folder = Path(v.artefact)
    assert (folder / "member_0" / "model.txt").is_file()
    assert (folder / "member_1" / "model.joblib").is_file()
    assert (folder / "ensemble.json").is_file() and v.algorithm == "ensemble"
    assert v.params["weights"] == [2, 1]
    loaded = load_version(url, "t", 1)
    x = feature_block(c["ETH/USDT"], s).values[-500:]
    np.testing.assert_allclose(loaded.predict(x), predict_scores(s, result.estimator, x),
                               rtol=1e-12)
    np.testing.assert_allclose(loaded.predict_proba(x), loaded.predict(x))
    assert abs(loaded.predict_latest({"b": c["ETH/USDT"]})["b"] - loaded.predict(x)[-1]) < 1e-6


def test_an_ensemble_predicts_point_in_time(data):
    c, _ = data
    s = ens([LGB, LOGIT])
    pit = proba_series(c, s, retrain_every=500, pair="ETH/USDT")
    ds = make_dataset(c, s)
    x = feature_block(c["ETH/USDT"], s).values
    k = next(i for i, w in enumerate(pit.windows) if w.trained)
    w = pit.windows[k]
    bars = np.nonzero(pit.version == k)[0]
    assert w.label_end_max_ts < pit.ts[bars[0]]
    train = np.nonzero((ds.end < w.first_ts) &
                       (ds.start >= w.first_ts - s.train_window_s * 1000))[0]
    want = np.mean([predict_scores(alone(m), fit(alone(m), ds.X[train], ds.y[train],
                                                 ds.columns), x[bars]) for m in (LGB, LOGIT)],
                   axis=0)
    np.testing.assert_allclose(pit.proba[bars], want, rtol=1e-12)


ALGO = "algorithm:\n  name: ensemble\n"


@pytest.mark.parametrize("algo, expected", [
    (ALGO + "  members: [{name: lightgbm}, {name: logistic}]\n  weights: [1, 2]\n",
     "models.d/m.yaml:12:3: algorithm.weights: 'weights' apply only to 'combine: weighted'"),
    (ALGO + "  members: [{name: lightgbm}, {name: logistic}]\n  combine: weighted\n"
     "  weights: [1, 2, 3]\n",
     "models.d/m.yaml:13:12: algorithm.weights: 3 weights for 2 members"),
    (ALGO + "  members: [{name: lightgbm}, {name: logistic}]\n  combine: weighted\n",
     "models.d/m.yaml:10:3: algorithm: 'combine: weighted' needs 'weights'"),
    (ALGO + "  members: [{name: lightgbm}, {name: lstm}]\n",
     "models.d/m.yaml:11:38: algorithm.members[1].name: 'lstm' is not allowed here"),
    ("algorithm: {name: lightgbm, members: [{name: lightgbm}, {name: logistic}]}\n",
     "models.d/m.yaml:9:29: algorithm.members: 'members' applies only to 'name: ensemble'"),
    (ALGO + "  members: [{name: lightgbm}]\n",
     "models.d/m.yaml:11:12: algorithm.members: "),
])
def test_yaml_mistakes_name_the_file_and_key(tmp_path, algo, expected):
    load = _fleet(tmp_path, "".join(PARTS.values()) + algo)
    got = [str(p) for p in load.errors]
    assert any(g.startswith(expected) for g in got), got
    assert load.fleet is None


def test_training_a_member_that_fails_names_the_member(data):
    _, ds = data
    bad = ens([LGB, {"name": "sklearn_gbt", "params": {"max_itr": 3}}])
    with pytest.raises(ModelError, match=r"algorithm.members\[1\] \(sklearn_gbt\)"):
        fit(bad, ds.X[:2000], ds.y[:2000], ds.columns)


def test_botfleet_model_train_an_ensemble_on_real_candles(fleet):  # noqa: F811
    path = fleet / "models.d" / "eth.yaml"
    text = path.read_text().replace(
        "algorithm: {name: lightgbm, params: {n_estimators: 20, num_leaves: 7}}",
        "algorithm: {name: ensemble, members: [{name: lightgbm, params: {n_estimators: 20}}, "
        "{name: logistic}], combine: weighted, weights: [2, 1]}")
    assert "ensemble" in text
    path.write_text(text)
    code, out = run(fleet, "train", "eth-dir")
    assert code == 0 and "eth-dir version 1: candidate" in out, out
    code, out = run(fleet, "list")
    assert code == 0 and "ensemble" in out, out
    code, out = run(fleet, "evaluate", "eth-dir", "--version", "1")
    assert code == 0 and "always_long" in out, out
