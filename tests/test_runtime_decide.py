"""What a bot decides at a close, without an exchange: sizing by every method the backtest
has, the kernel's signal rules (time limit, take-profit steps, cooldown, add-ons, shorts on
spot, an entry still working), the protective stop (stop-loss, trailing, only tighter, a
price already through it), and when schedules fire. Plans are built from YAML as the runner
builds them; every expected number is worked out by hand from the inputs.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from test_runtime_helpers import bot_yaml, load, write_fleet

from botfleet.config.schedule import parse_schedule
from botfleet.data.candles import CANDLE_DTYPE
from botfleet.execution.broker import Market
from botfleet.orders import Order, OrderType, Position, Reason, Side
from botfleet.runtime.decide import PairView, decide, protection
from botfleet.runtime.plan import build_plans
from botfleet.runtime.sizing import entry_notional, kelly_fraction, size_entry, volatility_fraction
from botfleet.runtime.timing import last_closed_open, next_fire
from botfleet.strategy.spec import Sizing

D = Decimal
H = 3_600_000
T = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
MARKET = Market("BTC/USDT", "BTC", "USDT", tick=D("0.01"), step=D("0.001"),
                min_amount=D("0.001"), min_notional=D(5))

STRATEGIES = """\
  - name: stops
    parameters: {n: {default: 3, range: [1, 9]}}
    entry: close > open
    exit: close < open
    cooldown: 2
    stops:
      stop_loss: 5%
      trailing: {activate: 2%, distance: 1%}
      take_profit: [{at: 4%, close: 50%}, {at: 8%, close: 50%}]
      time_limit: 3h
    sizing: {method: percent_equity, value: 50%, max_entries: 2}
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    path = write_fleet(root, {"a": bot_yaml("a", strategy="stops")})
    text = path.read_text().replace("bots: [bots.d/*.yaml]", STRATEGIES + "bots: [bots.d/*.yaml]")
    path.write_text(text)
    plans, problems = build_plans(load(path))
    assert not problems
    return plans["a"]


def candles(*bars, start: int = T) -> np.ndarray:
    """(open, high, low, close) per hourly bar from `start`."""
    out = np.zeros(len(bars), dtype=CANDLE_DTYPE)
    out["ts"] = start + H * np.arange(len(bars))
    for i, (o, h, lo, c) in enumerate(bars):
        out[i] = (out["ts"][i], o, h, lo, c, 10.0)
    return out


def view(c, signal=None, amount="0", entry="0", price=None, **kw) -> PairView:
    sig = {"ready": True, "entry_long": False, "exit_long": False, "entry_short": False,
           "exit_short": False, **(signal or {})}
    return PairView("BTC/USDT", c, sig, Position("BTC/USDT", D(amount), D(entry)),
                    D(str(price if price is not None else c["close"][-1])), MARKET, **kw)


# -- sizing -------------------------------------------------------------------------------


def test_each_sizing_method_gives_the_backtests_notional():
    eq = D(10_000)
    assert entry_notional(Sizing("percent_equity", _pct("20")), eq) == (D(2000), None)
    assert entry_notional(Sizing("fixed_quote", D(250)), eq) == (D(250), None)
    assert entry_notional(Sizing("fixed_base", D("0.5")), eq) == (None, D("0.5"))
    # risking 1% of equity with a stop 4% away: a notional of 2,500
    assert entry_notional(Sizing("risk_per_trade", _pct("1")), eq,
                          stop_fraction=D("0.04")) == (D(2500), None)
    # Kelly from the last 4 trades: win rate 1/2, payoff 0.10/0.05 = 2 -> edge 1/4, x 50%
    kelly = Sizing("kelly", _pct("5"), fraction=D("0.5"), lookback=4, cap=D("0.3"))
    assert kelly_fraction(kelly, [0.1, -0.05]) == D("0.05")  # too few trades: the value
    got = kelly_fraction(kelly, [0.3, 0.1, 0.1, -0.05, -0.05])
    assert got == D("0.125")
    assert entry_notional(kelly, eq, kelly=got) == (D(1250), None)


def test_volatility_target_sizes_by_annualised_volatility_capped():
    closes = np.array([100.0, 101.0, 100.0, 102.0, 101.0])
    r = np.diff(np.log(closes))
    vol = float(np.std(r)) * math.sqrt(8760)
    sizing = Sizing("volatility_target", _pct("10"), target=D("0.2"), lookback=4, cap=D("5"))
    got = volatility_fraction(sizing, closes, 8760)
    assert float(got) == pytest.approx(0.1 * 0.2 / vol, rel=1e-12)
    capped = Sizing("volatility_target", _pct("10"), target=D("0.2"), lookback=4,
                    cap=D("0.001"))
    assert volatility_fraction(capped, closes, 8760) == D("0.001")
    assert volatility_fraction(sizing, closes[:3], 8760) == 0  # not enough returns yet


