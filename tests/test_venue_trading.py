"""The venue's trading side, exercised only through the real ccxt client.

Prices are checked twice: as the literal numbers a reader can verify by hand from the candles
below, and against `botfleet.sim.fills` (the backtest's own rules), so that a change in either
shows up here. Balances are checked exactly, in Decimal, from the raw strings Binance sends.

The hand-made candles (a test input whose every high and low is known) make each fill rule
visible; a last group runs on the real recorded BTC/USDT candles.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from decimal import Decimal

import ccxt
import numpy as np
import pandas as pd
import pytest

from botfleet.data.candles import from_rows
from botfleet.orders import Liquidity, OrderType, Side
from botfleet.sim import fills as F
from botfleet.sim.fillmodel import FillModel
from botfleet.venue import (
    BinanceServer,
    Clock,
    MarketData,
    SimClock,
    SymbolRules,
    binance_client,
    synthetic_market,
)

from shared_data import SHARED

H = 3_600_000
M = 60_000
T0 = 472_222 * H  # 2023-11-14 22:00 UTC
SYM = "ABC/USDT"
RULES = {SYM: SymbolRules(tick_size="0.01000000", min_price="0.01000000",
                          step_size="0.00100000", min_qty="0.00100000",
                          max_qty="9000.00000000", min_notional="5.00000000")}
BARS = [  # open, high, low, close, volume
    (100, 101, 99, 100, 1000),   # 0
    (100, 102, 98, 101, 1000),   # 1
    (101, 105, 100, 104, 1000),  # 2
    (104, 104, 95, 96, 1000),    # 3  falls through 97 and 98
    (94, 96, 93, 95, 1000),      # 4  opens below 96 and 97 (a gap)
    (95, 99, 95, 98, 1000),      # 5  low exactly 95: a touch, not a trade-through
    (98, 103, 97, 102, 1000),    # 6
    (102, 106, 101, 105, 1000),  # 7
] + [(105, 106, 104, 105, 1000)] * 20
SLIP = 0.001  # 10 bps fixed slippage
MAKER, TAKER = Decimal("0.001"), Decimal("0.002")
D = Decimal
_names = itertools.count()


def candles():
    return from_rows([[T0 + k * H, *bar] for k, bar in enumerate(BARS)])


def venue(**kw) -> BinanceServer:
    """A venue on the candles above; no ORDERS rate limit (test_venue_faults checks it)."""
    market = MarketData.from_arrays({SYM: {"1h": candles()}}, clock=Clock(T0), rules=RULES)
    return BinanceServer(market, order_limit=0, **kw).start()


@pytest.fixture(scope="module")
def server():
    srv = venue(fills=FillModel(slippage="fixed", bps=10, maker_fee=MAKER, taker_fee=TAKER))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def capped():
    """10% of a bar's volume per order (100 ABC a bar), no slippage, 0.1% fees."""
    srv = venue(fills=FillModel(volume_cap=0.1))
    yield srv
    srv.stop()


def trader(srv: BinanceServer, balances=None, **config):
    """A fresh account and a ccxt client signed with its keys."""
    acct = srv.add_account(f"t{next(_names)}", balances or {"USDT": "10000"})
    config.setdefault("enableRateLimit", False)  # ccxt's own throttle would only slow tests
    client = binance_client(srv.base_url, apiKey=acct.api_key, secret=acct.secret, **config)
    client.load_markets()
    return acct, client


def at(srv: BinanceServer, bar: int, minutes: int = 0) -> int:
    return srv.set_time(T0 + bar * H + minutes * M)


def balances(client) -> dict[str, tuple[Decimal, Decimal]]:
    """(free, locked) per asset, from Binance's raw decimal strings."""
    info = client.fetch_balance()["info"]
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in info["balances"]}


def only_fill(order) -> dict:
    (fill,) = order["info"]["fills"]
    return fill


def trade_of(client, order_id):
    (trade,) = [t for t in client.fetch_my_trades(SYM) if t["order"] == str(order_id)]
    return trade


# --- market orders ------------------------------------------------------------------------------

def test_a_market_order_fills_at_the_next_open_with_slippage_and_the_taker_fee(server):
    _, ex = trader(server)
    at(server, 0, 30)
    order = ex.create_order(SYM, "market", "buy", 2)
    assert order["status"] == "open" and order["filled"] == 0
    assert balances(ex)["USDT"] == (D("9799.6"), D("200.4"))  # 2 x 100 (now) x 1.002 locked
    server.advance(30 * M)  # bar 1 opens at 100
    done = ex.fetch_order(order["id"], SYM)
    assert done["status"] == "closed" and done["filled"] == 2
    assert done["average"] == 100.10 == F.taker_price(100.0, 1, SLIP, 0.01)
    trade = trade_of(ex, order["id"])
    assert trade["timestamp"] == T0 + H and trade["takerOrMaker"] == "taker"
    assert D(trade["info"]["commission"]) == D("0.4004")  # 2 x 100.10 x 0.2%
    assert balances(ex)["USDT"] == (D("10000") - D("200.20") - D("0.4004"), D(0))
    assert balances(ex)["ABC"] == (D(2), D(0))


