"""What only Redis promises: locks, pub/sub and streams across processes, and what a dropped
or hanging connection looks like (one `BusConnectionError`, password hidden, the next call
reconnects). Child processes are plain `python -c` scripts on the same interpreter.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from test_bus import REDIS_URL, redis_reason, wait_for

from botfleet.bus import ORDERS_PLACED, BusConnectionError, Event, open_bus


@pytest.fixture
def prefix():
    reason = redis_reason()
    if reason:
        pytest.skip(reason)
    value = f"test:{uuid.uuid4().hex[:12]}:"
    yield value
    with open_bus(REDIS_URL, prefix=value) as bus:
        bus.purge()


def child(code: str, *args: str) -> subprocess.Popen:
    script = "import sys, time\nfrom botfleet.bus import *\n" + textwrap.dedent(code)
    return subprocess.Popen([sys.executable, "-c", script, REDIS_URL, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 20) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def test_lock_excludes_across_processes(prefix):
    """Three processes do an unprotected GET/SET increment under the lock: none is lost."""
    code = """
        import redis
        url, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
        bus = open_bus(url, prefix=prefix)
        raw = redis.Redis.from_url(url)
        lock = bus.lock("shared", ttl_s=5)
        for _ in range(n):
            while not lock.acquire():
                time.sleep(0.0005)
            value = int(raw.get(prefix + "counter") or 0)
            time.sleep(0.0005)
            raw.set(prefix + "counter", value + 1)
            assert lock.release()
    """
    procs = [child(code, prefix, "40") for _ in range(3)]
    for proc in procs:
        finish(proc)
    import redis

    assert int(redis.Redis.from_url(REDIS_URL).get(prefix + "counter")) == 120


def test_a_crashed_process_frees_its_lock_when_the_ttl_runs_out(prefix):
    crashed = child("""
        import os
        bus = open_bus(sys.argv[1], prefix=sys.argv[2])
        assert bus.lock("cycle:bot", ttl_s=0.6).acquire()
        os._exit(3)  # dies holding the lock
    """, prefix)
    crashed.wait(20)
    assert crashed.returncode == 3
    with open_bus(REDIS_URL, prefix=prefix) as bus:
        lock = bus.lock("cycle:bot", ttl_s=5)
        assert not lock.acquire()
        start = time.monotonic()
        assert wait_for(lock.acquire, timeout_s=3)
        assert time.monotonic() - start < 1.0


def test_pubsub_round_trip_between_processes(prefix):
    """A "bot" process listens for control messages and answers each; both directions are
    delivered well under a second."""
    bot = child("""
        bus = open_bus(sys.argv[1], prefix=sys.argv[2])
        with bus.pubsub.subscribe("control") as sub:
            print("ready", flush=True)
            for message in sub:
                bus.pubsub.publish("replies", {"got": message.data, "at": time.time()})
                if message.data == {"cmd": "stop"}:
                    break
    """, prefix)
    with open_bus(REDIS_URL, prefix=prefix) as bus:
        replies = bus.pubsub.subscribe("replies")
        assert bot.stdout.readline().strip() == "ready"
        for cmd in ("pause", "resume", "stop"):
            sent = time.time()
            assert bus.pubsub.publish("control", {"cmd": cmd}) == 1
            reply = replies.get(timeout_s=5)
            assert reply is not None and reply.data["got"] == {"cmd": cmd}
            assert reply.data["at"] - sent < 1.0 and time.time() - sent < 1.0
        finish(bot)


def test_a_restarted_reader_process_gets_its_unacked_events(prefix):
    with open_bus(REDIS_URL, prefix=prefix) as bus:
        bus.events.append_many([Event(ORDERS_PLACED, "order_placed", {"n": n}) for n in range(4)])
    first = child("""
        bus = open_bus(sys.argv[1], prefix=sys.argv[2])
        got = bus.events.read("notifier", "notifier-1", count=10, topics=["orders.placed"])
        bus.events.ack("notifier", got[:1])
        print(len(got))  # and exits without acknowledging the rest
    """, prefix)
    assert finish(first).strip() == "4"
    with open_bus(REDIS_URL, prefix=prefix) as bus:
        back = bus.events.read("notifier", "notifier-1", count=10, topics=[ORDERS_PLACED])
        assert [(e.payload["n"], e.redelivered) for e in back] == [(1, True), (2, True),
                                                                   (3, True)]


def test_an_entry_another_tool_wrote_is_skipped_not_fatal(prefix, caplog):
    import redis

    with open_bus(REDIS_URL, prefix=prefix) as bus:
        bus.events.append(Event(ORDERS_PLACED, "order_placed", {"n": 1}))
        redis.Redis.from_url(REDIS_URL).xadd(prefix + "events:" + ORDERS_PLACED, {"foo": "bar"})
        bus.events.append(Event(ORDERS_PLACED, "order_placed", {"n": 2}))
        got = bus.events.read("g", "c", topics=[ORDERS_PLACED])
        assert [e.payload["n"] for e in got] == [1, 2]
        assert bus.events.pending("g", ORDERS_PLACED) == 2  # the foreign one was acknowledged
        assert "is not a botfleet event" in caplog.text


# -- connection loss ------------------------------------------------------------------------


class Proxy:
    """A TCP forwarder to Redis that the test can cut (close everything) and bring back on
    the same port, or turn into a black hole that accepts and never answers."""

    def __init__(self, target: tuple[str, int], black_hole: bool = False):
        self.target, self.black_hole = target, black_hole
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._socks: list[socket.socket] = []

    def start(self) -> Proxy:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._socks.append(client)
            if self.black_hole:
                continue
            upstream = socket.create_connection(self.target)
            self._socks.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        try:  # shutdown wakes the thread blocked in accept(); close alone would not
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._socks.clear()

    def url(self, password: str = "") -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{REDIS_URL.rsplit('/', 1)[-1]}"


def redis_address() -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def test_an_unreachable_redis_is_one_clear_error_without_the_password(prefix):
    dead = Proxy(redis_address())  # a free port with nothing listening
    bus = open_bus(dead.url("s3cret-pw"), prefix=prefix)  # opening never connects
    assert bus.url == dead.url("***")
    calls = [lambda: bus.cache.get("k"), lambda: bus.lock("l", 1).acquire(),
             lambda: bus.pubsub.publish("c", 1), lambda: bus.events.append(
                 Event(ORDERS_PLACED, "x")), lambda: bus.events.read("g", "c"), bus.ping,
             lambda: bus.pubsub.subscribe("c")]
    for call in calls:
        start = time.monotonic()
        with pytest.raises(BusConnectionError) as info:
            call()
        assert time.monotonic() - start < 1.0  # no retry loop with backoff stalls the caller
        text = str(info.value)
        assert "s3cret-pw" not in text and "***" in text and "storage.cache" in text, text
        # the driver's exception (whose text was not scrubbed) is not chained on
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__
    bus.close()


def test_a_dropped_connection_fails_one_call_and_the_next_reconnects(prefix):
    proxy = Proxy(redis_address()).start()
    bus = open_bus(proxy.url(), prefix=prefix)
    try:
        connects = []
        got = []
        sub = bus.pubsub.subscribe("control", got.append, on_connect=lambda: connects.append(1))
        bus.cache.set("k", "v", ttl_s=30)
        proxy.stop()  # Redis goes away: every open connection dies, new ones are refused
        with pytest.raises(BusConnectionError, match="cache get 'k' failed, Redis unreachable"):
            bus.cache.get("k")
        with pytest.raises(BusConnectionError):
            bus.pubsub.publish("control", "lost")
        proxy.start()  # back on the same address
        assert bus.cache.get("k") == "v"  # the next call reconnects
        assert wait_for(lambda: len(connects) == 2, timeout_s=5)  # re-subscribed: reload now
        assert bus.pubsub.publish("control", "after") == 1
        assert wait_for(lambda: [m.data for m in got] == ["after"])
        sub.close()
    finally:
        bus.close()
        proxy.stop()


def test_a_hanging_redis_fails_a_write_within_the_timeout(prefix):
    hole = Proxy(redis_address(), black_hole=True).start()
    bus = open_bus(hole.url(), prefix=prefix, timeout_s=0.3)
    try:
        for call in (lambda: bus.events.append(Event(ORDERS_PLACED, "x")),
                     lambda: bus.pubsub.publish("control", 1)):
            start = time.monotonic()
            with pytest.raises(BusConnectionError, match="Timeout"):
                call()
            assert time.monotonic() - start < 1.5
    finally:
        bus.close()
        hole.stop()
