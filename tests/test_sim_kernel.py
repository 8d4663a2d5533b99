"""The backtest kernel on hand-built bars: every number below is worked out in a comment.

Bars are written as (open, high, low, close) rows; signals as the bar indices where they fire.
Orders from a signal at bar t act from bar t + 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botfleet.orders import OrderType, Reason, Reject
from botfleet.sim.arrays import (
    BASE,
    EQUITY_FRACTION,
    QUOTE,
    RISK,
    AssetParams,
    Detail,
    Market,
    Signals,
    validate_inputs,
)
from botfleet.sim.kernel import simulate
from botfleet.sim.kernel_grid import simulate_grid

approx = pytest.approx


def market(*assets, volume=1e9):
    """assets: lists of (o, h, l, c) rows (None = no bar) -> Market (T, A)."""
    n = len(assets[0])
    cols = np.full((4, n, len(assets)), np.nan)
    for a, rows in enumerate(assets):
        for t, row in enumerate(rows):
            if row is not None:
                cols[:, t, a] = row
    vol = np.where(np.isnan(cols[3]), np.nan, volume)
    return Market(cols[0], cols[1], cols[2], cols[3], vol)


def flat(n, price=100.0):
    return [(price, price, price, price)] * n


def sig(n, n_assets=1, **at):
    """Signals with entry_long=[bars] (or {asset: [bars]}) etc."""
    out = {}
    for name in ("entry_long", "exit_long", "entry_short", "exit_short"):
        arr = np.zeros((n, n_assets), dtype=bool)
        spec = at.get(name, [])
        for a, bars in (spec.items() if isinstance(spec, dict) else [(0, spec)]):
            arr[list(bars), a] = True
        out[name] = arr
    return Signals(**out)


def run(mk, signals, capital=1000.0, detail=None, close_at_end=True, **params):
    n, a = mk.shape
    p = AssetParams.default(n, a, **params)
    return simulate(mk, signals, p, capital, detail=detail, close_at_end=close_at_end)


def check_invariants(out, mk, capital):
    """equity = cash + sum(position * last close) at every bar; trade pnl sums to the equity
    change when all is closed; fill fees sum to trade fees."""
    close = mk.close.copy()
    for t in range(1, len(close)):
        close[t] = np.where(np.isnan(close[t]), close[t - 1], close[t])
    pos = np.zeros(mk.shape[1])
    fills = out.fills
    for t in range(len(close)):
        for f in fills[fills["bar"] == t]:
            pos[f["asset"]] += f["side"] * f["amount"]
        held = np.where(pos != 0, pos * np.nan_to_num(close[t]), 0.0)
        assert out.equity[t] == approx(out.cash[t] + held.sum(), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(pos, out.position, atol=1e-9)
    if not np.any(out.position):
        assert out.trades["pnl"].sum() == approx(out.equity[-1] - capital, rel=1e-9, abs=1e-7)
        assert out.trades["fees"].sum() == approx(fills["fee"].sum(), rel=1e-9, abs=1e-9)
    assert out.stats["fees"] == approx(fills["fee"].sum(), rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------ market orders, fees, slip


def test_long_round_trip_fee_slippage_tick():
    rows = [(100, 100, 100, 100), (100, 102, 99, 101), (102, 103, 101, 103),
            (104, 105, 103, 104)]
    mk = market(rows)
    out = run(mk, sig(4, entry_long=[0], exit_long=[2]), size_kind=QUOTE, size_value=500.0,
              taker_fee=0.001, slip_frac=0.001, price_tick=0.01, amount_step=0.001)
    buy, sell = out.fills
    # entry at bar 1's open 100: 100 * 1.001 = 100.1 ; amount 500 / 100 (the open) = 5
    assert (buy["bar"], buy["side"], buy["amount"], buy["price"]) == (1, 1, 5.0, 100.1)
    assert buy["fee"] == approx(0.5005)  # 5 * 100.1 * 0.001
    assert buy["slippage"] == approx(0.5)  # (100.1 - 100) * 5
    # exit at bar 3's open 104: 104 * 0.999 = 103.896 -> sell rounds down to 103.89
    assert (sell["bar"], sell["side"], sell["price"]) == (3, -1, 103.89)
    assert sell["fee"] == approx(0.51945)  # 5 * 103.89 * 0.001
    assert sell["slippage"] == approx(0.55)  # (104 - 103.89) * 5
    # cash after the buy: 1000 - 500.5 - 0.5005 = 498.9995 ; equity at bar 1: + 5 * 101
    assert out.cash[1] == approx(498.9995)
    assert out.equity[1] == approx(1003.9995)
    # pnl = 519.45 - 500.5 - 0.5005 - 0.51945 = 17.93005
    (tr,) = out.trades
    assert tr["pnl"] == approx(17.93005)
    assert tr["ret"] == approx(17.93005 / 500.5)
    assert (tr["entry_bar"], tr["exit_bar"], tr["amount"]) == (1, 3, 5.0)
    assert tr["exit_reason"] == Reason.SIGNAL
    assert out.equity[-1] == approx(1017.93005)
    assert out.exposure[1] == approx(505 / 1003.9995)
    check_invariants(out, mk, 1000.0)


def test_square_root_impact_adds_to_slippage():
    mk = market(flat(3))
    mk.volume[:] = 400.0
    # 4 units of 400 volume: 0.5 * 0.02 * sqrt(4 / 400) = 0.001 -> 100 * 1.001 = 100.1
    out = run(mk, sig(3, entry_long=[0]), size_kind=BASE, size_value=4.0, impact_coef=0.5,
              sigma=0.02, close_at_end=False)
    assert out.fills[0]["price"] == approx(100.1)
    assert out.fills[0]["slippage"] == approx(0.4)


def test_multi_asset_shared_cash_and_short_collateral():
    a0 = [(100, 100, 100, 100), (100, 110, 100, 110), (110, 110, 110, 110)]
    a1 = [(50, 50, 50, 50), (50, 50, 45, 45), (45, 45, 45, 45)]
    mk = market(a0, a1)
    s = sig(3, 2, entry_long={0: [0]}, entry_short={1: [0]})
    out = run(mk, s, size_kind=EQUITY_FRACTION, size_value=0.6, allow_short=True)
    # asset 0 first: 0.6 * 1000 = 600 -> 6 units at 100, cash 400
    # asset 1 wants 600 / 50 = 12 short, but free cash is 400 -> 400 / 50 = 8
    f0, f1 = out.fills[:2]
    assert (f0["asset"], f0["amount"], f1["asset"], f1["side"], f1["amount"]) == (0, 6, 1, -1, 8)
    # bar 1: cash 400 + 8 * 50 = 800 ; equity 800 + 6 * 110 - 8 * 45 = 1100
    assert out.cash[1] == approx(800.0)
    assert out.equity[1] == approx(1100.0)
    # end of data: +6 * 110 - 8 * 45 -> cash 1100
    assert out.equity[-1] == approx(1100.0)
    assert {int(r) for r in out.trades["exit_reason"]} == {Reason.END_OF_DATA}
    check_invariants(out, mk, 1000.0)


def test_short_round_trip_pnl():
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (90, 90, 90, 90), (80, 80, 80, 80)]
    mk = market(rows)
    out = run(mk, sig(4, entry_short=[0], exit_short=[1]), allow_short=True, size_kind=BASE,
              size_value=2.0, taker_fee=0.01)
    # sell 2 at 100 (fee 2), buy back 2 at 90 (fee 1.8): pnl = 200 - 180 - 3.8 = 16.2
    (tr,) = out.trades
    assert tr["direction"] == -1
    assert tr["pnl"] == approx(16.2)
    assert tr["ret"] == approx(16.2 / 200)
    assert out.equity[-1] == approx(1016.2)
    check_invariants(out, mk, 1000.0)


def test_reverse_closes_and_opens_at_next_open():
    rows = flat(2) + [(110, 110, 110, 110)] * 2
    mk = market(rows)
    out = run(mk, sig(4, entry_long=[0], entry_short=[1]), allow_short=True, size_kind=BASE,
              size_value=1.0, close_at_end=False)
    # bar 1 buys 1 at 100; the short signal at bar 1 exits (REVERSE) and shorts at bar 2's open
    assert [(f["bar"], f["side"], f["reason"]) for f in out.fills] == [
        (1, 1, Reason.SIGNAL), (2, -1, Reason.REVERSE), (2, -1, Reason.SIGNAL)]
    assert out.trades[0]["exit_reason"] == Reason.REVERSE
    assert out.trades[0]["pnl"] == approx(10.0)
    assert out.position[0] == -1.0


def test_short_not_allowed_is_rejected():
    mk = market(flat(3))
    out = run(mk, sig(3, entry_short=[0]))
    assert len(out.fills) == 0
    (rj,) = out.rejects
    assert (rj["bar"], rj["side"], rj["reason"]) == (0, -1, Reject.SHORT_NOT_ALLOWED)


# ------------------------------------------------------------------ entries: rules


def test_pyramiding_up_to_max_entries():
    rows = [(100, 100, 100, 100), (100, 110, 100, 110), (110, 110, 110, 110)] + flat(2, 120)
    mk = market(rows)
    out = run(mk, sig(5, entry_long=[0, 1, 2, 3]), max_entries=2, size_kind=QUOTE,
              size_value=100.0, amount_step=0.001, close_at_end=False)
    # 100 / 100 = 1 at bar 1 ; 100 / 110 = 0.90909 -> 0.909 at bar 2 ; later signals: max 2
    assert list(out.fills["amount"]) == [1.0, 0.909]
    assert out.position[0] == approx(1.909)


def test_cooldown_blocks_entries_after_exit():
    mk = market(flat(8))
    every = list(range(8))
    out = run(mk, sig(8, entry_long=every, exit_long=[2]), cooldown=2, size_kind=BASE,
              size_value=1.0, close_at_end=False)
    # entry fills at 1; exit signal at 2 (beats the entry) fills at 3; signals at 3, 4 are
    # within the cooldown (t < 3 + 2); the one at 5 fills at 6
    assert [(f["bar"], f["side"]) for f in out.fills] == [(1, 1), (3, -1), (6, 1)]


def test_time_limit_exit():
    mk = market(flat(7))
    out = run(mk, sig(7, entry_long=[0]), time_limit=3, size_kind=BASE, size_value=1.0)
    # entered at bar 1; held 3 bars at the close of bar 3 -> exit at bar 4's open
    assert out.trades[0]["exit_bar"] == 4
    assert out.trades[0]["exit_reason"] == Reason.TIME_LIMIT


def test_min_notional_min_amount_and_cash_rejects():
    mk = market(flat(3))
    out = run(mk, sig(3, entry_long=[0]), size_kind=QUOTE, size_value=5.0, min_notional=10.0)
    (rj,) = out.rejects  # 0.05 * 100 = 5 < 10
    assert (rj["bar"], rj["reason"], rj["amount"]) == (1, Reject.MIN_NOTIONAL, 0.05)
    out = run(mk, sig(3, entry_long=[0]), size_kind=BASE, size_value=0.0005,
              min_amount=0.001)
    assert out.rejects[0]["reason"] == Reject.MIN_AMOUNT
    out = run(mk, sig(3, entry_long=[0]), capital=0.0, size_kind=BASE, size_value=1.0)
    assert out.rejects[0]["reason"] == Reject.INSUFFICIENT_CASH
    assert len(out.fills) == 0


def test_cash_cap_and_precision():
    mk = market([(30, 30, 30, 30)] * 3)
    # QUOTE 100 at 30 with 1% slip on tick 0.5: price 30.3 -> 30.5 ; 100 / 30 = 3.333 -> 3.33
    out = run(mk, sig(3, entry_long=[0]), size_kind=QUOTE, size_value=100.0,
              slip_frac=0.01, price_tick=0.5, amount_step=0.01, close_at_end=False)
    assert (out.fills[0]["amount"], out.fills[0]["price"]) == (3.33, 30.5)
    # all-in with a 1% fee: 1000 / (30.5 * 1.01) = 32.46 -> 32.46 on step 0.01
    out = run(mk, sig(3, entry_long=[0]), size_value=1.0, slip_frac=0.01, price_tick=0.5,
              amount_step=0.01, taker_fee=0.01, close_at_end=False)
    assert out.fills[0]["amount"] == 32.46
    assert out.cash[1] == approx(1000 - 32.46 * 30.5 * 1.01)
    assert out.cash[1] >= 0


def test_risk_sizing():
    mk = market(flat(3))
    # equity 1000 * 1% risk / 5% stop = 200 notional -> 2 units at 100
    out = run(mk, sig(3, entry_long=[0]), size_kind=RISK, size_value=0.01, sl=0.05,
              close_at_end=False)
    assert out.fills[0]["amount"] == 2.0


def test_partial_fills_across_bars_volume_cap():
    mk = market(flat(6), volume=20.0)
    out = run(mk, sig(6, entry_long=[0], exit_long=[3]), size_kind=BASE, size_value=5.0,
              volume_cap=0.1)
    # 10% of 20 = 2 per bar: 2, 2, 1 at bars 1, 2, 3 ; exit at 4 and 5: 2, 2 ... and 1 at end
    assert [(f["bar"], f["side"], f["amount"]) for f in out.fills] == [
        (1, 1, 2.0), (2, 1, 2.0), (3, 1, 1.0), (4, -1, 2.0), (5, -1, 2.0), (5, -1, 1.0)]
    assert out.fills[-1]["reason"] == Reason.END_OF_DATA
    (tr,) = out.trades
    assert tr["amount"] == 5.0
    assert tr["exit_reason"] == Reason.END_OF_DATA


# ------------------------------------------------------------------ limit / stop entries


def test_limit_entry_needs_trade_through_and_expires():
    rows = [(100, 100, 100, 100), (99, 99, 98, 99), (99, 99, 97.9, 99), (99, 99, 99, 99)]
    mk = market(rows)
    lim = int(OrderType.LIMIT)
    # limit at 100 * (1 - 0.02) = 98: bar 1 touches 98 (no fill), bar 2 trades through
    out = run(mk, sig(4, entry_long=[0]), entry_kind=lim, entry_offset=0.02, size_kind=BASE,
              size_value=1.0, maker_fee=0.001, close_at_end=False)
    (f,) = out.fills
    assert (f["bar"], f["price"], f["liquidity"], f["kind"]) == (2, 98.0, 1, lim)
    assert f["fee"] == approx(0.098)
    # valid for one bar only: expires at the end of bar 1
    out = run(mk, sig(4, entry_long=[0]), entry_kind=lim, entry_offset=0.02, entry_expiry=1,
              size_kind=BASE, size_value=1.0)
    assert len(out.fills) == 0
    (rj,) = out.rejects
    assert (rj["bar"], rj["reason"], rj["price"]) == (1, Reject.EXPIRED, 98.0)


def test_stop_entry_and_gap():
    stop = int(OrderType.STOP)
    # stop at 100 * 1.02 = 102: bar 1 opens 101, high 103 -> fills at 102 + 1% = 103.02
    mk = market([(100, 100, 100, 100), (101, 103, 100, 102), (102, 102, 102, 102)])
    out = run(mk, sig(3, entry_long=[0]), entry_kind=stop, entry_offset=0.02, size_kind=BASE,
              size_value=1.0, slip_frac=0.01, close_at_end=False)
    assert (out.fills[0]["bar"], out.fills[0]["price"]) == (1, approx(103.02))
    assert out.fills[0]["slippage"] == approx(1.02)
    # gap: bar 1 opens 104 -> fills at the open 104 (no slip here)
    mk = market([(100, 100, 100, 100), (104, 105, 104, 105), (105, 105, 105, 105)])
    out = run(mk, sig(3, entry_long=[0]), entry_kind=stop, entry_offset=0.02, size_kind=BASE,
              size_value=1.0, close_at_end=False)
    assert out.fills[0]["price"] == 104.0


def test_stop_limit_rests_after_gap_above_limit():
    sl_kind = int(OrderType.STOP_LIMIT)
    # stop 102, limit 102 * 1.01 = 103.02: bar 1 opens 104 above the limit -> rests as limit
    # bar 2 trades through 103.02 (low 103) -> fills at 103.02, maker
    rows = [(100, 100, 100, 100), (104, 105, 104, 105), (104, 104, 103, 104), (104,) * 4]
    mk = market(rows)
    out = run(mk, sig(4, entry_long=[0]), entry_kind=sl_kind, entry_offset=0.02,
              stop_limit_offset=0.01, price_tick=0.01, size_kind=BASE, size_value=1.0,
              close_at_end=False)
    (f,) = out.fills
    assert (f["bar"], f["price"], f["liquidity"], f["kind"]) == (2, 103.02, 1, sl_kind)
    # when the trigger bar opens below the limit it fills at max(open, stop) = 102 at once
    rows = [(100, 100, 100, 100), (101, 103, 101, 103), (103,) * 4]
    out = run(market(rows), sig(3, entry_long=[0]), entry_kind=sl_kind, entry_offset=0.02,
              stop_limit_offset=0.01, size_kind=BASE, size_value=1.0, close_at_end=False)
    assert (out.fills[0]["bar"], out.fills[0]["price"]) == (1, 102.0)


# ------------------------------------------------------------------ stops, TPs, trailing


def test_stop_loss_intrabar_and_gap():
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 94, 96), (96,) * 4]
    mk = market(rows)
    # entry 100 * 1.01 = 101 (slipped) ; stop 101 * 0.95 = 95.95, inside bar 2 (low 94)
    # -> 95.95 minus 1% slip = 94.9905
    out = run(mk, sig(4, entry_long=[0]), sl=0.05, size_kind=BASE, size_value=1.0,
              slip_frac=0.01)
    f = out.fills[1]
    assert (f["bar"], f["price"], f["reason"], f["kind"]) == (
        2, approx(94.9905), Reason.STOP_LOSS, OrderType.STOP)
    assert out.trades[0]["exit_reason"] == Reason.STOP_LOSS
    # gap: bar 2 opens at 93 below the stop -> fills at the open
    rows[2] = (93, 94, 92, 93)
    out = run(market(rows), sig(4, entry_long=[0]), sl=0.05, size_kind=BASE, size_value=1.0)
    assert (out.fills[1]["bar"], out.fills[1]["price"]) == (2, 93.0)
    # an absolute distance (an ATR multiple) of 3 taken at the signal bar -> stop 97
    rows[2] = (99, 99, 96.5, 98)
    out = run(market(rows), sig(4, entry_long=[0]), sl=3.0, sl_is_pct=False, size_kind=BASE,
              size_value=1.0)
    assert out.fills[1]["price"] == 97.0


def test_short_stop_loss():
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (101, 106, 100, 104), (104,) * 4]
    out = run(market(rows), sig(4, entry_short=[0]), allow_short=True, sl=0.05,
              size_kind=BASE, size_value=1.0)
    # short at 100, stop 105 hit by the high 106 -> buy back at 105
    assert (out.fills[1]["side"], out.fills[1]["price"]) == (1, 105.0)
    assert out.trades[0]["pnl"] == -5.0


def test_take_profit_ladder_strictly_through():
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (101, 105.5, 101, 104),
            (104, 110, 104, 109), (109, 111, 108, 110), (110,) * 4]
    mk = market(rows)
    out = run(mk, sig(6, entry_long=[0]), tp_at=[[0.05, 0.10]], tp_close=[[0.5, 0.5]],
              size_kind=BASE, size_value=2.0, maker_fee=0.001, price_tick=0.01)
    # TP1 at 105: high 105.5 trades through -> 1 unit at 105 (maker, fee 0.105)
    # TP2 at 110: bar 3's high 110 only touches; bar 4's 111 goes through -> 1 unit at 110
    tp = out.fills[out.fills["reason"] == Reason.TAKE_PROFIT]
    assert [(f["bar"], f["amount"], f["price"], f["liquidity"]) for f in tp] == [
        (2, 1.0, 105.0, 1), (4, 1.0, 110.0, 1)]
    assert tp[0]["fee"] == approx(0.105)
    (tr,) = out.trades
    assert tr["exit_reason"] == Reason.TAKE_PROFIT
    assert tr["exit_price"] == 107.5  # (105 + 110) / 2
    # pnl = 215 - 200 - fees (0.105 + 0.11) = 14.785
    assert tr["pnl"] == approx(14.785)


def test_take_profit_gap_fills_at_level():
    rows = [(100,) * 4, (100,) * 4, (108, 109, 107, 108), (108,) * 4]
    out = run(market(rows), sig(4, entry_long=[0]), tp_at=[[0.05]], tp_close=[[1.0]],
              size_kind=BASE, size_value=1.0)
    # the open 108 jumped over the TP at 105: the resting limit fills at 105, not 108
    assert (out.fills[1]["bar"], out.fills[1]["price"]) == (2, 105.0)


def test_trailing_stop_and_activation():
    rows = [(100,) * 4, (100, 120, 100, 118), (118, 118, 107, 110), (110,) * 4]
    mk = market(rows)
    # peak 120 after bar 1 -> trail 10% = 108 from bar 2; the low 107 hits it -> 108
    out = run(mk, sig(4, entry_long=[0]), trail=0.10, sl=0.05, size_kind=BASE,
              size_value=1.0)
    f = out.fills[1]
    assert (f["bar"], f["price"], f["reason"]) == (2, 108.0, Reason.TRAILING_STOP)
    # the trail arms only after a 30% gain (130): not reached -> no exit until the end
    out = run(mk, sig(4, entry_long=[0]), trail=0.10, trail_activate=0.30, size_kind=BASE,
              size_value=1.0)
    assert out.fills[1]["reason"] == Reason.END_OF_DATA
    # armed at 15% (115 <= peak 120): exits at 108 again
    out = run(mk, sig(4, entry_long=[0]), trail=0.10, trail_activate=0.15, size_kind=BASE,
              size_value=1.0)
    assert out.fills[1]["reason"] == Reason.TRAILING_STOP


def _conflict_rows():
    # entered at 100 (bar 1); stop 95, TP 105; bar 2 reaches both (high 106, low 94)
    return [(100,) * 4, (100, 100, 100, 100), (100, 106, 94, 100), (100,) * 4]


def test_intrabar_conflict_without_detail_takes_the_stop():
    out = run(market(_conflict_rows()), sig(4, entry_long=[0]), sl=0.05, tp_at=[[0.05]],
              tp_close=[[1.0]], size_kind=BASE, size_value=1.0)
    assert (out.fills[1]["price"], out.fills[1]["reason"]) == (95.0, Reason.STOP_LOSS)
    assert len(out.fills) == 2  # the TP never filled


@pytest.mark.parametrize(("first", "reason", "price"), [
    ("tp", Reason.TAKE_PROFIT, 105.0), ("stop", Reason.STOP_LOSS, 95.0)])
def test_intrabar_conflict_with_detail(first, reason, price):
    up = (100.0, 106.0, 100.0, 105.0)
    down = (100.0, 100.0, 94.0, 95.0)
    subs = [up, down] if first == "tp" else [down, up]
    # bar 2 has two sub-candles; the other bars one each (their own OHLC)
    rows = _conflict_rows()
    det_rows = [rows[0], rows[1], *subs, rows[3]]
    arr = np.array(det_rows, dtype=float)
    detail = Detail(open=arr[:, [0]].copy(), high=arr[:, [1]].copy(), low=arr[:, [2]].copy(),
                    start=np.array([0, 1, 2, 4, 5]))
    out = run(market(rows), sig(4, entry_long=[0]), detail=detail, sl=0.05, tp_at=[[0.05]],
              tp_close=[[1.0]], size_kind=BASE, size_value=1.0)
    assert (out.fills[1]["bar"], out.fills[1]["price"], out.fills[1]["reason"]) == (
        2, price, reason)
    assert len(out.fills) == 2


def test_limit_entry_is_stopped_in_its_bar_but_earns_no_tp():
    lim = int(OrderType.LIMIT)
    # limit at 98 fills in bar 1 (low 97); stop 98 * 0.98 = 96.04 is inside bar 1 (low 95)
    rows = [(100,) * 4, (100, 110, 95, 100), (100,) * 4]
    out = run(market(rows), sig(3, entry_long=[0]), entry_kind=lim, entry_offset=0.02,
              sl=0.02, tp_at=[[0.05]], tp_close=[[1.0]], size_kind=BASE, size_value=1.0)
    assert [(f["bar"], f["reason"]) for f in out.fills] == [
        (1, Reason.SIGNAL), (1, Reason.STOP_LOSS)]
    # without the stop the high 110 is above the TP 102.9 but no TP credit in the fill bar
    out = run(market(rows), sig(3, entry_long=[0]), entry_kind=lim, entry_offset=0.02,
              tp_at=[[0.05]], tp_close=[[1.0]], size_kind=BASE, size_value=1.0)
    assert out.fills[1]["reason"] == Reason.END_OF_DATA


# ------------------------------------------------------------------ data edges


def test_end_of_data_close_and_no_close():
    rows = flat(2) + [(100, 100, 100, 120)]
    mk = market(rows)
    out = run(mk, sig(3, entry_long=[0]), size_kind=BASE, size_value=1.0, slip_frac=0.01,
              taker_fee=0.001)
    # closes at the last close 120 minus 1% = 118.8, fee 0.1188 ; bought at 101 (fee 0.101)
    last = out.fills[-1]
    assert (last["bar"], last["price"], last["reason"]) == (2, approx(118.8), Reason.END_OF_DATA)
    assert out.equity[-1] == approx(1000 - 101 - 0.101 + 118.8 - 0.1188)
    assert out.position[0] == 0.0
    out = run(mk, sig(3, entry_long=[0]), size_kind=BASE, size_value=1.0, close_at_end=False)
    assert out.position[0] == 1.0
    assert len(out.trades) == 0
    assert out.equity[-1] == 1020.0


def test_nan_bars_no_fills_no_signals_last_close_kept():
    a0 = [(100,) * 4, None, (110,) * 4, (110,) * 4]
    mk = market(a0)
    out = run(mk, sig(4, entry_long=[0, 1], exit_long=[1]), size_kind=BASE, size_value=1.0,
              close_at_end=False)
    # the order from bar 0 waits through the missing bar 1 and fills at bar 2's open;
    # bar 1's exit signal is not read (no bar)
    assert [(f["bar"], f["price"]) for f in out.fills] == [(2, 110.0)]
    assert out.equity[1] == 1000.0


def test_record_buffers_grow_without_loss():
    n = 200
    mk = market([(100 + (t % 7), 101 + (t % 7), 99 + (t % 7), 100 + (t % 5)) for t in range(n)])
    s = sig(n, entry_long=range(0, n, 2), exit_long=range(1, n, 2))
    p = AssetParams.default(n, 1, size_kind=BASE, size_value=1.0)
    big = simulate(mk, s, p, 1000.0)
    small = simulate(mk, s, p, 1000.0, initial_records=1)
    assert len(big.fills) == len(small.fills) == 200
    np.testing.assert_array_equal(big.fills, small.fills)
    np.testing.assert_array_equal(big.trades, small.trades)
    np.testing.assert_array_equal(big.equity, small.equity)


# ------------------------------------------------------------------ validation


def test_validate_names_field_and_shape():
    mk = market(flat(3))
    s = sig(3)
    p = AssetParams.default(3, 1)
    with pytest.raises(ValueError, match=r"entry_long: shape \(2, 1\), expected \(3, 1\)"):
        validate_inputs(mk, sig(2), p)
    with pytest.raises(ValueError, match="slip_frac: shape"):
        validate_inputs(mk, s, AssetParams(**{**p.__dict__, "slip_frac": np.zeros((4, 1))}))
    with pytest.raises(ValueError, match="close: dtype int64"):
        validate_inputs(Market(mk.open, mk.high, mk.low, mk.close.astype(np.int64),
                               mk.volume), s, p)
    with pytest.raises(ValueError, match="exit_long: dtype float64"):
        validate_inputs(mk, Signals(s.entry_long, s.exit_long.astype(float), s.entry_short,
                                    s.exit_short), p)
    with pytest.raises(ValueError, match="size_kind: unknown code 9"):
        validate_inputs(mk, s, p.with_(size_kind=9))
    with pytest.raises(ValueError, match="sl: size_kind RISK needs"):
        validate_inputs(mk, sig(3, entry_long=[0]), p.with_(size_kind=RISK))
    with pytest.raises(ValueError, match=r"start: shape \(2,\), expected \(4,\)"):
        validate_inputs(mk, s, p, Detail(mk.open, mk.high, mk.low, np.array([0, 3])))
    with pytest.raises(ValueError, match="unknown AssetParams fields"):
        AssetParams.default(3, 1, fee=0.1)


# ------------------------------------------------------------------ properties and the grid


def _random_case(seed, n=120, n_assets=2):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, n_assets)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, 0.003, (n, n_assets)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, (n, n_assets)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, (n, n_assets)))
    close[rng.uniform(size=(n, n_assets)) < 0.03] = np.nan
    for arr in (open_, high, low):
        arr[np.isnan(close)] = np.nan
    mk = Market(open_, high, low, close, np.full((n, n_assets), 50.0))
    b = lambda p: rng.uniform(size=(n, n_assets)) < p
    return mk, Signals(b(0.1), b(0.1), b(0.08), b(0.08)), rng


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shorts=st.booleans(), stops=st.booleans(),
       cap=st.sampled_from([0.0, 0.02]), entries=st.integers(1, 3))
def test_accounting_invariants_random(seed, shorts, stops, cap, entries):
    mk, s, rng = _random_case(seed)
    n, a = mk.shape
    p = AssetParams.default(
        n, a, taker_fee=0.001, maker_fee=0.0005, slip_frac=0.0005, amount_step=0.0001,
        price_tick=0.01, allow_short=shorts, size_value=0.3, max_entries=entries,
        volume_cap=cap, sl=0.03 if stops else np.nan, trail=0.05 if stops else np.nan,
        tp_at=[[0.04, 0.08]] * a, tp_close=[[0.5, 0.5]] * a, time_limit=int(rng.integers(0, 9)),
        cooldown=int(rng.integers(0, 3)),
        entry_kind=int(rng.integers(0, 4)), entry_offset=0.005, entry_expiry=3)
    out = simulate(mk, s, p, 1000.0)
    check_invariants(out, mk, 1000.0)
    assert np.all(np.diff(out.fills["bar"]) >= 0)
    assert np.all(out.fills["amount"] > 0)
    assert np.all(out.fills["slippage"] >= -1e-12)
    assert len(out.trades) == out.stats["n_trades"]


def test_grid_equals_single_runs():
    mk, _, rng = _random_case(7, n=300, n_assets=1)
    mk.close[np.isnan(mk.close)] = 100.0
    for arr in (mk.open, mk.high, mk.low):
        arr[np.isnan(arr)] = 100.0
    n_cols = 6
    entries = rng.uniform(size=(300, n_cols)) < 0.1
    exits = rng.uniform(size=(300, n_cols)) < 0.1
    ent_s = rng.uniform(size=(300, n_cols)) < 0.05
    p = AssetParams.default(300, 1, taker_fee=0.001, slip_frac=0.001, sl=0.03,
                            tp_at=[[0.05]], tp_close=[[1.0]], allow_short=True,
                            amount_step=0.0001, size_value=0.5)
    grid = simulate_grid(mk, entries, exits, p, 1000.0, entries_short=ent_s)
    for c in range(n_cols):
        one = Signals(entries[:, [c]], exits[:, [c]], ent_s[:, [c]],
                      np.zeros((300, 1), dtype=bool))
        out = simulate(mk, one, p, 1000.0)
        for key, value in out.stats.items():
            assert grid[key][c] == value, (c, key)
        assert grid["final_equity"][c] == out.equity[-1]
        assert grid["n_trades"][c] == len(out.trades)
        assert grid["n_wins"][c] == int((out.trades["pnl"] > 0).sum())
        # the streamed moments agree with the curve (the first return is from the capital)
        eq = out.equity
        full = np.concatenate([[1000.0], eq])
        r = full[1:] / full[:-1] - 1
        assert grid["ret_count"][c] == len(r)
        assert grid["ret_sum"][c] == approx(r.sum(), rel=1e-9, abs=1e-12)
        assert grid["ret_sumsq"][c] == approx((r * r).sum(), rel=1e-9)
        assert grid["ret_negsq"][c] == approx((r[r < 0] ** 2).sum(), rel=1e-9, abs=1e-15)
        peak = np.maximum.accumulate(np.concatenate([[1000.0], eq]))[1:]
        assert grid["max_drawdown"][c] == approx((1 - eq / peak).max(), rel=1e-12)
    with pytest.raises(ValueError, match="exits: shape"):
        simulate_grid(mk, entries, exits[:, :2], p, 1000.0)
    assert math.isfinite(grid["final_equity"].sum())
