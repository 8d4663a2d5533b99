"""The market-regime model: labels from the label window only (threshold included), multiclass
metrics as scikit-learn computes them, `regime(m)` point in time in backtests and the promoted
version live, and its YAML mistakes reported at file:line."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import pair_candles, real, spec
from test_ml_cli import fleet, run  # noqa: F401 - fixture
from test_ml_config import PARTS, _fleet
from test_ml_strategy import entry_of

from botfleet.config.ml import REGIME_CLASSES
from botfleet.ml.dataset import make_dataset
from botfleet.ml.features import feature_block, lookback
from botfleet.ml.labels import make_labels
from botfleet.ml.output import learner_output
from botfleet.ml.predict import load_promoted
from botfleet.ml.regime import evaluate_regime, regime_labels, vol_threshold
from botfleet.ml.registry import ModelRegistry
from botfleet.ml.strategy_source import PitModels, PromotedModels
from botfleet.ml.train import (
    ModelError,
    fit,
    predict_scores,
    train_version,
    warmup_bars,
    window_candles,
)
from botfleet.strategy.declarative import compile_entry
from botfleet.strategy.errors import StrategyError

LABEL = {"type": "regime", "horizon": 12, "vol_quantile": 0.75, "vol_window": 240,
         "trend_efficiency": 0.3}


def rspec(**over):
    return spec(**{"label": LABEL, "promotion": {"metric": "balanced_accuracy",
                                                 "min_samples": 100}, **over})


def brute_label(c, t: int, h: int, q: float, window: int, eff_min: float) -> float:
    """The definition of docs/ml.md, bar by bar, with numpy's quantile."""
    lc = np.log(c["close"].astype(float))
    if t + h >= len(c) or t < h + window - 1:
        return np.nan

    def rv(end: int) -> float:  # RMS of the h 1-bar log returns ending at bar `end`
        r = np.diff(lc[end - h: end + 1])
        return float(np.sqrt(np.mean(r ** 2)))

    thr = np.quantile([rv(s) for s in range(t - window + 1, t + 1)], q)
    if rv(t + h) > thr:
        return 2.0
    moves = np.abs(np.diff(lc[t: t + h + 1])).sum()
    return 1.0 if moves > 0 and abs(lc[t + h] - lc[t]) / moves > eff_min else 0.0


def test_labels_follow_the_definition_and_read_nothing_after_the_horizon():
    c = real("BTC/USDT", 1500)
    s = rspec()
    y = regime_labels(c, s.label)
    h, w = 12, 240
    for t in [h + w - 2, h + w - 1, 400, 777, 1200, len(c) - h - 1, len(c) - h]:
        want = brute_label(c, t, h, 0.75, w, 0.3)
        assert (np.isnan(want) and np.isnan(y[t])) or y[t] == want, t
    shares = np.bincount(y[~np.isnan(y)].astype(int), minlength=3) / (~np.isnan(y)).sum()
    assert (shares > 0.05).all(), shares  # all three regimes occur in real data
    # the label window is the direction label's: purging needs nothing new
    lab = make_labels(c, s.label)
    ok = ~np.isnan(lab.y)
    np.testing.assert_array_equal(lab.end_ts[ok], c["ts"][np.nonzero(ok)[0] + h])
    # perturb every bar from k on: labels whose window ends before k, and every threshold up
    # to k-1, are unchanged (the threshold never reads the future)
    k = 900
    shocked = c.copy()
    rng = np.random.default_rng(3)
    for f in ("open", "high", "low", "close"):
        shocked[f][k:] = shocked[f][k:] * rng.uniform(0.7, 1.5, len(c) - k)
    y2 = regime_labels(shocked, s.label)
    np.testing.assert_array_equal(y2[: k - h], y[: k - h])
    np.testing.assert_array_equal(vol_threshold(shocked["close"], s.label)[:k],
                                  vol_threshold(c["close"], s.label)[:k])
    assert (y2[k - h: k] != y[k - h: k]).any() or (y2[k:] != y[k:]).any()


