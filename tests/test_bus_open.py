"""Opening a bus: `storage.cache` URLs and options checked up front with the setting named
and the password hidden, and `purge` keeping to its prefix (over both backends)."""

from __future__ import annotations

import pytest
from test_bus import KINDS, REDIS_URL, make_bus

from botfleet.bus import BusConfigError, BusValueError, open_bus


@pytest.fixture(params=KINDS)
def bus(request):
    b = make_bus(request.param)
    yield b
    b.purge()
    b.close()


@pytest.mark.parametrize("url, why", [
    ("", "is not a URL"),
    (None, "is not a URL"),
    ("redus://127.0.0.1:6379/0", "unknown scheme 'redus'"),
    ("127.0.0.1:6379", "unknown scheme"),
    ("memory://cache", "write exactly memory://"),
    ("memory:", "unknown scheme|not a URL|write exactly"),
    ("redis://", "no host"),
    ("redis://127.0.0.1:port/0", "does not parse"),
    ("redis://127.0.0.1:6379/zero", "must be a number"),
    ("redis://127.0.0.1:0/0", "port 0"),
    ("unix://", "needs the socket path"),
    ("redis://127.0.0.1:6379/0?socket_timeout=soon", "socket_timeout"),
])
def test_a_bad_url_names_the_setting(url, why):
    with pytest.raises(BusConfigError, match=why) as info:
        open_bus(url)
    assert str(info.value).startswith("storage.cache")


def test_a_bad_url_does_not_print_its_password():
    for url in ("redus://:hunter2@127.0.0.1/0", "redis://user:hunter2@127.0.0.1:6379/x",
                "redis://127.0.0.1:6379/0?password=hunter2&socket_timeout=x"):
        with pytest.raises(BusConfigError) as info:
            open_bus(url)
        assert "hunter2" not in str(info.value) and "***" in str(info.value)


@pytest.mark.parametrize("option", [{"timeout_s": 0}, {"timeout_s": True}, {"maxlen": 0},
                                    {"claim_idle_ms": -1}, {"claim_idle_ms": 1.5},
                                    {"prefix": ""}])
def test_bad_options_are_refused(option):
    with pytest.raises(BusValueError, match=next(iter(option))):
        open_bus("memory://", **option)


def test_purge_removes_everything_under_the_prefix_and_nothing_else(bus):
    other = make_bus(bus.kind)
    try:
        for b in (bus, other):
            b.cache.set("k", 1, ttl_s=30)
            assert b.lock("l", ttl_s=30).acquire()
            b.events.create_group("g")
        assert bus.purge() >= 3
        assert bus.cache.get("k") is None and bus.lock("l", ttl_s=1).acquire()
        assert bus.events.pending("g", "orders.placed") == 0
        assert other.cache.get("k") == 1 and not other.lock("l", ttl_s=1).acquire()
        if bus.kind == "redis":
            import redis

            left = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=bus.prefix + "*"))
            assert left == [bus.prefix.encode() + b"lock:l"]  # just the lock taken after
    finally:
        other.purge()
        other.close()


def test_both_backends_offer_every_protocol_method_with_its_signature():
    """Callers type against botfleet.bus.api; neither backend may drift from it."""
    import inspect

    from botfleet.bus import api
    from botfleet.bus.memory_cache import MemoryCache
    from botfleet.bus.memory_lock import MemoryLock, MemoryLocks
    from botfleet.bus.memory_pubsub import MemoryPubSub
    from botfleet.bus.memory_stream import MemoryEventStream
    from botfleet.bus.redis_cache import RedisCache
    from botfleet.bus.redis_lock import RedisLock, RedisLocks
    from botfleet.bus.redis_pubsub import RedisPubSub
    from botfleet.bus.redis_stream import RedisEventStream
    from botfleet.bus.subscription import QueueSubscription

    pairs = {api.Cache: (MemoryCache, RedisCache), api.Lock: (MemoryLock, RedisLock),
             api.Locks: (MemoryLocks, RedisLocks),
             api.PubSub: (MemoryPubSub, RedisPubSub),
             api.EventStream: (MemoryEventStream, RedisEventStream),
             api.Subscription: (QueueSubscription,)}
    for protocol, impls in pairs.items():
        methods = [n for n, v in vars(protocol).items()
                   if callable(v) and (not n.startswith("_") or n in ("__enter__", "__iter__"))]
        assert methods, protocol
        for impl in impls:
            for name in methods:
                want = inspect.signature(getattr(protocol, name)).parameters
                got = inspect.signature(getattr(impl, name)).parameters
                extra = [p for p in list(got)[len(want):] if got[p].default is inspect._empty]
                assert list(got)[:len(want)] == list(want) and not extra, (impl, name)
