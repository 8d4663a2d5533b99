"""The in-process TTL cache: a dict with expiry times, shared by every `memory://` bus of the
process (so a ticker cached by the data thread is seen by every bot thread).

Expired entries are dropped when read and by a sweep every `SWEEP_EVERY` writes, so a cache
whose keys change (new candle windows) does not keep dead entries for ever. Values are stored
packed, exactly as Redis stores them: a reader gets its own copy, never an object another
thread may still be mutating, and a value that Redis would refuse is refused here too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from botfleet.bus import checks
from botfleet.bus.codec import pack, unpack

SWEEP_EVERY = 1_000

_entries: dict[str, tuple[bytes, float]] = {}  # full key -> (packed value, monotonic expiry)
_lock = threading.Lock()
_writes = 0


def purge(prefix: str) -> int:
    with _lock:
        gone = [k for k in _entries if k.startswith(prefix)]
        for key in gone:
            del _entries[key]
    return len(gone)


def _sweep(now: float) -> None:
    for key in [k for k, (_, exp) in _entries.items() if exp <= now]:
        del _entries[key]


class MemoryCache:
    def __init__(self, prefix: str):
        self._prefix = prefix + "cache:"

    def _key(self, key: str) -> str:
        return self._prefix + checks.name(key, "cache key")

    def get(self, key: str, default: Any = None) -> Any:
        full = self._key(key)
        with _lock:
            hit = _entries.get(full)
            if hit is None:
                return default
            if hit[1] <= time.monotonic():
                del _entries[full]
                return default
        return unpack(hit[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        fulls = [self._key(k) for k in keys]
        out: dict[str, Any] = {}
        now = time.monotonic()
        with _lock:
            hits = [_entries.get(f) for f in fulls]
        for key, hit in zip(keys, hits, strict=True):
            if hit is not None and hit[1] > now:
                out[key] = unpack(hit[0])
        return out

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        self.set_many({key: value}, ttl_s)

    def set_many(self, values: Mapping[str, Any], ttl_s: float) -> None:
        global _writes
        ttl = checks.ttl_ms(ttl_s, "cache set") / 1000
        packed = {self._key(k): pack(v, f"cache value {k!r}") for k, v in values.items()}
        now = time.monotonic()
        with _lock:
            for full, data in packed.items():
                _entries[full] = (data, now + ttl)
            _writes += len(packed)
            if _writes >= SWEEP_EVERY:
                _writes = 0
                _sweep(now)

    def delete(self, *keys: str) -> int:
        fulls = [self._key(k) for k in keys]
        now = time.monotonic()
        gone = 0
        with _lock:
            for full in fulls:
                hit = _entries.pop(full, None)
                gone += hit is not None and hit[1] > now
        return gone
