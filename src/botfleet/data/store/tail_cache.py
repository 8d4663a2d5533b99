"""The newest candles of each series, kept in process for stores that only this process writes.

Why: a bot polls "the last N candles" of its series every cycle. On chDB every query costs
about 1 ms of fixed engine time with a long tail (p99 2-6 ms for `SELECT 1` on 2 cores), so
`last` cannot reliably answer in < 5 ms by asking the engine. chDB, though, lets one process
own a data path (a second process fails to open it), so every write and delete on it passes
through a store object of this process, and a cache updated by those writes is exact.

Invariant of an entry: it holds every stored candle with `ts >= start` (nothing more, nothing
less). A write adds its candles at or after `start` (older ones cannot change the newest rows
the entry holds); a delete removes its range from the entry. `last(n)` is a hit when the entry
holds at least n candles. Entries are trimmed to their newest `keep` rows (the invariant holds
with a later `start`) and the least recently used series are dropped beyond `max_series`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from botfleet.data.candles import concat

WHOLE = np.iinfo(np.int64).min  # an entry starting here holds the whole series


@dataclass
class _Entry:
    start: int
    candles: np.ndarray


class TailCache:
    def __init__(self, max_series: int = 4096, max_rows: int = 20_000):
        self._entries: OrderedDict[object, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_series = max_series
        self.max_rows = max_rows
        self.hits = 0
        self.misses = 0
        self.generation = 0  # bumped by every change: a query older than a change can't fill

    def last(self, key, n: int) -> np.ndarray | None:
        """The newest n candles (a copy), or None when the entry cannot answer."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (len(entry.candles) < n and entry.start != WHOLE):
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.candles[-n:].copy()

    def fill(self, key, candles: np.ndarray, generation: int, whole: bool) -> None:
        """Record the answer of a query for the newest rows of a series: every stored candle
        from its first row on (`whole`: and nothing before it). `generation` is
        `self.generation` read before the query ran; a write or delete since then may be
        missing from the answer, which is then dropped."""
        if len(candles) > self.max_rows:
            return
        with self._lock:
            if generation != self.generation:
                return
            start = WHOLE if whole or len(candles) == 0 else int(candles["ts"][0])
            self._entries[key] = _Entry(start, candles.copy())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_series:
                self._entries.popitem(last=False)

    def wrote(self, key, candles: np.ndarray) -> None:
        with self._lock:
            self.generation += 1
            entry = self._entries.get(key)
            if entry is None:
                return
            newer = candles[candles["ts"] >= entry.start]
            if len(newer):
                entry.candles = concat(entry.candles, newer)
                if len(entry.candles) > self.max_rows:
                    entry.candles = entry.candles[-self.max_rows:].copy()
                    entry.start = int(entry.candles["ts"][0])

    def deleted(self, key, start: int | None, end: int | None) -> None:
        with self._lock:
            self.generation += 1
            entry = self._entries.get(key)
            if entry is None:
                return
            ts = entry.candles["ts"]
            gone = np.ones(len(ts), dtype=bool)
            if start is not None:
                gone &= ts >= start
            if end is not None:
                gone &= ts < end
            entry.candles = entry.candles[~gone]

    def forget(self, key) -> None:
        """After a change whose outcome is unknown (a failed insert may have landed in part)."""
        with self._lock:
            self.generation += 1
            self._entries.pop(key, None)


_shared: dict[object, tuple[int, TailCache]] = {}
_shared_lock = threading.Lock()


def acquire(engine: object) -> TailCache:
    """The cache of one engine data path, shared by every store open on it."""
    with _shared_lock:
        count, cache = _shared.get(engine, (0, None))
        cache = cache or TailCache()
        _shared[engine] = (count + 1, cache)
        return cache


def release(engine: object) -> None:
    """When the last store on a path closes the cache goes: in-memory data goes with it, and
    another process may own the path next."""
    with _shared_lock:
        count, cache = _shared.get(engine, (0, None))
        if count <= 1:
            _shared.pop(engine, None)
        else:
            _shared[engine] = (count - 1, cache)
