"""`proba(m)` in the strategy language: checked against the fleet's models at compile time,
point in time in backtests (walk-forward, every bar served by a model trained only on earlier
labels), the promoted registry version on the live path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from ml_fixtures import pair_candles, spec
from test_ml_cli import fleet  # noqa: F401 - fixture

from botfleet.config.loader import load_fleet
from botfleet.ml import strategy_source
from botfleet.ml.dataset import make_dataset
from botfleet.ml.features import feature_block
from botfleet.ml.predict import load_promoted
from botfleet.ml.registry import ModelRegistry
from botfleet.ml.strategy_source import PitModels, PromotedModels, retrain_bars
from botfleet.ml.train import fit, predict_scores, train_version
from botfleet.strategy.declarative import compile_entry
from botfleet.strategy.errors import StrategyError

STRATEGY = """\
kind: strategy
version: 1
name: ml-long
parameters:
  level: {default: 0.55, range: [0.5, 0.9]}
indicators:
  p: {p}
entry: {entry}
exit: p < 0.45
sizing: {method: percent_equity, value: 50%}
"""


def entry_of(tmp_path: Path, rule: str = "p > level", p: str = "proba('t')"):
    path = tmp_path / "s.yaml"
    path.write_text(STRATEGY.replace("{entry}", rule).replace("{p}", p))
    return load_fleet(path).entries["strategy"][0]


def problems(tmp_path, rule, models, tf="1h"):
    with pytest.raises(StrategyError) as err:
        compile_entry(entry_of(tmp_path, rule), tf, models=models)
    return [str(p) for p in err.value.problems]


def test_compile_checks_the_model_name_timeframe_and_label(tmp_path):
    models = {"t": spec(), "eth-direction": spec(name="eth-direction")}
    out = problems(tmp_path, "proba('eth-directon') > 0.6", models)
    assert len(out) == 1 and "s.yaml:8:14: entry: " in out[0]
    assert "no model named 'eth-directon'" in out[0]
    assert "did you mean 'eth-direction'?" in out[0] and "models: eth-direction, t" in out[0]
    out = problems(tmp_path, "p > level", models, tf="4h")
    assert any("model 't' predicts on 1h candles and this bot runs on 4h" in p for p in out)
    ret = {"t": spec(label={"type": "return", "horizon": 12},
                     promotion={"metric": "ic", "min_samples": 100})}
    out = problems(tmp_path, "p > level", ret)
    assert any("predicts a return" in p and "use predict('t')" in p for p in out)
    assert compile_entry(entry_of(tmp_path, "p > 0", "predict('t')"), "1h", models=ret)
    out = problems(tmp_path, "p > level", None)
    assert any("compiled without one" in p and "botfleet validate" in p for p in out)
    out = problems(tmp_path, "(proba('t') > 0.5) @ 4h", models)
    assert any("cannot be computed '@'" in p for p in out)
    out = problems(tmp_path, "proba(close) > 0.5", models)
    assert any("needs a model's name" in p for p in out)
    compiled = compile_entry(entry_of(tmp_path), "1h", models=models)
    assert [u.name for u in compiled.model_uses] == ["t"]
    assert compiled.warmup >= compiled.model_uses[0].warmup > 24


def test_retrain_cadence_comes_from_the_yaml_schedule():
    assert retrain_bars(spec()) == 168  # default weekly cron, 1h bars
    assert retrain_bars(spec(train={"window": "120d", "holdout": "20d",
                                    "retrain": "every 1d"})) == 24
    assert retrain_bars(spec(train={"window": "120d", "holdout": "20d",
                                    "retrain": "daily 03:00"})) == 24


def test_backtest_proba_is_point_in_time_at_every_bar(tmp_path):
    candles = pair_candles(3000)
    s = spec()
    source = PitModels(pool=lambda _spec: candles, retrain_every=240)
    strategy = compile_entry(entry_of(tmp_path), "1h", models={"t": s}).use_models(source)
    sig = strategy.signals(candles["ETH/USDT"])
    pit = source.served[("t", "ETH/USDT")]
    assert pit.pair == "ETH/USDT"
    p = sig.series["p"]
    served = pit.version >= 0
    assert served.sum() > 1000
    # the strategy reads exactly the walk-forward series, NaN before its first trained window
    live = np.arange(len(p)) >= strategy.warmup
    np.testing.assert_array_equal(p[live], pit.proba[live])
    assert not sig.entry_long[~served].any()
    assert (sig.entry_long == (live & served & (pit.proba > 0.55))).all()
    assert sig.entry_long.sum() > 10
    # every served bar's model learned only labels that had resolved before that bar opened
    ds = make_dataset(candles, s)
    x_eth = feature_block(candles["ETH/USDT"], s).values
    checked = 0
    for k, w in enumerate(pit.windows):
        bars = np.nonzero(pit.version == k)[0]
        if not w.trained:
            assert len(bars) == 0
            continue
        assert w.label_end_max_ts < pit.ts[bars[0]] and w.first_ts == pit.ts[bars[0]]
        if k % 3 == 0:  # retrain it independently from the samples before the window
            train = np.nonzero((ds.end < w.first_ts) &
                               (ds.start >= w.first_ts - s.train_window_s * 1000))[0]
            est = fit(s, ds.X[train], ds.y[train], ds.columns, threads=1)
            np.testing.assert_allclose(pit.proba[bars], predict_scores(s, est, x_eth[bars]))
            checked += 1
    assert checked >= 2


def test_an_optimisation_grid_trains_each_window_once(tmp_path, monkeypatch):
    candles = pair_candles(3000)
    models = {"t": spec()}
    source = PitModels(pool=lambda _spec: candles, retrain_every=500)
    calls = []
    from botfleet.ml import pit

    real = pit.proba_series
    monkeypatch.setattr(pit, "proba_series", lambda *a, **k: calls.append(1) or real(*a, **k))
    strategy_source._PIT_CACHE.clear()
    entries = [compile_entry(entry_of(tmp_path), "1h", {"level": lv}, models=models)
               .use_models(source) for lv in (0.55, 0.6, 0.65)]
    fired = [int(e.signals(candles["ETH/USDT"]).entry_long.sum()) for e in entries]
    assert len(calls) == 1 and fired[0] >= fired[1] >= fired[2]


@pytest.fixture(scope="module")
def trained():
    candles = pair_candles(3000)
    return train_version(spec(), candles)


def test_live_path_reads_the_promoted_version_and_reloads_on_promotion(tmp_path, trained):
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    source = PromotedModels(url)
    strategy = compile_entry(entry_of(tmp_path, "p > 0"), "1h", models={"t": spec()}
                             ).use_models(source)
    window = pair_candles(3000)["ETH/USDT"][-strategy.window()["1h"]:]
    # nothing registered/promoted: no entry, a note, no crash
    assert strategy.latest(window)["entry_long"] is False
    assert any("no promoted version" in n for n in source.notes())
    reg.register(trained)
    reg.promote(spec(), 1)
    sig = strategy.signals(window)
    model = load_promoted(url, "t")
    expect = model.predict(feature_block(window, model.spec).values[-1:])[0]
    assert sig.series["p"][-1] == expect and sig.entry_long[-1]
    assert abs(model.predict_latest({"b": window})["b"] - expect) < 1e-6
    assert source.notes() == ["model t: serving version 1 (promoted)"]
    # a second version promoted: the next cycle serves it
    second = dataclasses.replace(trained, metrics={**trained.metrics})
    reg.register(second)
    reg.promote(spec(), 2, force=True)
    strategy.latest(window)
    assert source.loaded["t"].version.version == 2
    assert source.notes() == ["model t: serving version 2 (promoted)"]
    reg.rollback("t")
    strategy.latest(window)
    assert source.loaded["t"].version.version == 1


def test_a_pinned_version_serves_one_bot_while_another_reads_the_promoted(tmp_path, trained):
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    reg.register(trained)
    reg.register(trained)
    reg.promote(spec(), 1)
    a, b = PromotedModels(url), PromotedModels(url, pins={"t": 2})
    use = compile_entry(entry_of(tmp_path), "1h", models={"t": spec()}).model_uses[0]
    window = pair_candles(3000)["ETH/USDT"][-1000:]
    a.series(use, window), b.series(use, window)
    assert a.loaded["t"].version.version == 1 and b.loaded["t"].version.version == 2
    assert "(pinned)" in b.notes()[0]


BOT = """\
kind: bot
version: 1
name: {name}
pairs: [{pair}]
strategy: ml-long
mode: backtest
timeframe: 1h
capital: {{allocation: 1000}}
"""


def ml_fleet(root: Path, pair: str) -> Path:
    for folder in ("strategies.d", "bots.d"):
        (root / folder).mkdir(exist_ok=True)
    text = (root / "fleet.yaml").read_text()
    (root / "fleet.yaml").write_text(text + "strategies: [strategies.d/*.yaml]\n"
                                     "bots: [bots.d/*.yaml]\n")
    (root / "strategies.d" / "ml.yaml").write_text(
        STRATEGY.replace("{entry}", "p > level").replace("{p}", "proba('eth-dir')"))
    (root / "bots.d" / "b.yaml").write_text(BOT.format(name="ml-bot", pair=pair))
    return root / "fleet.yaml"


def test_a_bot_on_a_pair_the_model_does_not_train_on_is_refused(fleet):  # noqa: F811
    from typer.testing import CliRunner

    from botfleet.cli import app

    path = ml_fleet(fleet, "SOL/USDT")
    out = CliRunner().invoke(app, ["validate", str(path)])
    assert out.exit_code != 0
    assert "b.yaml:4:8: pairs: strategy ml-long" in out.output and "reads model 'eth-dir', which trains on ETH/USDT, " \
        "BTC/USDT; this bot trades SOL/USDT" in out.output


def test_botfleet_backtest_of_a_proba_strategy_on_real_candles(fleet):  # noqa: F811
    import json

    from typer.testing import CliRunner

    from botfleet.cli import app

    path = ml_fleet(fleet, "ETH/USDT")
    out = CliRunner().invoke(app, ["backtest", "ml-bot", "--fleet", str(path), "--no-save",
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    metrics = json.loads(out.output.strip().splitlines()[-1])["metrics"]
    assert metrics["n_trades"] > 0, metrics
