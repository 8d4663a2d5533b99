"""Candle store on ClickHouse: a real server (`clickhouse://…`) or chDB in process (`chdb:///…`).

Why the table looks as it does:

- `ReplacingMergeTree(version)`: ClickHouse has no in-place update, so an upsert is an append
  and the row with the highest `version` wins: insertion time in ns, strictly increasing within
  a process (across machines, as good as their clocks). Duplicates live until a background
  merge, so every read deduplicates itself (FINAL, or by hand in `last`).
- Ordered by (series, ts), `series` being sipHash64(exchange, symbol, timeframe): one integer
  comparison instead of three string ones is ~0.6 ms of the ~3 ms a `last` query costs (chDB,
  2 cores). We send it with each write (asked once per key): as a MATERIALIZED column the
  server would hash every row, a quarter of the insert time. A 64-bit collision between two
  series is negligible (~1e-10 at 100,000 series). The names stay, as LowCardinality(String).
- `ts` stays Int64 ms like CANDLE_DTYPE: no conversion either way (DateTime64(3) is the same
  Int64 on disk, and would only make results slower to turn into numpy).
- `index_granularity = 1024`: reads of a few hundred rows touch smaller granules (0.3-0.8 ms
  faster at 10M candles than 8192); inserts are as fast.

chDB hosts one engine per process, and that engine has one path: stores on the same path
share it, but opening another path while any store is open fails (close them first).
`chdb://memory` data lives only while at least one store on it is open. Because a chDB path
belongs to one process, `last` answers from an exact in-process cache there (tail_cache);
a server has other writers and is always asked.
"""

from __future__ import annotations

import threading
import time
from typing import Self
from urllib.parse import unquote, urlparse

import clickhouse_connect
import numpy as np
from clickhouse_connect.driver.exceptions import ProgrammingError

from botfleet.data.candles import CANDLE_DTYPE, FIELDS, closed_only, concat, empty
from botfleet.data.store import tail_cache
from botfleet.data.store.base import Coverage, Gap, SeriesKey, find_gaps

TABLE = "candles"
DEFAULT_DATABASE = "botfleet"
KEY_COLUMNS = ("exchange", "symbol", "timeframe")
COLUMNS = KEY_COLUMNS + FIELDS + ("version", "series")
# The key columns are LowCardinality in the table but sent as String: the driver builds
# LowCardinality dictionaries in pure Python (~0.8 s per million rows), the engine in C++.
INSERT_TYPES = ("String",) * 3 + ("Int64",) + ("Float64",) * 5 + ("UInt64",) * 2
SELECT = ", ".join(FIELDS)
WHERE_KEY = "series = sipHash64(%(exchange)s, %(symbol)s, %(timeframe)s)"

DDL = """CREATE TABLE IF NOT EXISTS {table} (
    exchange LowCardinality(String),
    symbol LowCardinality(String),
    timeframe LowCardinality(String),
    ts Int64,
    open Float64,
    high Float64,
    low Float64,
    close Float64,
    volume Float64,
    version UInt64,
    series UInt64 DEFAULT sipHash64(exchange, symbol, timeframe)
) ENGINE = ReplacingMergeTree(version)
ORDER BY (series, ts)
SETTINGS index_granularity = 1024"""

_version_lock = threading.Lock()
_last_version = 0


def _next_version() -> int:
    """Wall-clock ns, but strictly increasing: two writes in one clock tick must still order."""
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns(), _last_version + 1)
        return _last_version


def _connect(url: str):
    """(client, database, insert settings, owned path) for a URL; the only backend-specific
    code. The owned path is set where this process alone can write the data (chDB)."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "chdb":
        if parsed.netloc not in ("", "memory", ":memory:"):
            raise ValueError(f"{url}: use chdb:///absolute/path or chdb://memory")
        # chdb:////abs (an f-string of an absolute path) means /abs too; chDB compares paths.
        path = None if parsed.netloc or parsed.path in ("", "/") else "/" + parsed.path.lstrip("/")
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=path)
        except ProgrammingError as exc:
            if "different path" not in str(exc):
                raise
            raise RuntimeError(
                f"cannot open {url}: chDB runs one engine per process and it is already open "
                f"on another path; close the stores using it first ({exc})") from exc
        # Async inserts buy nothing in process and wait out a flush timeout on every write.
        return client, DEFAULT_DATABASE, {}, ("chdb", path or ":memory:")
    if scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(f"not a ClickHouse URL: {_redact(url)}")
    database = unquote(parsed.path.lstrip("/").split("/")[0]) or DEFAULT_DATABASE
    server = parsed._replace(path="").geturl()
    # Connect without a database: it may not exist yet and we create it below.
    client = clickhouse_connect.get_client(
        dsn=server, **({"secure": True} if scheme == "clickhouses" else {}))
    # The server batches small frequent writes (one candle per bot per minute) itself.
    return client, database, {"async_insert": 1, "wait_for_async_insert": 1}, None


def _redact(url: str) -> str:
    """The URL without its password: reprs and errors must never show a secret."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()


