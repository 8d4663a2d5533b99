"""Training is deterministic, measured against baselines; walk-forward predictions use only
models trained before each bar."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import pair_candles, real, spec

from botfleet.ml.pit import proba_series
from botfleet.ml.train import ModelError, train_version


def test_same_data_same_seed_gives_the_same_model():
    candles = pair_candles(2500)
    a, b = train_version(spec(), candles), train_version(spec(), candles)
    assert a.estimator.booster_.model_to_string() == b.estimator.booster_.model_to_string()
    assert a.metrics == b.metrics and a.data_sha256 == b.data_sha256
    other = train_version(spec(seed=8, algorithm={"name": "lightgbm", "params": {
        "n_estimators": 20, "subsample": 0.5, "subsample_freq": 1}}), candles)
    assert other.estimator.booster_.model_to_string() != a.estimator.booster_.model_to_string()


def test_metrics_report_the_model_beside_both_baselines():
    m = train_version(spec(), pair_candles(2500)).metrics
    assert m["samples"] > 100 and 0 < m["up_share"] < 1
    for who in ("model", "always_long", "prev_direction"):
        assert 0 <= m[who]["accuracy"] <= 1 and m[who]["strategy_return"] is not None
    assert m["always_long"]["auc"] == 0.5 and m["always_long"]["exposure"] == 1.0
    assert m["always_long"]["accuracy"] == pytest.approx(m["up_share"])
    assert 0.3 < m["model"]["auc"] < 0.7  # honest: hourly direction is close to a coin flip


@pytest.mark.parametrize("algo", ["sklearn_gbt", "logistic"])
def test_other_algorithms_train_and_are_deterministic(algo):
    params = {"max_iter": 10} if algo == "sklearn_gbt" else {"C": 0.5}
    s = spec(algorithm={"name": algo, "params": params})
    candles = pair_candles(1000)
    a, b = train_version(s, candles), train_version(s, candles)
    assert a.metrics == b.metrics and a.metrics["model"]["auc"] is not None


def test_return_label_trains_a_regressor_scored_by_rank_correlation():
    s = spec(label={"type": "return", "horizon": 12}, promotion={"metric": "ic"})
    m = train_version(s, pair_candles(1500)).metrics
    assert "ic" in m["model"] and "auc" not in m["model"]


def test_bad_hyper_parameters_and_thin_data_fail_with_the_reason():
    with pytest.raises(ModelError, match="algorithm.params"):
        train_version(spec(algorithm={"name": "sklearn_gbt", "params": {"num_leafs": 3}}),
                      pair_candles(1500))
    with pytest.raises(ModelError, match="labelled samples"):
        train_version(spec(), pair_candles(60))
    with pytest.raises(ModelError, match="holdout 20d: the holdout covers all the data"):
        train_version(spec(), pair_candles(400))
    with pytest.raises(ModelError, match="no candles for ETH/USDT"):
        train_version(spec(), {"BTC/USDT": real()})


def test_walk_forward_predictions_use_only_models_trained_before_each_bar():
    s = spec(train={"window": "60d", "holdout": "10d"})
    candles = pair_candles(2000)
    pit = proba_series(candles, s, retrain_every=168, pair="ETH/USDT")
    served = np.nonzero(pit.version >= 0)[0]
    assert len(served) > 500 and len(pit.windows) >= 5
    for bar in served:
        w = pit.windows[pit.version[bar]]
        assert w.trained and w.first_bar <= bar <= w.last_bar
        assert w.label_end_max_ts < pit.ts[bar]  # every label it learned had resolved
        assert w.train_last_ts < w.first_ts
    assert len({int(v) for v in pit.version[served]}) == sum(w.trained for w in pit.windows)
    assert np.isnan(pit.proba[pit.version < 0]).all()
    assert ((pit.proba[served] > 0) & (pit.proba[served] < 1)).all()


def test_walk_forward_prediction_at_a_bar_is_the_same_without_the_future():
    """Point in time for real: cutting the candles right after a bar does not change the
    prediction the backtest used at that bar."""
    s = spec(train={"window": "60d", "holdout": "10d"})
    full = pair_candles(1600)
    pit = proba_series(full, s, retrain_every=200, pair="BTC/USDT", first_bar=1000)
    for bar in (1000, 1234, 1399):
        cut = {p: c[: bar + 1] for p, c in full.items()}
        part = proba_series(cut, s, retrain_every=200, pair="BTC/USDT", first_bar=1000)
        assert part.proba[bar] == pit.proba[bar]


def test_registered_versions_serve_only_bars_after_their_data(tmp_path):
    from botfleet.ml.pit import registered_series
    from botfleet.ml.registry import ModelRegistry

    candles = pair_candles(3000)
    end = int(candles["BTC/USDT"]["ts"][-1])
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    for days in (60, 30):
        reg.register(train_version(spec(), candles, end_ms=end - days * 86_400_000))
    pit = registered_series(candles["ETH/USDT"], url, "t", pair="ETH/USDT")
    served = np.nonzero(pit.version >= 0)[0]
    assert [w.note for w in pit.windows] == ["registry version 1", "registry version 2"]
    for bar in served:
        assert pit.windows[pit.version[bar]].label_end_max_ts < pit.ts[bar]
    assert np.isnan(pit.proba[: served[0]]).all() and pit.ts[served[0]] > end - 60 * 86_400_000
