"""`proba(m, 'TREND')`: a regime model's class probability as a strategy series, point in time
in backtests (each bar from the walk-forward model serving it, checked against LightGBM's own
`predict_proba` of a model retrained independently) and from the promoted version live (the
same numbers as `LoadedModel.class_proba`), with its mistakes reported when compiling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ml_fixtures import pair_candles, spec
from test_ml_regime import _problems, rspec
from test_ml_strategy import entry_of

from botfleet.config.ml import REGIME_CLASSES
from botfleet.ml.batch import serve
from botfleet.ml.dataset import make_dataset
from botfleet.ml.features import feature_block
from botfleet.ml.predict import load_promoted
from botfleet.ml.registry import ModelRegistry
from botfleet.ml.strategy_source import PitModels, PromotedModels
from botfleet.ml.train import fit, train_version
from botfleet.strategy.declarative import compile_entry


def test_class_names_and_labels_are_checked_when_compiling(tmp_path):
    models = {"t": rspec(), "d": spec(name="d")}
    out = _problems(tmp_path, "proba('t', 'TRND') > 0.5", models)
    assert any("s.yaml:8:" in p and "'TRND' is not a regime class" in p
               and "did you mean 'TREND'?" in p
               and "classes: RANGE (0), TREND (1), HIGH_VOL (2)" in p for p in out), out
    out = _problems(tmp_path, "proba('d', 'TREND') > 0.5", models)
    assert any("'d' is not a regime model" in p and "no class 'TREND'" in p
               and "use proba('d')" in p for p in out), out
    out = _problems(tmp_path, "proba('t', 2) > 0.5", models)
    assert any("names a regime class, not a series or number" in p for p in out), out
    out = _problems(tmp_path, "proba('t') > 0.5", models)
    assert any("proba('t', 'TREND')" in p for p in out), out
    out = _problems(tmp_path, "predict('t', 'TREND') > 0.5", models)
    assert any("predict() takes one argument" in p for p in out), out
    ok = compile_entry(entry_of(tmp_path, "proba(t, TREND) > 0.5 and regime('t') != RANGE",
                                "proba('t', 'TREND')"), "1h", models=models)
    assert sorted(u.what for u in ok.model_uses) == ["proba:TREND", "regime"]
    assert {u.what: u.klass for u in ok.model_uses} == {"proba:TREND": 1, "regime": None}


def test_backtest_class_probability_is_point_in_time(tmp_path):
    candles = pair_candles(3000)
    s = rspec()
    source = PitModels(pool=lambda _spec: candles, retrain_every=240)
    entry = entry_of(tmp_path, "p > 0.5 and regime('t') == TREND", "proba('t', 'TREND')")
    strategy = compile_entry(entry, "1h", models={"t": s}).use_models(source)
    sig = strategy.signals(candles["ETH/USDT"])
    pit = source.served[("t", "ETH/USDT")]
    p = sig.series["p"]
    served = pit.version >= 0
    live = np.arange(len(p)) >= strategy.warmup
    assert (served & live).sum() > 1000
    np.testing.assert_array_equal(p[live], pit.classes[live, REGIME_CLASSES["TREND"]])
    assert np.isnan(p[~served]).all() and not sig.entry_long[~served].any()
    np.testing.assert_allclose(pit.classes[served].sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pit.proba[served], pit.classes[served].argmax(axis=1))
    want = live & served & (p > 0.5) & (pit.proba == 1.0)
    np.testing.assert_array_equal(sig.entry_long, want)
    assert want.any()
    ds = make_dataset(candles, s)
    x_eth = feature_block(candles["ETH/USDT"], s).values
    checked = 0
    for k, w in enumerate(pit.windows):
        if not w.trained or k % 3:
            continue
        bars = np.nonzero(pit.version == k)[0]
        train = np.nonzero((ds.end < w.first_ts) &
                           (ds.start >= w.first_ts - s.train_window_s * 1000))[0]
        est = fit(s, ds.X[train], ds.y[train], ds.columns, threads=1)
        # LightGBM's scikit-learn predict_proba, columns in the fitted classes' order
        assert list(est.classes_) == [0.0, 1.0, 2.0]
        np.testing.assert_allclose(pit.classes[bars], est.predict_proba(
            pd.DataFrame(x_eth[bars], columns=ds.columns)),
                                   rtol=0, atol=1e-12)
        checked += 1
    assert checked >= 2


def test_live_class_probability_reads_the_promoted_version(tmp_path):
    candles = pair_candles(3000)
    s = rspec()
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    reg.register(train_version(s, candles))
    reg.promote(s, 1)
    model = load_promoted(url, "t")
    source = PromotedModels(url)
    entry = entry_of(tmp_path, "p > 0.2 and regime('t') != TREND", "proba('t', 'HIGH_VOL')")
    strategy = compile_entry(entry, "1h", models={"t": s}).use_models(source)
    eth = candles["ETH/USDT"]
    window = eth[-strategy.window()["1h"]:]
    sig = strategy.signals(window)
    probs = model.class_proba(model.latest_features(window)[None, :])[0]
    assert abs(sig.series["p"][-1] - probs[2]) <= 1e-12
    full = model.class_proba(feature_block(window, model.spec).values[-1:])[0]
    np.testing.assert_allclose(probs, full, rtol=0, atol=1e-6)  # settled indicators
    assert sig.entry_long[-1] == (probs[2] > 0.2 and probs.argmax() != 1)
    # one prediction per bar serves both the class code and the probabilities
    served = serve(source.engine, source.resolve("t")[0])
    rows = served.rows
    regime = compile_entry(entry_of(tmp_path, "p == HIGH_VOL", "regime('t')"), "1h",
                           models={"t": s}).use_models(source)
    code = regime.signals(window).series["p"]
    assert served.rows == rows and code[-1] == float(probs.argmax())
    for cls, k in REGIME_CLASSES.items():  # each class from the same kept bars
        other = compile_entry(entry_of(tmp_path, "p > 0.5", f"proba('t', '{cls}')"), "1h",
                              models={"t": s}).use_models(source)
        assert abs(other.signals(window).series["p"][-1] - probs[k]) <= 1e-12
    assert served.rows == rows
