"""The order state machine, client order ids, position arithmetic, and the order ledger on a real
SQLite file and the real PostgreSQL (skipping, saying why, when the server is down).

The allowed transitions are written out here independently of `order_machine.TRANSITIONS`, so a
change to the machine must be a change to this table too.
"""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from botfleet.execution import client_ids
from botfleet.execution.client_ids import client_order_id
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_machine import (
    IllegalFill,
    IllegalTransition,
    OrderState,
    advance,
    can_transition,
    check_transition,
)
from botfleet.execution.positions import apply_fill, quote_currency
from botfleet.execution.records import (
    Balance,
    FillConflict,
    IntentConflict,
    LedgerError,
    UnknownBot,
    UnknownOrder,
)
from botfleet.orders import Liquidity, OrderStatus, OrderType, Position, Side

from storage_fixtures import BACKENDS, state_url  # noqa: F401

S = OrderStatus
EXCHANGE = {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}
ALLOWED = {
    S.NEW: {S.SUBMITTED, S.CANCELED, S.REJECTED},
    S.SUBMITTED: EXCHANGE | {S.UNKNOWN},
    S.UNKNOWN: EXCHANGE | {S.SUBMITTED},
    S.OPEN: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.FILLED, S.CANCELED, S.EXPIRED},
    S.FILLED: set(), S.CANCELED: set(), S.REJECTED: set(), S.EXPIRED: set(),
}
PAIRS = [(a, b) for a in OrderStatus for b in OrderStatus]
CANDLE = 1_700_000_000_000
BTC = "BTC/USDT"


# -- the state machine ----------------------------------------------------------------------------
def test_kernel_codes_are_unchanged_and_done_means_terminal():
    assert [(s.name, s.value) for s in OrderStatus][:7] == [
        ("NEW", 0), ("OPEN", 1), ("PARTIALLY_FILLED", 2), ("FILLED", 3), ("CANCELED", 4),
        ("REJECTED", 5), ("EXPIRED", 6)]
    assert S.SUBMITTED > S.EXPIRED and S.UNKNOWN > S.EXPIRED
    assert {s for s in OrderStatus if s.done} == {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}


@pytest.mark.parametrize(("src", "dst"), PAIRS, ids=[f"{a.name}->{b.name}" for a, b in PAIRS])
def test_every_transition_is_allowed_or_refused_as_the_table_says(src, dst):
    expected = dst == src or dst in ALLOWED[src]
    assert can_transition(src, dst) is expected
    if expected:
        check_transition("bfX", src, dst)
        return
    with pytest.raises(IllegalTransition) as err:
        check_transition("bfX", src, dst)
    assert (err.value.order, err.value.from_status, err.value.to_status) == ("bfX", src, dst)
    assert f"order bfX: cannot go from {src.name.lower()} to {dst.name.lower()}" in str(err.value)


def test_terminal_states_have_no_way_out():
    for s in OrderStatus:
        assert (not ALLOWED[s]) is s.done


def test_fills_settle_the_status_and_filled_only_grows_up_to_the_amount():
    st = OrderState("bfX", S.OPEN, D(1))
    part = advance(st, filled=D("0.4"))
    assert (part.status, part.filled) == (S.PARTIALLY_FILLED, D("0.4"))
    assert advance(part, filled=D(1)).status is S.FILLED
    # the exchange's "open" with something filled is partially filled; a pending order too
    assert advance(st, S.OPEN, D("0.1")).status is S.PARTIALLY_FILLED
    assert advance(OrderState("bfX", S.SUBMITTED, D(1)), filled=D(1)).status is S.FILLED
    assert advance(OrderState("bfX", S.UNKNOWN, D(2)), S.OPEN, D(1)).status is S.PARTIALLY_FILLED
    with pytest.raises(IllegalFill, match="filled would shrink from 0.4 to 0.3"):
        advance(part, filled=D("0.3"))
    with pytest.raises(IllegalFill, match="filled 1.1 would exceed the amount 1"):
        advance(part, filled=D("1.1"))
    for never in (S.NEW, S.REJECTED):
        with pytest.raises(IllegalFill, match=f"a {never.name.lower()} order cannot have"):
            advance(OrderState("bfX", never, D(1)), filled=D("0.5"))
    with pytest.raises(IllegalFill, match="a rejected order cannot have filled"):
        advance(OrderState("bfX", S.SUBMITTED, D(1)), S.REJECTED, D("0.5"))


