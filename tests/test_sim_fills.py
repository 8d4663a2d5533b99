"""The fill rules, one hand-worked number per rule.

Every rule runs twice: compiled (what the kernel inlines) and as plain Python (`.py_func`, what
coverage can see and what the paper broker may call), and both must give the same number.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from botfleet.sim import fills as F


def both(fn):
    """The compiled rule and its Python source, as pytest params."""
    return [pytest.param(fn, id="jit"), pytest.param(fn.py_func, id="py")]


@pytest.mark.parametrize("fn", both(F.round_price))
def test_round_price_nearest(fn):
    # 101.26 / 0.1 = 1012.6 -> 1013 ticks -> 101.3 ; 101.24 -> 1012.4 -> 1012 -> 101.2
    assert fn(101.26, 0.1) == 101.3
    assert fn(101.24, 0.1) == 101.2
    # tick 0.5: 10.3 / 0.5 = 20.6 -> 21 * 0.5 = 10.5
    assert fn(10.3, 0.5) == 10.5
    assert fn(10.3, 0.0) == 10.3  # no tick: unchanged


@pytest.mark.parametrize("fn", both(F.round_price_adverse))
def test_round_price_adverse(fn):
    # buy 100.01 on a 0.1 grid: 1000.1 ticks -> ceil 1001 -> 100.1 ; sell: floor 1000 -> 100.0
    assert fn(100.01, 0.1, 1) == 100.1
    assert fn(100.09, 0.1, -1) == 100.0
    # already on the grid: 100.0 / 0.1 is 1000.0000000000001 in binary; must stay 100.0
    assert fn(100.0, 0.1, 1) == 100.0
    assert fn(100.0, 0.1, -1) == 100.0


@pytest.mark.parametrize("fn", both(F.round_amount))
def test_round_amount_truncates(fn):
    # 0.12345 on step 0.001 -> floor(123.45) = 123 -> 0.123 (never more than asked)
    assert fn(0.12345, 0.001) == 0.123
    assert fn(0.9999, 0.001) == 0.999
    assert fn(0.3, 0.1) == 0.3  # 0.3 / 0.1 = 2.9999999999999996 must not become 0.2
    assert fn(7.0, 0.0) == 7.0


@pytest.mark.parametrize("fn", both(F.slip_price))
def test_slip_price_adverse(fn):
    # 0.1% slippage on 200: buy 200 * 1.001 = 200.2, sell 200 * 0.999 = 199.8
    assert fn(200.0, 1, 0.001) == pytest.approx(200.2, rel=1e-15)
    assert fn(200.0, -1, 0.001) == pytest.approx(199.8, rel=1e-15)


@pytest.mark.parametrize("fn", both(F.impact_frac))
def test_impact_square_root(fn):
    # coef 0.5, sigma 0.02, amount 25 of volume 100: 0.5 * 0.02 * sqrt(0.25) = 0.005
    assert fn(0.5, 0.02, 25.0, 100.0) == pytest.approx(0.005, rel=1e-15)
    assert fn(0.5, 0.02, 25.0, 0.0) == 0.0  # no volume known: no impact, not infinite
    assert fn(0.5, 0.02, 25.0, math.nan) == 0.0
    assert fn(0.0, 0.02, 25.0, 100.0) == 0.0


@pytest.mark.parametrize("fn", both(F.taker_price))
def test_taker_price(fn):
    # buy at 100 with 0.03% slip: 100.03 -> ceil to tick 0.1 -> 100.1
    assert fn(100.0, 1, 0.0003, 0.1) == 100.1
    # sell: 99.97 -> floor -> 99.9
    assert fn(100.0, -1, 0.0003, 0.1) == 99.9


@pytest.mark.parametrize("fn", both(F.fee))
def test_fee(fn):
    # 0.5 BTC at 20000 at 0.1%: 10000 * 0.001 = 10
    assert fn(0.5, 20000.0, 0.001) == pytest.approx(10.0, rel=1e-15)


@pytest.mark.parametrize("fn", both(F.limit_through))
def test_limit_needs_trade_through(fn):
    # buy limit 100: low 100 only touches -> no fill; low 99.9 trades through -> fill
    assert not fn(1, 100.0, 100.0, 105.0)
    assert fn(1, 100.0, 99.9, 105.0)
    # sell limit 110: high 110 touches -> no; 110.5 -> yes
    assert not fn(-1, 110.0, 100.0, 110.0)
    assert fn(-1, 110.0, 100.0, 110.5)


@pytest.mark.parametrize("fn", both(F.stop_triggered))
def test_stop_triggers_at_level(fn):
    # buy stop 105 triggers when high reaches 105 (touch suffices); sell stop 95 at low 95
    assert fn(1, 105.0, 100.0, 105.0)
    assert not fn(1, 105.0, 100.0, 104.9)
    assert fn(-1, 95.0, 95.0, 100.0)
    assert not fn(-1, 95.0, 95.1, 100.0)
    assert not fn(-1, math.nan, 0.0, 100.0)  # no stop: never


@pytest.mark.parametrize("fn", both(F.stop_gapped))
def test_stop_gap(fn):
    # a long's protective sell stop at 95: open 94 gapped through it
    assert fn(-1, 95.0, 94.0)
    assert not fn(-1, 95.0, 96.0)
    assert fn(1, 105.0, 106.0)


@pytest.mark.parametrize("fn", both(F.stop_ref))
def test_stop_reference(fn):
    # buy stop 105: open 103 -> fills from the stop 105; open 107 (gap) -> from the open 107
    assert fn(1, 103.0, 105.0) == 105.0
    assert fn(1, 107.0, 105.0) == 107.0
    # sell stop 95: open 93 (gap down) -> 93
    assert fn(-1, 93.0, 95.0) == 93.0


@pytest.mark.parametrize("fn", both(F.stop_limit_price))
def test_stop_limit(fn):
    # buy stop 105 limit 106: open 103 -> max(103, 105) = 105 <= 106 -> fills at 105
    assert fn(1, 103.0, 105.0, 106.0) == 105.0
    # open 107 gapped above the limit 106 -> rests (NaN)
    assert math.isnan(fn(1, 107.0, 105.0, 106.0))
    # sell stop 95 limit 94: open 94.5 -> min(94.5, 95) = 94.5 >= 94 -> 94.5
    assert fn(-1, 94.5, 95.0, 94.0) == 94.5


@pytest.mark.parametrize("fn", both(F.volume_capped))
def test_volume_cap(fn):
    # 10% of a 30-unit bar: at most 3 of the 5 wanted
    assert fn(5.0, 30.0, 0.1) == pytest.approx(3.0, rel=1e-15)
    assert fn(2.0, 30.0, 0.1) == 2.0
    assert fn(5.0, 30.0, 0.0) == 5.0  # no cap
    assert fn(5.0, math.nan, 0.1) == 5.0  # unknown volume does not cap


@pytest.mark.parametrize("fn", both(F.affordable))
def test_affordable(fn):
    # 1010 cash, price 100, fee 1%: 1010 / (100 * 1.01) = 10
    assert fn(1010.0, 100.0, 0.01) == pytest.approx(10.0, rel=1e-15)
    assert fn(-5.0, 100.0, 0.01) == 0.0


@pytest.mark.parametrize("fn", both(F.kelly))
def test_kelly(fn):
    # returns +10%, +10%, -5%, -5%: W = 0.5, R = 0.10 / 0.05 = 2
    # edge = 0.5 - 0.5 / 2 = 0.25 ; half Kelly = 0.125 ; cap 1
    rets = np.array([0.10, 0.10, -0.05, -0.05])
    assert fn(rets, 0.5, 1.0) == pytest.approx(0.125, rel=1e-12)
    assert fn(rets, 0.5, 0.1) == 0.1  # capped
    # all losers: 0 ; all winners: fraction * W = 0.5 * 1
    assert fn(np.array([-0.1, -0.2]), 0.5, 1.0) == 0.0
    assert fn(np.array([0.1, 0.2]), 0.5, 1.0) == 0.5
    assert fn(np.zeros(0), 0.5, 1.0) == 0.0
    # negative edge clips to 0: W = 1/3, R = 0.01 / 0.1 = 0.1 -> 1/3 - (2/3) / 0.1 < 0
    assert fn(np.array([0.01, -0.1, -0.1]), 1.0, 1.0) == 0.0
