"""A/B of model versions: two paper bots on one model, one pinned by `model_versions`, one
following the promoted version, each served its own version's predictions through the real
runtime (simulator via ccxt); an unknown pinned model refused at validate time, a missing
version reported at run time, and `botfleet model list` showing who is on which version."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import spec, two_versions
from test_runtime_helpers import HOUR, T0, bot_yaml, load, runner, venue, write_fleet
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.config.loader import load_fleet
from botfleet.ml.features import feature_block
from botfleet.ml.predict import load_version
from botfleet.ml.registry import ModelRegistry

NAME = "ab-model"
MODEL = f"""\
kind: model
version: 1
name: {NAME}
pairs: [BTC/USDT, ETH/USDT]
timeframe: 1h
features:
  - {{type: returns, horizons: [1, 4, 24]}}
  - {{type: volatility, windows: [24]}}
label: {{type: direction, horizon: 12}}
algorithm: {{name: lightgbm, params: {{n_estimators: 20, num_leaves: 7}}}}
train: {{window: 120d, holdout: 20d}}
"""
STRATEGY = f"""\
  - name: ml-ab
    indicators: {{p: proba('{NAME}')}}
    entry: p > 2
    exit: p < -1
    sizing: {{method: fixed_quote, value: 200}}
"""


def ab_spec():
    return spec(name=NAME, features=[{"type": "returns", "horizons": [1, 4, 24]},
                                     {"type": "volatility", "windows": [24]}],
                algorithm={"name": "lightgbm", "params": {"n_estimators": 20,
                                                          "num_leaves": 7}})


@pytest.fixture(scope="module")
def versions():
    """Two versions trained on different windows of real candles (different learners)."""
    return two_versions(ab_spec())


def ab_fleet(tmp_path, pins: dict[str, str]):
    bots = {name: bot_yaml(name, strategy="ml-ab", extra=extra) for name, extra in pins.items()}
    path = write_fleet(tmp_path, bots)
    text = path.read_text().replace("strategies:\n", "strategies:\n" + STRATEGY)
    path.write_text(text + "models: [models.d/*.yaml]\n")
    (tmp_path / "models.d").mkdir(exist_ok=True)
    (tmp_path / "models.d" / "ab.yaml").write_text(MODEL)
    return path


def test_two_paper_bots_are_served_the_pinned_and_the_promoted_version(tmp_path, versions):
    path = ab_fleet(tmp_path, {"pinned": f"model_versions: {{{NAME}: 1}}\n", "follows": ""})
    fl = load(path)
    assert fl.fleet.bots["pinned"].model_versions == {NAME: 1}
    assert fl.fleet.bots["follows"].model_versions == {}
    reg = ModelRegistry(fl.fleet.storage.state, tmp_path / "data")
    for v in versions:
        reg.register(v)
    reg.promote(ab_spec(), 2, force=True)

    server = venue()
    run = runner(fl, server).start()
    try:
        now = T0 + 5 * HOUR
        server.set_time(now)
        results = {r.bot: r for r in run.run_once(now_ms=now)}
        assert all(r.outcome == "ok" for r in results.values()), \
            {b: r.error for b, r in results.items()}
        assert f"model {NAME}: serving version 1 (pinned)" in results["pinned"].notes
        assert f"model {NAME}: serving version 2 (promoted)" in results["follows"].notes
        window = server.market.candles("BTC/USDT", "1h")
        window = window[window["ts"] < now - HOUR][-1200:]
        served = {}
        for bot in ("pinned", "follows"):
            strategy = run.plans[bot].strategy
            served[bot] = strategy.model_source.series(strategy.model_uses[0], window)
        for bot, version in (("pinned", 1), ("follows", 2)):
            model = load_version(fl.fleet.storage.state, NAME, version)
            first = run.plans[bot].strategy.model_uses[0].warmup
            want = model.predict(feature_block(window, model.spec).values[first:])
            np.testing.assert_allclose(served[bot][first:], want, rtol=0, atol=1e-12)
        tail = slice(-200, None)
        assert not np.allclose(served["pinned"][tail], served["follows"][tail])
    finally:
        run.stop()
        server.stop()

    out = CliRunner().invoke(app, ["model", "list", NAME, "--fleet", str(path)])
    assert out.exit_code == 0, out.output
    rows = {line.split()[1]: line for line in out.output.splitlines() if line.startswith(NAME)}
    assert rows["1"].endswith("pinned (pinned)") and rows["2"].endswith("follows")


def test_a_pinned_version_missing_from_the_registry_is_reported_at_run_time(tmp_path,
                                                                           versions):
    path = ab_fleet(tmp_path, {"gone": f"model_versions: {{{NAME}: 7}}\n"})
    fl = load(path)
    ModelRegistry(fl.fleet.storage.state, tmp_path / "data").register(versions[0])
    server = venue()
    run = runner(fl, server).start()
    try:
        server.set_time(T0 + 5 * HOUR)
        (res,) = run.run_once(now_ms=T0 + 5 * HOUR)
        assert res.outcome == "ok", res.error
        note = next(n for n in res.notes if n.startswith(f"model {NAME}:"))
        assert note == f"model {NAME}: model '{NAME}' has no version 7; versions: 1 (pinned " \
            "by the bot's model_versions); no entry from it"
        assert not res.orders
    finally:
        run.stop()
        server.stop()
    out = CliRunner().invoke(app, ["model", "list", "--fleet", str(path)])
    assert out.exit_code == 0, out.output
    assert f"warning: bot gone pins model {NAME} version 7, which is not registered" in out.output


def test_pinning_a_model_the_fleet_does_not_declare_is_refused_at_validate(tmp_path):
    path = ab_fleet(tmp_path, {"typo": "model_versions: {ab-modle: 1}\n"})
    problems = [str(p) for p in load_fleet(path).problems]
    assert any("typo.yaml:7:28: model_versions.ab-modle: unknown model 'ab-modle' in "
               "model_versions" in p and f"did you mean '{NAME}'?" in p for p in problems), \
        problems
    bad = ab_fleet(tmp_path / "b", {"zero": f"model_versions: {{{NAME}: 0}}\n"})
    problems = [str(p) for p in load_fleet(bad).problems]
    assert any("zero.yaml:7" in p and "model_versions" in p for p in problems), problems