def test_late_fills_of_a_done_order_raise_filled_without_moving_its_status():
    cancelled = advance(OrderState("bfX", S.PARTIALLY_FILLED, D(1), D("0.2")), S.CANCELED)
    late = advance(cancelled, filled=D("0.3"))
    assert (late.status, late.filled) == (S.CANCELED, D("0.3"))
    # an exchange may close an order as filled below its amount (it rounded the amount)
    short = advance(OrderState("bfX", S.OPEN, D(1)), S.FILLED, D("0.999"))
    assert (short.status, short.filled) == (S.FILLED, D("0.999"))
    with pytest.raises(IllegalTransition, match="cannot go from filled to partially_filled"):
        advance(short, S.OPEN)  # "open" with 0.999 filled is partially filled, and too late


# -- client order ids -----------------------------------------------------------------------------
def test_client_ids_are_deterministic_short_and_in_binances_charset():
    cid = client_order_id("btc-trend", str(CANDLE), "entry:BTC/USDT")
    assert cid == client_order_id("btc-trend", str(CANDLE), "entry:BTC/USDT")
    # pinned: changing the scheme would give a restarted cycle new ids, i.e. orders placed twice
    assert cid == "bfbpp2b5ftaof6aqfatq53aqgebolosm"
    assert len(cid) == 32 and client_ids.BINANCE_PATTERN.match(cid) and cid.isalnum()
    assert client_ids.is_botfleet_id(cid) and not client_ids.is_botfleet_id("web_123")


def test_client_ids_differ_for_every_part_and_cannot_be_confused_by_separators():
    ids = {client_order_id(f"bot{b}", str(CANDLE + c), f"intent{i}")
           for b in range(20) for c in range(50) for i in range(20)}
    assert len(ids) == 20 * 50 * 20
    assert client_order_id("a-b", "c", "d") != client_order_id("a", "b-c", "d")
    assert client_order_id("a", "b", "c:d") != client_order_id("a", "b:c", "d")
    for bad in ("", None, 5):
        with pytest.raises(ValueError, match="intent key must be a non-empty string"):
            client_order_id("a", "b", bad)


# -- positions ------------------------------------------------------------------------------------
def test_position_arithmetic_adds_reduces_flips_and_closes_exactly():
    pos = Position(BTC, D(0), D(0))
    pos = apply_fill(pos, Side.BUY, D(1), D(100))
    pos = apply_fill(pos, Side.BUY, D(1), D(110))
    assert (pos.amount, pos.entry_price, pos.realized_pnl) == (D(2), D(105), D(0))
    pos = apply_fill(pos, Side.SELL, D("0.5"), D(120))
    assert (pos.amount, pos.entry_price, pos.realized_pnl) == (D("1.5"), D(105), D("7.5"))
    pos = apply_fill(pos, Side.SELL, D(3), D(90))  # closes 1.5 at a loss of 22.5, then short 1.5
    assert (pos.amount, pos.entry_price, pos.realized_pnl) == (D("-1.5"), D(90), D(-15))
    pos = apply_fill(pos, Side.BUY, D("1.5"), D(80), fee=D("0.25"))
    assert (pos.amount, pos.entry_price, pos.realized_pnl) == (D(0), D(0), D("-0.25"))
    third = apply_fill(Position(BTC, D(0), D(0)), Side.BUY, D(3), D(100))
    third = apply_fill(third, Side.BUY, D(1), D(101))
    assert third.entry_price == D("100.25")
    assert quote_currency("BTC/USDT:USDT") == "USDT" and quote_currency("ETH/BTC") == "BTC"


# -- the ledger -----------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def url(request, state_url):  # noqa: F811
    return state_url(request.param)


@pytest.fixture
def ledger(url):
    with Ledger(url) as led:
        led.register_bot("bot-a", "binance", "paper")
        yield led


def _intent(led, cycle, key="entry:BTC/USDT", **kw):
    args = {"symbol": BTC, "side": Side.BUY, "type": OrderType.LIMIT, "amount": D(1),
            "price": D(100)}
    return led.record_intent(cycle, key, **{**args, **kw})


