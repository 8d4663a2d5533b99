"""The strategy language on real candles: higher timeframes join at their close, warm-up
suppresses signals, the live path agrees with the backtest path, and each operator and
language function matches an independent computation (numpy/pandas/TA-Lib)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from botfleet.indicators import REGISTRY
from botfleet.strategy.compiler import Compiler
from botfleet.strategy.declarative import load_strategy
from botfleet.strategy.program import BASE

from conftest import ROOT
from shared_data import load

H = 3_600_000


@pytest.fixture(scope="module")
def btc():
    return load("binance_BTC-USDT_1h.csv")


def run(text: str, candles, base_tf="1h", params=None, indicators=None):
    c = Compiler(REGISTRY, base_tf, params or {}, indicators or {})
    val = c.compile(text)
    slots = c.program.run(c.program.frames(candles))
    return (slots[val.slot] if val.kind != "const" else val.const), val, c


def test_a_4h_value_appears_at_the_4h_close_not_its_open(btc):
    """Checked against Binance's own 4h candles and TA-Lib's SMA on them (an SMA, not a
    recursive EMA, so the two series' different starts do not matter)."""
    four = load("binance_BTC-USDT_4h.csv")
    got, val, _ = run("sma(close, 20) @ 4h", btc)
    ema4 = pd.Series(talib.SMA(four["close"], timeperiod=20), index=four["ts"])
    ts = btc["ts"]
    checked = 0
    for k in range(500, 520):  # 4h candles well after the warm-up
        t4 = int(four["ts"][k])
        i = int(np.searchsorted(ts, t4))
        assert ts[i] == t4
        # bars opening at t4, +1h, +2h close before the 4h candle does: previous value
        for j in range(3):
            assert got[i + j] == pytest.approx(ema4[int(four["ts"][k - 1])], rel=1e-9)
        # the bar opening at t4+3h closes with it: now the value of candle k
        assert got[i + 3] == pytest.approx(ema4[t4], rel=1e-9)
        checked += 1
    assert checked == 20 and val.warmup == (19 + 2) * 4 - 1


def test_warmup_is_computed_and_signals_before_it_are_suppressed(btc, tmp_path):
    _, v, _ = run("sma(close, 30)", btc)
    assert v.warmup == 29
    _, v, _ = run("crosses_above(sma(close, 10), sma(close, 30))", btc)
    assert v.warmup == 30
    _, v, _ = run("shift(highest(high, 20), 2)", btc)
    assert v.warmup == 21
    (tmp_path / "s.yaml").write_text(
        "kind: strategy\nversion: 1\nname: s\nentry: close > 0\nexit: close < 0\n"
        "indicators:\n  slow: sma(close, 50)\nfilters: {when: slow > 0}\n")
    s = load_strategy(tmp_path / "s.yaml", "1h")
    sig = s.signals(btc[:300])
    assert s.warmup == 49
    assert not sig.entry_long[:49].any() and sig.entry_long[49:].all()


def test_the_live_path_agrees_with_the_backtest_at_every_tested_bar(btc):
    s = load_strategy(ROOT / "strategies.d" / "sma_cross.yaml", "1h")
    full = s.signals(btc)
    need = s.window()["1h"]
    fired = np.flatnonzero(full.entry_long | full.exit_long)
    for t in [*fired[-8:], len(btc) - 1]:
        live = s.latest(btc[t + 1 - need: t + 1])
        assert live["ready"] and live["ts"] == btc["ts"][t]
        assert (live["entry_long"], live["exit_long"]) == (full.entry_long[t], full.exit_long[t])


def test_operators_and_functions_match_pandas(btc):
    c = pd.Series(btc["close"])
    h = pd.Series(btc["high"])
    cases = {
        "close * 2 - open / 4": c * 2 - pd.Series(btc["open"]) / 4,
        "highest(high, 20)": h.rolling(20).max(),
        "lowest(low, 7)": pd.Series(btc["low"]).rolling(7).min(),
        "mean(close, 12)": c.rolling(12).mean(),
        "std(close, 12)": pd.Series(np.r_[[np.nan] * 11, sliding_window_view(
            btc["close"], 12).std(axis=1)]),  # exact two-pass, per window
        "shift(close, 3)": c.shift(3),
        "change(close, 2)": c - c.shift(2),
        "pct_change(close)": c.pct_change(fill_method=None),
        "hl2": (h + btc["low"]) / 2,
        "close * (1 + 2%)": c * 1.02,
    }
    for text, want in cases.items():
        got, _, _ = run(text, btc)
        np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-9, equal_nan=True,
                                   err_msg=text)
    fast, slow = c.rolling(10).mean(), c.rolling(30).mean()
    want = ((fast > slow) & (fast.shift(1) <= slow.shift(1))).to_numpy()
    got, _, _ = run("crosses_above(mean(close, 10), mean(close, 30))", btc)
    assert np.array_equal(got, want)
    got, _, _ = run("not (close > open) or volume > 1000 and rising(close)", btc)
    up = btc["close"] > btc["open"]
    assert np.array_equal(got, ~up | ((btc["volume"] > 1000) & (c > c.shift(1)).to_numpy()))
    since, v, _ = run("bars_since(crosses_above(close, mean(close, 50)), 300)", btc)
    crossings = np.flatnonzero(run("crosses_above(close, mean(close, 50))", btc)[0])
    t = crossings[10] + 7
    assert since[t] == 7 or crossings[11] <= t
    assert v.warmup == 50 + 300 and since.max() == 300
    tail, _, _ = run("bars_since(crosses_above(close, mean(close, 50)), 300)", btc[-400:])
    assert tail[-1] == since[-1]  # a live window of warm-up length sees the same value


