"""The LSTM and Transformer learners: deterministic, able to learn a pattern that only a window
of past bars reveals (and not to invent one in shuffled returns), blind to later bars and to
other pairs, saved without pickle through the registry, usable point in time."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from botfleet.config.ml import model_problems, model_spec
from botfleet.data.candles import CANDLE_DTYPE
from botfleet.ml.dataset import make_dataset
from botfleet.ml.features import feature_block
from botfleet.ml.pit import proba_series
from botfleet.ml.train import ModelError, fit, predict_scores, train_version

from storage_fixtures import BACKENDS, state_url  # noqa: F401 - fixture

pytest.importorskip("torch", reason="torch is an optional extra (torch==2.13.0 CPU build, "
                    "docs/ml.md); the sequence learners cannot run without it")

HOUR_MS = 3_600_000
T0 = 1_600_000_000_000 - 1_600_000_000_000 % HOUR_MS
LAG = 4  # the planted pattern: the next bar's return follows the return LAG bars earlier
SMALL = {"lstm": {"hidden": 16, "epochs": 12, "seq_len": 8, "patience": 4, "lr": 0.01},
         "transformer": {"d_model": 16, "heads": 2, "layers": 1, "epochs": 12, "seq_len": 8,
                         "patience": 4, "lr": 0.005, "dropout": 0.0}}


def planted(n: int, seed: int, *, shuffle: bool = False) -> np.ndarray:
    """Hourly candles whose log return at t is 0.7 x the return at t - LAG - 1 plus noise, so
    ret_1 at lag LAG predicts the next bar; `shuffle` permutes the same returns (the control:
    same distribution, no order)."""
    rng = np.random.default_rng(seed)
    r = np.zeros(n)
    e = rng.normal(0, 0.01, n)
    for t in range(n):
        r[t] = e[t] + (0.7 * r[t - LAG - 1] if t > LAG else 0.0)
    if shuffle:
        r = rng.permutation(r)
    close = 100 * np.exp(np.cumsum(r))
    c = np.zeros(n, dtype=CANDLE_DTYPE)
    c["ts"] = T0 + np.arange(n, dtype=np.int64) * HOUR_MS
    c["open"] = np.concatenate([[100.0], close[:-1]])
    c["close"] = close
    c["high"] = np.maximum(c["open"], close) * 1.001
    c["low"] = np.minimum(c["open"], close) * 0.999
    c["volume"] = 1.0
    return c


def seq_spec(algo: str = "lstm", **params):
    return model_spec({
        "name": "seq", "pairs": ["AAA/USDT", "BBB/USDT"], "timeframe": "1h",
        "features": [{"type": "returns", "horizons": [1]}],
        "label": {"type": "direction", "horizon": 1},
        "algorithm": {"name": algo, "params": {**SMALL[algo], **params}},
        "train": {"window": "60d", "holdout": "12d"}, "seed": 3}, source="models.d/seq.yaml")


def candles(n: int = 1700, *, shuffle: bool = False) -> dict[str, np.ndarray]:
    return {"AAA/USDT": planted(n, 1, shuffle=shuffle), "BBB/USDT": planted(n, 2, shuffle=shuffle)}


@pytest.fixture(scope="module")
def trained():
    return {algo: train_version(seq_spec(algo), candles()) for algo in SMALL}


@pytest.mark.parametrize("algo", list(SMALL))
def test_a_planted_sequence_pattern_is_learned_and_shuffled_returns_give_nothing(trained, algo):
    result = trained[algo]
    hold = result.extra["holdout"]
    scores = predict_scores(result.spec, result.estimator, hold.X)
    auc = roc_auc_score(hold.y, scores)  # scikit-learn's AUC, beside our own metric
    assert auc == pytest.approx(result.metrics["model"]["auc"], abs=1e-9)
    assert auc > 0.7, auc
    control = train_version(seq_spec(algo), candles(shuffle=True))
    assert 0.4 < control.metrics["model"]["auc"] < 0.6, control.metrics["model"]["auc"]
    assert result.estimator.epochs_run >= result.estimator.best_epoch >= 1


def test_same_seed_same_predictions_bit_for_bit_and_another_seed_differs(trained):
    data = candles()
    again = train_version(seq_spec("lstm"), data)
    hold = trained["lstm"].extra["holdout"]
    first = predict_scores(again.spec, trained["lstm"].estimator, hold.X)
    assert np.array_equal(first, predict_scores(again.spec, again.estimator, hold.X))
    assert trained["lstm"].metrics == again.metrics
    other = train_version(model_spec({**seq_spec("lstm").raw, "seed": 4}), data)
    assert not np.array_equal(first, predict_scores(other.spec, other.estimator, hold.X))


@pytest.mark.parametrize("algo", list(SMALL))
def test_no_look_ahead_rows_after_the_bar_do_not_change_its_prediction(trained, algo):
    result = trained[algo]
    c = candles()["AAA/USDT"]
    t = 1500
    later = c.copy()
    rng = np.random.default_rng(9)
    later["close"][t + 1:] *= np.exp(rng.normal(0, 0.05, len(c) - t - 1))
    later["high"][t + 1:] = later["close"][t + 1:] * 1.2
    x, y = feature_block(c, result.spec).values, feature_block(later, result.spec).values
    assert np.array_equal(x[: t + 1], y[: t + 1], equal_nan=True)
    assert not np.array_equal(x[t + 1:], y[t + 1:], equal_nan=True)
    one = predict_scores(result.spec, result.estimator, x[t: t + 1])
    assert np.array_equal(one, predict_scores(result.spec, result.estimator, y[t: t + 1]))
    # in a batch of other rows float32 kernels may round differently, by ~1e-8
    a = predict_scores(result.spec, result.estimator, x)
    b = predict_scores(result.spec, result.estimator, y)
    np.testing.assert_allclose(a[: t + 1], b[: t + 1], rtol=1e-6)
    assert np.abs(a[t + 1:] - b[t + 1:]).max() > 1e-3  # the later rows did change
    cut = feature_block(c[: t + 1], result.spec).values  # candles cut at t: the same window
    assert np.array_equal(predict_scores(result.spec, result.estimator, cut[-1:]), one)


def test_windows_hold_one_pair_oldest_first_and_never_cross_into_another():
    s = seq_spec("lstm")
    data = candles(300)
    ds = make_dataset(data, s)
    length = s.params["seq_len"]
    assert ds.columns[-1] == "ret_1" and ds.columns[0] == f"ret_1@{length - 1}"
    for pair, c in data.items():
        base = feature_block(c, dataclasses.replace(s, algorithm="lightgbm",
                                                    params={})).values[:, 0]
        rows = np.nonzero(ds.pair == pair)[0]
        bars = np.searchsorted(c["ts"], ds.start[rows])
        for row, bar in zip(rows, bars, strict=True):
            want = np.array([base[bar - k] if bar - k >= 0 else np.nan
                             for k in range(length - 1, -1, -1)])
            assert np.array_equal(ds.X[row], want, equal_nan=True), (pair, bar)
    first_b = np.nonzero(ds.pair == "BBB/USDT")[0][0]  # before its first bar: NaN, not AAA's
    assert np.isnan(ds.X[first_b][: length - 1]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_load_through_the_registry_predict_identically(trained, tmp_path, backend,
                                                                state_url):  # noqa: F811
    from botfleet.ml.predict import load_version
    from botfleet.ml.registry import ModelRegistry

    url = state_url(backend)
    reg = ModelRegistry(url, tmp_path / "data")
    for algo in SMALL:
        result = trained[algo]
        v = reg.register(result)
        files = sorted(p.name for p in Path(v.artefact).iterdir())
        assert files == ["meta.json", "sequence.json", "sequence.pt"]  # no pickle of a module
        assert json.loads(Path(v.artefact, "sequence.json").read_text())["algorithm"] == algo
        loaded = load_version(url, "seq", v.version)
        hold = result.extra["holdout"]
        assert np.array_equal(loaded.predict_proba(hold.X),
                              predict_scores(result.spec, result.estimator, hold.X))
        c = candles()["BBB/USDT"]
        live = loaded.predict_latest({"a": c[:1400], "b": c[:1600]})
        full = predict_scores(result.spec, result.estimator, feature_block(c, result.spec).values)
        np.testing.assert_allclose([live["a"], live["b"]], full[[1399, 1599]], rtol=1e-6)
        Path(v.artefact, "sequence.pt").unlink()
        with pytest.raises(ModelError, match="model file missing"):
            load_version(url, "seq", v.version)


def test_point_in_time_walk_forward_trains_only_on_resolved_past_samples():
    s = seq_spec("lstm", epochs=6)
    data = candles(1500)
    series = proba_series(data, s, retrain_every=250, pair="AAA/USDT", first_bar=1000)
    served = series.version >= 0
    assert served[1000:].all() and not served[:1000].any()
    assert len(series.windows) == 2 and all(w.trained for w in series.windows)
    for w in series.windows:
        assert w.label_end_max_ts < w.first_ts  # every training label resolved before it
    y = np.diff(np.log(data["AAA/USDT"]["close"]))[1000:] > 0  # direction of the next bar
    assert roc_auc_score(y, series.proba[1000:-1]) > 0.65


def test_bad_hyper_parameters_name_the_file_and_the_key():
    cases = [({"hiden": 8}, "algorithm.params.hiden: 'hiden' is not a parameter of 'lstm'"),
             ({"heads": 2}, "algorithm.params.heads: 'heads' is not a parameter of 'lstm'"),
             ({"epochs": 0}, "'epochs' must be a whole number of at least 1, got 0"),
             ({"dropout": 1.5}, r"'dropout' must be a fraction in \[0, 1\)"),
             ({"lr": -1}, "'lr' must be a number above 0")]
    for params, message in cases:
        with pytest.raises(ModelError, match=f"models.d/seq.yaml: .*{message}"):
            train_version(seq_spec("lstm", **params), candles(400))
    with pytest.raises(ModelError, match="d_model 16 is not a multiple of heads 3"):
        train_version(seq_spec("transformer", heads=3), candles(400))
    ok = seq_spec("lstm").raw  # YAML numbers reach the validator as Decimal: still fine
    assert not list(model_problems({**ok, "algorithm": {"name": "lstm", "params": {
        "lr": Decimal("0.001"), "dropout": Decimal("0.2"), "seq_len": Decimal(16)}}}))
    raw = seq_spec("lstm", hiden=8).raw
    problems = list(model_problems(raw))
    assert problems and problems[0][0] == ("algorithm", "params", "hiden")
    regime = {**raw, "algorithm": {"name": "lstm"}, "label": {"type": "regime", "horizon": 1}}
    assert any("three regimes" in p[1] for p in model_problems(regime))
    s = seq_spec("lstm")
    ds = make_dataset(candles(400), s)
    with pytest.raises(ModelError, match="start and end times"):
        fit(s, ds.X, ds.y, ds.columns)
    with pytest.raises(ModelError, match="each needs at least 10"):
        fit(s, ds.X[:12], ds.y[:12], ds.columns, start=ds.start[:12], end=ds.end[:12])