def _live(led, cycle, key="entry:BTC/USDT", **kw):
    rec = _intent(led, cycle, key, **kw)
    led.mark_submitted(rec.client_id)
    return led.mark_acknowledged(rec.client_id, f"x{rec.id}", created_ms=CANDLE)


def _count(led, table: str, **where) -> int:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
    with led.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {clause}"),
                            where).scalar()


def test_an_intent_is_written_new_with_its_event_before_anything_is_sent(ledger):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    rec = _intent(ledger, cycle)
    assert rec.client_id == client_order_id("bot-a", str(CANDLE), "entry:BTC/USDT")
    assert (rec.status, rec.filled, rec.fee, rec.exchange_id) == (S.NEW, 0, 0, None)
    assert (rec.bot, rec.cycle_id, rec.cycle_key, rec.amount, rec.price) == (
        "bot-a", cycle.id, str(CANDLE), D(1), D(100))
    [event] = ledger.events(rec.client_id)
    assert (event.from_status, event.to_status, event.source) == (None, S.NEW, "intent")
    assert event.detail == {"correlation_id": cycle.correlation_id}
    assert ledger.get(rec.client_id) == rec and ledger.unresolved("bot-a") == [rec]
    assert rec.as_order().client_id == rec.client_id and ledger.get("bfnope") is None


def test_recording_the_same_intent_again_returns_the_stored_order(ledger, url):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    first = _intent(ledger, cycle)
    ledger.mark_submitted(first.client_id)
    # a restart: another process, a new cycle attempt for the same candle, a re-sized amount
    with Ledger(url) as again:
        retry = again.begin_cycle("bot-a", candle_ms=CANDLE)
        assert retry.correlation_id != cycle.correlation_id and retry.key == cycle.key
        second = _intent(again, retry, amount=D(2))
    assert (second.id, second.status, second.amount) == (first.id, S.SUBMITTED, D(1))
    assert _count(ledger, "orders") == 1 and len(ledger.events(first.client_id)) == 2
    with pytest.raises(IntentConflict, match="already recorded with side 'buy' .now 'sell'."):
        _intent(ledger, cycle, side=Side.SELL)
    other = _intent(ledger, ledger.begin_cycle("bot-a", candle_ms=CANDLE + 3_600_000))
    assert other.client_id != first.client_id and _count(ledger, "orders") == 2


def test_an_insert_losing_the_race_returns_the_winners_row(ledger):
    """The unique constraint is the last line: a writer that looked before the other committed
    hits it and must return the stored row, not fail."""
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    winner = _intent(ledger, cycle)

    class LookedTooEarly(Ledger):
        missed = 0

        def _find(self, conn, client_id):
            if not self.missed:
                self.missed += 1
                return None
            return super()._find(conn, client_id)

    with LookedTooEarly(ledger.engine, migrate=False) as late:
        assert _intent(late, cycle).id == winner.id and late.missed == 1
    assert _count(ledger, "orders") == 1 and _count(ledger, "order_events") == 1


def test_threads_racing_on_one_intent_make_one_order(ledger, url):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    barrier, got, errors = threading.Barrier(8), [], []

    def work(own: bool):
        try:
            led = Ledger(url, migrate=False) if own else ledger
            barrier.wait()
            got.append(_intent(led, cycle).id)
            if own:
                led.close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 8 and len(set(got)) == 1
    assert _count(ledger, "orders") == 1 and _count(ledger, "order_events") == 1


def _record_in_child(url, cycle, barrier, out):
    try:
        with Ledger(url, migrate=False) as led:
            barrier.wait(timeout=30)
            out.put(("ok", _intent(led, cycle).id))
    except Exception as exc:  # noqa: BLE001 - sent to the parent
        out.put(("error", repr(exc)))


def test_processes_racing_on_one_intent_make_one_order(ledger, url):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_record_in_child, args=(url, cycle, barrier, out))
             for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(kind == "ok" for kind, _ in results), results
    assert len({order_id for _, order_id in results}) == 1
    assert _count(ledger, "orders") == 1 and _count(ledger, "order_events") == 1