def test_multiclass_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    c = pair_candles(3000)
    s = rspec()
    r = train_version(s, c)
    test = r.extra["holdout"]
    proba = learner_output(s, r.estimator, test.X)
    assert proba.shape == (len(test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = proba.argmax(axis=1)
    m = r.metrics["model"]
    y = test.y.astype(int)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))
    prec, rec, _, sup = skm.precision_recall_fscore_support(y, pred, labels=[0, 1, 2],
                                                            zero_division=np.nan)
    for k, name in enumerate(["RANGE", "TREND", "HIGH_VOL"]):
        got = m["per_class"][name]
        assert got["support"] == sup[k]
        for mine, theirs in ((got["precision"], prec[k]), (got["recall"], rec[k])):
            assert (mine is None and np.isnan(theirs)) or mine == pytest.approx(theirs)
    # baselines: the training majority, and the regime that had just closed at each bar
    train_y = r.extra["train_y"].astype(int)
    major = np.bincount(train_y, minlength=3).argmax()
    assert r.metrics["majority"]["accuracy"] == pytest.approx(np.mean(y == major))
    # (a holdout sample whose previous window started before the holdout gets the majority)
    prev = {(p, e): v for p, e, v in zip(test.pair, test.end, test.y, strict=True)}
    want = [prev.get((p, st), major) for p, st in zip(test.pair, test.start, strict=True)]
    assert r.metrics["prev_regime"]["accuracy"] == pytest.approx(np.mean(y == np.array(want)))
    assert r.metrics["prev_regime"]["unknown_filled_with_majority"] == 2 * 12
    # codes from class codes alone: no log loss, the rest identical
    by_code = evaluate_regime(pred.astype(float), test, train_y=train_y)
    assert by_code["model"]["log_loss"] is None
    assert by_code["model"]["balanced_accuracy"] == m["balanced_accuracy"]


def test_training_needs_every_regime_in_the_window():
    c = pair_candles(3000)
    s = rspec()
    ds = make_dataset(c, s)
    keep = ds.y != REGIME_CLASSES["TREND"]
    with pytest.raises(ModelError, match="no TREND label"):
        fit(s, ds.X[keep], ds.y[keep], ds.columns)


def test_a_training_window_starts_labelled_and_its_labels_stop_at_the_horizon():
    """The warm-up behind a regime model's window covers its label's threshold history: the
    window's first bar is a sample, and every label equals the full history's label."""
    full = pair_candles(3000)
    s = rspec(train={"window": "60d", "holdout": "20d", "embargo": 6},
              features=[{"type": "returns", "horizons": [1, 4, 24]},
                        {"type": "volatility", "windows": [24]}])
    h = 12
    assert warmup_bars(s) >= 240 + h > 3 * lookback(s)  # the label, not the features, sets it
    end_ms = int(full["BTC/USDT"]["ts"][2500])  # later candles exist and must not be read
    ds = make_dataset(window_candles(full, s, end_ms), s)
    first = end_ms - s.train_window_s * 1000
    for pair, c in full.items():
        mine = (ds.start >= first) & (ds.pair == pair)
        assert int(ds.start[mine].min()) == first, pair  # no NaN-dropped head
        at = np.searchsorted(c["ts"], ds.start[mine])
        np.testing.assert_array_equal(ds.y[mine], regime_labels(c, s.label)[at])
        np.testing.assert_array_equal(ds.end[mine], c["ts"][at + h])  # h bars ahead, no more
        assert int(ds.end[mine].max()) == end_ms  # the newest label ends at the window's end
    assert train_version(s, full, end_ms=end_ms).train_range[0] == first


def test_backtest_regime_is_point_in_time_and_compares_with_class_names(tmp_path):
    candles = pair_candles(3000)
    s = rspec()
    source = PitModels(pool=lambda _spec: candles, retrain_every=240)
    entry = entry_of(tmp_path, "p == TREND", "regime('t')")
    strategy = compile_entry(entry, "1h", models={"t": s}).use_models(source)
    sig = strategy.signals(candles["ETH/USDT"])
    pit = source.served[("t", "ETH/USDT")]
    p = sig.series["p"]
    served = pit.version >= 0
    assert served.sum() > 1000
    live = np.arange(len(p)) >= strategy.warmup
    np.testing.assert_array_equal(p[live], pit.proba[live])
    assert set(np.unique(pit.proba[served])) <= {0.0, 1.0, 2.0}
    assert np.isnan(pit.proba[~served]).all() and not sig.entry_long[~served].any()
    assert (sig.entry_long == (live & served & (pit.proba == 1.0))).all()
    ds = make_dataset(candles, s)
    x_eth = feature_block(candles["ETH/USDT"], s).values
    checked = 0
    for k, w in enumerate(pit.windows):
        bars = np.nonzero(pit.version == k)[0]
        if not w.trained:
            assert len(bars) == 0
            continue
        assert w.label_end_max_ts < pit.ts[bars[0]] and w.first_ts == pit.ts[bars[0]]
        if k % 3 == 0:  # retrained independently from the samples before the window
            train = np.nonzero((ds.end < w.first_ts) &
                               (ds.start >= w.first_ts - s.train_window_s * 1000))[0]
            est = fit(s, ds.X[train], ds.y[train], ds.columns, threads=1)
            want = learner_output(s, est, x_eth[bars]).argmax(axis=1)
            np.testing.assert_array_equal(pit.proba[bars], want)
            checked += 1
    assert checked >= 2


