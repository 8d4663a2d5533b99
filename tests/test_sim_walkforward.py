"""Walk-forward: window boundaries checked by hand, the stitched out-of-sample curve, WFE
arithmetic, parameter stability and the `walkforward` command, on real BTC/USDT candles."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from test_sim_optimize import COMMON, DECLARED, SMA, TINY, _cli, app, make_target  # noqa: F401

from botfleet.sim.space import build_space
from botfleet.sim.walkforward import duration_ms, ratio, stability, windows

from shared_data import load, shared_file

DAY = 86_400_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def days(w) -> tuple[str, str, str, str]:
    def d(x):
        return datetime.fromtimestamp(x / 1000, UTC).strftime("%Y-%m-%d")
    return d(w.train_start), d(w.train_end), d(w.test_start), d(w.test_end)


def test_rolling_windows_by_hand():
    got = windows(ms("2023-01-01"), ms("2023-07-01"), duration_ms("60d"), duration_ms("30d"))
    assert [days(w) for w in got] == [
        ("2023-01-01", "2023-03-02", "2023-03-02", "2023-04-01"),
        ("2023-01-31", "2023-04-01", "2023-04-01", "2023-05-01"),
        ("2023-03-02", "2023-05-01", "2023-05-01", "2023-05-31"),
        ("2023-04-01", "2023-05-31", "2023-05-31", "2023-06-30"),
    ]  # the next test window would end 2023-07-30, after the data
    assert [w.index for w in got] == [0, 1, 2, 3]


def test_anchored_windows_by_hand_and_last_n():
    got = windows(ms("2023-01-01"), ms("2023-07-01"), duration_ms("60d"), duration_ms("30d"),
                  "anchored")
    assert [days(w) for w in got] == [
        ("2023-01-01", "2023-03-02", "2023-03-02", "2023-04-01"),
        ("2023-01-01", "2023-04-01", "2023-04-01", "2023-05-01"),
        ("2023-01-01", "2023-05-01", "2023-05-01", "2023-05-31"),
        ("2023-01-01", "2023-05-31", "2023-05-31", "2023-06-30"),
    ]
    last = windows(ms("2023-01-01"), ms("2023-07-01"), duration_ms("60d"), duration_ms("30d"),
                   "anchored", last=2)
    assert [days(w) for w in last] == [days(w) for w in got[-2:]]
    assert [w.index for w in last] == [0, 1]


def test_window_errors():
    with pytest.raises(ValueError, match="less than one train"):
        windows(ms("2023-01-01"), ms("2023-02-01"), duration_ms("60d"), duration_ms("30d"))
    with pytest.raises(ValueError, match="rolling or anchored"):
        windows(0, DAY * 100, DAY, DAY, "sliding")


def test_wfe_and_stability_arithmetic():
    assert ratio(0.10, 0.20) == pytest.approx(0.5)
    assert ratio(-0.10, 0.20) == pytest.approx(-0.5)
    assert ratio(0.10, -0.05) is None and ratio(0.1, 0.0) is None and ratio(0.1, None) is None
    s = stability([{"fast": 10, "ma": "sma"}, {"fast": 10, "ma": "ema"}, None,
                   {"fast": 20, "ma": "sma"}])
    assert s["fast"]["values"] == [10, 10, 20]
    arr = np.array([10, 10, 20.0])
    assert s["fast"]["cv"] == pytest.approx(arr.std() / arr.mean())
    assert s["fast"]["mode"] == 10 and s["fast"]["modal_share"] == pytest.approx(2 / 3)
    assert s["ma"]["cv"] is None and s["ma"]["modal_share"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def report():
    from botfleet.sim.optimize import Settings
    from botfleet.sim.walkforward import walk_forward

    target = make_target(load("binance_BTC-USDT_1h.csv"))
    space = build_space(DECLARED, overrides=TINY)
    settings = Settings(start_ms=ms("2023-01-01"), end_ms=ms("2023-12-31") - 1, jobs=2)
    return target, walk_forward(target, space, settings, mode="rolling",
                                train_ms=duration_ms("90d"), test_ms=duration_ms("60d"))


def test_walk_forward_stitches_continuous_oos_equity(report):
    from botfleet.sim.optimize import evaluate

    target, rep = report
    res = rep.result
    assert len(rep.windows) == 4  # 90d + 4 * 60d = 330d <= 364d; a fifth would need 390d
    assert np.all(np.diff(res.ts) > 0)
    assert res.ts[0] == rep.windows[0].window.test_start
    assert res.ts[-1] < rep.windows[-1].window.test_end
    assert float(res.capital) == float(target.capital)
    prev = float(target.capital)
    for w in rep.windows:
        assert w.start_equity == pytest.approx(prev)  # each window starts where the last ended
        prev = w.end_equity
        inside = (res.ts >= w.window.test_start) & (res.ts < w.window.test_end)
        assert res.equity[inside][-1] == pytest.approx(w.end_equity)
        # the OOS window is an ordinary backtest of the chosen parameters from that equity
        alone = evaluate(target, w.params, w.window.test_start, w.window.test_end - 1,
                         capital=w.start_equity)
        assert np.array_equal(alone.equity, res.equity[inside])
    assert res.final_equity == pytest.approx(prev)
    assert res.metrics["total_return"] == pytest.approx(prev / float(target.capital) - 1)
    n = len(res.ts)
    assert np.all((res.trades["entry_bar"] >= 0) & (res.trades["exit_bar"] < n))
    assert sum(w.oos_trades for w in rep.windows) == len(res.trades)


def test_walk_forward_efficiency_and_stability(report):
    _, rep = report
    for w in rep.windows:
        if w.is_cagr is not None and w.is_cagr > 0:
            assert w.wfe == pytest.approx(w.oos_cagr / w.is_cagr)
        else:
            assert w.wfe is None
    rates = [w.is_cagr for w in rep.windows]
    want_is = math.prod(1 + r for r in rates) ** (1 / len(rates)) - 1
    assert rep.is_annual == pytest.approx(want_is)
    assert rep.oos_annual == rep.result.metrics["cagr"]
    assert rep.wfe == (None if want_is <= 0 else pytest.approx(rep.oos_annual / want_is))
    assert rep.stability["fast"]["values"] == [w.params["fast"] for w in rep.windows]
    text = "\n".join(rep.lines())
    assert "WFE" in text and "fast:" in text
    doc = rep.as_dict()
    assert len(doc["windows"]) == 4 and doc["windows"][0]["window"]["index"] == 0


def test_cli_walkforward(app, tmp_path):  # noqa: F811
    data = str(shared_file("binance_BTC-USDT_1h.csv"))
    out = _cli(app, "walkforward", str(SMA), "--pair", "BTC/USDT", "-t", "1h", "--start",
               "2023-01-01", "--end", "2023-09-30", "--data", data, "--param-range",
               "fast=5:15:5", "--param-range", "slow=20:60:20", "--train", "90d", "--test",
               "60d", "--mode", "anchored", "--jobs", "1", "--state",
               f"sqlite:///{tmp_path / 's.db'}")
    assert out.exit_code == 0, out.output
    assert "walk-forward anchored" in out.output and "WFE" in out.output
    assert "stored as run" in out.output
    bad = _cli(app, "walkforward", str(SMA), *COMMON, "--data", data, "--mode", "sideways")
    assert bad.exit_code == 2