def test_an_order_booked_at_a_bar_open_fills_at_that_open_in_its_answer(server):
    _, ex = trader(server)
    at(server, 1)
    order = ex.create_order(SYM, "market", "buy", 1)
    assert order["status"] == "closed"
    fill = only_fill(order)
    assert (fill["price"], fill["qty"], fill["commission"], fill["commissionAsset"]) == \
        ("100.10000000", "1.00000000", "0.20020000", "USDT")


def test_a_market_sell_slips_down_and_pays_the_fee_out_of_its_proceeds(server):
    _, ex = trader(server, {"ABC": "3", "USDT": "0"})
    at(server, 2)
    order = ex.create_order(SYM, "market", "sell", 3)
    assert order["average"] == 100.89 == F.taker_price(101.0, -1, SLIP, 0.01)  # 100.899 down
    assert balances(ex)["USDT"] == (D("302.67") - D("0.60534"), D(0))
    assert balances(ex)["ABC"] == (D(0), D(0))


def test_a_quote_amount_market_buy_is_sized_at_the_fill_open(server):
    _, ex = trader(server)
    at(server, 0, 10)
    order = ex.create_market_buy_order_with_cost(SYM, 50.5)
    server.advance(50 * M)
    done = ex.fetch_order(order["id"], SYM)
    # 50.5 / 100 (the open) = 0.505 ABC, then filled at the slipped 100.10
    assert done["filled"] == 0.505 and done["average"] == 100.10
    assert done["info"]["origQuoteOrderQty"] == "50.50000000"


# --- limit orders -------------------------------------------------------------------------------

def test_a_limit_rests_until_the_price_trades_through_and_fills_at_its_price_as_maker(server):
    _, ex = trader(server)
    at(server, 2)
    order = ex.create_order(SYM, "limit", "buy", 3, 97)
    assert order["status"] == "open"
    assert balances(ex)["USDT"] == (D("10000") - D("291.582"), D("291.582"))
    server.advance(H + 30 * M)  # inside bar 3: its low is not known yet
    assert ex.fetch_order(order["id"], SYM)["status"] == "open"
    server.advance(30 * M)  # bar 3 is over: it traded down to 95
    done = ex.fetch_order(order["id"], SYM)
    assert done["status"] == "closed" and done["average"] == 97.0
    trade = trade_of(ex, order["id"])
    assert trade["takerOrMaker"] == "maker" and trade["timestamp"] == T0 + 4 * H - 1
    assert D(trade["info"]["commission"]) == D("0.291")  # 291 x 0.1%
    assert balances(ex)["USDT"] == (D("10000") - D("291") - D("0.291"), D(0))


def test_a_touch_is_not_a_fill(server):
    _, ex = trader(server)
    at(server, 5)  # bar 5 opens at 95 and its low is 95
    order = ex.create_order(SYM, "limit", "buy", 1, 95)
    at(server, 8)
    assert ex.fetch_order(order["id"], SYM)["status"] == "open"
    assert not F.limit_through(1, 95.0, 95.0, 99.0)


def test_an_open_through_the_limit_fills_at_the_limit_not_the_better_open(server):
    _, ex = trader(server)
    at(server, 3, 30)
    order = ex.create_order(SYM, "limit", "buy", 1, 96)
    at(server, 4)  # bar 4 opens at 94, below the limit
    done = ex.fetch_order(order["id"], SYM)
    assert done["status"] == "closed" and done["average"] == 96.0
    assert trade_of(ex, order["id"])["timestamp"] == T0 + 4 * H  # known at the open


def test_a_post_only_limit_that_would_cross_is_refused(server):
    _, ex = trader(server)
    at(server, 1, 5)  # the price now is bar 1's open, 100
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="immediately match"):
        ex.create_order(SYM, "limit", "buy", 1, 100.5, {"postOnly": True})
    order = ex.create_order(SYM, "limit", "buy", 1, 99, {"postOnly": True})
    assert order["info"]["type"] == "LIMIT_MAKER" and order["status"] == "open"


def test_ioc_and_fok_limits_expire_after_their_first_bar(server, capped):
    _, ex = trader(server)
    at(server, 1, 10)
    ioc = ex.create_order(SYM, "limit", "buy", 1, 97, {"timeInForce": "IOC"})
    at(server, 3)  # bar 2 (its only bar) never traded below 100
    assert ex.fetch_order(ioc["id"], SYM)["status"] == "expired"
    _, ex2 = trader(capped, {"USDT": "100000"})
    at(capped, 2, 10)
    fok = ex2.create_order(SYM, "limit", "buy", 300, 97, {"timeInForce": "FOK"})
    at(capped, 5)  # bar 3 trades through 97 but lets 100 of 300 fill: all or nothing
    got = ex2.fetch_order(fok["id"], SYM)
    assert got["status"] == "expired" and got["filled"] == 0