def test_live_regime_reads_the_promoted_version(tmp_path):
    candles = pair_candles(3000)
    s = rspec()
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    r = train_version(s, candles)
    reg.register(r)
    reg.promote(s, 1)
    model = load_promoted(url, "t")
    x = feature_block(candles["ETH/USDT"], model.spec).values[-300:]
    proba = model.class_proba(x)
    np.testing.assert_allclose(proba, learner_output(s, r.estimator, x))
    np.testing.assert_array_equal(model.predict(x), proba.argmax(axis=1))
    np.testing.assert_array_equal(model.predict(x), predict_scores(s, r.estimator, x))
    with pytest.raises(ModelError, match="three classes"):
        model.predict_proba(x)
    source = PromotedModels(url)
    strategy = compile_entry(entry_of(tmp_path, "p != RANGE", "regime('t')"), "1h",
                             models={"t": s}).use_models(source)
    window = candles["ETH/USDT"][-strategy.window()["1h"]:]
    sig = strategy.signals(window)
    last = model.predict(feature_block(window, model.spec).values[-1:])[0]
    assert sig.series["p"][-1] == last and sig.entry_long[-1] == (last != 0)


def _problems(tmp_path, rule, models):
    with pytest.raises(StrategyError) as err:
        compile_entry(entry_of(tmp_path, rule), "1h", models=models)
    return [str(p) for p in err.value.problems]


def test_the_wrong_function_for_the_label_is_a_compile_error_with_a_hint(tmp_path):
    models = {"t": rspec(), "d": spec(name="d")}
    out = _problems(tmp_path, "proba('t') > 0.5", models)
    assert any("s.yaml:8:" in p and "'t' is a regime model" in p
               and "use regime('t') == TREND" in p for p in out), out
    out = _problems(tmp_path, "regime('d') == TREND", models)
    assert any("'d' is not a regime model" in p and "use proba('d')" in p for p in out), out
    out = _problems(tmp_path, "regime('t') == TRENDY", models)
    assert any("unknown name 'TRENDY'" in p for p in out), out
    ok = compile_entry(entry_of(tmp_path, "regime(t) == HIGH_VOL or regime('t') == RANGE",
                                "regime('t')"), "1h", models=models)
    assert [u.what for u in ok.model_uses] == ["regime"]


@pytest.mark.parametrize("label, promo, expected", [
    ("label: {type: regime, horizon: 24}\n", "promotion: {metric: auc}\n",
     "models.d/m.yaml:9:21: promotion.metric: 'auc' does not apply to a regime model"),
    ("label: {type: direction, horizon: 24, vol_window: 100}\n", "",
     ("models.d/m.yaml:8:39: label.vol_window: 'vol_window' does not apply to label type "
      "'direction'")),
    ("label: {type: regime, horizon: 24, vol_quantile: 1.5}\n", "",
     "models.d/m.yaml:8:50: label.vol_quantile:"),
    ("label: {type: direction, horizon: 24}\n", "promotion: {metric: balanced_accuracy}\n",
     "models.d/m.yaml:9:21: promotion.metric: 'balanced_accuracy' is for regime labels"),
])
def test_yaml_mistakes_name_the_file_and_key(tmp_path, label, promo, expected):
    load = _fleet(tmp_path, PARTS["head"] + PARTS["features"] + label + promo)
    got = [str(p) for p in load.errors]
    assert any(g.startswith(expected) for g in got), got
    assert load.fleet is None


REGIME_MODEL = """\
kind: model
version: 1
name: regime
pairs: [ETH/USDT, BTC/USDT]
timeframe: 1h
features:
  - {type: returns, horizons: [1, 24]}
  - {type: volatility, windows: [24, 72]}
  - {type: indicator, indicator: adx}
label: {type: regime, horizon: 12, vol_window: 240}
algorithm: {name: lightgbm, params: {n_estimators: 20, num_leaves: 7}}
train: {window: 100d, holdout: 20d}
promotion: {metric: log_loss, min_samples: 100}
"""


def test_botfleet_model_train_a_regime_model_on_real_candles(fleet):  # noqa: F811
    (fleet / "models.d" / "regime.yaml").write_text(REGIME_MODEL)
    code, out = run(fleet, "train", "regime")
    assert code == 0, out
    assert "regime version 1: candidate" in out
    assert "majority" in out and "prev_regime" in out
    code, out = run(fleet, "promote", "regime", "1")
    assert code == 0 and "log_loss" in out, out
    code, out = run(fleet, "evaluate", "regime")
    assert code == 0, out
