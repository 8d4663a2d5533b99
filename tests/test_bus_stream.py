"""The event stream and its events: one suite run over `memory://` and the real Redis.

What a reader relies on: every group sees every event, each event goes to one consumer of a
group, an event not acknowledged comes back after the reader restarts (same name at once,
another consumer once it has been pending `claim_idle_ms`), trimming bounds a topic, and
money survives the trip as exact decimal strings.
"""

from __future__ import annotations

import math
import threading
import time
from decimal import Decimal

import pytest
from test_bus import KINDS, make_bus

from botfleet.bus import (
    KILLSWITCH_CHANGED,
    NOTIFICATIONS,
    ORDERS_PLACED,
    RISK_ALERTS,
    TOPICS,
    TRADES_CLOSED,
    TRADES_OPENED,
    BusValueError,
    Event,
)

CLAIM_MS = 150


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def buses(kind):
    """open(**options) -> a bus on the test's prefix; several calls play restarted readers."""
    opened = []
    prefix = None

    def open_(**options):
        nonlocal prefix
        options.setdefault("claim_idle_ms", None)
        b = make_bus(kind, **({"prefix": prefix} if prefix else {}), **options)
        prefix = b.prefix
        opened.append(b)
        return b

    yield open_
    if opened:
        opened[0].purge()
    for b in opened:
        b.close()


def order(n: int, corr: str = "c") -> Event:
    return Event(ORDERS_PLACED, "order_placed", {"n": n, "price": Decimal("100.5")},
                 correlation_id=f"{corr}{n}", ts_ms=1_700_000_000_000 + n)


def test_append_read_ack(buses):
    bus = buses()
    ids = [bus.events.append(order(0))] + bus.events.append_many([order(1), order(2)])
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == 3
    got = bus.events.read("ui", "ui-1", count=10)
    assert [(e.id, e.topic, e.type, e.payload, e.correlation_id, e.ts_ms, e.redelivered)
            for e in got] == [(ids[n], ORDERS_PLACED, "order_placed", {"n": n, "price": "100.5"},
                               f"c{n}", 1_700_000_000_000 + n, False) for n in range(3)]
    assert bus.events.pending("ui", ORDERS_PLACED) == 3
    assert bus.events.read("ui", "ui-1") == []
    assert bus.events.ack("ui", got[:2]) == 2
    assert bus.events.ack("ui", [(ORDERS_PLACED, ids[2]), (ORDERS_PLACED, ids[2])]) == 1
    assert bus.events.ack("ui", got) == 0  # already acknowledged
    assert bus.events.ack("nobody", got) == 0
    assert bus.events.pending("ui", ORDERS_PLACED) == 0
    assert bus.events.pending("nobody", ORDERS_PLACED) == 0
    assert bus.events.length(ORDERS_PLACED) == 3


def test_count_is_per_topic_and_order_holds_within_a_topic(buses):
    bus = buses()
    bus.events.append_many([order(n) for n in range(5)]
                           + [Event(RISK_ALERTS, "drawdown", {"n": n}) for n in range(3)])
    first = bus.events.read("g", "c", count=2)
    assert [(e.topic, e.payload["n"]) for e in first] == [
        (ORDERS_PLACED, 0), (ORDERS_PLACED, 1), (RISK_ALERTS, 0), (RISK_ALERTS, 1)]
    only = bus.events.read("g", "c", count=10, topics=[RISK_ALERTS])
    assert [(e.topic, e.payload["n"]) for e in only] == [(RISK_ALERTS, 2)]
    rest = bus.events.read("g", "c", count=10, topics=ORDERS_PLACED)
    assert [e.payload["n"] for e in rest] == [2, 3, 4]


def test_every_group_sees_every_event_and_consumers_share_a_group(buses):
    bus = buses()
    bus.events.append_many([order(n) for n in range(6)])
    notifier = bus.events.read("notifier", "n-1", count=100)
    ui = bus.events.read("ui", "ui-1", count=100)
    assert [e.payload["n"] for e in notifier] == [e.payload["n"] for e in ui] == list(range(6))
    bus.events.append_many([order(n) for n in range(6, 10)])
    one = bus.events.read("workers", "w-1", count=3)
    two = bus.events.read("workers", "w-2", count=100)
    assert sorted(e.payload["n"] for e in one + two) == list(range(10))
    assert not {e.id for e in one} & {e.id for e in two}
    assert [e.payload["n"] for e in bus.events.read("ui", "ui-1", count=100)] == [6, 7, 8, 9]