# --- stop-loss and take-profit --------------------------------------------------------------------

def test_a_stop_loss_triggers_at_its_stop_and_fills_there_slipped(server):
    _, ex = trader(server, {"ABC": "10", "USDT": "0"})
    at(server, 3)
    order = ex.create_order(SYM, "market", "sell", 2, None, {"stopLossPrice": 98})
    assert order["info"]["type"] == "STOP_LOSS" and order["status"] == "open"
    assert balances(ex)["ABC"] == (D(8), D(2))
    at(server, 4)
    done = ex.fetch_order(order["id"], SYM)
    assert done["status"] == "closed" and done["triggerPrice"] == 98
    assert done["average"] == 97.90 == F.taker_price(98.0, -1, SLIP, 0.01)  # 97.902 down
    assert balances(ex)["USDT"] == (D("195.80") - D("0.3916"), D(0))
    assert balances(ex)["ABC"] == (D(8), D(0))


def test_a_stop_the_open_gaps_through_fills_at_the_open(server):
    _, ex = trader(server, {"ABC": "1", "USDT": "0"})
    at(server, 3, 30)
    order = ex.create_order(SYM, "market", "sell", 1, None, {"stopLossPrice": 97})
    at(server, 4)
    done = ex.fetch_order(order["id"], SYM)
    ref = F.stop_ref(-1, 94.0, 97.0)
    assert ref == 94.0 and done["average"] == 93.90 == F.taker_price(ref, -1, SLIP, 0.01)
    assert trade_of(ex, order["id"])["timestamp"] == T0 + 4 * H


def test_a_stop_limit_fills_at_the_stop_or_rests_as_a_limit_when_the_open_gaps_past_it(server):
    _, ex = trader(server, {"ABC": "2", "USDT": "0"})
    at(server, 3)
    within = ex.create_order(SYM, "limit", "sell", 1, 97.5, {"stopLossPrice": 98})
    assert within["info"]["type"] == "STOP_LOSS_LIMIT"
    at(server, 3, 30)
    gapped = ex.create_order(SYM, "limit", "sell", 1, 96.5, {"stopLossPrice": 97})
    at(server, 5)
    first = ex.fetch_order(within["id"], SYM)
    assert first["status"] == "closed" and first["average"] == 98.0
    assert trade_of(ex, within["id"])["takerOrMaker"] == "taker"  # at its trigger, no slippage
    assert np.isnan(F.stop_limit_price(-1, 94.0, 97.0, 96.5))  # bar 4 opened at 94
    assert ex.fetch_order(gapped["id"], SYM)["status"] == "open"  # resting as a limit
    at(server, 6)  # bar 5's high 99 trades through 96.5
    second = ex.fetch_order(gapped["id"], SYM)
    assert second["status"] == "closed" and second["average"] == 96.5
    trade = trade_of(ex, gapped["id"])
    assert trade["takerOrMaker"] == "maker" and trade["timestamp"] == T0 + 6 * H - 1


def test_take_profit_orders(server):
    _, ex = trader(server, {"ABC": "2", "USDT": "0"})
    at(server, 1, 30)
    tp_limit = ex.create_order(SYM, "limit", "sell", 1, 103, {"takeProfitPrice": 103})
    tp_market = ex.create_order(SYM, "market", "sell", 1, None, {"takeProfitPrice": 103})
    assert (tp_limit["info"]["type"], tp_market["info"]["type"]) == \
        ("TAKE_PROFIT_LIMIT", "TAKE_PROFIT")
    at(server, 3)  # bar 2 rose through 103 (high 105)
    lim, mkt = ex.fetch_order(tp_limit["id"], SYM), ex.fetch_order(tp_market["id"], SYM)
    # the backtest's take-profit: a resting limit at its level, maker
    assert lim["average"] == 103.0 and trade_of(ex, lim["id"])["takerOrMaker"] == "maker"
    # a take-profit market order: triggered at its stop, a taker, slipped
    assert mkt["average"] == 102.89 == F.taker_price(103.0, -1, SLIP, 0.01)
    assert trade_of(ex, mkt["id"])["takerOrMaker"] == "taker"


# --- partial fills --------------------------------------------------------------------------------

def test_a_volume_capped_market_order_fills_across_bars(capped):
    _, ex = trader(capped, {"USDT": "100000"})
    at(capped, 0, 30)
    order = ex.create_order(SYM, "market", "buy", 250)
    at(capped, 1)
    part = ex.fetch_order(order["id"], SYM)
    assert (part["status"], part["filled"], part["remaining"]) == ("open", 100, 150)
    assert part["info"]["status"] == "PARTIALLY_FILLED"
    at(capped, 3)
    done = ex.fetch_order(order["id"], SYM)
    assert done["info"]["status"] == "FILLED" and done["filled"] == 250
    trades = [t for t in ex.fetch_my_trades(SYM) if t["order"] == order["id"]]
    assert [(t["timestamp"], t["amount"], t["price"]) for t in trades] == [
        (T0 + H, 100, 100.0), (T0 + 2 * H, 100, 101.0), (T0 + 3 * H, 50, 104.0)]
    assert done["average"] == pytest.approx(101.2)
    free, locked = balances(ex)["USDT"]
    assert locked == 0 and free == D(100000) - D(25300) - D("25.3")


