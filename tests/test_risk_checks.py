"""Pre-trade checks: every rule refuses with its rule, level, limit and value, allows the limit
exactly at its edge and refuses one unit over; risk-reducing orders pass what they should and
say so; bad input is an error naming what and where. Engines come from declared limits (and,
for the level semantics, from a real YAML fleet)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_risk_helpers import FLAT, MINUTE, T0, book, ctx, engine, order

from botfleet.orders import Order, OrderType, Side
from botfleet.risk import (
    Book,
    BreakerState,
    KillState,
    RiskConfigError,
    RiskEngine,
    RiskInputError,
    refusal_event,
)

D = Decimal


def only(decision, rule: str, level: str = "bot"):
    assert not decision.allowed, "expected a refusal"
    assert [r.rule for r in decision.refusals] == [rule], decision.reason
    r = decision.refusals[0]
    assert r.level == level
    return r


def test_max_order_size_edge_and_message():
    e = engine(bot={"max_order_size": 1000})
    assert e.check(ctx(order("buy", 10))).allowed  # 1,000 USDT exactly
    r = only(e.check(ctx(order("buy", "10.01"))), "max_order_size")
    assert (r.limit, r.value, r.target) == (D(1000), D("1001.00"), "b1")
    assert r.message == "max_order_size (bot b1): order of 1,001 USDT exceeds 1,000 USDT"


def test_percentages_are_shares_of_the_bots_allocation():
    e = engine(bot={"max_order_size": "25%"}, allocation=D(4000))
    assert e.check(ctx(order("buy", 10))).allowed
    r = only(e.check(ctx(order("buy", "10.01"))), "max_order_size")
    assert "1,000 USDT (25% of 4,000)" in r.message


def test_max_position_counts_the_order_and_working_orders():
    e = engine(bot={"max_position": "50%"})  # 5,000 of 10,000
    held = book({"BTC/USDT": 40}, perf=FLAT)
    assert e.check(ctx(order("buy", 10), held)).allowed
    r = only(e.check(ctx(order("buy", 12), held)), "max_position")
    assert r.message == ("max_position (bot b1): BTC/USDT position of 5,200 USDT would exceed "
                         "5,000 USDT (50% of 10,000)")
    assert (r.limit, r.value) == (D(5000), D(5200))
    working = book({"BTC/USDT": 30}, open_orders=[order("buy", 10, 100)], perf=FLAT)
    assert e.check(ctx(order("buy", 10), working)).allowed
    only(e.check(ctx(order("buy", "10.01"), working)), "max_position")


def test_max_position_values_a_limit_order_at_its_price():
    e = engine(bot={"max_position": 1000})
    assert e.check(ctx(order("buy", 10, 100))).allowed
    r = only(e.check(ctx(order("buy", 10, "100.01"))), "max_position")
    assert r.value == D("1000.10")


def test_max_open_positions_counts_new_pairs_only():
    e = engine(bot={"max_open_positions": 2})
    one = book({"ETH/USDT": 1}, perf=FLAT)
    assert e.check(ctx(order("buy", 1), one)).allowed  # the 2nd position
    two = book({"ETH/USDT": 1, "BTC/USDT": 1}, perf=FLAT)
    r = only(e.check(ctx(order("buy", 1, symbol="SOL/USDT"), two)), "max_open_positions")
    assert (r.limit, r.value) == (2, 3)
    assert "opening SOL/USDT would make 3 open positions, limit 2" in r.message
    assert e.check(ctx(order("buy", 1), two)).allowed  # adds to an open position
    pending = book({"ETH/USDT": 1}, open_orders=[order("buy", 1, 100, "SOL/USDT")], perf=FLAT)
    only(e.check(ctx(order("buy", 1), pending)), "max_open_positions")  # a working entry counts


def test_max_exposure_per_asset_adds_pairs_of_the_same_base():
    e = engine(bot={"max_exposure_per_asset": 4000})
    held = book({"BTC/USDT": 20, "BTC/USDC": 10, "ETH/USDT": 50}, perf=FLAT)
    assert held.exposure == {"BTC": D(3000), "ETH": D(5000)}
    assert e.check(ctx(order("buy", 10), held)).allowed
    r = only(e.check(ctx(order("buy", "10.01"), held)), "max_exposure_per_asset")
    assert r.message == ("max_exposure_per_asset (bot b1): BTC exposure of 4,001 USDT would "
                         "exceed 4,000 USDT")


def test_max_total_exposure():
    e = engine(bot={"max_total_exposure": "80%"})  # 8,000
    held = book({"BTC/USDT": 30, "ETH/USDT": 40}, perf=FLAT)
    assert e.check(ctx(order("buy", 10, symbol="SOL/USDT"), held)).allowed
    r = only(e.check(ctx(order("buy", "10.01", symbol="SOL/USDT"), held)), "max_total_exposure")
    assert r.value == D("8001.00") and "8,000 USDT (80% of 10,000)" in r.message


def test_max_order_rate_counts_the_window_and_the_order():
    e = engine(bot={"max_order_rate": "3/1m"})
    now = T0 + 10 * MINUTE
    two = book(order_times=[now - MINUTE, now - 30_000, now - 1], perf=FLAT)  # 1st: outside
    assert e.check(ctx(order("buy", 1), two, now=now)).allowed
    three = book(order_times=[now - MINUTE + 1, now - 30_000, now - 1], perf=FLAT)
    r = only(e.check(ctx(order("buy", 1), three, now=now)), "max_order_rate")
    assert (r.limit, r.value) == (3, 4)
    assert r.message == "max_order_rate (bot b1): 4 orders within 1m would exceed 3/1m"


def test_price_band_both_sides_and_market_orders():
    e = engine(bot={"price_band": "5%"})
    assert e.check(ctx(order("buy", 1, 105))).allowed
    assert e.check(ctx(order("sell", 1, 95))).allowed
    r = only(e.check(ctx(order("buy", 1, "105.01"))), "price_band")
    assert (r.limit, r.value) == (D("0.05"), D("0.0501"))
    assert r.message == ("price_band (bot b1): limit price 105.01 is 5.01% from the last price "
                         "100, band 5%")
    only(e.check(ctx(order("sell", 1, "94.99"))), "price_band")
    assert e.check(ctx(order("buy", 1))).allowed  # a market order has no price to check
    r = only(e.check(ctx(order("buy", 1, 100), last=None)), "price_band")
    assert "no last price for BTC/USDT" in r.message


def test_min_notional():
    e = engine(bot={"min_notional": 10})
    assert e.check(ctx(order("buy", "0.1"))).allowed
    r = only(e.check(ctx(order("buy", "0.0999"))), "min_notional")
    assert r.message == "min_notional (bot b1): order of 9.99 USDT is below 10 USDT"


def test_free_balance_for_buys_with_fees_and_spot_sells():
    e = engine()
    fee = D("0.001")
    assert e.check(ctx(order("buy", 10), free={"USDT": "1001"}, fee=fee)).allowed
    r = only(e.check(ctx(order("buy", 10), free={"USDT": "1000.99"}, fee=fee)), "free_balance")
    assert (r.limit, r.value) == (D("1000.99"), D("1001.000"))
    assert r.message == ("free_balance (bot b1): buying 10 BTC/USDT costs 1,001 USDT with fees, "
                         "free 1,000.99 USDT")
    assert e.check(ctx(order("sell", 1), free={"BTC": 1})).allowed
    r = only(e.check(ctx(order("sell", "1.00000001"), free={"BTC": 1})), "free_balance")
    assert "selling 1.00000001 BTC/USDT needs 1.00000001 BTC, free 1 BTC" in r.message
    r = only(e.check(ctx(order("buy", 1, symbol="DOGE/EUR"), free={})), "free_balance")
    assert "free 0 EUR" in r.message


def test_contracts_reserve_margin_only_to_add_risk():
    e = engine(spot=False)
    short = book({"BTC/USDT:USDT": -2}, perf=FLAT)
    assert e.check(ctx(order("buy", 2, symbol="BTC/USDT:USDT"), short, free={"USDT": 0})).allowed
    r = only(e.check(ctx(order("sell", 1, symbol="BTC/USDT:USDT"), short, free={"USDT": 99})),
             "free_balance")
    assert "the order needs 100 USDT" in r.message


def test_every_refusal_is_listed_not_just_the_first():
    e = engine(bot={"max_order_size": 100, "max_position": 100, "min_notional": 10000})
    d = e.check(ctx(order("buy", 5), free={"USDT": 1}))
    assert d.rules() == ["max_order_size", "max_position", "min_notional", "free_balance"]
    assert d.reason.count(";") == 3 and not d
    event = refusal_event(d, "b1", T0)
    assert (event.kind, event.rule, event.state) == ("risk_refusal", "max_order_size", "refused")


def test_a_market_order_without_a_last_price_is_refused():
    r = only(engine().check(ctx(order("buy", 1), last=None)), "last_price")
    assert r.message == "last_price (bot b1): no last price for BTC/USDT to value a market order"


def test_stop_orders_are_valued_at_their_trigger():
    e = engine(bot={"max_order_size": 1000})
    assert e.check(ctx(order("buy", 10, stop=100))).allowed
    only(e.check(ctx(order("buy", 10, stop="100.01"))), "max_order_size")


# -- risk-reducing orders ---------------------------------------------------------------------
KILL = KillState(7, "global", "", "flatten", "exchange outage", "cli:ops@host", T0)


def test_reducing_orders_skip_size_and_exposure_limits_and_say_so():
    e = engine(bot={"max_order_size": 100, "max_position": 100, "max_total_exposure": 100})
    held = book({"BTC/USDT": 50}, perf=FLAT)  # 5,000 USDT, far over every limit
    d = e.check(ctx(order("sell", 50), held))
    assert d.allowed and d.reducing
    assert "size, position, exposure and time limits do not apply" in d.notes[0]
    assert e.check(ctx(order("buy", 1), held)).rules() == ["max_position",
                                                           "max_total_exposure"]  # adding
    d = e.check(ctx(order("sell", 51), held))  # would go short: not reducing
    assert not d.allowed and not d.reducing
    assert "max_order_size" in d.rules()


def test_working_exits_count_when_judging_whether_an_order_reduces():
    held = book({"BTC/USDT": 1}, open_orders=[order("sell", 1, 110)], perf=FLAT)
    d = engine(bot={"max_order_size": 50}).check(ctx(order("sell", 1), held, free={"BTC": 2}))
    assert not d.reducing and d.rules() == ["max_order_size"]


def test_under_a_kill_switch_only_reducing_orders_pass():
    e = engine()
    r = only(e.check(ctx(order("buy", 1), kill=KILL)), "kill_switch", "fleet")
    assert r.message == ("kill_switch (global): flatten engaged by cli:ops@host at "
                         "2026-01-01 00:00:00 UTC: exchange outage")
    held = book({"BTC/USDT": 2}, perf=FLAT)
    d = e.check(ctx(order("sell", 2), held, kill=KILL))
    assert d.allowed and "allowed under kill_switch (global)" in d.notes[1]
    lifted = KillState(8, "bot", "b1", "freeze", "x", "y", T0, "next_day", T0 + 1)
    assert e.check(ctx(order("buy", 1), kill=lifted)).allowed  # past its next_day release


def test_reducing_orders_still_meet_band_min_notional_rate_and_balance():
    e = engine(bot={"price_band": "5%", "min_notional": 10, "max_order_rate": "1/1m"})
    held = book({"BTC/USDT": 2}, order_times=[T0 + 12 * 3_600_000 - 1], perf=FLAT)
    d = e.check(ctx(order("sell", "0.05", 80), held, free={"BTC": 0}, kill=KILL))
    assert d.reducing and d.rules() == ["max_order_rate", "price_band", "min_notional",
                                        "free_balance"]


def test_reduce_only_that_would_grow_the_position_is_refused():
    r = only(engine().check(ctx(order("buy", 1, reduce_only=True))), "reduce_only")
    assert "would not reduce the BTC/USDT position of 0" in r.message
    held = book({"BTC/USDT": 1}, perf=FLAT)
    assert engine().check(ctx(order("sell", 1, reduce_only=True), held)).allowed


def test_an_open_breaker_halts_entries_until_its_cooldown_ends():
    now = T0 + 12 * 3_600_000
    b = BreakerState("bot", "b1", "open", now - 1000, now + 1000, "max_consecutive_errors",
                     "5 errors in a row")
    r = only(engine().check(ctx(order("buy", 1), breakers=[b], now=now)), "circuit_breaker")
    assert "circuit_breaker (bot b1): open since" in r.message and "5 errors in a row" in r.message
    assert engine().check(ctx(order("buy", 1), breakers=[b], now=now + 1000)).allowed
    held = book({"BTC/USDT": 1}, perf=FLAT)
    assert engine().check(ctx(order("sell", 1), held, breakers=[b], now=now)).allowed


# -- levels -----------------------------------------------------------------------------------
def test_exchange_and_fleet_limits_bound_the_aggregate_of_their_bots():
    e = engine(exchange={"max_position": "10%"}, fleet={"max_total_exposure": 3500})
    mine = book({"BTC/USDT": 5}, perf=FLAT)
    other = book({"BTC/USDT": 10, "ETH/USDT": 10}, perf=FLAT)
    agg = Book.combine([mine, other])
    assert agg.legs["BTC/USDT"].position == D(15) and agg.open_positions == 3
    c = ctx(order("buy", 5), mine, exchange=agg, fleet=agg)  # exchange BTC: 2,000 of 2,000
    assert e.check(c).allowed
    d = e.check(ctx(order("buy", "5.01"), mine, exchange=agg, fleet=agg))
    r = only(d, "max_position", "exchange")
    assert r.target == "binance" and "2,000 USDT (10% of 20,000)" in r.message
    d = e.check(ctx(order("buy", 10, symbol="SOL/USDT"), mine, exchange=agg, fleet=agg))
    assert d.allowed  # fleet total 2,500 + 1,000 = 3,500 exactly
    r = only(e.check(ctx(order("buy", "10.01", symbol="SOL/USDT"), mine, exchange=agg,
                         fleet=agg)), "max_total_exposure", "fleet")
    assert r.message.startswith("max_total_exposure (fleet main): total exposure of 3,501")


def test_open_positions_at_exchange_level_count_every_bots_positions():
    e = engine(exchange={"max_open_positions": 3})
    mine = book({"BTC/USDT": 1}, perf=FLAT)
    agg = Book.combine([mine, book({"BTC/USDT": 1, "ETH/USDT": 1}, perf=FLAT)])
    only(e.check(ctx(order("buy", 1, symbol="SOL/USDT"), mine, exchange=agg)),
         "max_open_positions", "exchange")
    assert e.check(ctx(order("buy", 1), mine, exchange=agg)).allowed


FLEET = """
kind: fleet
version: 1
name: main
capital: {currency: USDT, total: 10000}
defaults: {exchange: binance, timeframe: 1h, risk: {max_order_size: 50%}}
exchanges:
  - name: binance
    ccxt_id: binance
    risk: {max_position: 25%, price_band: 2%, max_order_rate: 5/1m,
           circuit_breaker: {max_consecutive_errors: 3}}
  - {name: kraken, ccxt_id: kraken}