def _as_candles(rows) -> np.ndarray:
    if len(rows) == 0:
        return empty()
    if rows.dtype == CANDLE_DTYPE:
        return rows
    out = np.empty(len(rows), dtype=CANDLE_DTYPE)
    for f in FIELDS:
        out[f] = rows[f]
    return out


class ClickHouseCandleStore:
    def __init__(self, url: str):
        self.url = url
        self._client, self._db, self._insert_settings, self._owned = _connect(url)
        self._table = f"`{self._db}`.`{TABLE}`"
        self._hints: dict[tuple[SeriesKey, int], int] = {}  # see last()
        self._series: dict[SeriesKey, int] = {}
        # One thread: the work is a few granules, and on small machines thread start-up
        # and contention cost more than they bring.
        self._last_settings = {"max_threads": 1}
        try:
            self._client.command(f"CREATE DATABASE IF NOT EXISTS `{self._db}`")
            self._client.command(DDL.format(table=self._table))
        except Exception:
            self._client.close()
            raise
        # Only where no other process can write: a server has other writers.
        self._tail = tail_cache.acquire(self._owned) if self._owned else None

    def __repr__(self) -> str:
        return f"ClickHouseCandleStore({_redact(self.url)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _params(key: SeriesKey, **extra) -> dict:
        return {"exchange": key.exchange, "symbol": key.symbol, "timeframe": key.timeframe,
                **extra}

    @staticmethod
    def _range(start: int | None, end: int | None) -> str:
        return ((" AND ts >= %(start)s" if start is not None else "")
                + (" AND ts < %(end)s" if end is not None else ""))

    def _series_id(self, key: SeriesKey) -> int:
        if key not in self._series:
            self._series[key] = int(self._client.command(
                "SELECT sipHash64(%(exchange)s, %(symbol)s, %(timeframe)s)",
                parameters=self._params(key)))
        return self._series[key]

    def write(self, key: SeriesKey, candles: np.ndarray, *, now: int | None = None) -> int:
        # concat() of one part keeps the last of equal ts: a batch with repeats has one version.
        candles = concat(closed_only(np.asarray(candles, dtype=CANDLE_DTYPE), key.timeframe, now))
        n = len(candles)
        if n == 0:
            return 0
        columns = [[key.exchange] * n, [key.symbol] * n, [key.timeframe] * n]
        columns += [np.ascontiguousarray(candles[f]) for f in FIELDS]
        columns.append(np.full(n, _next_version(), dtype=np.uint64))
        columns.append(np.full(n, self._series_id(key), dtype=np.uint64))
        try:
            self._client.insert(self._table, data=columns, column_names=COLUMNS,
                                column_type_names=INSERT_TYPES, column_oriented=True,
                                settings=self._insert_settings)
        except BaseException:
            if self._tail is not None:
                self._tail.forget(key)
            raise
        if self._tail is not None:
            self._tail.wrote(key, candles)
        return n

    def read(self, key: SeriesKey, start: int | None = None, end: int | None = None) -> np.ndarray:
        return _as_candles(self._stream(
            # bandit B608: constant identifiers; values are bound parameters
            f"SELECT {SELECT} FROM {self._table} FINAL WHERE {WHERE_KEY}"  # nosec B608
            f"{self._range(start, end)} ORDER BY ts", self._params(key, start=start, end=end)))

    def _stream(self, sql: str, params: dict) -> np.ndarray:
        """Large results block by block: query_np assembles its array in Python (10M candles:
        5 s against 1 s here)."""
        with self._client.query_np_stream(sql, parameters=params) as blocks:
            parts = list(blocks)
        return np.concatenate(parts) if parts else np.empty(0)

    def last(self, key: SeriesKey, n: int) -> np.ndarray:
        """From the tail cache where this process owns the data (chDB; see tail_cache), else
        from the engine."""
        if n <= 0:
            return empty()
        if self._tail is not None:
            cached = self._tail.last(key, n)
            if cached is not None:
                return cached
            generation = self._tail.generation
        candles = self._query_last(key, n)
        if self._tail is not None:
            self._tail.fill(key, candles, generation, whole=len(candles) < n)
        return candles

    def _query_last(self, key: SeriesKey, n: int) -> np.ndarray:
        """Two plans, both avoiding FINAL over the whole series (FINAL, argMax/GROUP BY and
        LIMIT 1 BY all merge every row of it: tens of ms at 10M candles; see the bench).

        Fast: FINAL over `ts >= hint`, where the hint is the oldest ts this store returned
        for (key, n) last time. The primary key narrows that to a granule or two per part.
        Whatever was written or deleted since, if it yields >= n candles those are the newest
        n (nothing older can beat them); fewer, and we take the slow plan.

        Slow: `ORDER BY ts DESC LIMIT` without FINAL, which ClickHouse stops reading after
        the tail granules of each part, deduplicated here. The oldest ts fetched may lack
        some of its versions, so it is dropped when the fetch was cut off by the LIMIT.
        """
        hint = self._hints.get((key, n))
        if hint is not None:
            # No ORDER BY: sorting a few hundred rows here is cheaper than in the engine. The
            # LIMIT only caps a hint made stale by a large write: hitting it means "slow plan".
            cap = 8 * n + 1024
            rows = self._client.query_np(
                # bandit B608: constant identifiers; values are bound parameters
                f"SELECT {SELECT} FROM {self._table} FINAL WHERE {WHERE_KEY} AND ts >= %(hint)s "  # nosec B608
                "LIMIT %(cap)s", parameters=self._params(key, hint=hint, cap=cap),
                settings=self._last_settings)
            if n <= len(rows) < cap:
                rows = rows[np.argsort(rows["ts"])[-n:]]
                return self._remember(key, n, _as_candles(rows))
        limit = n + n // 4 + 16  # every extra row costs (~2 ms per 1,000): little slack
        while True:
            rows = self._client.query_np(
                # bandit B608: constant identifiers; values are bound parameters
                f"SELECT {SELECT}, version FROM {self._table} WHERE {WHERE_KEY} "  # nosec B608
                "ORDER BY ts DESC LIMIT %(limit)s", parameters=self._params(key, limit=limit),
                settings=self._last_settings)
            if len(rows) == 0:
                return empty()
            truncated = len(rows) == limit
            if truncated:
                rows = rows[rows["ts"] > rows["ts"][-1]]
            rows = rows[np.lexsort((rows["version"], rows["ts"]))]  # by ts, newest version last
            rows = rows[np.append(rows["ts"][1:] != rows["ts"][:-1], True)]
            if len(rows) >= n or not truncated:
                return self._remember(key, n, _as_candles(rows[-n:]))
            # Unmerged versions near the end: fetch deeper, as deep as their share suggests.
            limit = max(2 * limit, limit * n * 5 // (4 * max(len(rows), 1)))

    def _remember(self, key: SeriesKey, n: int, candles: np.ndarray) -> np.ndarray:
        if len(candles) == n:
            if len(self._hints) > 10_000:
                self._hints.clear()
            self._hints[(key, n)] = int(candles["ts"][0])
        return candles

    def coverage(self, key: SeriesKey | None = None) -> list[Coverage]:
        # FINAL grouped by the sort key's prefix: 0.25 s at 10M candles, uniqExact(ts) 1 s.
        where = f"WHERE {WHERE_KEY}" if key else ""
        rows = self._client.query(
            # bandit B608: constant identifiers; values are bound parameters
            "SELECT any(exchange) AS e, any(symbol) AS s, any(timeframe) AS t, min(ts), max(ts), "  # nosec B608
            f"count() FROM {self._table} FINAL {where} GROUP BY series ORDER BY e, s, t",
            parameters=self._params(key) if key else None).result_rows
        return [Coverage(SeriesKey(ex, sym, tf), int(first), int(last), int(count))
                for ex, sym, tf, first, last, count in rows]

    def gaps(self, key: SeriesKey) -> list[Gap]:
        # bandit B608: constant identifiers; values are bound parameters
        ts = self._stream(f"SELECT ts FROM {self._table} FINAL WHERE {WHERE_KEY} ORDER BY ts",  # nosec B608
                          self._params(key))
        return find_gaps(np.asarray(ts, dtype=np.int64).ravel(), key.timeframe)

    def delete(self, key: SeriesKey, start: int | None = None, end: int | None = None) -> int:
        """Lightweight DELETE: it masks rows at once and is synchronous in chDB and on a server
        (lightweight_deletes_sync), unlike ALTER … DELETE, which rewrites whole parts."""
        where = f"{WHERE_KEY}{self._range(start, end)}"
        params = self._params(key, start=start, end=end)
        count = self._client.command(
            # bandit B608: constant identifiers; values are bound parameters
            f"SELECT count() FROM {self._table} FINAL WHERE {where}", parameters=params)  # nosec B608
        if int(count):
            try:
                # bandit B608: constant identifiers; values are bound parameters
                self._client.command(f"DELETE FROM {self._table} WHERE {where}",  # nosec B608
                                     parameters=params, settings={"lightweight_deletes_sync": 2})
            except BaseException:
                if self._tail is not None:
                    self._tail.forget(key)
                raise
            if self._tail is not None:
                self._tail.deleted(key, start, end)
        return int(count)

    def close(self) -> None:
        if self._tail is not None:
            self._tail = None
            tail_cache.release(self._owned)
        self._client.close()