def test_a_group_created_at_latest_skips_what_came_before(buses):
    bus = buses()
    bus.events.append(order(0))
    bus.events.create_group("late", topics=[ORDERS_PLACED], start="latest")
    bus.events.create_group("late", topics=[ORDERS_PLACED], start="earliest")  # exists: kept
    bus.events.append(order(1))
    assert [e.payload["n"] for e in bus.events.read("late", "l", topics=[ORDERS_PLACED])] == [1]
    with pytest.raises(BusValueError, match="start must be 'earliest'"):
        bus.events.create_group("x", start="now")


def test_unacked_events_come_back_to_a_restarted_consumer(buses):
    bus = buses()
    bus.events.append_many([order(n) for n in range(5)])
    got = bus.events.read("notifier", "notifier-1", count=3)
    bus.events.ack("notifier", got[:1])  # crashes after handling the first
    bus.close()

    again = buses()  # the restarted notifier, same consumer name
    again.events.append(order(5))
    back = again.events.read("notifier", "notifier-1", count=100)
    assert [(e.payload["n"], e.redelivered) for e in back] == [(1, True), (2, True)]
    new = again.events.read("notifier", "notifier-1", count=100)
    assert [(e.payload["n"], e.redelivered) for e in new] == [(3, False), (4, False), (5, False)]
    again.events.ack("notifier", back + new)
    assert again.events.read("notifier", "notifier-1") == []
    assert again.events.pending("notifier", ORDERS_PLACED) == 0


def test_the_backlog_is_paged_by_count(buses):
    bus = buses()
    bus.events.append_many([order(n) for n in range(5)])
    bus.events.read("g", "c", count=5)
    again = buses()
    pages = [again.events.read("g", "c", count=2) for _ in range(4)]
    assert [[e.payload["n"] for e in p] for p in pages] == [[0, 1], [2, 3], [4], []]


def test_another_consumer_takes_over_events_left_pending_too_long(buses):
    bus = buses(claim_idle_ms=CLAIM_MS)
    bus.events.append_many([order(n) for n in range(3)])
    assert len(bus.events.read("ui", "ui-dead", count=10)) == 3  # then the process dies
    other = buses(claim_idle_ms=CLAIM_MS)
    assert other.events.read("ui", "ui-live", count=10) == []  # not idle long enough yet
    time.sleep(CLAIM_MS * 2 / 1000)
    taken = other.events.read("ui", "ui-live", count=10)
    assert [(e.payload["n"], e.redelivered) for e in taken] == [(0, True), (1, True), (2, True)]
    assert other.events.ack("ui", taken) == 3
    assert other.events.pending("ui", ORDERS_PLACED) == 0


def test_a_blocking_read_wakes_when_an_event_is_appended(buses):
    bus = buses()
    start = time.monotonic()
    assert bus.events.read("g", "c", block_ms=0) == []
    assert bus.events.read("g", "c", block_ms=100) == []
    assert time.monotonic() - start >= 0.09
    got = []
    reader = threading.Thread(target=lambda: got.extend(
        bus.events.read("g", "c", block_ms=5000, topics=[TRADES_OPENED, TRADES_CLOSED])))
    reader.start()
    time.sleep(0.1)
    sent = time.monotonic()
    bus.events.append(Event(TRADES_CLOSED, "trade_closed", {"pnl": Decimal("-3.25")}))
    reader.join(5)
    assert time.monotonic() - sent < 1.0
    assert [(e.topic, e.payload) for e in got] == [(TRADES_CLOSED, {"pnl": "-3.25"})]


def test_trimming_bounds_a_topic_and_forgets_trimmed_pending_events(buses):
    bus = buses(maxlen=100)
    first = bus.events.append_many([order(n) for n in range(5)])
    assert len(bus.events.read("g", "c", count=5)) == 5  # pending, never acknowledged
    for start in range(5, 1005, 250):
        bus.events.append_many([order(n) for n in range(start, start + 250)])
    assert 100 <= bus.events.length(ORDERS_PLACED) <= 300
    fresh = bus.events.read("fresh", "f", count=10_000)
    assert fresh[0].payload["n"] > 4 and fresh[-1].payload["n"] == 1004
    assert not {e.id for e in fresh} & set(first)
    again = buses(maxlen=100)  # restarted: its pending events were trimmed away
    back = again.events.read("g", "c", count=10_000)
    assert back and not any(e.redelivered for e in back)
    assert again.events.pending("g", ORDERS_PLACED) == len(back)