strategies:
  - {name: s, entry: close > open, exit: close < open}
bots: [bots.d/*.yaml]
risk:
  max_total_exposure: 60%
  max_daily_loss: 2%
  kill_switch: {on_trigger: flatten, release: next_day}
"""


def _bot(write, name: str, allocation, exchange: str = "binance", risk: str = "") -> None:
    write(f"bots.d/{name}.yaml", f"""
        kind: bot
        version: 1
        name: {name}
        exchange: {exchange}
        pairs: [BTC/USDT]
        strategy: s
        capital: {{allocation: {allocation}}}
        {risk}
        """)


@pytest.fixture
def yaml_fleet(write, tmp_path):
    from botfleet.config import load_fleet

    write("fleet.yaml", FLEET)
    _bot(write, "a", 2000)
    _bot(write, "b", "30%", risk="risk: {max_order_size: 100, min_notional: 5}")
    _bot(write, "k", 1000, exchange="kraken")
    load = load_fleet(tmp_path / "fleet.yaml", display_root=tmp_path)
    assert load.ok, [str(p) for p in load.problems]
    return load.fleet


def test_for_bot_resolves_the_three_levels_from_the_fleet(yaml_fleet):
    e = RiskEngine.for_bot(yaml_fleet, "b")
    bot, exchange, fleet = e.levels
    assert (bot.level, bot.target, bot.max_order_size.amount) == ("bot", "b", D(100))
    assert bot.max_order_size.text == "100 USDT" and bot.min_notional.amount == D(5)
    assert exchange.capital == D(5000)  # a's 2,000 + b's 30% of 10,000; kraken's bot not
    assert exchange.max_position.text == "1,250 USDT (25% of 5,000)"
    assert exchange.max_order_rate == (5, 60_000) and exchange.price_band == D("0.02")
    assert fleet.max_total_exposure.amount == D(6000) and fleet.max_daily_loss.amount == D(200)
    assert e.breakers["exchange"].max_consecutive_errors == 3
    assert (e.kill["fleet"].on_trigger, e.kill["fleet"].release) == ("flatten", "next_day")
    assert e.needs == {"exchange", "fleet"}
    a = RiskEngine.for_bot(yaml_fleet, yaml_fleet.bots["a"])
    assert a.level("bot").max_order_size.text == "1,000 USDT (50% of 2,000)"
    k = RiskEngine.for_bot(yaml_fleet, "k")
    assert [lv.level for lv in k.levels] == ["bot", "fleet"]  # kraken declares nothing


def test_for_bot_checks_through_every_level(yaml_fleet):
    e = RiskEngine.for_bot(yaml_fleet, "a")
    perf = FLAT
    mine = book({"BTC/USDT": 10}, perf=perf)
    agg = Book.combine([mine], perf)
    d = e.check(ctx(order("buy", "2.5"), mine, exchange=agg, fleet=agg))  # 1,250 at exchange
    assert d.allowed, d.reason
    d = e.check(ctx(order("buy", "2.51", "102.1"), mine, exchange=agg, fleet=agg))
    assert d.rules() == ["max_position", "price_band"]
    assert {r.level for r in d.refusals} == {"exchange"}


def test_a_percentage_without_capital_fails_when_the_engine_is_built():
    with pytest.raises(RiskConfigError, match=r"max_position 50% \(bot b1\): a percentage "
                                              r"needs the bot's capital.allocation"):
        engine(bot={"max_position": "50%"}, allocation=None)
    with pytest.raises(RiskConfigError, match=r"max_daily_loss 3% \(fleet main\).*capital.total"):
        engine(fleet={"max_daily_loss": "3%"}, fleet_capital=None)


def test_unknown_bot_is_named(yaml_fleet):
    with pytest.raises(RiskConfigError, match=r"no bot 'zz' in fleet main \(bots: a, b, k\)"):
        RiskEngine.for_bot(yaml_fleet, "zz")


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("amount", [D(0), D(-1), D("NaN"), D("Infinity"), 1.5])
def test_a_bad_amount_is_an_error_naming_the_order(amount):
    o = Order("cid-9", "BTC/USDT", Side.BUY, OrderType.MARKET, amount)
    with pytest.raises(RiskInputError) as err:
        engine().check(ctx(o))
    assert str(err.value) == (f"order cid-9 of bot b1 on BTC/USDT: amount must be a finite "
                              f"Decimal > 0, got {amount!r}")


def test_a_limit_order_without_price_is_an_error():
    o = Order("cid-1", "BTC/USDT", Side.BUY, OrderType.LIMIT, D(1))
    with pytest.raises(RiskInputError, match=r"cid-1 of bot b1 on BTC/USDT: a limit order needs "
                                             r"a price > 0, got None"):
        engine().check(ctx(o))
    o = Order("cid-2", "BTC/USDT", Side.BUY, OrderType.STOP, D(1))
    with pytest.raises(RiskInputError, match="a stop order needs a stop_price > 0"):
        engine().check(ctx(o))


@pytest.mark.parametrize("last", [D(0), D("NaN"), 100.0])
def test_a_bad_last_price_is_an_error(last):
    from dataclasses import replace

    with pytest.raises(RiskInputError) as err:
        engine().check(replace(ctx(order("buy", 1)), last_price=last))
    assert str(err.value) == (f"bot b1: last price of BTC/USDT must be a finite Decimal > 0 or "
                              f"None, got {last!r}")


def test_a_missing_level_book_is_an_error():
    e = engine(exchange={"max_position": 1000})
    c = ctx(order("buy", 1))
    from dataclasses import replace

    with pytest.raises(RiskInputError, match=r"limits are declared at exchange binance but the "
                                             r"context has no exchange book"):
        e.check(replace(c, exchange=None))
    assert engine(exchange={"max_order_size": 1000}).check(replace(c, exchange=None)).allowed


def test_books_refuse_what_they_cannot_value():
    with pytest.raises(RiskInputError, match="no last price for ETH/USDT"):
        Book.build({"ETH/USDT": D(1)}, {})
    with pytest.raises(RiskInputError, match=r"open order c1 on BTC/USDT: remaining amount must "
                                             r"be > 0"):
        Book.build({}, {"BTC/USDT": D(1)}, [order("buy", 0, 1)])
    assert Book.build({"ETH/USDT": D(0)}, {}).open_positions == 0  # flat needs no price
