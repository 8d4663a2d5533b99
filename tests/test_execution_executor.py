"""The executor on the real path: ledger (SQLite, and PostgreSQL for the core case), CcxtBroker
(the real ccxt client) and the exchange simulator with its faults. Every test checks the
simulator's own books too: how many orders it holds per client id is the truth about
duplicates."""

from __future__ import annotations

import time

import pytest

from botfleet.execution.broker import AuthFailed
from botfleet.execution.executor import Executor, GateClosed, market_order
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_sync import NEVER_BOOKED
from botfleet.execution.paper_broker import PaperBroker
from botfleet.execution.reconcile import ReconcilePolicy
from botfleet.execution.sim_broker import SimBroker
from botfleet.orders import Order, OrderStatus, OrderType, Side

from storage_fixtures import state_url  # noqa: F401 - fixture
from venue_fixtures import FILLS, SYM, T0, D, H

S = OrderStatus
POLICY = ReconcilePolicy(symbols=(SYM,))


@pytest.fixture
def setup(venue, tmp_path):
    """(executor, ledger, venue account, cycle) with a broker whose settle window is 300 ms."""
    acct = venue.add_account("bot", {"USDT": "10000"})
    broker = PaperBroker.venue(venue.base_url, acct.api_key, acct.secret, timeout=1000,
                               enableRateLimit=False)
    broker.settle_ms = 300
    ledger = Ledger(f"sqlite:///{tmp_path / 'state.db'}")
    ledger.register_bot("bot", "binance")
    ex = Executor(ledger, broker, "bot")
    assert ex.start(POLICY).passed
    yield ex, ledger, acct, ledger.begin_cycle("bot", candle_ms=T0)
    ledger.close()


def on_venue(venue, acct, cid: str) -> list:
    return [o for o in venue.exchange.orders(acct) if o.client_id == cid]


def sources(ledger, cid: str) -> list[tuple[str, str]]:
    return [(e.source, e.to_status.name.lower()) for e in ledger.events(cid)]


BUY = market_order(SYM, Side.BUY, D("0.01"))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_no_order_before_reconciliation_then_an_order_with_its_fills(venue, state_url,  # noqa: F811
                                                                     kind):
    acct = venue.add_account("bot", {"USDT": "10000"})
    broker = PaperBroker.venue(venue.base_url, acct.api_key, acct.secret, enableRateLimit=False)
    ledger = Ledger(state_url(kind))
    ledger.register_bot("bot", "binance")
    ex = Executor(ledger, broker, "bot")
    cycle = ledger.begin_cycle("bot", candle_ms=T0)
    with pytest.raises(GateClosed, match="reconciliation has not passed"):
        ex.place(cycle, "entry", BUY)
    assert ledger.orders("bot") == [] and venue.exchange.orders(acct) == []
    assert ex.start(POLICY).passed and ex.ready
    rec = ex.place(cycle, "entry", BUY)
    assert (rec.status, rec.filled) == (S.FILLED, D("0.01"))
    [vo] = on_venue(venue, acct, rec.client_id)
    assert rec.exchange_id == str(vo.id)
    [fill] = ledger.fills(rec.client_id)
    assert (fill.amount, fill.price, fill.fee) == (vo.executed, venue.exchange.trades(acct)[0]
                                                   .price, venue.exchange.trades(acct)[0]
                                                   .commission)
    assert ledger.position("bot", SYM).amount == D("0.01")
    assert sources(ledger, rec.client_id) == [("intent", "new"), ("send", "submitted"),
                                              ("ack", "filled"), ("fill", "filled")]
    again = ex.place(cycle, "entry", BUY)  # a retried cycle: the stored order, nothing sent
    assert again.id == rec.id and len(venue.exchange.orders(acct)) == 1
    assert ex.reconcile(POLICY).passed
    ledger.close()


def test_a_refusing_pre_trade_check_rejects_before_anything_is_sent(setup, venue):
    ex, ledger, acct, cycle = setup

    class No:
        reason = "max_position (bot bot): too big"

        def __bool__(self):
            return False

    ex.pre_trade = lambda rec: No()
    rec = ex.place(cycle, "entry", BUY)
    assert (rec.status, rec.error) == (S.REJECTED, No.reason)
    assert sources(ledger, rec.client_id)[-1] == ("risk", "rejected")
    assert venue.exchange.orders(acct) == []


def test_a_send_booked_but_unanswered_is_found_by_client_id_not_sent_again(setup, venue):
    ex, ledger, acct, cycle = setup
    venue.faults.accept_then_timeout(delay_s=3.0)
    rec = ex.place(cycle, "entry", BUY)
    assert (rec.status, rec.filled) == (S.FILLED, D("0.01"))
    assert len(on_venue(venue, acct, rec.client_id)) == 1
    assert ("send", "unknown") in sources(ledger, rec.client_id)
    assert ledger.position("bot", SYM).amount == D("0.01")