def test_every_transition_is_an_event_in_order(ledger):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    rec = _intent(ledger, cycle)
    ledger.mark_submitted(rec.client_id)
    ledger.mark_unknown(rec.client_id, "timeout after 10 s")
    assert ledger.get(rec.client_id).error == "timeout after 10 s"
    assert [r.id for r in ledger.unresolved("bot-a")] == [rec.id]
    ledger.apply_exchange_state(rec.client_id, S.OPEN, exchange_id="42", created_ms=CANDLE)
    ledger.apply_exchange_state(rec.client_id, S.OPEN, exchange_id="42")  # no change: no event
    assert ledger.unresolved("bot-a") == [] and [r.id for r in ledger.open_orders("bot-a")] == [
        rec.id]
    ledger.record_fill(rec.client_id, "t1", D("0.25"), D(100), CANDLE + 1)
    ledger.record_fill(rec.client_id, "t2", D("0.75"), D(100), CANDLE + 2)
    events = ledger.events(rec.client_id)
    assert [(e.from_status, e.to_status, e.source) for e in events] == [
        (None, S.NEW, "intent"), (S.NEW, S.SUBMITTED, "send"), (S.SUBMITTED, S.UNKNOWN, "send"),
        (S.UNKNOWN, S.OPEN, "reconcile"), (S.OPEN, S.PARTIALLY_FILLED, "fill"),
        (S.PARTIALLY_FILLED, S.FILLED, "fill")]
    assert events[3].detail["exchange_order_id"] == "42"
    assert events[4].detail["trade_id"] == "t1" and events[5].detail["filled"] == D(1)
    assert ledger.by_exchange_id("42").client_id == rec.client_id
    assert ledger.open_orders("bot-a") == []


def test_an_illegal_change_raises_and_writes_nothing(ledger):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    rec = _live(ledger, cycle)
    ledger.record_fill(rec.client_id, "t1", D(1), D(100), CANDLE)
    before = (ledger.get(rec.client_id), len(ledger.events(rec.client_id)))
    with pytest.raises(IllegalTransition, match=f"order {rec.client_id}: cannot go from filled "
                       "to submitted"):
        ledger.mark_submitted(rec.client_id)
    with pytest.raises(IllegalFill, match="would exceed the amount 1"):
        ledger.record_fill(rec.client_id, "t2", D("0.1"), D(100), CANDLE)
    assert (ledger.get(rec.client_id), len(ledger.events(rec.client_id))) == before
    assert len(ledger.fills(rec.client_id)) == 1 and ledger.position("bot-a", BTC).amount == 1
    never_sent = _intent(ledger, cycle, "other")
    with pytest.raises(IllegalFill, match="a new order cannot have filled"):
        ledger.record_fill(never_sent.client_id, "t9", D(1), D(100), CANDLE)
    with pytest.raises(UnknownOrder, match="no order with client order id 'bfnope'"):
        ledger.mark_submitted("bfnope")


def test_a_fill_reported_twice_is_stored_once(ledger):
    rec = _live(ledger, ledger.begin_cycle("bot-a", candle_ms=CANDLE))
    first = ledger.record_fill(rec.client_id, "t1", D("0.4"), D(100), CANDLE, fee=D("0.04"),
                               fee_currency="USDT")
    again = ledger.record_fill(rec.client_id, "t1", D("0.4"), D(100), CANDLE, fee=D("0.04"),
                               fee_currency="USDT")
    assert first.new and not again.new and again.fill == first.fill
    assert again.order == first.order and ledger.get(rec.client_id).filled == D("0.4")
    assert ledger.position("bot-a", BTC) == Position(BTC, D("0.4"), D(100), D("-0.04"))
    assert _count(ledger, "fills") == 1 and len(ledger.events(rec.client_id)) == 4
    with pytest.raises(FillConflict, match="already recorded as amount 0.4"):
        ledger.record_fill(rec.client_id, "t1", D("0.5"), D(100), CANDLE)


