"""Every injected fault of the venue, seen through the real ccxt client: the exception ccxt
raises, and what the venue's books say afterwards (was the order booked or not?) — the two
things a broker's retry and reconciliation logic depends on.
"""

from __future__ import annotations

import itertools
import time

import ccxt
import pytest

from botfleet.data.candles import from_rows
from botfleet.sim.fillmodel import FillModel
from botfleet.venue import (
    BinanceServer,
    Clock,
    FaultPlan,
    FaultProfile,
    MarketData,
    SymbolRules,
    binance_client,
)
from botfleet.venue.matching import warm_up

H = 3_600_000
T0 = 472_222 * H
SYM = "ABC/USDT"
RULES = {SYM: SymbolRules(tick_size="0.01000000", min_price="0.01000000",
                          step_size="0.00100000", min_qty="0.00100000",
                          max_qty="9000.00000000", min_notional="5.00000000")}
_names = itertools.count()


@pytest.fixture(scope="module")
def server():
    bars = [[T0 + k * H, 100, 102, 98, 100 + k % 3, 1000] for k in range(50)]
    market = MarketData.from_arrays({SYM: {"1h": from_rows(bars)}}, clock=Clock(T0 + H),
                                    rules=RULES)
    warm_up()  # the clients below time out after 1 s; loading the fill rules takes about that
    with BinanceServer(market, fills=FillModel()) as srv:
        yield srv


@pytest.fixture
def ex(server):
    server.reset()
    server.set_time(T0 + H)
    acct = server.add_account(f"f{next(_names)}", {"USDT": "100000"})
    client = binance_client(server.base_url, apiKey=acct.api_key, secret=acct.secret,
                            enableRateLimit=False, timeout=1000)
    client.load_markets()
    client.acct = acct
    return client


def booked(server, client) -> list:
    return server.exchange.orders(client.acct, SYM)


# --- failures before the request is processed: nothing happens -----------------------------------

def test_a_503_before_processing_books_nothing(server, ex):
    server.faults.fail_next(endpoint="order", method="POST")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    assert booked(server, ex) == []
    assert ex.create_order(SYM, "limit", "buy", 1, 90)["status"] == "open"  # fault passed


def test_a_dropped_connection_before_processing_books_nothing(server, ex):
    server.faults.drop_next(endpoint="/api/v3/order")
    with pytest.raises(ccxt.NetworkError) as err:
        ex.create_order(SYM, "limit", "buy", 1, 90)
    assert not isinstance(err.value, ccxt.ExchangeError)
    assert booked(server, ex) == []


def test_a_429_says_when_to_retry(server, ex):
    server.faults.throttle_next(retry_after=7, endpoint="order")
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    assert ex.last_response_headers["Retry-After"] == "7"
    assert booked(server, ex) == []


def test_a_418_ban_refuses_everything_until_it_ends(server, ex):
    server.faults.ban_after(0.6, endpoint="ticker/price")
    with pytest.raises(ccxt.DDoSProtection, match="418.*IP banned until"):
        ex.publicGetTickerPrice({"symbol": "ABCUSDT"})
    retry = int(ex.last_response_headers["Retry-After"])
    assert retry == 1
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        ex.fetch_time()  # every endpoint, signed or not, while banned
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    time.sleep(0.65)
    assert ex.fetch_time() == T0 + H
    assert [o.client_id for o in booked(server, ex)] == []


def test_too_many_new_orders_per_account_is_refused_until_the_window_ends():
    window = [1_000.0]
    bars = [[T0 + k * H, 100, 102, 98, 100, 1000] for k in range(5)]
    market = MarketData.from_arrays({SYM: {"1h": from_rows(bars)}}, clock=Clock(T0 + H),
                                    rules=RULES)
    with BinanceServer(market, order_limit=3, weight_clock=lambda: window[0]) as srv:
        acct = srv.add_account("burst", {"USDT": "100000"})
        ex = binance_client(srv.base_url, apiKey=acct.api_key, secret=acct.secret,
                            enableRateLimit=False)
        ex.load_markets()
        for _ in range(3):
            ex.create_order(SYM, "limit", "buy", 1, 90)
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "3"
        with pytest.raises(ccxt.DDoSProtection, match="-1015"):
            ex.create_order(SYM, "limit", "buy", 1, 90)
        assert ex.last_response_headers["Retry-After"] == "10"
        assert len(ex.fetch_open_orders(SYM)) == 3  # queries are not orders
        window[0] += 10
        assert ex.create_order(SYM, "limit", "buy", 1, 90)["status"] == "open"


def test_latency_slows_every_request(server, ex):
    ex.fetch_time()
    server.faults.latency(0.15)
    t0 = time.perf_counter()
    ex.fetch_time()
    assert time.perf_counter() - t0 >= 0.15
    server.faults.latency(0)
    t0 = time.perf_counter()
    ex.fetch_time()
    assert time.perf_counter() - t0 < 0.15


# --- failures after processing: the order exists, the answer does not -----------------------------

def test_accepted_then_timed_out_the_order_is_found_by_its_client_id(server, ex):
    server.faults.accept_then_timeout(delay_s=3.0)
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order(SYM, "limit", "buy", 1, 90, {"clientOrderId": "bot-9-0001"})
    (order,) = booked(server, ex)
    assert order.client_id == "bot-9-0001"
    found = ex.fetch_order("", SYM, {"clientOrderId": "bot-9-0001"})
    assert found["id"] == str(order.id) and found["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order"):  # a blind retry is refused
        ex.create_order(SYM, "limit", "buy", 1, 90, {"clientOrderId": "bot-9-0001"})


