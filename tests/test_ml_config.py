"""`kind: model` files: loaded from the fleet's `models:` list, typed, and every mistake
reported at file:line with what to write instead."""

from __future__ import annotations

import textwrap

import pytest

from botfleet.config import load_fleet

from conftest import ROOT

PARTS = {"head": "kind: model\nversion: 1\nname: m1\npairs: [BTC/USDT]\ntimeframe: 1h\n",
         "features": "features:\n  - {type: returns, horizons: [1, 24]}\n",
         "label": "label: {type: direction, horizon: 24}\n"}
GOOD = "".join(PARTS.values())


def _fleet(tmp_path, model_text: str):
    (tmp_path / "exchanges.d").mkdir(exist_ok=True)
    (tmp_path / "exchanges.d" / "binance.yaml").write_text(
        "kind: exchange\nversion: 1\nname: binance\nccxt_id: binance\n")
    (tmp_path / "models.d").mkdir(exist_ok=True)
    (tmp_path / "models.d" / "m.yaml").write_text(textwrap.dedent(model_text))
    (tmp_path / "fleet.yaml").write_text(
        "kind: fleet\nversion: 1\nname: f\ndefaults: {exchange: binance}\n"
        "exchanges: [exchanges.d/*.yaml]\nmodels: [models.d/*.yaml]\n"
        "schedules: {retrain: weekly SUN 04:00 UTC}\n")
    return load_fleet(tmp_path / "fleet.yaml", display_root=tmp_path)


def test_the_example_fleet_declares_its_model_with_defaults_filled_in():
    load = load_fleet(ROOT / "fleet.yaml", display_root=ROOT)
    assert load.ok, [str(p) for p in load.errors]
    m = load.fleet.models["eth-direction"]
    assert m.pairs == ("ETH/USDT", "BTC/USDT") and m.exchange == "binance"
    assert m.algorithm == "lightgbm" and m.params["learning_rate"] == 0.03
    assert m.label.horizon == 24 and m.train_window_s == 730 * 86400 and m.embargo == 24
    assert m.metric == "auc" and m.min_improvement == 0.005 and m.retrain.cron
    assert m.source.startswith("models.d/eth-direction.yaml:")


def test_defaults_come_from_the_fleet(tmp_path):
    load = _fleet(tmp_path, GOOD)
    assert load.ok, [str(p) for p in load.errors]
    m = load.fleet.models["m1"]
    assert (m.exchange, m.retrain.text, m.holdout_s, m.seed) == (
        "binance", "weekly SUN 04:00 UTC", 90 * 86400, 42)
    assert len(m.spec_hash) == 64


@pytest.mark.parametrize("extra, expected", [
    ("features:\n  - {type: returns, windows: [3]}\n",
     ["models.d/m.yaml:8:5: features[0]: feature type 'returns' needs 'horizons'",
      ("models.d/m.yaml:8:21: features[0].windows: 'windows' does not apply to feature type "
      "'returns' (it takes: horizons)")]),
    ("features:\n  - {type: indicator, indicator: rsx}\n",
     [("models.d/m.yaml:8:34: features[0].indicator: unknown indicator 'rsx' (did you "
      "mean 'rsi'?)")]),
    ("features:\n  - {type: indicator, indicator: bbands, params: {period: 3}}\n",
     ["models.d/m.yaml:8:51: features[0].params.period: bbands has no parameter 'period'",
      "models.d/m.yaml:8:5: features[0]: bbands has several outputs; say which with 'output'"]),
    ("features:\n  - {type: higher_timeframe, timeframe: 90m}\n",
     [("models.d/m.yaml:8:41: features[0].timeframe: 90m is not a higher timeframe that is a "
      "whole multiple of the model's 1h (e.g. 4h or 1d for a 1h model)")]),
    ("train: {window: 30d, holdout: 60d}\n", [("models.d/m.yaml:9:31: train.holdout: holdout 60d "
                                               "is not shorter than the window 30d")]),
    ("label: {type: triple_barrier, horizon: 5, take: 2%}\n",
     ["models.d/m.yaml:8:8: label: label type 'triple_barrier' needs 'stop'"]),
    ("algorithm: {name: xgboost}\n", [("models.d/m.yaml:9:19: algorithm.name: 'xgboost' is not "
                                      "allowed here (allowed: lightgbm, sklearn_gbt, "
                                      "logistic, lstm, transformer, ensemble)")]),
    ("promotion: {metric: auc, min_gain: 1}\n", [("models.d/m.yaml:9:26: promotion.min_gain: "
                                                 "unknown key 'min_gain'")]),
    ("exchange: kraken\n", [("models.d/m.yaml:9:11: exchange: unknown exchange 'kraken' ("
                            "known: binance)")]),
])
def test_mistakes_are_reported_at_file_line_col(tmp_path, extra, expected):
    key = extra.split(":")[0]
    load = _fleet(tmp_path, "".join(v for k, v in PARTS.items() if k != key) + extra)
    got = [str(p) for p in load.errors]
    for want in expected:
        assert any(g.startswith(want) for g in got), (want, got)
    assert load.fleet is None
