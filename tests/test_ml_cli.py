"""`botfleet model …` end to end on a temporary fleet whose candle store holds real candles."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from ml_fixtures import pair_candles
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.data.store import SeriesKey, open_store

MODEL = """\
kind: model
version: 1
name: eth-dir
pairs: [ETH/USDT, BTC/USDT]
timeframe: 1h
features:
  - {type: returns, horizons: [1, 4, 24]}
  - {type: volatility, windows: [24]}
  - {type: indicator, indicator: rsi}
  - {type: time}
label: {type: direction, horizon: 12}
algorithm: {name: lightgbm, params: {n_estimators: 20, num_leaves: 7}}
train: {window: 90d, holdout: 20d}
promotion: {metric: auc, min_improvement: %s, min_samples: 100}
"""


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    (tmp_path / "exchanges.d").mkdir()
    (tmp_path / "models.d").mkdir()
    (tmp_path / "fleet.yaml").write_text(textwrap.dedent("""\
        kind: fleet
        version: 1
        name: mltest
        data_dir: data
        storage: {state: sqlite:///data/state.db, candles: sqlite:///data/candles.db}
        defaults: {exchange: binance}
        exchanges: [exchanges.d/*.yaml]
        models: [models.d/*.yaml]
        """))
    (tmp_path / "exchanges.d" / "binance.yaml").write_text(
        "kind: exchange\nversion: 1\nname: binance\nccxt_id: binance\n")
    (tmp_path / "models.d" / "eth.yaml").write_text(MODEL % "0.5")
    (tmp_path / "data").mkdir()
    with open_store(f"sqlite:///{tmp_path / 'data' / 'candles.db'}") as store:
        for pair, c in pair_candles(3000).items():
            store.write(SeriesKey("binance", pair, "1h"), c)
    return tmp_path


def run(fleet: Path, *args: str):
    result = CliRunner().invoke(app, ["model", *args, "--fleet", str(fleet)])
    return result.exit_code, result.output


def test_train_list_promote_refuse_force_rollback_evaluate(fleet):
    code, out = run(fleet, "list")
    assert code == 0 and "no model versions yet" in out
    # first version: trained a month back, so newer candles remain to evaluate it on
    code, out = run(fleet, "train", "eth-dir", "--end", "2023-02-01")
    assert code == 0, out
    assert "eth-dir version 1: candidate" in out and "always_long" in out
    assert "prev_direction" in out and (fleet / "data" / "models" / "eth-dir" / "1").is_dir()
    code, out = run(fleet, "promote", "eth-dir", "1")
    assert code == 0 and "version 1 promoted: no version is promoted" in out

    code, out = run(fleet, "train", "eth-dir")
    assert code == 0 and "version 2: candidate" in out and "vs promoted version 1" in out
    code, out = run(fleet, "promote", "eth-dir", "2")
    assert code == 1 and "promotion refused" in out and "the rule needs +0.5000" in out
    code, out = run(fleet, "promote", "eth-dir", "2", "--force")
    assert code == 0 and "version 2 promoted" in out

    code, out = run(fleet, "list")
    lines = [ln for ln in out.splitlines() if ln.startswith("eth-dir")]
    assert code == 0 and [ln.split()[2] for ln in lines] == ["retired", "promoted"]

    code, out = run(fleet, "rollback", "eth-dir")
    assert code == 0 and "version 2 rolled back; version 1 is promoted again" in out
    code, out = run(fleet, "rollback", "eth-dir")
    assert code == 1 and "none to roll back to" in out

    code, out = run(fleet, "evaluate", "eth-dir")
    assert code == 0 and "version 1: candles after the version's data" in out, out
    code, out = run(fleet, "evaluate", "eth-dir", "--version", "2")
    assert code == 0 and "holdout (recorded at training)" in out


def test_mistakes_are_reported_not_raised(fleet):
    code, out = run(fleet, "train", "nope")
    assert code == 1 and "no model named 'nope'" in out and "eth-dir" in out
    code, out = run(fleet, "train")
    assert code == 2 and "name one model, or pass --all" in out
    code, out = run(fleet, "promote", "eth-dir", "3")
    assert code == 1 and "no versions yet" in out
    code, out = run(fleet, "train", "eth-dir", "--end", "yesterday")
    assert code == 2 and "YYYY-MM-DD" in out
    (fleet / "models.d" / "eth.yaml").write_text(MODEL.replace("ETH/USDT", "DOGE/USDT") % "0")
    code, out = run(fleet, "train", "--all")
    assert code == 1 and "no 1h candles of DOGE/USDT on binance" in out