def test_decimal_payloads_round_trip_as_exact_strings(buses):
    bus = buses()
    money = {"price": Decimal("64000.100"), "amount": Decimal("0.00000001"),
             "fees": [Decimal("-1.5E+3"), Decimal(0)], "note": "ok", "qty": 2, "r": 0.25}
    bus.events.append(Event(TRADES_OPENED, "trade_opened", money))
    (got,) = bus.events.read("g", "c", topics=[TRADES_OPENED])
    assert got.payload == {"price": "64000.100", "amount": "0.00000001",
                           "fees": ["-1500", "0"], "note": "ok", "qty": 2, "r": 0.25}
    assert Decimal(got.payload["price"]) == money["price"]
    assert Decimal(got.payload["amount"]) == money["amount"]
    assert [Decimal(f) for f in got.payload["fees"]] == money["fees"]


@pytest.mark.parametrize("payload, match", [
    ({"p": Decimal("NaN")}, "not a finite number"),
    ({"p": Decimal("Infinity")}, "not a finite number"),
    ({"p": math.nan}, "Out of range float"),
    ({"when": object()}, "object <object"),
])
def test_payloads_json_cannot_carry_are_refused_naming_the_event(buses, payload, match):
    bus = buses()
    with pytest.raises(BusValueError, match=rf"event notifications/alert payload.*{match}"):
        bus.events.append(Event(NOTIFICATIONS, "alert", payload))
    with pytest.raises(BusValueError, match="event notifications/alert payload"):
        bus.events.append_many([Event(NOTIFICATIONS, "ok", {}), Event(NOTIFICATIONS, "alert",
                                                                      payload)])
    assert bus.events.length(NOTIFICATIONS) == 0  # a refused batch appends nothing


def test_bad_events_and_arguments_are_refused_clearly(buses):
    bus = buses()
    with pytest.raises(BusValueError, match=r"'orders\.placd' is not a topic; topics: orders\."):
        Event("orders.placd", "x")
    with pytest.raises(BusValueError, match="type must be a non-empty string"):
        Event(ORDERS_PLACED, "")
    with pytest.raises(BusValueError, match="payload must be a mapping"):
        Event(ORDERS_PLACED, "x", [1])
    with pytest.raises(BusValueError, match="ts_ms must be milliseconds"):
        Event(ORDERS_PLACED, "x", ts_ms=-1)
    with pytest.raises(BusValueError, match="correlation_id"):
        Event(ORDERS_PLACED, "x", correlation_id="")
    with pytest.raises(BusValueError, match="only events read from the stream"):
        bus.events.ack("g", [order(1)])
    with pytest.raises(BusValueError, match="not an event id"):
        bus.events.ack("g", [(ORDERS_PLACED, "abc")])
    with pytest.raises(BusValueError, match="expected events or"):
        bus.events.ack("g", ["1-0"])
    with pytest.raises(BusValueError, match="count must be a positive int"):
        bus.events.read("g", "c", count=0)
    with pytest.raises(BusValueError, match="block_ms must be an int from 0"):
        bus.events.read("g", "c", block_ms=60_000)
    with pytest.raises(BusValueError, match="consumer must be a non-empty string"):
        bus.events.read("g", "")
    with pytest.raises(BusValueError, match="is not a topic"):
        bus.events.read("g", "c", topics=["nope"])
    with pytest.raises(BusValueError, match="is not a topic"):
        bus.events.length("nope")


def test_events_default_to_a_fresh_correlation_id_and_now():
    before = time.time_ns() // 1_000_000
    a, b = Event(KILLSWITCH_CHANGED, "engaged"), Event(KILLSWITCH_CHANGED, "engaged")
    assert a.correlation_id != b.correlation_id and len(a.correlation_id) == 32
    assert before <= a.ts_ms <= time.time_ns() // 1_000_000
    assert a.id is None and not a.redelivered and a.payload == {}
    assert len(TOPICS) == 7
