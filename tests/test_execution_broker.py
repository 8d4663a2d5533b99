"""The brokers: CcxtBroker through the real ccxt client against the exchange simulator (error
taxonomy included, with the venue's real faults), and the same interface answered the same way
by SimBroker and the internal PaperBroker on the same candles and fill model."""

from __future__ import annotations

import pytest

from botfleet.execution.broker import (
    AuthFailed,
    Broker,
    DuplicateClientId,
    Market,
    NotFound,
    NotSent,
    OutcomeUnknown,
    Rejected,
    Unavailable,
)
from botfleet.execution.paper_broker import PaperBroker
from botfleet.execution.sim_broker import SimBroker
from botfleet.orders import Order, OrderStatus, OrderType, Side
from botfleet.sim import fills as F

from venue_fixtures import FILLS, SYM, T0, D, H

MARKET = Market(SYM, "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("5"))


def venue_broker(srv, name="acct", timeout=1000, **kw):
    acct = srv.add_account(name, {"USDT": "10000"})
    return PaperBroker.venue(srv.base_url, acct.api_key, acct.secret, timeout=timeout,
                             enableRateLimit=False, **kw), acct


def buy(cid: str, amount: str = "0.01", type_=OrderType.MARKET, price=None) -> Order:
    return Order(cid, SYM, Side.BUY, type_, D(amount), None if price is None else D(price))


def test_ccxt_broker_reads_precision_and_limits_from_the_markets(venue):
    broker, _ = venue_broker(venue)
    assert isinstance(broker, Broker)
    m = broker.market(SYM)
    assert (m.tick, m.step, m.min_amount, m.min_notional) == (D("0.01"), D("0.00001"),
                                                              D("0.00001"), D("5"))
    assert broker.amount_to_precision(SYM, D("0.0123456")) == D("0.01234")
    assert broker.amount_to_precision(SYM, D("0.000001")) == 0
    assert broker.price_to_precision(SYM, D("42123.456")) == D("42123.46")


def test_ccxt_broker_sends_the_client_id_and_finds_the_order_by_it(venue, candles):
    broker, acct = venue_broker(venue)
    xo = broker.submit(buy("bf-test-1"))
    booked = venue.exchange.orders(acct)
    assert [o.client_id for o in booked] == ["bf-test-1"]
    open_ = float(candles["open"][candles["ts"] == T0][0])
    price = D(repr(F.taker_price(open_, 1, 5 / 10_000, 0.01)))
    assert (xo.status, xo.filled, xo.exchange_id) == (OrderStatus.FILLED, D("0.01"),
                                                      str(booked[0].id))
    assert [(t.amount, t.price, t.fee) for t in xo.trades] == [
        (D("0.01"), price, (D("0.01") * price * D("0.001")).quantize(D("1e-8")))]
    found = broker.lookup(SYM, "bf-test-1")
    assert (found.exchange_id, found.status, found.filled) == (xo.exchange_id, xo.status,
                                                               xo.filled)
    assert broker.order_trades(found) == [t.__class__(**{**t.__dict__, "ts_ms": T0})
                                          for t in xo.trades]
    assert broker.lookup(SYM, "never-sent") is None
    assert broker.balances()["BTC"].total == D("0.01")


FAULTS = {
    # fault -> (error, booked on the venue?)
    "reject_next": (Rejected, False),
    "insufficient": (Rejected, False),
    "throttle": (NotSent, False),
    "accept_then_timeout": (OutcomeUnknown, True),
    "accept_then_drop": (OutcomeUnknown, True),
    "booked_then_503": (OutcomeUnknown, True),
    "dropped_before": (OutcomeUnknown, False),
    "duplicate_client_id": (DuplicateClientId, True),
    "wrong_secret": (AuthFailed, False),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_submit_errors_are_classified_by_whether_the_order_may_be_booked(venue, fault):
    broker, acct = venue_broker(venue)
    order = buy(f"bf-{fault.replace('_', '-')}")
    f = venue.faults
    if fault == "reject_next":
        f.reject_next()
    elif fault == "insufficient":
        order = buy(order.client_id, "5")
    elif fault == "throttle":
        f.throttle_next(endpoint="order")
    elif fault == "accept_then_timeout":
        f.accept_then_timeout(delay_s=3.0)
    elif fault == "accept_then_drop":
        f.accept_then_timeout(drop=True)
    elif fault == "booked_then_503":
        f.fail_next(endpoint="order", method="POST", processed=True)
    elif fault == "dropped_before":
        f.drop_next(endpoint="order")
    elif fault == "duplicate_client_id":
        broker.submit(buy(order.client_id, type_=OrderType.LIMIT, price="30000"))
    elif fault == "wrong_secret":
        broker.exchange.secret = "x" * 64
    error, booked = FAULTS[fault]
    with pytest.raises(error) as caught:
        broker.submit(order)
    assert type(caught.value) is error
    message = str(caught.value)
    assert acct.api_key not in message and acct.secret not in message
    assert "signature=" not in message or "signature=***" in message
    on_venue = [o for o in venue.exchange.orders(acct) if o.client_id == order.client_id]
    assert len(on_venue) == (1 if booked else 0)


def test_cancel_and_lookup_errors(venue):
    broker, _ = venue_broker(venue)
    with pytest.raises(NotFound):
        broker.cancel(SYM, "bf-nothing")
    rest = broker.submit(buy("bf-rest", type_=OrderType.LIMIT, price="30000"))
    assert rest.status is OrderStatus.OPEN and rest.price == D("30000")
    assert [o.client_id for o in broker.open_orders(SYM)] == ["bf-rest"]
    done = broker.cancel(SYM, "bf-rest")
    assert done.status is OrderStatus.CANCELED
    with pytest.raises(NotFound):
        broker.cancel(SYM, "bf-rest")
    assert broker.open_orders(SYM) == []


def test_sandbox_flag_switches_ccxt_to_its_sandbox_urls():
    import ccxt

    from botfleet.execution.ccxt_broker import CcxtBroker

    ex = ccxt.binance()
    live = dict(ex.urls["api"])
    CcxtBroker(ex, sandbox=True)
    assert ex.urls["api"] != live and "testnet" in str(ex.urls["api"])


# -- one interface, three clocks -------------------------------------------------------------

def _session(broker, advance) -> dict:
    """The same calls on any broker: a market buy booked at a bar's open, a limit that rests,
    a cancel, a limit that fills inside a later bar, a sell."""
    out = {}
    out["buy"] = broker.submit(buy("bf-1"))
    out["rest"] = broker.submit(buy("bf-2", type_=OrderType.LIMIT, price="30000"))
    near = broker.submit(buy("bf-3", "0.002", OrderType.LIMIT, "42250"))
    out["cancel"] = broker.cancel(SYM, "bf-2")
    advance(6 * H)
    out["near"] = broker.lookup(SYM, "bf-3")
    assert near.status is OrderStatus.OPEN
    out["sell"] = broker.submit(Order("bf-4", SYM, Side.SELL, OrderType.MARKET, D("0.005")))
    advance(H)
    out["sell"] = broker.lookup(SYM, "bf-4")
    out["balances"] = {a: b.total for a, b in broker.balances().items() if b.total}
    out["trades"] = [(t.side, t.amount, t.price, t.fee, t.ts_ms) for t in broker.trades(SYM)]
    return out


def test_venue_sim_and_internal_paper_answer_the_same_calls_the_same_way(venue, candles):
    ccxt_broker, _ = venue_broker(venue)
    from_venue = _session(ccxt_broker, venue.advance)

    sim = SimBroker({SYM: candles}, {SYM: MARKET}, FILLS, {"USDT": D("10000")}, tf_ms=H,
                    start_ms=T0)
    from_sim = _session(sim, lambda ms: sim.advance_to(sim.clock_ms + ms))

    now = [T0]
    paper = PaperBroker.internal({SYM: MARKET}, FILLS, {"USDT": D("10000")}, tf_ms=H,
                                 now=lambda: now[0], fill_timing="next_open")
    paper.feed(SYM, candles[candles["ts"] <= T0])

    def step(ms):
        now[0] += ms
        paper.feed(SYM, candles[candles["ts"] <= now[0]])

    from_paper = _session(paper, step)
    for key in ("buy", "rest", "cancel", "near", "sell"):
        a, b, c = from_venue[key], from_sim[key], from_paper[key]
        assert (a.status, a.filled, a.average) == (b.status, b.filled, b.average) == (
            c.status, c.filled, c.average), key
    assert from_venue["near"].status is OrderStatus.FILLED  # traded through inside a bar
    assert from_venue["balances"] == from_sim["balances"] == from_paper["balances"]
    assert from_venue["trades"] == from_sim["trades"] == from_paper["trades"]


def test_internal_paper_rebuilds_its_account_from_the_ledger(tmp_path, candles):
    from botfleet.execution.ledger import Ledger

    now = [T0]
    start = {"USDT": D("10000")}
    paper = PaperBroker.internal({SYM: MARKET}, FILLS, start, tf_ms=H, now=lambda: now[0])
    paper.feed(SYM, candles[candles["ts"] <= T0])
    ledger = Ledger(f"sqlite:///{tmp_path / 'state.db'}")
    ledger.register_bot("p", "paper")
    from botfleet.execution.executor import Executor
    from botfleet.execution.reconcile import ReconcilePolicy

    policy = ReconcilePolicy(symbols=(SYM,))
    ex = Executor(ledger, paper, "p")
    assert ex.start(policy).passed
    cycle = ledger.begin_cycle("p", key="1")
    assert ex.place(cycle, "buy", buy("")).status is OrderStatus.FILLED  # immediate timing
    rest = ex.place(cycle, "rest", buy("", type_=OrderType.LIMIT, price="30000"))
    before = paper.balances()
    # the process dies: a new broker restores the account from the ledger
    again = PaperBroker.internal({SYM: MARKET}, FILLS, start, tf_ms=H, now=lambda: now[0],
                                 ledger=ledger, bot="p")
    again.feed(SYM, candles[candles["ts"] <= T0])
    assert again.balances() == before
    assert [o.client_id for o in again.open_orders(SYM)] == [rest.client_id]
    assert Executor(ledger, again, "p").start(policy).passed


@pytest.mark.parametrize("exc,op,expected", [
    ("OperationRejected:binance {\"code\":-2011,\"msg\":\"Unknown order sent.\"}", "cancel",
     NotFound),
    ("InvalidNonce:binance {\"code\":-1021,\"msg\":\"Timestamp outside recvWindow\"}", "submit",
     NotSent),
    ("BadRequest:binance {\"code\":-1021,\"msg\":\"Timestamp outside recvWindow\"}", "submit",
     NotSent),
    ("ExchangeError:binance {\"code\":-9999,\"msg\":\"?\"}", "submit", OutcomeUnknown),
    ("ExchangeNotAvailable:binance 503 Service Unavailable", "submit", OutcomeUnknown),
    ("ExchangeNotAvailable:binance 503 Service Unavailable", "lookup", Unavailable),
    ("RateLimitExceeded:binance 429", "balances", Unavailable),
    ("InsufficientFunds:binance -2010", "submit", Rejected),
    ("InvalidOrder:binance {\"code\":-2010,\"msg\":\"Duplicate order sent.\"}", "submit",
     DuplicateClientId),
    ("PermissionDenied:binance -2015", "submit", AuthFailed),
])
def test_classify_maps_ccxt_errors_in_one_place(exc, op, expected):
    import ccxt

    from botfleet.execution.broker import classify

    name, _, text = exc.partition(":")
    got = classify(getattr(ccxt, name)(text + " GET /api/v3/order?signature=abc123&x=KEY"),
                   op, "KEY")
    assert type(got) is expected
    assert "abc123" not in str(got) and "KEY" not in str(got)
