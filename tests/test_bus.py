"""The bus's cache, locks and pub/sub: one suite run over `memory://` and the real Redis.

Every test gets a fresh key prefix (so runs never collide, with each other or with whatever
else uses the Redis) and purges it afterwards. Redis runs at 127.0.0.1:6379 (override with
BOTFLEET_TEST_REDIS_URL); without it the Redis half skips, saying why. Helpers here are shared
with test_bus_stream.py and test_bus_redis.py.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from decimal import Decimal

import pytest

from botfleet.bus import BusError, BusValueError, LockBusy, Message, open_bus

REDIS_URL = os.environ.get("BOTFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KINDS = ("memory", "redis")


def redis_reason() -> str | None:
    """None when Redis answers, else why not."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: skip, saying why
        return f"Redis not reachable at {REDIS_URL}: {exc}"


def make_bus(kind: str, **options):
    """A bus of `kind` under a fresh prefix; skips the test when Redis is not there."""
    if kind == "redis":
        reason = redis_reason()
        if reason:
            pytest.skip(reason)
    url = REDIS_URL if kind == "redis" else "memory://"
    options.setdefault("prefix", f"test:{uuid.uuid4().hex[:12]}:")
    return open_bus(url, **options)


@pytest.fixture(params=KINDS)
def bus(request):
    b = make_bus(request.param)
    yield b
    b.purge()
    b.close()


