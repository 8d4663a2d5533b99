"""The in-process named lock: one table of (token, expiry) per process, shared by every
`memory://` bus, so two threads running the same bot's cycle exclude each other.

Same contract as the Redis lock (see `botfleet.bus.api.Lock`): an expired entry counts as
free, which is what frees the lock of a thread that died holding it. `MemoryLocks` takes or
frees many under one hold of the table's lock, so a batch behaves as on Redis (where one Lua
script does it) and the shared test suite proves the same answers from both.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Self

from botfleet.bus import checks
from botfleet.bus.errors import LockBusy

_held: dict[str, tuple[str, float]] = {}  # full name -> (token, monotonic expiry)
_table_lock = threading.Lock()


def purge(prefix: str) -> int:
    with _table_lock:
        gone = [k for k in _held if k.startswith(prefix)]
        for key in gone:
            del _held[key]
    return len(gone)


class MemoryLock:
    def __init__(self, prefix: str, name: str, ttl_s: float, owner: MemoryLocks | None = None):
        self.name = checks.name(name, "lock name")
        self._ttl_ms = checks.ttl_ms(ttl_s, f"lock {name!r}")
        self.ttl_s = ttl_s
        self._key = prefix + "lock:" + name
        self._token: str | None = None
        self._owner = owner

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now (its TTL has not run out)."""
        with _table_lock:
            entry = _held.get(self._key)
            return entry is not None and entry[0] == self._token and entry[1] > time.monotonic()

    def acquire(self) -> bool:
        return _acquire([self])[0]

    def release(self) -> bool:
        """True when this object held the lock and freed it; False (nothing changes) when it
        did not hold it, e.g. its TTL ran out and another holder took it."""
        return _release([self])[0]

    def extend(self, ttl_s: float | None = None) -> bool:
        """Give the held lock `ttl_s` (default: the lock's TTL) from now; False if not held."""
        ttl_ms = self._ttl_ms if ttl_s is None else checks.ttl_ms(ttl_s, f"lock {self.name!r}")
        now = time.monotonic()
        with _table_lock:
            entry = _held.get(self._key)
            if entry is None or entry[0] != self._token or entry[1] <= now:
                return False
            _held[self._key] = (entry[0], now + ttl_ms / 1000)
        return True

    def __enter__(self) -> Self:
        if not self.acquire():
            raise LockBusy(f"lock {self.name!r} is held by another holder")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class MemoryLocks:
    """The in-process `botfleet.bus.api.Locks`: holders of this bus, taken or freed in batches."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def lock(self, name: str, ttl_s: float) -> MemoryLock:
        return MemoryLock(self.prefix, name, ttl_s, owner=self)

    def acquire_many(self, locks: Sequence[MemoryLock]) -> list[bool]:
        """Take each free lock (as its `acquire`); which were taken, in order."""
        return _acquire(self._mine(locks, "acquire_many"))

    def release_many(self, locks: Sequence[MemoryLock]) -> list[bool]:
        """Free each lock its object holds (as its `release`); which were freed, in order."""
        return _release(self._mine(locks, "release_many"))

    def _mine(self, locks: Sequence[MemoryLock], what: str) -> list[MemoryLock]:
        return checks.own_locks(self, locks, what)


def _acquire(locks: list[MemoryLock]) -> list[bool]:
    tokens = [uuid.uuid4().hex for _ in locks]
    now = time.monotonic()
    got = []
    with _table_lock:
        for lock, token in zip(locks, tokens, strict=True):
            entry = _held.get(lock._key)
            free = entry is None or entry[1] <= now
            if free:
                _held[lock._key] = (token, now + lock._ttl_ms / 1000)
            got.append(free)
    for lock, token, taken in zip(locks, tokens, got, strict=True):
        if taken:
            lock._token = token
    return got


def _release(locks: list[MemoryLock]) -> list[bool]:
    freed = []
    with _table_lock:
        now = time.monotonic()
        for lock in locks:
            token, lock._token = lock._token, None
            entry = _held.get(lock._key)
            mine = token is not None and entry is not None and entry[0] == token
            if mine:
                del _held[lock._key]
            freed.append(mine and entry[1] > now)  # type: ignore[index]
    return freed