def test_constants_work_wherever_a_series_does(btc):
    """A number or parameter in place of a series: `crosses_above(rsi, 30)`."""
    rsi = talib.RSI(btc["close"], 14)
    got, _, _ = run("crosses_above(rsi(close, 14), level)", btc, params={"level": 30})
    want = np.r_[False, (rsi[1:] > 30) & (rsi[:-1] <= 30)]
    assert got.sum() > 50 and np.array_equal(got, want)
    got, _, _ = run("maximum(close, 30000)", btc)
    np.testing.assert_array_equal(got, np.maximum(btc["close"], 30000))
    got, _, _ = run("if_else(close > open, 1, -1)", btc)
    np.testing.assert_array_equal(got, np.where(btc["close"] > btc["open"], 1.0, -1.0))


def test_identical_subexpressions_are_computed_once(btc):
    c = Compiler(REGISTRY, "1h", {"n": 20}, {"m": "sma(close, n)"})
    c.compile("close > sma(close, 20) and m > 0")
    c.compile("crosses_above(close, m)")
    labels = [s.label for s in c.program.steps]
    assert sum(lab.startswith("('', 'sma'") for lab in labels) == 1, labels


def test_parameters_choices_and_outputs(btc):
    got, _, _ = run("bbands(close, n, nbdevup=2, matype=kind).upper", btc,
                    params={"n": 20, "kind": "ema"})
    upper, _, _ = talib.BBANDS(btc["close"], timeperiod=20, nbdevup=2, nbdevdn=2, matype=1)
    np.testing.assert_allclose(got, upper, rtol=1e-12, equal_nan=True)
    got, _, _ = run("macd(close).signal", btc)
    np.testing.assert_allclose(got, talib.MACD(btc["close"])[1], rtol=1e-12, equal_nan=True)
    got, _, _ = run("atr(14)", btc)  # series inputs default to the candle's
    np.testing.assert_allclose(got, talib.ATR(btc["high"], btc["low"], btc["close"], 14),
                               rtol=1e-12, equal_nan=True)


def test_program_runs_on_a_window_with_higher_timeframes_given(btc):
    """The live runner passes the 4h candles it fetched; they join the same way."""
    four = load("binance_BTC-USDT_4h.csv")
    c = Compiler(REGISTRY, "1h", {}, {})
    v = c.compile("close > sma(close, 5) @ 4h")
    window = btc[-400:]
    data = c.program.frames(window, {"4h": four})
    built = c.program.frames(window)
    assert set(data) == {BASE, "4h"}
    a = c.program.run(data)[v.slot]
    b = c.program.run(built)[v.slot]
    assert np.array_equal(a[40:], b[40:])  # once the resampled series has warmed up


def test_a_registry_whose_loader_fails_keeps_failing():
    """Not a silently partial registry: every lookup raises until a load succeeds."""
    from botfleet.indicators import Registry

    calls = []

    def broken(registry):
        calls.append(1)
        raise ImportError("no TA-Lib")

    reg = Registry([broken])
    for _ in range(2):
        with pytest.raises(ImportError):
            reg.get("sma")
    assert len(calls) == 2
