"""Code strategies and plugin indicators: discovered from plugins/, bound to parameters,
warm-up tracked, look-ahead caught; and `botfleet strategy check|signals`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.indicators import REGISTRY, Registry
from botfleet.strategy.code import (
    CodeStrategy,
    CodeStrategyRunner,
    Parameter,
    fn,
    lookahead_bars,
)
from botfleet.strategy.plugins import discover

from conftest import ROOT
from shared_data import load, shared_file


@pytest.fixture(scope="module")
def plugins():
    found = discover([ROOT / "plugins"], use_entry_points=False)
    assert not found.errors, found.errors
    return found


def test_the_example_plugins_are_discovered(plugins):
    assert "rsi_trend" in plugins.strategies and "chop" in plugins.indicators
    assert REGISTRY.get("chop").source == "plugin:choppiness"
    assert discover([ROOT / "plugins"], use_entry_points=False).errors == []  # idempotent


def test_choppiness_matches_an_independent_pandas_implementation(plugins):
    eth = load("binance_ETH-USDT_1h.csv")
    h, lo, c = (pd.Series(eth[k]) for k in ("high", "low", "close"))
    n = 14
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    tr[0] = np.nan  # the first bar has no previous close
    want = 100 * np.log10(tr.rolling(n).sum() / (h.rolling(n).max() - lo.rolling(n).min())) \
        / np.log10(n)
    got = REGISTRY.get("chop").compute(eth["high"], eth["low"], eth["close"], period=n)[0]
    np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-9, equal_nan=True)
    assert np.isnan(got[: REGISTRY.get("chop").warmup({"period": n})]).all()


def test_a_yaml_strategy_can_call_a_plugin_indicator(plugins, tmp_path):
    from botfleet.strategy.declarative import load_strategy

    (tmp_path / "h.yaml").write_text("kind: strategy\nversion: 1\nname: h\n"
                                     "entry: crosses_above(close, sma(close, 30)) and chop(20) < 50\n"
                                     "exit: crosses_below(close, sma(close, 30))\n")
    s = load_strategy(tmp_path / "h.yaml", "1h")
    sig = s.signals(load("binance_BTC-USDT_1h.csv"))
    assert sig.entry_long.sum() > 50 and s.warmup == 30


def test_the_code_strategy_runs_with_its_guarantees(plugins):
    btc = load("binance_BTC-USDT_1h.csv")
    s = CodeStrategyRunner(plugins.strategies["rsi_trend"], "1h", {"dip": 30})
    assert s.params["dip"] == 30 and s.warmup >= 13
    sig = s.signals(btc)
    assert sig.entry_long.sum() > 5 and sig.exit_long.sum() > 5
    assert not (sig.entry_long[: s.warmup] | sig.exit_long[: s.warmup]).any()
    assert lookahead_bars(s, btc[-6000:]) == []
    with pytest.raises(ValueError, match="outside"):
        CodeStrategyRunner(plugins.strategies["rsi_trend"], "1h", {"dip": 99})


class Peeking(CodeStrategy):
    name = "peeking"
    parameters = {"n": Parameter(5, range=(1, 10))}  # noqa: RUF012 - as users write it

    def signals(self, bars, p):
        future = np.roll(bars.close, -1)  # tomorrow's close: the classic mistake
        return {"entry": future > bars.close, "exit": future < bars.close}


def test_lookahead_is_caught_in_code_strategies():
    btc = load("binance_BTC-USDT_1h.csv")[-3000:]
    assert lookahead_bars(CodeStrategyRunner(Peeking, "1h"), btc)


def test_a_broken_plugin_is_reported_and_the_others_load(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1\nraise RuntimeError('boom')\n")
    (tmp_path / "good.py").write_text(
        "from botfleet.strategy.code import CodeStrategy\n"
        "class Good(CodeStrategy):\n    name = 'good_one'\n"
        "    def signals(self, bars, p):\n        return {'entry': bars.close > 0, "
        "'exit': bars.close < 0}\n")
    found = discover([tmp_path], registry=Registry(), use_entry_points=False)
    assert "good_one" in found.strategies
    assert found.errors == [f"{tmp_path / 'bad.py'}:2: cannot load plugin: RuntimeError: boom"]


def test_language_functions_are_available_to_code():
    x = np.array([1.0, 2.0, 1.0, 3.0])
    assert fn.crosses_above(x, 1.5).tolist() == [False, True, False, True]
    assert np.isnan(fn.shift(x, 1)[0]) and fn.shift(x, 1)[1] == 1.0


runner = CliRunner()


def test_cli_strategy_check_yaml_and_python(plugins):
    out = runner.invoke(app, ["strategy", "check", str(ROOT / "strategies.d/sma_cross.yaml")])
    assert out.exit_code == 0, out.output
    assert "warm-up: " in out.output and "4h" in out.output
    out = runner.invoke(app, ["strategy", "check", str(ROOT / "plugins/rsi_trend.py")])
    assert out.exit_code == 0, out.output
    assert "look-ahead check: passed" in out.output


def test_cli_strategy_check_reports_located_errors(tmp_path):
    (tmp_path / "x.yaml").write_text("kind: strategy\nversion: 1\nname: x\n"
                                     "entry: close > smaa(close, 3)\nexit: close < 1\n")
    out = runner.invoke(app, ["strategy", "check", str(tmp_path / "x.yaml")])
    assert out.exit_code == 1
    assert "x.yaml:4:16: entry: unknown indicator or function 'smaa'" in out.output
    assert "did you mean 'sma'" in out.output


def test_cli_strategy_signals_prints_and_exports(tmp_path):
    data = shared_file("binance_BTC-USDT_1h.csv")
    target = tmp_path / "sig.csv"
    out = runner.invoke(app, ["strategy", "signals", str(ROOT / "strategies.d/sma_cross.yaml"),
                              "--pair", "BTC/USDT", "--data", str(data), "-o", str(target),
                              "--last", "3"])
    assert out.exit_code == 0, out.output
    frame = pd.read_csv(target)
    assert len(frame) == len(load("binance_BTC-USDT_1h.csv"))
    assert frame["entry_long"].sum() > 10
    assert out.output.count("\n") >= 5 and "entry_long" in out.output