def test_an_entry_shrinks_to_the_cash_then_the_step_and_meets_the_minimums():
    fee = D("0.001")
    ok = size_entry(D(2000), None, D(40_000), D(10_000), fee, MARKET)
    assert (ok.amount, ok.refused) == (D("0.05"), "")
    # 2,000 wanted, 1,000 of cash: 1000 / (40000 * 1.001) = 0.02497.. -> 0.024
    poor = size_entry(D(2000), None, D(40_000), D(1000), fee, MARKET)
    assert poor.amount == D("0.024") and not poor.refused
    tiny = size_entry(D(4), None, D(40_000), D(1000), fee, MARKET)
    assert tiny.refused.startswith("amount 0.000 is below the market's minimum 0.001")
    small = size_entry(None, D("0.001"), D(4000), D(1000), fee, MARKET)
    assert "below the market's minimum notional 5" in small.refused


# -- decisions ----------------------------------------------------------------------------


def test_a_flat_bot_enters_with_half_its_equity_at_the_forming_bars_open(plan):
    c = candles((100, 101, 99, 100.5))
    got = decide(plan, [view(c, {"entry_long": True}, price="100.6")], candle_ms=T,
                 equity=D(1000), cash=D(1000))
    (intent,) = got.intents
    o = intent.order
    assert (intent.key, o.side, o.type, o.reason) == ("entry:BTC/USDT", Side.BUY,
                                                      OrderType.MARKET, Reason.SIGNAL)
    assert o.amount == D("4.970")  # 500 / 100.6 = 4.9702 on the 0.001 step


def test_signal_rules_of_the_kernel(plan):
    c = candles((100, 101, 99, 100.5), (100.5, 101, 100, 100.8))
    now = T + H
    held = {"amount": "2", "entry": "100"}
    # an exit beats an add-on entry on the same bar; the resting stop is cancelled first
    stop = Order("s1", "BTC/USDT", Side.SELL, OrderType.STOP, D(2), stop_price=D(95),
                 reduce_only=True)
    got = decide(plan, [view(c, {"entry_long": True, "exit_long": True}, working=[stop],
                             entry_ms=T, entries=1, peak=D(2), **held)],
                 candle_ms=now, equity=D(1000), cash=D(800))
    assert [(i.key, i.order.reason, i.cancel) for i in got.intents] == [
        ("exit:BTC/USDT", Reason.SIGNAL, ("s1",))]
    # an add-on below max_entries (2)
    got = decide(plan, [view(c, {"entry_long": True}, entry_ms=T, entries=1, peak=D(2),
                             **held)], candle_ms=now, equity=D(1000), cash=D(800))
    assert [i.key for i in got.intents] == ["entry:BTC/USDT"]
    got = decide(plan, [view(c, {"entry_long": True}, entry_ms=T, entries=2, peak=D(2),
                             **held)], candle_ms=now, equity=D(1000), cash=D(800))
    assert got.intents == []
    # time limit 3h: the entry bar counts, so the bar opening 2h after it is the third
    got = decide(plan, [view(c, entry_ms=T, entries=1, peak=D(2), **held)],
                 candle_ms=T + 2 * H, equity=D(1000), cash=D(800))
    assert [(i.key, i.order.reason) for i in got.intents] == [
        ("exit:BTC/USDT", Reason.TIME_LIMIT)]
    assert decide(plan, [view(c, entry_ms=T, entries=1, peak=D(2), **held)],
                  candle_ms=T + H, equity=D(1000), cash=D(800)).intents == []
    # shorts are not allowed on spot; an entry still working blocks another
    got = decide(plan, [view(c, {"entry_short": True})], candle_ms=now, equity=D(1000),
                 cash=D(1000))
    assert got.intents == [] and "short entry signal ignored" in got.notes[0]
    working = Order("e1", "BTC/USDT", Side.BUY, OrderType.MARKET, D(1))
    got = decide(plan, [view(c, {"entry_long": True}, working=[working])], candle_ms=now,
                 equity=D(1000), cash=D(1000))
    assert got.intents == [] and "an entry is still working" in got.notes[0]