def test_a_volume_capped_limit_fills_each_time_the_price_trades_through(capped):
    _, ex = trader(capped, {"USDT": "100000"})
    at(capped, 2)
    order = ex.create_order(SYM, "limit", "buy", 250, 97)
    at(capped, 7)
    trades = [t for t in ex.fetch_my_trades(SYM) if t["order"] == order["id"]]
    assert [(t["timestamp"], t["amount"], t["price"]) for t in trades] == [
        (T0 + 4 * H - 1, 100, 97.0),  # bar 3 traded through
        (T0 + 4 * H, 100, 97.0),      # bar 4 opened below
        (T0 + 5 * H, 50, 97.0)]       # so did bar 5 (at 95)
    assert ex.fetch_order(order["id"], SYM)["status"] == "closed"


# --- finding and cancelling orders ----------------------------------------------------------------

def test_cancel_by_id_and_by_client_id_releases_the_lock(server):
    _, ex = trader(server)
    at(server, 2)
    a = ex.create_order(SYM, "limit", "buy", 1, 50)
    b = ex.create_order(SYM, "limit", "buy", 1, 51, {"clientOrderId": "bot-7-b"})
    assert balances(ex)["USDT"][1] == D("50.1") + D("51.102")
    assert ex.cancel_order(a["id"], SYM)["status"] == "canceled"
    gone = ex.cancel_order(None, SYM, {"clientOrderId": "bot-7-b"})
    assert gone["status"] == "canceled" and gone["id"] == b["id"]
    assert balances(ex)["USDT"] == (D(10000), D(0))
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order(a["id"], SYM)  # already cancelled
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order("999999", SYM)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order("999999", SYM)


def test_an_order_is_found_by_its_client_id_after_the_answer_was_lost(server):
    _, ex = trader(server)
    at(server, 2)
    order = ex.create_order(SYM, "limit", "buy", 1, 90, {"clientOrderId": "bot-1-0001"})
    got = ex.fetch_order("", SYM, {"clientOrderId": "bot-1-0001"})
    assert got["id"] == order["id"] and got["clientOrderId"] == "bot-1-0001"
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order("", SYM, {"clientOrderId": "bot-1-0002"})


def test_a_client_id_is_unique_among_open_orders(server):
    _, ex = trader(server)
    at(server, 2)
    first = ex.create_order(SYM, "limit", "buy", 1, 90, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order(SYM, "limit", "buy", 1, 91, {"clientOrderId": "dup-1"})
    ex.cancel_order(first["id"], SYM)
    again = ex.create_order(SYM, "limit", "buy", 1, 92, {"clientOrderId": "dup-1"})
    assert ex.fetch_order("", SYM, {"clientOrderId": "dup-1"})["id"] == again["id"]


def test_open_orders_all_orders_and_my_trades(server):
    _, ex = trader(server)
    at(server, 1)
    filled = ex.create_order(SYM, "market", "buy", 1)
    resting = ex.create_order(SYM, "limit", "buy", 1, 60)
    cancelled = ex.create_order(SYM, "limit", "buy", 1, 61)
    ex.cancel_order(cancelled["id"], SYM)
    assert [o["id"] for o in ex.fetch_open_orders(SYM)] == [resting["id"]]
    ex.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    assert [o["id"] for o in ex.fetch_open_orders()] == [resting["id"]]
    every = ex.fetch_orders(SYM)
    assert [(o["id"], o["status"]) for o in every] == [
        (filled["id"], "closed"), (resting["id"], "open"), (cancelled["id"], "canceled")]
    assert [o["id"] for o in ex.fetch_orders(SYM, limit=1)] == [cancelled["id"]]
    assert [o["id"] for o in ex.fetch_orders(SYM, params={"orderId": resting["id"]})] == \
        [resting["id"], cancelled["id"]]
    trades = ex.fetch_my_trades(SYM)
    assert [t["order"] for t in trades] == [filled["id"]]
    assert ex.fetch_my_trades(SYM, since=T0 + H + 1) == []


def test_money_it_does_not_have_is_insufficient_funds_and_books_nothing(server):
    _, ex = trader(server, {"USDT": "100"})
    at(server, 2)
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        ex.create_order(SYM, "limit", "buy", 1, 100)  # 100 x 1.002 locked > 100
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYM, "market", "sell", 1)  # holds no ABC
    assert ex.fetch_orders(SYM) == [] and balances(ex)["USDT"] == (D(100), D(0))


