"""The notifier as a consumer group on the bus, in process and on the real Redis.

Delivery on the bus is at least once: a notifier that dies after sending but before
acknowledging gets the same events again when it comes back. These tests let that happen and
check the phone buzzes once: event ids are remembered in the bus cache, so even a fresh
notifier (a restarted process) recognises them.
"""

from __future__ import annotations

import threading

import pytest
from notify_servers import make_fleet, webhook  # noqa: F401 - fixture
from test_bus import KINDS, make_bus, wait_for

from botfleet.bus import NOTIFICATIONS, TRADES_OPENED, Event
from botfleet.notify import Notifier, NotifierThread, run_notifier

NOTIFIER = """
kind: notifier
version: 1
name: ops
channels:
  chat: {url: "${env:T_CHAT_URL}", retries: 0}
routes:
  - {events: [trade_opened, error], channels: [chat]}
"""


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def bus(kind):
    b = make_bus(kind, claim_idle_ms=None)
    yield b
    b.purge()
    b.close()


def opened(n: int) -> Event:
    return Event(TRADES_OPENED, "trade_opened", {"bot": "btc", "symbol": "BTC/USDT",
                                                 "side": "long", "amount": "1",
                                                 "entry_price": str(100 + n)})


def test_run_notifier_routes_bus_events_and_acknowledges_them(
        tmp_path, monkeypatch, bus, webhook):  # noqa: F811
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, NOTIFIER)
    bus.events.append_many([opened(1), opened(2),
                            Event(NOTIFICATIONS, "message", {"title": "cycle failed",
                                                             "body": "boom", "severity": "error",
                                                             "bot": "btc"}),
                            Event(NOTIFICATIONS, "message", {"title": "reloaded",
                                                             "body": "ok", "severity": "info"})])
    stop = threading.Event()
    t = threading.Thread(target=run_notifier, args=(fleet, bus),
                         kwargs={"stop": stop, "consumer": "n1", "block_ms": 100})
    t.start()
    try:
        posts = webhook.wait(3)
        assert sorted(p["title"] for p in posts) == [
            "btc: opened BTC/USDT long", "btc: opened BTC/USDT long", "cycle failed"]
        assert wait_for(lambda: all(bus.events.pending("notifier", topic) == 0
                                    for topic in (TRADES_OPENED, NOTIFICATIONS)))
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
    assert len(webhook.posts) == 3  # the info message matches no route


def test_redelivered_events_are_sent_once_even_by_a_fresh_notifier(
        tmp_path, monkeypatch, kind, bus, webhook):  # noqa: F811
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, NOTIFIER)
    bus.events.append_many([opened(n) for n in range(3)])
    # the first notifier sends, then dies before acknowledging
    first = Notifier.from_fleet(fleet, bus=bus)
    for event in bus.events.read("notifier", "n1", count=10):
        first.submit(event)
    first.process()
    first.pump()
    assert len(webhook.wait(3)) == 3
    assert bus.events.pending("notifier", TRADES_OPENED) == 3
    # it restarts (a new process: a new bus client) under the same name: the three come back,
    # redelivered, plus one new event
    bus.events.append(opened(3))
    restarted = make_bus(kind, prefix=bus.prefix, claim_idle_ms=None)
    stop = threading.Event()
    box: list = []
    t = threading.Thread(target=lambda: box.append(run_notifier(
        fleet, restarted, consumer="n1", stop=stop, block_ms=100)))
    t.start()
    try:
        assert len(webhook.wait(4)) == 4
        assert wait_for(lambda: bus.events.pending("notifier", TRADES_OPENED) == 0)
    finally:
        stop.set()
        t.join(10)
        restarted.close()
    second = box[0]
    assert second.stats.repeated == 3 and sum(second.stats.sent.values()) == 1
    assert [p["message"] for p in webhook.posts][-1] == "btc opened long 1 BTC/USDT at 103"


def test_notifier_thread_serves_an_in_process_fleet(tmp_path, monkeypatch, webhook):  # noqa: F811
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    bus = make_bus("memory")
    try:
        thread = NotifierThread(make_fleet(tmp_path, NOTIFIER), bus, block_ms=50).start()
        bus.events.append(opened(5))
        assert webhook.wait(1)[0]["message"] == "btc opened long 1 BTC/USDT at 105"
        thread.stop()
        assert not thread.thread.is_alive() and thread.notifier.stats.sent == {"chat": 1}
    finally:
        bus.purge()
        bus.close()
