"""The Redis lock: SET NX PX with a random token; release and extend compare the token in Lua.

The comparison must happen inside Redis (a Lua script runs atomically): a GET-then-DEL from
the client could delete a lock that expired between the two commands and was taken by another
holder, which is exactly the overlap the lock exists to prevent.
"""

from __future__ import annotations

import uuid
from typing import Self

from botfleet.bus import checks
from botfleet.bus.errors import LockBusy
from botfleet.bus.redis_conn import RedisConn

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLock:
    def __init__(self, conn: RedisConn, prefix: str, name: str, ttl_s: float):
        self.name = checks.name(name, "lock name")
        self._ttl_ms = checks.ttl_ms(ttl_s, f"lock {name!r}")
        self.ttl_s = ttl_s
        self._conn = conn
        self._key = prefix + "lock:" + name
        self._token: str | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now (its TTL has not run out)."""
        if self._token is None:
            return False
        with self._conn.guard(f"lock {self.name!r} check"):
            return self._conn.fast.get(self._key) == self._token.encode()

    def acquire(self) -> bool:
        token = uuid.uuid4().hex
        with self._conn.guard(f"lock {self.name!r} acquire"):
            got = self._conn.fast.set(self._key, token, nx=True, px=self._ttl_ms)
        if got:
            self._token = token
        return bool(got)

    def release(self) -> bool:
        """True when this object held the lock and freed it; False (nothing changes) when it
        did not hold it, e.g. its TTL ran out and another holder took it."""
        if self._token is None:
            return False
        token, self._token = self._token, None
        with self._conn.guard(f"lock {self.name!r} release"):
            return bool(self._conn.script(RELEASE)(keys=[self._key], args=[token],
                                                   client=self._conn.fast))

    def extend(self, ttl_s: float | None = None) -> bool:
        """Give the held lock `ttl_s` (default: the lock's TTL) from now; False if not held."""
        ttl_ms = self._ttl_ms if ttl_s is None else checks.ttl_ms(ttl_s, f"lock {self.name!r}")
        if self._token is None:
            return False
        with self._conn.guard(f"lock {self.name!r} extend"):
            return bool(self._conn.script(EXTEND)(keys=[self._key], args=[self._token, ttl_ms],
                                                  client=self._conn.fast))

    def __enter__(self) -> Self:
        if not self.acquire():
            raise LockBusy(f"lock {self.name!r} is held by another holder")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