def test_open_orders_are_capped_per_symbol_as_the_filters_say(server):
    _, ex = trader(server, {"USDT": "1000000", "ABC": "100"})
    at(server, 2)
    for k in range(5):
        ex.create_order(SYM, "market", "sell", 1, None, {"stopLossPrice": 50 + k})
    with pytest.raises(ccxt.BadRequest, match="MAX_NUM_ALGO_ORDERS"):
        ex.create_order(SYM, "market", "sell", 1, None, {"stopLossPrice": 60})
    for k in range(195):
        ex.create_order(SYM, "limit", "buy", 0.1, 60 + k / 100)
    with pytest.raises(ccxt.BadRequest, match="MAX_NUM_ORDERS"):
        ex.create_order(SYM, "limit", "buy", 0.1, 59)
    filters = {f["filterType"]: f for f in ex.market(SYM)["info"]["filters"]}
    assert filters["MAX_NUM_ORDERS"]["maxNumOrders"] == 200
    ex.cancel_all_orders(SYM)
    assert ex.create_order(SYM, "limit", "buy", 0.1, 59)["status"] == "open"


def test_an_ioc_stop_limit_fills_at_its_trigger_or_expires(server):
    _, ex = trader(server, {"ABC": "2", "USDT": "0"})
    at(server, 3, 30)  # bar 4 opens at 94, past the limit: the trigger cannot fill
    gapped = ex.create_order(SYM, "limit", "sell", 1, 96.5,
                             {"stopLossPrice": 97, "timeInForce": "IOC"})
    at(server, 6)
    assert ex.fetch_order(gapped["id"], SYM)["status"] == "expired"
    assert balances(ex)["ABC"] == (D(2), D(0))


# --- Binance's refusals, through ccxt's mapping ---------------------------------------------------

@pytest.mark.parametrize("params, error, words", [
    ({"quantity": "1.0005", "type": "LIMIT", "price": "100", "timeInForce": "GTC"},
     ccxt.InvalidOrder, "LOT_SIZE"),
    ({"quantity": "1", "type": "LIMIT", "price": "100.005", "timeInForce": "GTC"},
     ccxt.InvalidOrder, "PRICE_FILTER"),
    ({"quantity": "0.01", "type": "LIMIT", "price": "100", "timeInForce": "GTC"},
     ccxt.BadRequest, "NOTIONAL"),
    ({"quantity": "0.01", "type": "MARKET"}, ccxt.BadRequest, "NOTIONAL"),
    ({"quantity": "1.000000001", "type": "MARKET"}, ccxt.BadRequest, "-1111"),
    ({"quantity": "1e3", "type": "MARKET"}, ccxt.BadRequest, "-1100"),
    ({"quantity": "1", "type": "LIMIT", "price": "100"}, ccxt.BadRequest, "timeInForce"),
    ({"quantity": "1", "type": "MARKET", "price": "100"}, ccxt.BadRequest, "-1106"),
    ({"type": "MARKET"}, ccxt.BadRequest, "quoteOrderQty"),
    ({"quantity": "1", "type": "STOP_LOSS"}, ccxt.BadRequest, "stopPrice"),
    ({"quantity": "1", "type": "ICEBERG"}, ccxt.BadRequest, "-1116"),
    ({"quantity": "1", "type": "MARKET", "side": "HOLD"}, ccxt.BadRequest, "-1117"),
    ({"quantity": "1", "type": "MARKET", "newClientOrderId": "no spaces"},
     ccxt.BadRequest, "-1100"),
    ({"quantity": "1", "type": "MARKET", "symbol": "XYZUSDT"}, ccxt.BadSymbol, "-1121"),
])
def test_malformed_orders_get_binances_codes(server, params, error, words):
    _, ex = trader(server)
    at(server, 2)
    with pytest.raises(error, match=words):
        ex.privatePostOrder({"symbol": "ABCUSDT", "side": "BUY", **params})
    assert ex.fetch_orders(SYM) == []


# --- signatures and keys --------------------------------------------------------------------------

def test_a_bad_signature_a_bad_key_and_a_stale_timestamp_are_refused(server):
    acct, good = trader(server)
    at(server, 2)
    wrong_secret = binance_client(server.base_url, apiKey=acct.api_key, secret="f" * 64)
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        wrong_secret.fetch_balance()
    unknown = binance_client(server.base_url, apiKey="a" * 64, secret="b" * 64)
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        unknown.fetch_balance()
    malformed = binance_client(server.base_url, apiKey="not a key!", secret="b" * 64)
    with pytest.raises(ccxt.AuthenticationError, match="-2014"):
        malformed.fetch_balance()
    good.options["timeDifference"] = 20_000  # timestamps 20 s old: outside the 10 s window
    with pytest.raises(ccxt.InvalidNonce, match="recvWindow"):
        good.fetch_balance()
    good.options["timeDifference"] = -3_000  # 3 s ahead of the server
    with pytest.raises(ccxt.InvalidNonce, match="ahead"):
        good.fetch_balance()
    good.options["timeDifference"] = 0
    assert balances(good)["USDT"] == (D(10000), D(0))
    assert good.fetch_ticker(SYM)["last"] == 101.0  # public: no key needed


