"""Monte Carlo of the trade sequence: shuffling keeps the final return and moves drawdowns (to
the values enumerated by hand), bootstrap moves both with the right odds, ruin is absorbing,
a seed reproduces, and 10,000 x 500 stays well under a second."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import numpy as np
import pytest

from botfleet.sim.montecarlo import from_result, monte_carlo
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE
from botfleet.sim.result import BacktestResult

PNL = np.random.default_rng(7).normal(8.0, 120.0, 300)


@pytest.mark.parametrize("kind,values", [("pnl", PNL), ("ret", PNL / 5_000)])
def test_shuffle_keeps_the_final_return_and_moves_drawdowns(kind, values):
    mc = monte_carlo(values, 10_000, kind=kind, runs=2_000, seed=1)
    expected = (10_000 + values.sum()) / 10_000 - 1 if kind == "pnl" else np.prod(1 + values) - 1
    assert mc.observed_return == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(mc.final_returns, expected, rtol=1e-10)
    assert mc.prob_loss in (0.0, 1.0) and mc.prob_ruin == 0
    assert mc.max_drawdowns.std() > 0.005
    assert mc.max_drawdown[5] < mc.max_drawdown[50] < mc.max_drawdown[95] <= 0


def _max_dd(pnls, capital):
    equity = capital + np.cumsum(pnls)
    peak = np.maximum(np.maximum.accumulate(equity), capital)
    return float(min((equity / peak).min() - 1, 0))


def test_shuffle_drawdowns_are_the_enumerated_permutations():
    trades, capital = [100.0, -300.0, 200.0], 1_000.0
    by_hand = [_max_dd(p, capital) for p in itertools.permutations(trades)]
    assert sorted(set(np.round(by_hand, 12))) == pytest.approx([-0.3, -3 / 11, -0.25, -3 / 13])
    mc = monte_carlo(trades, capital, runs=30_000, seed=3, dd_threshold=0.25)
    assert set(np.round(mc.max_drawdowns, 12)) == set(np.round(by_hand, 12))
    assert mc.prob_drawdown == pytest.approx(4 / 6, abs=0.015)  # -0.3 twice, -3/11, -0.25
    assert mc.observed_max_drawdown == pytest.approx(-3 / 11)
    assert mc.max_drawdown[5] == pytest.approx(-0.3) and mc.max_drawdown[95] == \
        pytest.approx(-3 / 13)


def test_bootstrap_varies_the_final_return_with_the_right_odds():
    # two trades drawn with replacement from {+100, -100}: -200, 0, 0, +200 equally likely
    mc = monte_carlo([100.0, -100.0], 1_000, runs=40_000, method="bootstrap", seed=5)
    assert set(np.round(mc.final_returns, 12)) == {-0.2, 0.0, 0.2}
    assert mc.prob_loss == pytest.approx(0.25, abs=0.01)
    assert mc.final_return[50] == 0 and mc.final_return[5] == pytest.approx(-0.2)

    wide = monte_carlo(PNL, 10_000, runs=2_000, method="bootstrap", seed=1)
    assert wide.final_returns.std() > 0.05 and wide.max_drawdowns.std() > 0.005
    assert wide.final_return[5] < wide.final_return[50] < wide.final_return[95]


def test_ruin_is_absorbing():
    # ruined exactly when both losses come before the win: 1 ordering in 3
    mc = monte_carlo([-600.0, -600.0, 5_000.0], 1_000, runs=30_000, seed=2)
    assert mc.prob_ruin == pytest.approx(1 / 3, abs=0.015)
    ruined = mc.final_returns == -1.0
    assert ruined.mean() == mc.prob_ruin and (mc.max_drawdowns[ruined] == -1.0).all()
    assert np.allclose(mc.final_returns[~ruined], 3.8)
    total_loss = monte_carlo([-2.0], 1, kind="ret", runs=10, seed=0)
    assert total_loss.prob_ruin == 1 and total_loss.final_return[50] == -1


def test_seed_reproduces_and_another_seed_differs():
    a = monte_carlo(PNL, 10_000, runs=3_000, method="bootstrap", seed=11)
    b = monte_carlo(PNL, 10_000, runs=3_000, method="bootstrap", seed=11)
    c = monte_carlo(PNL, 10_000, runs=3_000, method="bootstrap", seed=12)
    assert np.array_equal(a.final_returns, b.final_returns)
    assert np.array_equal(a.max_drawdowns, b.max_drawdowns) and a.summary() == b.summary()
    assert not np.array_equal(a.final_returns, c.final_returns)


def test_summary_is_plain_and_thresholds_take_either_sign():
    mc = monte_carlo(PNL, 10_000, runs=500, seed=1, dd_threshold=-0.05)
    s = mc.summary()
    assert s["dd_threshold"] == 0.05 and set(s["final_return"]) == {5, 25, 50, 75, 95}
    assert s["prob_drawdown"] == pytest.approx(np.mean(mc.max_drawdowns <= -0.05))
    assert all(type(v) is float for v in s["max_drawdown"].values())


def test_no_trades_and_bad_arguments():
    mc = monte_carlo([], 1_000, runs=50, seed=0)
    assert mc.final_return[50] == 0 and mc.prob_loss == 0 and mc.max_drawdown[5] == 0
    for kwargs in ({"method": "jackknife"}, {"kind": "usd"}, {"runs": 0}):
        with pytest.raises(ValueError):
            monte_carlo(PNL, 1_000, **kwargs)
    with pytest.raises(ValueError):
        monte_carlo([1.0, np.nan], 1_000)


def test_from_result_uses_trades_in_closing_order():
    trades = np.zeros(3, TRADE_DTYPE)
    trades["pnl"] = [200.0, -300.0, 100.0]  # stored out of order
    trades["exit_bar"] = [5, 1, 9]
    result = BacktestResult(
        name="t", strategy="t", timeframe="1h", symbols=["BTC/USDT"], params={},
        capital=Decimal(1000), ts=np.arange(10, dtype=np.int64), close=np.ones((10, 1)),
        equity=np.full(10, 1000.0), cash=np.full(10, 1000.0), exposure=np.zeros(10),
        fills=np.zeros(0, FILL_DTYPE), trades=trades, rejects=np.zeros(0, REJECT_DTYPE))
    mc = from_result(result, runs=10, seed=0)
    assert mc.observed_max_drawdown == pytest.approx(-0.3)  # -300 first, then +200, +100
    assert mc.observed_return == 0 and mc.n_trades == 3


def test_ten_thousand_runs_of_five_hundred_trades_under_a_second():
    values = np.random.default_rng(0).normal(5, 100, 500)
    monte_carlo(values, 10_000, runs=100, seed=0)  # warm-up
    for method in ("shuffle", "bootstrap"):
        start = time.perf_counter()
        mc = monte_carlo(values, 10_000, runs=10_000, method=method, seed=1)
        elapsed = time.perf_counter() - start
        assert mc.runs == 10_000 and elapsed < 1.0, (method, elapsed)
