"""`open_bus(url)`: the fleet's `storage.cache` setting made into a cache, locks, pub/sub and
an event stream, in process (`memory://`) or on Redis (`redis://…`).

Every name the bus writes (cache keys, locks, channels, streams) starts with `prefix`
(default "botfleet:"), so fleets sharing one Redis, and tests, each keep to their own corner by
choosing a prefix; `purge()` removes everything under it. Opening never connects: a bot starts
while Redis is down, and each call that needs Redis either succeeds or raises
`BusConnectionError` at once.
"""

from __future__ import annotations

from typing import Self

from botfleet.bus import (
    checks,
    memory_cache,
    memory_lock,
    memory_pubsub,
    memory_stream,
)
from botfleet.bus.api import Cache, EventStream, Lock, Locks, PubSub
from botfleet.bus.errors import BusValueError
from botfleet.bus.urls import MEMORY_URL, backend_of, redact

DEFAULT_PREFIX = "botfleet:"
DEFAULT_TIMEOUT_S = 0.5
DEFAULT_MAXLEN = 100_000
DEFAULT_CLAIM_IDLE_MS = 60_000


class Bus:
    """The four pieces over one backend. `kind` is "memory" or "redis"; `url` is redacted."""

    cache: Cache
    locks: Locks
    pubsub: PubSub
    events: EventStream

    def __init__(self, url: str, *, prefix: str, timeout_s: float, maxlen: int,
                 claim_idle_ms: int | None):
        self.kind = backend_of(url)
        self.url = redact(url)
        self.prefix = checks.name(prefix, "bus prefix")
        self._conn = None
        if self.kind == "memory":
            self.cache = memory_cache.MemoryCache(prefix)
            self.locks = memory_lock.MemoryLocks(self.prefix)
            self.pubsub = memory_pubsub.MemoryPubSub(prefix)
            self.events = memory_stream.MemoryEventStream(prefix, maxlen, claim_idle_ms)
            return
        from botfleet.bus.redis_cache import RedisCache
        from botfleet.bus.redis_conn import RedisConn
        from botfleet.bus.redis_lock import RedisLocks
        from botfleet.bus.redis_pubsub import RedisPubSub
        from botfleet.bus.redis_stream import RedisEventStream

        self._conn = RedisConn(url, timeout_s)
        self.cache = RedisCache(self._conn, prefix)
        self.locks = RedisLocks(self._conn, self.prefix)
        self.pubsub = RedisPubSub(self._conn, prefix)
        self.events = RedisEventStream(self._conn, prefix, maxlen, claim_idle_ms)

    def lock(self, name: str, ttl_s: float) -> Lock:
        """A new holder object for the lock `name` (each object has its own token); many are
        taken or freed in one round trip with `locks.acquire_many` / `release_many`."""
        return self.locks.lock(name, ttl_s)

    def ping(self) -> None:
        """Raise `BusConnectionError` unless the backend answers (always answers in process)."""
        if self._conn is not None:
            self._conn.ping()

    def purge(self) -> int:
        """Delete everything under this bus's prefix (tests, tearing a fleet down): cache
        entries, locks, streams with their groups; in process also closes its subscriptions."""
        if self._conn is not None:
            return self._conn.purge(self.prefix)
        return sum(m.purge(self.prefix) for m in (memory_cache, memory_lock, memory_pubsub,
                                                   memory_stream))

    def close(self) -> None:
        """Close this bus's subscriptions and connections (in process, the data stays for the
        process's other buses)."""
        self.pubsub.close()
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Bus({self.url!r}, prefix={self.prefix!r})"


def open_bus(url: str = MEMORY_URL, *, prefix: str = DEFAULT_PREFIX,
             timeout_s: float = DEFAULT_TIMEOUT_S, maxlen: int = DEFAULT_MAXLEN,
             claim_idle_ms: int | None = DEFAULT_CLAIM_IDLE_MS) -> Bus:
    """The bus for the fleet's `storage.cache` URL.

    timeout_s: how long a Redis command (and connecting) may take before it fails; keeps a
        Redis outage from stalling a trading cycle.
    maxlen: events kept per topic, at least (trimming is approximate).
    claim_idle_ms: an event pending this long with one consumer is handed to another consumer
        of the group that reads; None: never (only a restarted consumer of the same name gets
        its own unacknowledged events back).
    """
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) \
            or not 0 < timeout_s <= 60:
        raise BusValueError(f"open_bus: timeout_s must be seconds in (0, 60], got {timeout_s!r}")
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
        raise BusValueError(f"open_bus: maxlen must be a positive int, got {maxlen!r}")
    if claim_idle_ms is not None and (isinstance(claim_idle_ms, bool)
                                      or not isinstance(claim_idle_ms, int) or claim_idle_ms < 0):
        raise BusValueError(f"open_bus: claim_idle_ms must be a non-negative int or None, got "
                            f"{claim_idle_ms!r}")
    if isinstance(url, str) and "${" in url:  # redis://:${env:REDIS_PASSWORD}@host: resolved now, masked from now on
        from botfleet.config.refs import resolve

        url = resolve(url)
    return Bus(url, prefix=prefix, timeout_s=timeout_s, maxlen=maxlen,
               claim_idle_ms=claim_idle_ms)