def test_the_signature_covers_query_string_and_body_concatenated(server):
    """Binance's totalParams: a request may put parameters in both; the HMAC is over the raw
    query string followed directly by the raw body."""
    from botfleet.venue.auth import sign

    acct, ex = trader(server)
    at(server, 2)
    query = "symbol=ABCUSDT&side=BUY&type=LIMIT"
    body = f"quantity=1&price=90&timeInForce=GTC&timestamp={int(time.time() * 1000)}"
    url = f"{server.base_url}/api/v3/order?{query}"
    headers = {"X-MBX-APIKEY": acct.api_key,
               "Content-Type": "application/x-www-form-urlencoded"}
    answer = ex.fetch(url, "POST", headers,
                      f"{body}&signature={sign(acct.secret, query + body)}")
    assert answer["status"] == "NEW" and answer["price"] == "90.00000000"
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        ex.fetch(url, "POST", headers, f"{body}&signature={sign(acct.secret, body)}")


# --- market views, the clock, timing modes --------------------------------------------------------

def test_ticker_and_book_around_the_reference_price(server):
    _, ex = trader(server)
    at(server, 2, 30)  # bar 2 opened at 101: the latest known price
    ticker = ex.fetch_ticker(SYM)
    assert ticker["last"] == 101.0 and ticker["bid"] < 101.0 < ticker["ask"]
    book = ex.fetch_order_book(SYM, 5)
    bids, asks = [p for p, _ in book["bids"]], [p for p, _ in book["asks"]]
    assert len(bids) == len(asks) == 5 and bids == sorted(bids, reverse=True)
    assert asks == sorted(asks) and bids[0] == ticker["bid"] and asks[0] == ticker["ask"]
    assert ex.fetch_bids_asks([SYM])[SYM]["bid"] == ticker["bid"]
    assert ex.publicGetTickerPrice({"symbol": "ABCUSDT"}) == {"symbol": "ABCUSDT",
                                                              "price": "101.00000000"}


def test_the_clock_is_shared_through_time_and_the_simulator_endpoint(server):
    _, ex = trader(server)
    at(server, 2)
    clock = SimClock(ex)
    assert clock.now_ms() == T0 + 2 * H == clock.state()["now"]
    order = ex.create_order(SYM, "limit", "buy", 1, 97)
    assert clock.advance(2 * H) == T0 + 4 * H == ex.fetch_time()
    assert ex.fetch_order(order["id"], SYM)["status"] == "closed"  # settled by the advance
    assert clock.set(T0) == T0
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-5)
    with pytest.raises(ValueError, match="exactly one of"):
        clock._post({"advance": 1, "set": 2})


def test_a_replay_clock_runs_faster_than_real_time(server):
    _, ex = trader(server)
    clock = SimClock(ex)
    state = clock.set_speed(3600, start_ms=T0)
    assert state["mode"] == "replay" and state["speed"] == 3600
    time.sleep(0.2)
    moved = clock.now_ms() - T0
    assert 0.2 * 3600 * 1000 <= moved < 5 * 3600 * 1000
    clock.set_speed(0)
    frozen = clock.now_ms()
    time.sleep(0.05)
    assert clock.now_ms() == frozen and clock.state()["mode"] == "manual"


def test_immediate_fill_timing_fills_a_market_order_when_booked():
    srv = venue(fills=FillModel(slippage="fixed", bps=10), fill_timing="immediate")
    try:
        _, ex = trader(srv)
        at(srv, 1, 20)
        order = ex.create_order(SYM, "market", "buy", 1)
        assert order["status"] == "closed" and order["average"] == 100.10  # bar 1's open
        assert trade_of(ex, order["id"])["timestamp"] == T0 + H + 20 * M
    finally:
        srv.stop()


def test_the_in_process_api_gives_shared_fill_types(server):
    acct, ex = trader(server)
    at(server, 1)
    ex.create_order(SYM, "market", "buy", 1, params={"clientOrderId": "inproc-1"})
    (fill,) = [t.to_fill() for t in server.exchange.trades(acct)]
    assert fill.side == Side.BUY and fill.amount == D(1) and fill.price == D("100.10")
    assert fill.fee == D("0.2002") and fill.liquidity == Liquidity.TAKER
    assert fill.order_type == OrderType.MARKET and fill.client_id == "inproc-1"
    assert fill.slippage == D("0.10")  # 100.10 paid against the 100 open
    assert server.exchange.balances(acct)["ABC"] == (D(1), D(0))


# --- markets: synthetic and recorded --------------------------------------------------------------

