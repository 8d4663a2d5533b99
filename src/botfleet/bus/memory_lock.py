"""The in-process named lock: one table of (token, expiry) per process, shared by every
`memory://` bus, so two threads running the same bot's cycle exclude each other.

Same contract as the Redis lock (see `botfleet.bus.api.Lock`): an expired entry counts as
free, which is what frees the lock of a thread that died holding it.
"""

from __future__ import annotations

import threading
import time
import uuid
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
    def __init__(self, prefix: str, name: str, ttl_s: float):
        self.name = checks.name(name, "lock name")
        self._ttl_ms = checks.ttl_ms(ttl_s, f"lock {name!r}")
        self.ttl_s = ttl_s
        self._key = prefix + "lock:" + name
        self._token: str | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now (its TTL has not run out)."""
        with _table_lock:
            entry = _held.get(self._key)
            return entry is not None and entry[0] == self._token and entry[1] > time.monotonic()

    def acquire(self) -> bool:
        token = uuid.uuid4().hex
        now = time.monotonic()
        with _table_lock:
            entry = _held.get(self._key)
            if entry is not None and entry[1] > now:
                return False
            _held[self._key] = (token, now + self._ttl_ms / 1000)
        self._token = token
        return True

    def release(self) -> bool:
        """True when this object held the lock and freed it; False (nothing changes) when it
        did not hold it, e.g. its TTL ran out and another holder took it."""
        with _table_lock:
            entry = _held.get(self._key)
            mine = entry is not None and entry[0] == self._token and self._token is not None
            if mine:
                del _held[self._key]
        live = mine and entry[1] > time.monotonic()  # type: ignore[index]
        self._token = None
        return live

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