def test_a_send_that_never_arrived_is_resent_with_the_same_id_only_once_settled(setup, venue):
    ex, ledger, acct, cycle = setup
    venue.faults.drop_next(endpoint="order")  # the connection closes before processing
    rec = ex.place(cycle, "entry", BUY)
    assert rec.status is S.UNKNOWN and on_venue(venue, acct, rec.client_id) == []
    assert ex.place(cycle, "entry", BUY).status is S.UNKNOWN  # too soon to say: no resend
    assert on_venue(venue, acct, rec.client_id) == []
    time.sleep(0.35)
    again = ex.place(cycle, "entry", BUY)  # still wanted, looked up, not there, settled
    assert (again.id, again.status) == (rec.id, S.FILLED)
    assert len(on_venue(venue, acct, rec.client_id)) == 1
    assert [s for s in sources(ledger, rec.client_id)][1:4] == [
        ("send", "submitted"), ("send", "unknown"), ("send", "submitted")]


def test_an_unknown_order_nobody_asks_for_again_is_closed_as_never_booked(setup, venue):
    ex, ledger, acct, cycle = setup
    venue.faults.throttle_next(endpoint="order")
    rec = ex.place(cycle, "entry", BUY)
    assert rec.status is S.UNKNOWN and "DDoSProtection" in rec.error
    assert not ex.reconcile(POLICY).passed  # pending: the gate stays shut meanwhile
    with pytest.raises(GateClosed):
        ex.place(cycle, "other", BUY)
    time.sleep(0.35)
    ex.sync()
    done = ledger.get(rec.client_id)
    assert (done.status, done.error) == (S.REJECTED, NEVER_BOOKED)
    assert ex.reconcile(POLICY).passed and venue.exchange.orders(acct) == []


def test_partial_fills_arrive_bar_by_bar_and_sum_to_the_order(setup, venue):
    ex, ledger, acct, cycle = setup
    venue.faults.partial_fill_next(0.3)
    rec = ex.place(cycle, "entry", market_order(SYM, Side.BUY, D("0.01")))
    assert rec.status is S.PARTIALLY_FILLED and rec.filled == D("0.003")
    for _ in range(4):
        venue.advance(H)
        ex.sync()
    rec = ledger.get(rec.client_id)
    [vo] = on_venue(venue, acct, rec.client_id)
    fills = ledger.fills(rec.client_id)
    assert (rec.status, rec.filled) == (S.FILLED, D("0.01")) == (vo.status, vo.executed)
    assert [f.amount for f in fills] == [D("0.003")] * 3 + [D("0.001")]
    assert {f.trade_id for f in fills} == {str(t) for t in vo.trade_ids}
    assert ex.reconcile(POLICY).passed


def test_cancel_with_a_lost_answer_is_finished_by_the_next_sync(setup, venue):
    ex, ledger, acct, cycle = setup
    rest = ex.place(cycle, "rest", Order("", SYM, Side.BUY, OrderType.LIMIT, D("0.01"),
                                         D("30000")))
    assert rest.status is S.OPEN
    venue.faults.drop_next(endpoint="order")  # the DELETE never arrives
    rec = ex.cancel(rest.client_id)
    assert rec.status is S.OPEN and rec.cancel_requested_at is not None
    assert on_venue(venue, acct, rest.client_id)[0].status is S.OPEN
    ex.sync()
    assert ledger.get(rest.client_id).status is S.CANCELED
    assert on_venue(venue, acct, rest.client_id)[0].status is S.CANCELED
    never_sent = ledger.record_intent(cycle, "later", symbol=SYM, side=Side.BUY,
                                      type=OrderType.MARKET, amount=D("0.01"))
    assert ex.cancel(never_sent.client_id).status is S.CANCELED  # cancelled before it left
    assert ex.place(cycle, "later", BUY).status is S.CANCELED
    assert on_venue(venue, acct, never_sent.client_id) == []


def test_an_authentication_failure_rejects_the_order_and_stops_the_caller(setup, venue):
    ex, ledger, acct, cycle = setup
    ex.broker.exchange.secret = "y" * 64
    with pytest.raises(AuthFailed):
        ex.place(cycle, "entry", BUY)
    [rec] = ledger.orders("bot")
    assert rec.status is S.REJECTED and acct.secret not in rec.error


def test_the_same_executor_runs_on_the_simulated_clock(tmp_path, candles):
    from botfleet.execution.broker import Market

    market = Market(SYM, "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("5"))
    sim = SimBroker({SYM: candles}, {SYM: market}, FILLS, {"USDT": D("10000")}, tf_ms=H,
                    start_ms=T0)
    ledger = Ledger(f"sqlite:///{tmp_path / 'sim.db'}")
    ledger.register_bot("bt", "sim")
    ex = Executor(ledger, sim, "bt")
    assert ex.start(POLICY).passed
    cycle = ledger.begin_cycle("bt", candle_ms=T0)
    sim.advance_to(T0 + H)
    rec = ex.place(cycle, "entry", BUY)
    assert (rec.status, rec.filled) == (S.FILLED, D("0.01"))
    [fill] = ledger.fills(rec.client_id)
    assert fill.ts_ms == T0 + H  # at the open of the bar it was booked at
    rest = ex.place(cycle, "rest", Order("", SYM, Side.BUY, OrderType.LIMIT, D("0.01"),
                                         D("42250")))
    sim.advance_to(T0 + 6 * H)
    assert [r.client_id for r in ex.sync()] == [rest.client_id]
    assert ledger.get(rest.client_id).status is S.FILLED
    assert ex.reconcile(POLICY).passed