def test_a_synthetic_market_is_seeded_and_labelled_as_such():
    start = T0
    a = synthetic_market(7, start, start + 10 * 86_400_000, symbols=["BTC/USDT"])
    b = synthetic_market(7, start, start + 10 * 86_400_000, symbols=["BTC/USDT"])
    c = synthetic_market(8, start, start + 10 * 86_400_000, symbols=["BTC/USDT"])
    one = a.candles("BTC/USDT", "1h")
    assert np.array_equal(one, b.candles("BTC/USDT", "1h"))
    assert not np.array_equal(one["close"], c.candles("BTC/USDT", "1h")["close"])
    assert np.all(one["high"] >= np.maximum(one["open"], one["close"]))
    assert np.all(one["low"] <= np.minimum(one["open"], one["close"]))
    day = start - start % 86_400_000  # the series starts whole at the UTC day
    assert one["ts"][0] == day and len(a.candles("BTC/USDT", "4h")) == (start - day) // (4 * H) + 60
    a.clock.set(start + 24 * H)
    with BinanceServer(a) as srv:
        _, ex = trader(srv)
        info = ex.publicGetExchangeInfo()
        assert info["simulator"]["market"] == "synthetic" and info["simulator"]["seed"] == 7
        assert ex.last_response_headers["X-Botfleet-Market"] == "synthetic; seed=7"
        assert ex.create_order("BTC/USDT", "market", "buy", 0.01)["status"] == "closed"


@pytest.mark.skipif(not (SHARED / "binance_BTC-USDT_1h.csv").is_file(),
                    reason=f"shared market data not found at {SHARED}")
def test_on_recorded_btc_a_market_order_fills_at_the_real_next_open():
    frame = pd.read_csv(SHARED / "binance_BTC-USDT_1h.csv")
    row = frame.index[frame["timestamp"] == 1_700_000_000_000 // H * H][0]
    t_next, open_next = int(frame["timestamp"][row + 1]), float(frame["open"][row + 1])
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT"], timeframes=["1h"],
                                       clock=Clock(int(frame["timestamp"][row]) + 17 * M))
    with BinanceServer(market) as srv:  # default fill model: no slippage, 0.1% fees
        _, ex = trader(srv)
        order = ex.create_order("BTC/USDT", "market", "buy", 0.01)
        assert order["status"] == "open"
        srv.set_time(t_next)
        done = ex.fetch_order(order["id"], "BTC/USDT")
        assert done["status"] == "closed" and done["average"] == open_next
        fee = D(trade_of_sym(ex, "BTC/USDT", order["id"])["info"]["commission"])
        assert fee == (D("0.01") * D(repr(open_next)) * D("0.001")).quantize(D("1e-8"))
        assert ex.publicGetExchangeInfo()["simulator"]["market"] == "recorded"


@pytest.mark.skipif(not (SHARED / "binance_ETH-USDT_1h.csv").is_file(),
                    reason=f"shared market data not found at {SHARED}")
def test_the_books_balance_after_a_random_session_on_recorded_candles():
    """Hundreds of random orders of every type on real BTC and ETH candles (through the
    exchange's in-process API, for speed): every balance equals its start plus what its
    trades paid and received, to the last Decimal digit, and what is locked is exactly what
    the open orders hold."""
    from botfleet.venue.binance_format import BinanceError
    from botfleet.venue.order_request import OrderRequest

    start = {"USDT": D(100000), "BTC": D(1), "ETH": D(10)}
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT", "ETH/USDT"],
                                       timeframes=["1h"], clock=Clock(1_672_531_200_000))
    srv = BinanceServer(market, order_limit=0,
                        fills=FillModel(slippage="fixed", bps=5, volume_cap=0.0002))
    ex, rng = srv.exchange, np.random.default_rng(3)
    accts = [srv.add_account(f"r{i}", dict(start)) for i in range(3)]
    kinds = ["MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
             "TAKE_PROFIT_LIMIT"]
    refused = 0
    for _ in range(250):
        for _ in range(int(rng.integers(0, 4))):
            symbol = str(rng.choice(["BTC/USDT", "ETH/USDT"]))
            kind, ref = str(rng.choice(kinds)), ex.ref_price(symbol)
            step = D("0.00001") if symbol == "BTC/USDT" else D("0.0001")
            qty = D(int(rng.integers(100, 30_000))) * step
            level = [(D(repr(ref * rng.uniform(0.97, 1.03)))).quantize(D("0.01"))
                     for _ in range(2)]
            price = level[0] if kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT",
                                         "TAKE_PROFIT_LIMIT") else None
            stop = level[1] if kind.startswith(("STOP", "TAKE")) else None
            tif = str(rng.choice(["GTC", "IOC", "FOK"])) if kind in (
                "LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") else "GTC"
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            try:
                ex.submit(accts[int(rng.integers(3))],
                          OrderRequest(symbol, side, kind, qty, None, price, stop, tif, None,
                                       "ACK"))
            except BinanceError:
                refused += 1
        acct = accts[int(rng.integers(3))]
        if rng.random() < 0.2 and ex.book.open_orders(acct):
            order = ex.book.open_orders(acct)[0]
            ex.cancel(acct, order.symbol, order_id=order.id)
        srv.advance(int(rng.choice([30 * M, H, 2 * H])))
    fills = statuses = 0
    for acct in accts:
        expect = dict(start)
        for t in ex.trades(acct):
            base, quote = t.symbol.split("/")
            sign = 1 if t.side == Side.BUY else -1
            expect[base] += sign * t.qty
            expect[quote] -= sign * t.qty * t.price + t.commission
            fills += 1
        held: dict[str, Decimal] = {}
        for order in ex.book.open_orders(acct):
            held[order.locked_asset] = held.get(order.locked_asset, D(0)) + order.locked
        for asset, (free, locked) in ex.balances(acct).items():
            assert free >= 0 and free + locked == expect[asset], (acct.name, asset)
            assert locked == held.get(asset, D(0)), (acct.name, asset)
        statuses += len({o.wire_status for o in ex.orders(acct)})
    assert fills > 100 and refused > 0 and statuses >= 9


