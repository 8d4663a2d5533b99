"""The Redis lock: SET NX PX with a random token; release and extend compare the token in Lua.

The comparison must happen inside Redis (a Lua script runs atomically): a GET-then-DEL from
the client could delete a lock that expired between the two commands and was taken by another
holder, which is exactly the overlap the lock exists to prevent. `RedisLocks` takes or frees
many locks in one round trip with one script each way (a close's 100 cycle locks): the same
commands per key as one lock, looped inside Redis. A script's keys must share a hash slot
under Redis Cluster; the bus connects to one Redis server (`redis://`), where they need not.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
# KEYS: the locks; ARGV: each key's new token, then each key's TTL in ms. Returns 1/0 per key.
ACQUIRE_MANY = """
local n, got = #KEYS, {}
for i = 1, n do
  if redis.call('set', KEYS[i], ARGV[i], 'NX', 'PX', ARGV[n + i]) then got[i] = 1
  else got[i] = 0 end
end
return got
"""
# KEYS: the locks; ARGV: each key's token. Returns 1/0 per key.
RELEASE_MANY = """
local freed = {}
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) == ARGV[i] then freed[i] = redis.call('del', KEYS[i])
  else freed[i] = 0 end
end
return freed
"""


class RedisLock:
    def __init__(self, conn: RedisConn, prefix: str, name: str, ttl_s: float,
                 owner: RedisLocks | None = None):
        self.name = checks.name(name, "lock name")
        self._ttl_ms = checks.ttl_ms(ttl_s, f"lock {name!r}")
        self.ttl_s = ttl_s
        self._conn = conn
        self._key = prefix + "lock:" + name
        self._token: str | None = None
        self._owner = owner

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


class RedisLocks:
    """The Redis `botfleet.bus.api.Locks`: holders of this bus, taken or freed in batches."""

    def __init__(self, conn: RedisConn, prefix: str):
        self._conn = conn
        self.prefix = prefix

    def lock(self, name: str, ttl_s: float) -> RedisLock:
        return RedisLock(self._conn, self.prefix, name, ttl_s, owner=self)

    def acquire_many(self, locks: Sequence[RedisLock]) -> list[bool]:
        """Take each free lock (SET NX PX, as its `acquire`), in one round trip; which were
        taken, in order. On a bus error none counts as taken (any that were expire)."""
        mine = self._mine(locks, "acquire_many")
        if not mine:
            return []
        tokens = [uuid.uuid4().hex for _ in mine]
        with self._conn.guard(_action("acquire", mine)):
            got = self._conn.script(ACQUIRE_MANY)(
                keys=[lock._key for lock in mine],
                args=tokens + [lock._ttl_ms for lock in mine], client=self._conn.fast)
        taken = [bool(g) for g in got]
        for lock, token, ok in zip(mine, tokens, taken, strict=True):
            if ok:
                lock._token = token
        return taken

    def release_many(self, locks: Sequence[RedisLock]) -> list[bool]:
        """Free each lock its object holds (token compared in Redis, as its `release`), in one
        round trip; which were freed, in order."""
        mine = self._mine(locks, "release_many")
        tokens = []
        for lock in mine:  # in order, so a holder listed twice is freed once
            tokens.append(lock._token)
            lock._token = None
        sent = [(i, lock, token) for i, (lock, token) in enumerate(zip(mine, tokens,
                                                                       strict=True))
                if token is not None]
        freed = [False] * len(mine)
        if not sent:
            return freed
        with self._conn.guard(_action("release", mine)):
            got = self._conn.script(RELEASE_MANY)(
                keys=[lock._key for _, lock, _ in sent], args=[t for _, _, t in sent],
                client=self._conn.fast)
        for (i, _, _), ok in zip(sent, got, strict=True):
            freed[i] = bool(ok)
        return freed

    def _mine(self, locks: Sequence[RedisLock], what: str) -> list[RedisLock]:
        return checks.own_locks(self, locks, what)


def _action(verb: str, locks: list[RedisLock]) -> str:
    names = ", ".join(repr(lock.name) for lock in locks[:3])
    more = f" and {len(locks) - 3} more" if len(locks) > 3 else ""
    return f"{verb} of {len(locks)} locks ({names}{more})"