def test_the_cooldown_counts_bars_from_the_exit_bar(plan):
    c = candles((100, 101, 99, 100.5))
    exit_fill = T + 30 * 60_000  # a stop filled inside the bar opening at T
    for at, allowed in ((T + H, False), (T + 2 * H, True)):
        got = decide(plan, [view(c, {"entry_long": True}, last_exit_ms=exit_fill)],
                     candle_ms=at, equity=D(1000), cash=D(1000))
        assert bool(got.intents) is allowed, at


def test_take_profit_steps_close_their_share_of_the_largest_position(plan):
    held = {"amount": "3", "entry": "100", "entry_ms": T, "entries": 1, "peak": D(4)}
    through = candles((103, 104.5, 102, 104))  # traded through 104 (entry + 4%)
    got = decide(plan, [view(through, **held)], candle_ms=T + H, equity=D(1000),
                 cash=D(700))
    (tp,) = got.intents
    assert (tp.key, tp.order.amount, tp.order.reason) == ("tp1:BTC/USDT", D(2),
                                                          Reason.TAKE_PROFIT)
    touch = candles((103, 104, 102, 103.5))  # a touch is not a trade-through
    assert decide(plan, [view(touch, **held)], candle_ms=T + H, equity=D(1000),
                  cash=D(700)).intents == []
    last = candles((107, 108.5, 106, 108))
    got = decide(plan, [view(last, tp_taken=1, **held)], candle_ms=T + H, equity=D(1000),
                 cash=D(700))
    assert [(i.key, i.order.amount) for i in got.intents] == [("tp2:BTC/USDT", D(3))]


def test_the_protective_stop_is_the_tighter_of_stop_loss_and_armed_trail(plan):
    bars = candles((100, 101, 99, 100.5), (100.5, 101.5, 100, 101))
    # not armed (the high 101.5 < 102 = entry + 2%): the stop-loss, entry - 5%
    intent, cancel = protection(plan, view(bars, amount="2", entry="100", entry_ms=T))
    assert (intent.order.type, intent.order.stop_price, intent.order.reason) == (
        OrderType.STOP, D("95.00"), Reason.STOP_LOSS)
    assert cancel == ()
    armed = candles((100, 103, 99, 102.5), (102.5, 104, 102, 103.5))
    intent, _ = protection(plan, view(armed, amount="2", entry="100", entry_ms=T))
    assert (intent.order.stop_price, intent.order.reason) == (D("102.96"),
                                                              Reason.TRAILING_STOP)
    # a working stop as tight or tighter stays; a looser one is replaced
    tight = Order("s1", "BTC/USDT", Side.SELL, OrderType.STOP, D(2), stop_price=D("103"),
                  reduce_only=True)
    assert protection(plan, view(armed, amount="2", entry="100", entry_ms=T,
                                 working=[tight])) == (None, ())
    loose = Order("s2", "BTC/USDT", Side.SELL, OrderType.STOP, D(2), stop_price=D("95"),
                  reduce_only=True)
    intent, _ = protection(plan, view(armed, amount="2", entry="100", entry_ms=T,
                                      working=[loose]))
    assert intent.cancel == ("s2",) and intent.order.stop_price == D("102.96")
    # the price already below the stop: out at market
    intent, _ = protection(plan, view(armed, amount="2", entry="100", entry_ms=T,
                                      price="102.5"))
    assert (intent.key, intent.order.type) == ("stopout:BTC/USDT", OrderType.MARKET)
    # flat: a stop left over is cancelled
    assert protection(plan, view(armed, working=[loose])) == (None, ("s2",))


# -- schedules ----------------------------------------------------------------------------


def test_schedules_fire_on_closes_intervals_and_cron_in_their_timezone():
    close = parse_schedule("on_candle_close")
    assert next_fire(close, "4h", T + 1) == T + 4 * H
    assert next_fire(close, "4h", T + 4 * H) == T + 8 * H  # strictly after
    assert next_fire(close, "1w", T) == T + 7 * 24 * H  # weeks open on Mondays
    assert next_fire(close, "1M", T) == 1_706_745_600_000  # 2024-02-01
    assert next_fire(parse_schedule("every 15m"), "1h", T + 1) == T + 15 * 60_000
    berlin = parse_schedule("daily 08:00 Europe/Berlin")
    assert next_fire(berlin, "1h", T) == T + 7 * H  # 08:00 CET is 07:00 UTC
    assert last_closed_open(T + 5, "1h") == T - H
    assert last_closed_open(T + 5, "1M") == 1_701_388_800_000  # December 2023


def _pct(text: str):
    from botfleet.config.units import Percent

    return Percent(D(text) / 100)