def trade_of_sym(client, symbol, order_id):
    (trade,) = [t for t in client.fetch_my_trades(symbol) if t["order"] == str(order_id)]
    return trade


# --- the command ----------------------------------------------------------------------------------

def test_botfleet_venue_serve_prints_its_url_and_keys_and_stops_on_sigterm(tmp_path):
    config = tmp_path / "venue.yaml"
    config.write_text("accounts:\n  - name: alice\n    balances: {USDT: 5000}\n"
                      "faults: 'seed=1,latency=1ms'\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "botfleet.cli", "venue", "serve", "--synthetic", "3", "--port",
         "0", "--manual", "--start", "2024-03-01", "--days", "5", "--config", str(config),
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("{"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        text = "".join(lines)
        assert "SYNTHETIC (seed 3)" in text and "clock: manual from 2024-03-01T00:00:00Z" in text
        info = json.loads(lines[-1])
        (alice,) = info["accounts"]
        ex = binance_client(info["base_url"], apiKey=alice["api_key"], secret=alice["secret"])
        ex.load_markets()
        assert ex.fetch_balance()["USDT"]["free"] == 5000
        assert SimClock(ex).advance(H) == 1_709_254_800_000
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in out


@pytest.mark.parametrize("args, words", [
    (["--faults", "sometimes=1%"], "unknown key 'sometimes'"),
    (["--account", "alice:USDT"], "NAME:ASSET=AMOUNT"),
    (["--account", "alice:usdt=5"], "upper-case asset"),
    (["--account", "alice:USDT=-5"], "non-negative"),
    (["--fill", "slippage.model=fixd"], "invalid fill model"),
    (["--fill-timing", "later"], "next_open or immediate"),
    (["--start", "yesterday"], "YYYY-MM-DD"),
    (["--timeframe", "7x"], "not a timeframe"),
])
def test_venue_serve_explains_bad_options(args, words):
    from typer.testing import CliRunner

    from botfleet.cli import app

    result = CliRunner().invoke(app, ["venue", "serve", "--synthetic", "1", "--days", "2",
                                      "--port", "0", *args])
    assert result.exit_code == 2 and words in result.output, result.output


def test_venue_serve_explains_a_bad_config_file(tmp_path):
    from typer.testing import CliRunner

    from botfleet.cli import app

    config = tmp_path / "venue.yaml"
    config.write_text("acounts: []\n")
    result = CliRunner().invoke(app, ["venue", "serve", "--synthetic", "1", "--config",
                                      str(config)])
    assert result.exit_code == 2 and "unknown key(s) acounts" in result.output
    config.write_text("accounts:\n  - balances: {USDT: 1}\n")
    result = CliRunner().invoke(app, ["venue", "serve", "--synthetic", "1", "--config",
                                      str(config)])
    assert result.exit_code == 2 and "accounts[0] needs a name" in result.output


def test_the_simulator_endpoints_refuse_what_they_do_not_understand(server):
    _, ex = trader(server)
    url = f"{server.base_url}/sim/v1"
    with pytest.raises(ccxt.BaseError, match="no simulator endpoint"):
        ex.fetch(f"{url}/nothing", "GET")
    with pytest.raises(ccxt.BaseError, match="integer number of ms"):
        ex.fetch(f"{url}/clock", "POST", {"Content-Type": "application/json"},
                 '{"advance": "soon"}')
    with pytest.raises(ccxt.BaseError, match="JSON object"):
        ex.fetch(f"{url}/clock", "POST", {"Content-Type": "application/json"}, "[1]")
    info = ex.fetch(f"{url}/info", "GET")
    assert info["timeframe"] == "1h" and info["fees"] == {"maker": "0.001", "taker": "0.002"}