def wait_for(predicate, timeout_s: float = 2.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


# -- cache -----------------------------------------------------------------------------------


def test_cache_returns_what_was_set(bus):
    ticker = {"bid": Decimal("64000.10"), "ask": Decimal("1E-8"), "ts": 1, "ok": True}
    bus.cache.set("ticker:BTC/USDT", ticker, ttl_s=5)
    bus.cache.set("window", b"\x00\x01raw", ttl_s=5)
    bus.cache.set("list", [1, 2.5, None, "x"], ttl_s=5)
    assert bus.cache.get("ticker:BTC/USDT") == {"bid": "64000.10", "ask": "0.00000001", "ts": 1,
                                                "ok": True}
    assert bus.cache.get("window") == b"\x00\x01raw"
    assert bus.cache.get("list") == [1, 2.5, None, "x"]
    assert bus.cache.get("missing") is None
    assert bus.cache.get("missing", default="d") == "d"


def test_cache_entries_expire_after_their_ttl(bus):
    bus.cache.set("short", 1, ttl_s=0.15)
    bus.cache.set_many({"a": 1, "b": 2}, ttl_s=0.15)
    bus.cache.set("long", 2, ttl_s=5)
    assert bus.cache.get("short") == 1
    assert bus.cache.get_many(["a", "b", "long"]) == {"a": 1, "b": 2, "long": 2}
    time.sleep(0.3)
    assert bus.cache.get("short") is None
    assert bus.cache.get_many(["a", "b", "long"]) == {"long": 2}
    assert bus.cache.delete("short", "a") == 0


def test_cache_many_and_delete(bus):
    bus.cache.set_many({"k1": {"v": 1}, "k2": b"two", "k3": "three"}, ttl_s=5)
    assert bus.cache.get_many(["k1", "k2", "nope", "k3"]) == {"k1": {"v": 1}, "k2": b"two",
                                                              "k3": "three"}
    assert bus.cache.get_many([]) == {}
    assert bus.cache.delete("k1", "nope", "k3") == 2
    assert bus.cache.get_many(["k1", "k2", "k3"]) == {"k2": b"two"}
    bus.cache.set("k2", 5, ttl_s=5)  # overwrite replaces value and kind
    assert bus.cache.get("k2") == 5


@pytest.mark.parametrize("ttl", [0, -1, None, math.nan, math.inf, True, "5"])
def test_cache_refuses_a_bad_ttl(bus, ttl):
    with pytest.raises(BusValueError, match="ttl_s must be a positive number"):
        bus.cache.set("k", 1, ttl_s=ttl)
    assert bus.cache.get("k") is None


def test_cache_refuses_what_it_cannot_store_saying_which_key(bus):
    with pytest.raises(BusValueError, match=r"cache value 'k'.*object <object .* is not JSON-able"):
        bus.cache.set("k", {"x": object()}, ttl_s=5)
    with pytest.raises(BusValueError, match=r"cache value 'n'.*"):
        bus.cache.set_many({"ok": 1, "n": math.nan}, ttl_s=5)
    with pytest.raises(BusValueError, match="not a finite number"):
        bus.cache.set("d", Decimal("NaN"), ttl_s=5)
    with pytest.raises(BusValueError, match="cache key must be a non-empty string"):
        bus.cache.set("", 1, ttl_s=5)
    with pytest.raises(BusValueError, match="cache key"):
        bus.cache.get(5)
    assert bus.cache.get_many(["k", "ok", "n"]) == {}  # nothing of a refused batch landed


def test_prefixes_keep_buses_apart(bus):
    other = make_bus(bus.kind)
    try:
        bus.cache.set("same", "mine", ttl_s=5)
        assert other.cache.get("same") is None
        assert other.lock("same", 5).acquire()
        assert bus.lock("same", 5).acquire()
    finally:
        other.purge()
        other.close()


# -- locks -----------------------------------------------------------------------------------


def test_lock_is_exclusive_and_only_the_holder_releases(bus):
    a, b = bus.lock("cycle:bot1", ttl_s=5), bus.lock("cycle:bot1", ttl_s=5)
    assert a.acquire()
    assert not a.acquire()  # not re-entrant: a cycle never overlaps itself
    assert not b.acquire()
    assert not b.release()  # refused: b does not hold it
    assert a.held and not b.held
    assert not b.extend()
    assert a.release()
    assert not a.release()
    assert b.acquire() and b.held
    assert bus.lock("cycle:bot2", ttl_s=5).acquire()  # other names are independent


def test_lock_as_context_manager(bus):
    with bus.lock("cycle:x", ttl_s=5) as held:
        assert held.held
        with pytest.raises(LockBusy, match="'cycle:x' is held by another holder"), \
                bus.lock("cycle:x", ttl_s=5):
            pass
    assert bus.lock("cycle:x", ttl_s=5).acquire()


def test_a_crashed_holders_lock_expires_and_its_late_release_is_refused(bus):
    crashed = bus.lock("cycle:y", ttl_s=0.2)
    assert crashed.acquire()  # ...and never releases
    other = bus.lock("cycle:y", ttl_s=5)
    assert not other.acquire()
    time.sleep(0.3)
    assert not crashed.held
    assert other.acquire()
    assert not crashed.release()  # the stale holder cannot free the new holder's lock
    assert not crashed.extend()
    assert other.held


def test_extend_keeps_the_lock(bus):
    a = bus.lock("cycle:z", ttl_s=0.2)
    assert a.acquire()
    assert a.extend(2)
    time.sleep(0.3)
    assert a.held
    assert not bus.lock("cycle:z", ttl_s=5).acquire()
    with pytest.raises(BusValueError, match="ttl_s"):
        a.extend(0)
    with pytest.raises(BusValueError, match="lock name"):
        bus.lock("", ttl_s=1)
    with pytest.raises(BusValueError, match="ttl_s"):
        bus.lock("n", ttl_s=-1)


def test_lock_excludes_across_threads(bus):
    """Four threads do an unprotected read-modify-write under the lock: none is lost, and no
    two threads are ever inside together."""
    state = {"counter": 0, "inside": 0, "overlaps": 0}
    per_thread = 40

    def work():
        lock = bus.lock("shared", ttl_s=5)
        for _ in range(per_thread):
            while not lock.acquire():
                time.sleep(0.0002)
            state["inside"] += 1
            state["overlaps"] += state["inside"] > 1
            value = state["counter"]
            time.sleep(0.0001)
            state["counter"] = value + 1
            state["inside"] -= 1
            assert lock.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert state == {"counter": 4 * per_thread, "inside": 0, "overlaps": 0}


# -- pub/sub ---------------------------------------------------------------------------------


def test_pubsub_reaches_a_subscriber_on_another_thread(bus):
    sub = bus.pubsub.subscribe("control")
    got: list[tuple[Message, float]] = []
    reader = threading.Thread(target=lambda: got.extend((m, time.monotonic()) for m in sub))
    reader.start()
    sent = []
    for i in range(5):
        sent.append(time.monotonic())
        assert bus.pubsub.publish("control", {"cmd": "pause", "n": i,
                                              "amount": Decimal("0.5")}) == 1
    assert wait_for(lambda: len(got) == 5)
    sub.close()
    reader.join(2)
    assert not reader.is_alive()
    assert [m.data for m, _ in got] == [{"cmd": "pause", "n": i, "amount": "0.5"}
                                        for i in range(5)]
    assert {m.channel for m, _ in got} == {"control"}
    assert max(t - s for (_, t), s in zip(got, sent, strict=True)) < 1.0


def test_pubsub_callback_on_connect_and_fan_out(bus):
    connected = []
    got_a, got_b = [], []
    a = bus.pubsub.subscribe(["kill_switch", "control"], got_a.append,
                             on_connect=lambda: connected.append(1))
    assert connected == [1]  # ran before subscribe returned
    b = bus.pubsub.subscribe("kill_switch", got_b.append)
    assert bus.pubsub.publish("kill_switch", "changed") == 2
    assert bus.pubsub.publish("control", ["reload"]) == 1
    assert bus.pubsub.publish("elsewhere", 1) == 0
    assert wait_for(lambda: len(got_a) == 2 and len(got_b) == 1)
    assert sorted((m.channel, str(m.data)) for m in got_a) == [("control", "['reload']"),
                                                              ("kill_switch", "changed")]
    assert got_b == [Message("kill_switch", "changed")]
    with pytest.raises(BusError, match="hands messages to its callback"):
        a.get(0.01)
    a.close()
    b.close()
    assert bus.pubsub.publish("kill_switch", "again") == 0


def test_a_failing_callback_does_not_end_the_subscription(bus):
    seen = []

    def callback(message):
        seen.append(message.data)
        if message.data == "bad":
            raise RuntimeError("boom")

    with bus.pubsub.subscribe("control", callback):
        bus.pubsub.publish("control", "bad")
        bus.pubsub.publish("control", "good")
        assert wait_for(lambda: seen == ["bad", "good"])


def test_pubsub_get_times_out_and_refuses_bad_input(bus):
    with bus.pubsub.subscribe("quiet") as sub:
        start = time.monotonic()
        assert sub.get(timeout_s=0.1) is None
        assert time.monotonic() - start >= 0.09
    assert sub.get(0.01) is None  # closed
    with pytest.raises(BusValueError, match="message on channel 'c'.*not JSON-able"):
        bus.pubsub.publish("c", {1, 2})
    with pytest.raises(BusValueError, match="pub/sub channel"):
        bus.pubsub.publish("", 1)
    with pytest.raises(BusValueError, match="at least one channel"):
        bus.pubsub.subscribe([])
