"""The bot detail's price chart: indicators on the price scale over the candles, oscillators
in a second panel under them on the same time axis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ui_fixtures import app_test, open_page, ui_env, ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

from botfleet.config import load_fleet
from botfleet.runtime.chart import bot_indicators, on_price_scale, split_series


def test_series_are_split_by_the_scale_they_live_on():
    close = np.linspace(100.0, 120.0, 50)
    rsi = np.r_[np.full(14, np.nan), np.linspace(20.0, 80.0, 36)]
    panels = split_series({"ma": close * 1.01, "rsi": rsi, "macd": close - close.mean(),
                           "none": np.full(50, np.nan)}, close)
    assert list(panels.price) == ["ma"]
    assert list(panels.oscillators) == ["rsi", "macd"]  # no finite value: nothing to draw
    assert on_price_scale(close * 1.9, close) and not on_price_scale(close * 2.1, close)
    with pytest.raises(ValueError, match="indicator 'short': 3 values for 50 bars"):
        split_series({"short": np.ones(3)}, close)


def test_the_bot_detail_draws_oscillators_in_a_panel_below_the_candles(ui_fleet,  # noqa: F811
                                                                       ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = app_test()
    at.session_state["bot"] = "eth-meanrev"  # rsi_value (0-100) and long_ma (a 200-bar SMA)
    at = open_page(at, "bot")
    assert not at.exception, at.exception
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("bot_price"))
    fig = json.loads(chart.proto.spec)
    axis = {t.get("name"): t.get("yaxis", "y") for t in fig["data"]}
    assert axis["ETH/USDT"] == "y" and axis["long_ma"] == "y"
    assert axis["rsi_value"] == "y2"
    assert fig["layout"]["xaxis"].get("matches") == "x2" or \
        fig["layout"]["xaxis2"].get("matches") == "x"  # one time axis for both panels
    rsi = next(t for t in fig["data"] if t.get("name") == "rsi_value")
    # the values drawn are the strategy's own, on the bars shown
    load = load_fleet(ui_fleet)
    candles = next(t for t in fig["data"] if t.get("name") == "ETH/USDT")
    want = bot_indicators(load, "eth-meanrev", "ETH/USDT",
                          int(np.datetime64(candles["x"][0].replace("+00:00", ""), "ms")
                              .astype(np.int64)))
    got = np.array([np.nan if v is None else v for v in _values(rsi["y"])], dtype=float)
    assert np.allclose(got, want.oscillators["rsi_value"], equal_nan=True)
    assert np.nanmin(got) >= 0 and np.nanmax(got) <= 100


def _values(y):
    """Plotly's JSON holds arrays either as lists or as typed-array blobs."""
    if isinstance(y, dict) and "bdata" in y:
        import base64

        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"]))
    return y