def test_filled_amounts_average_and_fees_are_exact_decimals(ledger):
    rec = _live(ledger, ledger.begin_cycle("bot-a", candle_ms=CANDLE),
                amount=D("0.300000000003"), price=D("27123.45"))
    parts = [(D("0.1"), D("27000.1")), (D("0.2"), D("27000.2")), (D("0.000000000003"), D(1))]
    for i, (amount, price) in enumerate(parts):
        out = ledger.record_fill(rec.client_id, f"t{i}", amount, price, CANDLE + i,
                                 fee=D("0.000123456789"), fee_currency="USDT",
                                 liquidity=Liquidity.MAKER)
    order = out.order
    assert order.filled == D("0.300000000003") and order.status is S.FILLED
    assert order.fee == D("0.000370370367") and order.fee_currency == "USDT"
    notional = sum(a * p for a, p in parts)
    assert order.average_price == (notional / order.filled).quantize(D("1e-12"))
    fills = ledger.fills(rec.client_id)
    assert [f.amount for f in fills] == [a for a, _ in parts]
    assert fills[0].liquidity is Liquidity.MAKER and fills[0].as_fill().client_id == rec.client_id
    assert ledger.fills(bot="bot-a", symbol=BTC, since_ms=CANDLE + 1) == fills[1:]


