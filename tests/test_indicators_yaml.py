"""Every registry indicator is callable from a strategy expression, output by output, and
gives what TA-Lib (or botfleet's kernel) gives; the generated reference is up to date."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from botfleet.indicators import REGISTRY
from botfleet.indicators.docs import render
from botfleet.strategy.compiler import Compiler

from conftest import ROOT
from shared_data import load


@pytest.fixture(scope="module")
def candles():
    return load("binance_BTC-USDT_1h.csv")[-3000:]


def _builtins():
    return [n for n in REGISTRY.names() if REGISTRY.get(n).source in ("talib", "botfleet")]


def test_every_talib_function_is_exposed():
    exposed = {n for n in REGISTRY.names() if REGISTRY.get(n).source == "talib"}
    excluded = {"mavp", "donchian", "supertrend", "vwap"}  # see talib_funcs.EXCLUDED
    assert exposed | excluded == {f.lower() for f in talib.get_functions()}


@pytest.mark.parametrize("name", _builtins())
def test_callable_from_an_expression_with_every_output(name, candles):
    ind = REGISTRY.get(name)
    want = ind.compute(*(np.ascontiguousarray(candles[i], dtype=np.float64) if i != "ts"
                         else candles["ts"] for i in ind.inputs), **ind.defaults())
    c = Compiler(REGISTRY, "1h", {}, {})
    texts = [f"{name}()"] if len(ind.outputs) == 1 else [f"{name}().{o}" for o in ind.outputs]
    vals = [c.compile(t) for t in texts]
    slots = c.program.run(c.program.frames(candles))
    for text, val, expected in zip(texts, vals, want, strict=True):
        np.testing.assert_allclose(slots[val.slot], expected, rtol=1e-12, equal_nan=True,
                                   err_msg=text)


def test_the_indicator_reference_is_up_to_date():
    assert (ROOT / "docs" / "indicators.md").read_text() == render(), "run `make docs`"
