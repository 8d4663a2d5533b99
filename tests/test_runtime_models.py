"""A model strategy through the runtime's real cycle: paper bots on the simulator (real ccxt),
a small LightGBM trained on real candles and promoted in the registry (SQLite state), the close's
batched model reads (`runtime.model_reads`) and each bot's decision reading them.

The served probability is pinned down by two bots whose entry levels sit 1e-7 either side of
the value computed directly with `ml.predict` on the candles the bot sees: one enters, the
other does not. Also: a new promotion is served at the next close, a bot pinned by
`model_versions` keeps its version, no promoted version means no entry and a note, and the
batched values equal the one-bot path's and `predict_latest`'s to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import pair_candles, spec, two_versions
from test_runtime_helpers import HOUR, T0, bot_yaml, load, runner, venue, write_fleet

from botfleet.config.loader import load_fleet
from botfleet.ml import batch
from botfleet.ml.predict import load_version
from botfleet.ml.registry import ModelRegistry
from botfleet.ml.strategy_source import PromotedModels
from botfleet.runtime.model_reads import prime_sources
from botfleet.strategy.declarative import compile_entry
from botfleet.strategy.model_tails import model_tails

NAME = "rt-model"
MODEL = f"""\
kind: model
version: 1
name: {NAME}
pairs: [BTC/USDT, ETH/USDT]
timeframe: 1h
features:
  - {{type: returns, horizons: [1, 4, 24]}}
  - {{type: volatility, windows: [24]}}
  - {{type: indicator, indicator: rsi, params: {{timeperiod: 14}}}}
label: {{type: direction, horizon: 12}}
algorithm: {{name: lightgbm, params: {{n_estimators: 20, num_leaves: 7}}}}
train: {{window: 120d, holdout: 20d}}
"""
NONE_MODEL = """\
kind: model
version: 1
name: never-trained
pairs: [BTC/USDT, ETH/USDT]
timeframe: 1h
features: [{type: returns, horizons: [1, 4]}]
label: {type: direction, horizon: 12}
train: {window: 120d, holdout: 20d}
"""
STRATEGIES = f"""\
  - name: ml-level
    parameters: {{level: {{default: 0.5, range: [0, 1]}}}}
    entry: proba('{NAME}') > level
    exit: proba('{NAME}') < 0
    sizing: {{method: fixed_quote, value: 200}}
  - name: ml-none
    entry: proba('never-trained') > 0
    exit: proba('never-trained') < 0
    sizing: {{method: fixed_quote, value: 200}}
"""


def rt_spec():
    return spec(name=NAME, features=[{"type": "returns", "horizons": [1, 4, 24]},
                                     {"type": "volatility", "windows": [24]},
                                     {"type": "indicator", "indicator": "rsi",
                                      "params": {"timeperiod": 14}}],
                algorithm={"name": "lightgbm", "params": {"n_estimators": 20,
                                                          "num_leaves": 7}})


@pytest.fixture(scope="module")
def versions():
    return two_versions(rt_spec())


def fleet_with(tmp_path, bots: dict[str, str]):
    path = write_fleet(tmp_path, bots)
    text = path.read_text().replace("strategies:\n", "strategies:\n" + STRATEGIES)
    path.write_text(text + "models: [models.d/*.yaml]\n")
    (tmp_path / "models.d").mkdir(exist_ok=True)
    (tmp_path / "models.d" / "m.yaml").write_text(MODEL)
    (tmp_path / "models.d" / "none.yaml").write_text(NONE_MODEL)
    return path


def seen(server, now: int) -> np.ndarray:
    """The closed candles a bot's window ends with at `now`."""
    c = server.market.candles("BTC/USDT", "1h")
    return c[c["ts"] < now]