def test_concurrent_fills_of_one_order_lose_no_update(ledger, url):
    rec = _live(ledger, ledger.begin_cycle("bot-a", candle_ms=CANDLE))
    barrier, errors = threading.Barrier(10), []

    def fill(i: int):
        try:
            with Ledger(url, migrate=False) as led:
                barrier.wait()
                led.record_fill(rec.client_id, f"t{i}", D("0.1"), D(100 + i), CANDLE + i)
                led.record_fill(rec.client_id, f"t{i}", D("0.1"), D(100 + i), CANDLE + i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    order = ledger.get(rec.client_id)
    assert (order.filled, order.status, order.average_price) == (D(1), S.FILLED, D("104.5"))
    pos = ledger.position("bot-a", BTC)
    assert (pos.amount, pos.realized_pnl) == (D(1), D(0))
    # the running average is rounded to 12 places at each fill, in whatever order they came
    assert abs(pos.entry_price - D("104.5")) <= D("1e-11")
    assert _count(ledger, "fills") == 10 and len(ledger.events(rec.client_id)) == 3 + 10


def test_positions_follow_buys_sells_and_a_flip_with_quote_fees_only(ledger):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    steps = [(Side.BUY, D(2), D(100), D("0.2"), "USDT"), (Side.SELL, D("0.5"), D(120), D(1), "BNB"),
             (Side.SELL, D(3), D(90), D("0.3"), None), (Side.BUY, D("1.5"), D(80), D(0), None)]
    for i, (side, amount, price, fee, currency) in enumerate(steps):
        rec = _live(ledger, cycle, f"step{i}", side=side, amount=amount, price=price)
        ledger.record_fill(rec.client_id, f"t{i}", amount, price, CANDLE + i, fee=fee,
                           fee_currency=currency)
        if i == 2:
            assert ledger.position("bot-a", BTC) == Position(BTC, D("-1.5"), D(90), D("-5.5"))
    # +10 on the sell at 120, -15 closing at 90, +15 covering at 80; fees 0.2 + 0.3 (BNB not)
    assert ledger.position("bot-a", BTC) == Position(BTC, D(0), D(0), D("9.5"))
    assert ledger.positions("bot-a") == [ledger.position("bot-a", BTC)]
    assert ledger.position("bot-a", "ETH/USDT") == Position("ETH/USDT", D(0), D(0))


def test_exchange_reports_ahead_of_fills_and_stale_reports(ledger):
    rec = _intent(ledger, ledger.begin_cycle("bot-a", candle_ms=CANDLE), type=OrderType.MARKET,
                  price=None)
    ledger.mark_submitted(rec.client_id)
    acked = ledger.mark_acknowledged(rec.client_id, "77", S.FILLED, filled=D(1),
                                     average_price=D("100.5"), fee=D("0.1"), fee_currency="USDT",
                                     updated_ms=CANDLE)
    assert (acked.status, acked.filled, acked.average_price) == (S.FILLED, D(1), D("100.5"))
    part = ledger.record_fill(rec.client_id, "a", D("0.4"), D(100), CANDLE).order
    assert (part.filled, part.average_price) == (D(1), D("100.5"))  # the report covers more
    done = ledger.record_fill(rec.client_id, "b", D("0.6"), D(101), CANDLE + 5).order
    assert (done.filled, done.average_price, done.status) == (D(1), D("100.6"), S.FILLED)
    # a poll answered before the last fill is stale: ignored, not an error
    assert ledger.apply_exchange_state(rec.client_id, S.OPEN, filled=D("0.4"),
                                       updated_ms=CANDLE + 1) == done
    with pytest.raises(IllegalFill, match="filled would shrink from 1 to 0.4"):
        ledger.apply_exchange_state(rec.client_id, S.FILLED, filled=D("0.4"),
                                    updated_ms=CANDLE + 9)
    with pytest.raises(LedgerError, match="the exchange id '77' is recorded; the exchange now "
                       "says '78'"):
        ledger.apply_exchange_state(rec.client_id, S.FILLED, exchange_id="78")


def test_a_create_reply_slower_than_the_first_fill_keeps_only_its_exchange_id(ledger):
    rec = _intent(ledger, ledger.begin_cycle("bot-a", candle_ms=CANDLE))
    ledger.mark_submitted(rec.client_id)
    ledger.record_fill(rec.client_id, "t1", D("0.4"), D(100), CANDLE + 50)  # the websocket
    late = ledger.mark_acknowledged(rec.client_id, "991", S.OPEN, filled=D(0),
                                    created_ms=CANDLE + 10, updated_ms=CANDLE + 10)
    assert (late.status, late.filled, late.exchange_id, late.exchange_created_ms) == (
        S.PARTIALLY_FILLED, D("0.4"), "991", CANDLE + 10)
    assert late.exchange_updated_ms == CANDLE + 50
    assert [(e.from_status, e.to_status, e.source) for e in ledger.events(rec.client_id)][-2:] == [
        (S.SUBMITTED, S.PARTIALLY_FILLED, "fill"), (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, "ack")]
    # without a time the report cannot be judged stale, and a shrinking filled is refused
    with pytest.raises(IllegalFill, match="filled would shrink from 0.4 to 0"):
        ledger.apply_exchange_state(rec.client_id, S.OPEN, filled=D(0))


def test_cancel_requests(ledger):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    unsent = _intent(ledger, cycle, "a")
    assert ledger.cancel_requested(unsent.client_id).status is S.CANCELED
    with pytest.raises(IllegalTransition, match="cannot go from canceled to submitted"):
        ledger.mark_submitted(unsent.client_id)  # a broker about to send finds it cancelled
    live = _live(ledger, cycle, "b")
    asked = ledger.cancel_requested(live.client_id)
    assert asked.status is S.OPEN and asked.cancel_requested_at is not None
    assert ledger.events(live.client_id)[-1].source == "cancel"
    ledger.apply_exchange_state(live.client_id, S.CANCELED, filled=D("0.3"))
    gone = ledger.get(live.client_id)
    assert (gone.status, gone.filled) == (S.CANCELED, D("0.3"))
    assert ledger.cancel_requested(live.client_id) == gone
    rejected = _intent(ledger, cycle, "c")
    ledger.mark_submitted(rejected.client_id)
    out = ledger.mark_rejected(rejected.client_id, "-2010 insufficient balance")
    assert (out.status, out.error) == (S.REJECTED, "-2010 insufficient balance")


@pytest.mark.parametrize(("change", "message"), [
    ({"amount": 0.1}, "amount must be a Decimal, got float 0.1"),
    ({"amount": D(-1)}, "amount must be above zero, got -1"),
    ({"amount": D("1e-13")}, "has more than 12 decimal places"),
    ({"amount": D("NaN")}, "amount must be finite"),
    ({"price": None}, "a limit order needs a price"),
    ({"type": OrderType.MARKET}, "a market order takes no price"),
    ({"type": OrderType.STOP_LIMIT}, "a stop_limit order needs a stop price"),
    ({"side": "buy"}, "side must be an orders.Side"),
    ({"symbol": ""}, "symbol must be a non-empty string"),
])
def test_bad_intents_are_refused_saying_what_and_where(ledger, change, message):
    cycle = ledger.begin_cycle("bot-a", candle_ms=CANDLE)
    with pytest.raises(LedgerError, match=message) as err:
        _intent(ledger, cycle, **change)
    assert f"bot 'bot-a' cycle '{CANDLE}' intent 'entry:BTC/USDT'" in str(err.value)
    assert _count(ledger, "orders") == 0


def test_the_package_exports_the_ledger_lazily():
    from botfleet import execution

    assert execution.Ledger is Ledger and execution.IntentConflict is IntentConflict
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        execution.Nope  # noqa: B018


def test_bots_runs_and_cycles(ledger):
    assert ledger.register_bot("bot-a", "binance", "paper") == ledger.register_bot(
        "bot-a", "binance", "live")
    with pytest.raises(LedgerError, match="mode 'demo' is not one of paper, live"):
        ledger.register_bot("bot-b", "binance", "demo")
    with pytest.raises(UnknownBot, match="bot 'ghost' is not registered"):
        ledger.begin_cycle("ghost", candle_ms=CANDLE)
    run = ledger.start_run("bot-a", version="9.9")
    with ledger.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM bot_runs WHERE id = :i"), {"i": run}).one()
    assert (row.mode, row.version, row.stopped_at) == ("live", "9.9", None) and row.pid > 0
    first = ledger.begin_cycle("bot-a", candle_ms=CANDLE, run_id=run)
    retry = ledger.begin_cycle("bot-a", candle_ms=CANDLE, run_id=run)
    assert first.key == retry.key == str(CANDLE) and first.correlation_id != retry.correlation_id
    assert len(first.correlation_id) == 32 and int(first.correlation_id, 16) >= 0
    ended = ledger.end_cycle(first.correlation_id, "error", "exchange down")
    assert (ended.outcome, ended.error, ended.run_id) == ("error", "exchange down", run)
    assert ledger.cycle(first.correlation_id) == ended and ended.finished_at >= ended.started_at
    manual = ledger.begin_cycle("bot-a", key="manual:close-all")
    _intent(ledger, manual)
    assert [o.cycle_key for o in ledger.orders("bot-a", cycle_key="manual:close-all")] == [
        "manual:close-all"]
    ledger.stop_run(run, "signal 15")
    with pytest.raises(LedgerError, match="no bot run 999"):
        ledger.stop_run(999)


def test_balances_equity_and_audit(ledger):
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ledger.snapshot_balances({"USDT": Balance(D("900.5"), D("99.5"), D(1000))}, bot="bot-a",
                             ts=t0)
    ledger.snapshot_balances({"USDT": Balance(D(800), D(0), D(800)),
                              "BTC": Balance(D("0.002"), D(0), D("0.002"))}, bot="bot-a",
                             ts=t0 + timedelta(hours=1))
    assert ledger.balances(bot="bot-a") == {"USDT": Balance(D(800), D(0), D(800)),
                                            "BTC": Balance(D("0.002"), D(0), D("0.002"))}
    ledger.snapshot_balances({"USDT": Balance(D(5), D(0), D(5))}, account="binance-main", ts=t0)
    assert ledger.balances(account="binance-main") == {"USDT": Balance(D(5), D(0), D(5))}
    with pytest.raises(LedgerError, match="give the bot or the account"):
        ledger.snapshot_balances({})
    with pytest.raises(LedgerError, match="balance USDT.free must be a Decimal, got float"):
        ledger.snapshot_balances({"USDT": Balance(1.0, D(0), D(1))}, bot="bot-a")
    ledger.record_equity("bot-a", D("1000.123456789012"), t0)
    ledger.record_equity("bot-a", D(1001), t0 + timedelta(hours=1))
    ledger.record_equity("bot-a", D("1000.5"), t0)  # a re-run cycle replaces its point
    assert ledger.equity("bot-a") == [(t0, D("1000.5")), (t0 + timedelta(hours=1), D(1001))]
    with pytest.raises(LedgerError, match="must be a timezone-aware datetime"):
        ledger.record_equity("bot-a", D(1), datetime(2024, 1, 1))
    ledger.audit("operator:alice", "kill", "bot-a", {"reason": "drill", "limit": D("0.05")})
    [entry] = ledger.audit_log("bot-a")
    assert (entry["actor"], entry["action"], entry["detail"]) == (
        "operator:alice", "kill", {"reason": "drill", "limit": D("0.05")})
