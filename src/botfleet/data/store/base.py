"""The candle store interface: every backend (SQLite, PostgreSQL, ClickHouse/chDB) offers this.

Small on purpose. Writes are idempotent upserts keyed by (exchange, symbol, timeframe, ts): the
same batch written twice, or overlapping batches, leave exactly one copy of each candle, the
last written winning. Writes drop unclosed candles (see `botfleet.data.candles`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

import numpy as np

from botfleet.data.candles import next_open


@dataclass(frozen=True, order=True)
class SeriesKey:
    exchange: str
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe}"


@dataclass(frozen=True)
class Coverage:
    key: SeriesKey
    first: int  # ts of the first stored candle
    last: int  # ts of the last stored candle
    count: int


@dataclass(frozen=True)
class Gap:
    """Candles missing between two stored ones: open times `start` .. `end` inclusive."""

    start: int
    end: int
    missing: int


@runtime_checkable
class CandleStore(Protocol):
    url: str

    def write(self, key: SeriesKey, candles: np.ndarray, *, now: int | None = None) -> int:
        """Upsert closed candles; returns how many rows were written."""

    def read(self, key: SeriesKey, start: int | None = None, end: int | None = None) -> np.ndarray:
        """Candles with start <= ts < end (either bound open), sorted by ts."""

    def last(self, key: SeriesKey, n: int) -> np.ndarray:
        """The last `n` stored candles, sorted by ts."""

    def coverage(self, key: SeriesKey | None = None) -> list[Coverage]:
        """First, last and count per stored series (or for one)."""

    def gaps(self, key: SeriesKey) -> list[Gap]:
        """Missing candles between the first and the last stored one."""

    def delete(self, key: SeriesKey, start: int | None = None, end: int | None = None) -> int:
        """Delete candles with start <= ts < end; returns how many."""

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        """Every store is a context manager that closes on exit."""

    def __exit__(self, *exc) -> None: ...


def find_gaps(ts: np.ndarray, timeframe: str) -> list[Gap]:
    """Gaps between consecutive open times (shared by every store's `gaps`)."""
    if len(ts) < 2:
        return []
    if timeframe.endswith("M"):
        gaps = []
        for a, b in itertools.pairwise(ts):
            expected = next_open(int(a), timeframe)
            if expected < b:
                missing, t = 0, expected
                while t < b:
                    missing, last_missing, t = missing + 1, t, next_open(t, timeframe)
                gaps.append(Gap(expected, last_missing, missing))
        return gaps
    step = next_open(0, timeframe)
    diffs = np.diff(ts)
    idx = np.nonzero(diffs > step)[0]
    return [Gap(int(ts[i]) + step, int(ts[i + 1]) - step, int(diffs[i] // step) - 1) for i in idx]


def open_store(url: str) -> CandleStore:
    """The store for a URL: sqlite:///…, postgresql+psycopg://…, clickhouse://…, chdb:///…"""
    from botfleet.config.refs import resolve

    scheme = url.split(":", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgresql+psycopg", "postgres"):
        from botfleet.data.store.sql import SqlCandleStore

        return SqlCandleStore(resolve(url))
    if scheme in ("clickhouse", "chdb"):
        from botfleet.data.store.clickhouse import ClickHouseCandleStore

        return ClickHouseCandleStore(resolve(url))
    raise ValueError(f"unknown candle store URL scheme '{scheme}': use sqlite:///…, "
                     "postgresql+psycopg://…, clickhouse://… or chdb:///…")