def test_a_model_strategy_through_the_runtime_cycle(tmp_path, versions):
    server = venue()
    now = T0 + 5 * HOUR
    try:
        # the probability the promoted version gives at this close, computed directly
        state = f"sqlite:///{tmp_path / 'pre.db'}"
        reg = ModelRegistry(state, tmp_path / "data")
        reg.register(versions[0])
        reg.promote(rt_spec(), 1, force=True)
        p1 = load_version(state, NAME, 1).predict_latest({"b": seen(server, now)})["b"]
        level = "parameters: {{level: {}}}\n"
        path = fleet_with(tmp_path / "f", {
            "above": bot_yaml("above", strategy="ml-level", extra=level.format(p1 - 1e-7)),
            "below": bot_yaml("below", strategy="ml-level", extra=level.format(p1 + 1e-7)),
            "pinned": bot_yaml("pinned", strategy="ml-level",
                               extra=level.format(p1 - 1e-7) + f"model_versions: {{{NAME}: 1}}\n"),
            "none": bot_yaml("none", strategy="ml-none")})
        fl = load(path)
        reg = ModelRegistry(fl.fleet.storage.state, tmp_path / "data2")
        for v in versions:
            reg.register(v)
        reg.promote(rt_spec(), 1, force=True)
        run = runner(fl, server).start()
        try:
            server.set_time(now)
            res = {r.bot: r for r in run.run_once(now_ms=now)}
            assert all(r.outcome == "ok" for r in res.values()), {b: r.error for b, r in
                                                                  res.items()}
            # the decision read the promoted version's probability: 1e-7 either side of it
            assert [o.side.name for o in res["above"].orders][:1] == ["BUY"]
            assert res["below"].orders == []
            assert f"model {NAME}: serving version 1 (promoted)" in res["above"].notes
            assert f"model {NAME}: serving version 1 (pinned)" in res["pinned"].notes
            # no promoted version: no entry, and the cycle says why
            assert res["none"].orders == []
            assert any(n.startswith("model never-trained: no promoted version, so no entry")
                       for n in res["none"].notes), res["none"].notes
            # the close's batch computed the one bar all three bots read (same window), in
            # one learner call; the bots' decisions computed nothing more
            served = run.plans["above"].strategy.model_source._served[NAME]
            assert (served.rows, served.calls) == (1, 1)

            # a new version promoted: served at the next close; the pinned bot keeps v1
            reg.promote(rt_spec(), 2, force=True)
            now2 = now + HOUR
            server.set_time(now2)
            res = {r.bot: r for r in run.run_once(now_ms=now2)}
            assert all(r.outcome == "ok" for r in res.values())
            assert f"model {NAME}: serving version 2 (promoted)" in res["above"].notes
            assert not any("serving" in n for n in res["pinned"].notes)
            for bot, version in (("above", 2), ("below", 2), ("pinned", 1)):
                source = run.plans[bot].strategy.model_source
                assert source.loaded[NAME].version.version == version
                use = run.plans[bot].strategy.model_uses[0]
                window = seen(server, now2)[-run.plans[bot].window:]
                want = load_version(fl.fleet.storage.state, NAME, version).predict_latest(
                    {"b": window})["b"]
                assert abs(source.series(use, window, newest=1)[-1] - want) <= 1e-12
        finally:
            run.stop()
    finally:
        server.stop()


CROSS = f"""\
kind: strategy
version: 1
name: ml-cross
indicators:
  p: proba('{NAME}')
  chart: ema(proba('{NAME}'), 5)
entry: crosses_above(p, 0.5) and mean(p, 4) > 0.2
exit: shift(p, 3) < 0.3
sizing: {{method: fixed_quote, value: 200}}
"""


def test_the_bars_a_strategy_reads_are_derived_from_its_rules(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(CROSS)
    entry = load_fleet(path).entries["strategy"][0]
    strategy = compile_entry(entry, "1h", models={NAME: rt_spec()})
    # crosses: 2 bars, mean over 4: 4, shift by 3: 4; the chart-only ema is not read
    assert model_tails(strategy) == {(NAME, "proba"): 4}
    path.write_text(CROSS.replace("exit: shift(p, 3) < 0.3", "exit: ema(p, 3) < 0.3"))
    strategy = compile_entry(load_fleet(path).entries["strategy"][0], "1h",
                             models={NAME: rt_spec()})
    assert model_tails(strategy) == {(NAME, "proba"): None}  # recursive: the whole series


def test_batched_values_equal_the_one_bot_path_and_predict_latest(tmp_path, versions):
    state = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(state, tmp_path / "data")
    reg.register(versions[0])
    reg.promote(rt_spec(), 1, force=True)
    path = tmp_path / "s.yaml"
    path.write_text(CROSS)
    entry = load_fleet(path).entries["strategy"][0]
    eth = pair_candles(3000)["ETH/USDT"]
    strategies = [compile_entry(entry, "1h", models={NAME: rt_spec()}) for _ in range(6)]
    n = strategies[0].window()["1h"]
    windows = [eth[1000 + 37 * i: 1000 + 37 * i + n] for i in range(6)]
    reads = []
    for s, w in zip(strategies, windows, strict=True):
        s.use_models(PromotedModels(state))
        reads.append((s.model_source, s, [w]))
    batch._LOADED.clear()
    rows = prime_sources(reads, now_ms=1)
    assert list(rows.values()) == [6 * 4]  # four bars per bot, one learner call
    use = strategies[0].model_uses[0]
    model = load_version(state, NAME, 1)
    batched = []
    for s, w in zip(strategies, windows, strict=True):
        s.model_source.begin_cycle(1)
        got = s.model_source.series(use, w, newest=4)
        want = [model.predict_latest({"b": w[: len(w) - j]})["b"] for j in (3, 2, 1, 0)]
        np.testing.assert_allclose(got[-4:], want, rtol=0, atol=1e-12)
        batched.append(got[-4:])
        s.latest(w)  # the live evaluation reads them from the memo
    served = next(iter(rows))
    assert served.calls == 1
    batch._LOADED.clear()  # the one-bot path, nothing kept
    for s, w, b in zip(strategies, windows, batched, strict=True):
        alone = PromotedModels(state).series(use, w, newest=4)
        np.testing.assert_allclose(alone[-4:], b, rtol=0, atol=1e-12)
        assert np.isnan(alone[: min(use.warmup, len(w) - 1)]).all()