def test_accepted_then_dropped_the_market_order_has_filled(server, ex):
    server.faults.accept_then_timeout(drop=True)
    with pytest.raises(ccxt.NetworkError):
        ex.create_order(SYM, "market", "buy", 2, None, {"clientOrderId": "bot-9-0002"})
    found = ex.fetch_order("", SYM, {"clientOrderId": "bot-9-0002"})
    assert found["status"] == "closed" and found["filled"] == 2  # booked at a bar open


def test_a_503_after_processing_means_execution_status_unknown(server, ex):
    server.faults.fail_next(endpoint="order", method="POST", processed=True)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.create_order(SYM, "limit", "buy", 1, 91, {"clientOrderId": "bot-9-0003"})
    assert ex.fetch_order("", SYM, {"clientOrderId": "bot-9-0003"})["status"] == "open"


def test_a_cancel_whose_answer_is_lost_has_still_cancelled(server, ex):
    order = ex.create_order(SYM, "limit", "buy", 1, 92)
    server.faults.accept_then_timeout(drop=True, method="DELETE")
    with pytest.raises(ccxt.NetworkError):
        ex.cancel_order(order["id"], SYM)
    assert ex.fetch_order(order["id"], SYM)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(order["id"], SYM)


# --- order faults: forced partial fills and rejections --------------------------------------------

def test_forced_partial_fills_spread_an_order_over_bars(server, ex):
    server.set_time(T0 + H + 60_000)
    server.faults.partial_fill_next(0.25)
    order = ex.create_order(SYM, "market", "buy", 4)
    server.advance(H)
    part = ex.fetch_order(order["id"], SYM)
    assert part["info"]["status"] == "PARTIALLY_FILLED" and part["filled"] == 1
    server.advance(3 * H)
    done = ex.fetch_order(order["id"], SYM)
    assert done["info"]["status"] == "FILLED" and done["filled"] == 4
    assert len(ex.fetch_my_trades(SYM)) == 4
    again = ex.create_order(SYM, "market", "buy", 4)  # the fault was for one order only
    server.advance(H)
    assert ex.fetch_order(again["id"], SYM)["filled"] == 4


def test_forced_rejections_carry_the_chosen_binance_error(server, ex):
    server.faults.reject_next()
    with pytest.raises(ccxt.InvalidOrder, match="-2010"):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    server.faults.reject_next(msg="Account has insufficient balance for requested action.")
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    server.faults.reject_next(code=-1013, msg="Market is closed.")
    with pytest.raises(ccxt.MarketClosed):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    assert booked(server, ex) == []
    server.faults.reject_next()
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # a malformed order keeps its
        ex.privatePostOrder({"symbol": "ABCUSDT", "side": "BUY", "type": "MARKET",
                             "quantity": "1.0001"})  # own error...
    with pytest.raises(ccxt.InvalidOrder, match="-2010"):  # ...and leaves the rejection armed
        ex.create_order(SYM, "limit", "buy", 1, 90)


# --- random faults: the profile -------------------------------------------------------------------

def test_a_seeded_profile_fails_requests_at_its_rates_the_same_way_each_time(server, ex):
    def run(seed: int) -> list[str]:
        server.reset()
        server.faults.profile = FaultProfile.parse(f"seed={seed},5xx=20%,429=10%")
        outcome = []
        for _ in range(200):
            try:
                ex.fetch_time()
                outcome.append("ok")
            except ccxt.DDoSProtection:
                outcome.append("429")
            except ccxt.ExchangeNotAvailable:
                outcome.append("5xx")
        return outcome

    first, again, other = run(11), run(11), run(12)
    assert first == again and first != other
    assert 20 <= first.count("5xx") <= 60 and 5 <= first.count("429") <= 35
    server.reset()
    assert ex.fetch_time() == T0 + H  # reset() switches the profile off


def test_a_profile_times_out_and_rejects_orders_and_can_be_set_over_http(server, ex):
    server.set_time(T0 + H)
    ex.fetch(f"{server.base_url}/sim/v1/faults", "POST",
             {"Content-Type": "application/json"},
             '{"profile": "seed=5,timeout=100%,timeout_s=2s"}')
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order(SYM, "limit", "buy", 1, 90, {"clientOrderId": "prof-1"})
    assert ex.fetch_order("", SYM, {"clientOrderId": "prof-1"})["status"] == "open"
    server.faults.profile = FaultProfile(seed=1, reject=1.0)
    with pytest.raises(ccxt.InvalidOrder, match="-2010"):
        ex.create_order(SYM, "limit", "buy", 1, 90)
    state = ex.fetch(f"{server.base_url}/sim/v1/faults", "GET")
    assert state["profile"] is True and state["fired"] >= 2


@pytest.mark.parametrize("spec, words", [
    ("5xx=150%", "between 0 and 100%"),
    ("seed=x", "integer"),
    ("latency=fast", "duration"),
    ("sometimes=1%", "unknown key 'sometimes'"),
    ("5xx=60%,drop=50%", "more than 100%"),
    ("5xx", "key=value"),
])
def test_a_bad_profile_says_what_is_wrong(spec, words):
    with pytest.raises(ValueError, match=words):
        FaultProfile.parse(spec)


def test_profile_and_plan_arguments_are_checked():
    plan = FaultPlan()
    with pytest.raises(ValueError, match="fraction"):
        plan.partial_fill_next(1.5)
    with pytest.raises(ValueError, match="positive duration"):
        plan.ban_after(0)
    with pytest.raises(ValueError, match=">= 0"):
        plan.latency(-1)
    assert FaultProfile.parse("seed=3,5xx=1%,timeout=2%,latency=20ms").describe() == \
        "seed=3,latency=0.02s,5xx=1%,timeout=2%"
