"""ClickHouse/chDB candle store: ingest rate and `last(key, 500)` latency at 10M candles.

Targets (2-core CI machine): ingest >= 500,000 rows/s; `last(key, 500)` p99 < 5 ms on a store
holding 10,000,000 candles. One series of 1m candles (synthetic random walk) is written in
batches of `--batch` rows (each batch timed: that is the ingest figure); then the newest
`--rewrite` candles are written again with changed values, so the tail holds two versions
of those (live re-ingestion rewrites a candle or two; `--rewrite 10000` is the worst case for
`last`'s first call, every candle it returns having two unmerged versions). `last` is
timed repeated (a bot polling its series: the hinted plan) and as a first call (the hint
dropped each time: the tail-scan plan). `--compare` also times the alternatives to `last`'s
queries on the same data.

    .venv/bin/python bench/bench_store_clickhouse.py [--rows 10000000] [--batch 1000000]
        [--rewrite 100] [--queries 500] [--compare] [--optimize] [--path /abs/dir]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE
from botfleet.data.store.base import SeriesKey
from botfleet.data.store.clickhouse import SELECT, WHERE_KEY, ClickHouseCandleStore

KEY = SeriesKey("binance", "BTC/USDT", "1m")
START = 1_500_000_000_000 // 60_000 * 60_000


def random_walk(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    out = np.empty(n, dtype=CANDLE_DTYPE)
    out["ts"] = START + np.arange(n, dtype=np.int64) * 60_000
    out["open"] = np.concatenate(([30_000.0], close[:-1]))
    out["close"] = close
    spread = np.abs(rng.normal(0, 5e-4, n))
    out["high"] = np.maximum(out["open"], close) * (1 + spread)
    out["low"] = np.minimum(out["open"], close) * (1 - spread)
    out["volume"] = rng.lognormal(3, 1, n)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def timed(fn, runs: int) -> list[float]:
    for _ in range(min(20, runs)):  # warm caches (marks, primary index, uncompressed blocks)
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def report(name: str, secs: list[float]) -> None:
    ms = [s * 1e3 for s in secs]
    print(f"  {name:44s} median {statistics.median(ms):7.2f} ms  p99 {pct(ms, 99):7.2f} ms  "
          f"max {max(ms):7.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="candles in the store")
    ap.add_argument("--batch", type=int, default=1_000_000, help="candles per write")
    ap.add_argument("--rewrite", type=int, default=100, help="newest candles written twice")
    ap.add_argument("--queries", type=int, default=500, help="timed last() calls")
    ap.add_argument("--compare", action="store_true", help="also time alternative queries")
    ap.add_argument("--optimize", action="store_true",
                    help="OPTIMIZE FINAL before timing reads (all parts merged, no duplicates)")
    ap.add_argument("--settle", type=float, default=120,
                    help="max seconds to wait for background merges before timing reads")
    ap.add_argument("--path", help="chDB directory (default: a fresh temporary one)")
    args = ap.parse_args()

    print(f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        store = ClickHouseCandleStore(f"chdb://{args.path or tmp + '/store'}")
        candles = random_walk(args.rows)
        now = int(candles["ts"][-1]) + 60_000
        rates = []
        for i in range(0, args.rows, args.batch):
            batch = candles[i:i + args.batch]
            t = time.perf_counter()
            written = store.write(KEY, batch, now=now)
            rates.append(written / (time.perf_counter() - t))
        print(f"ingest: {len(rates)} writes of {args.batch:,} candles (one series)")
        print(f"  rows/s median {statistics.median(rates):,.0f}  min {min(rates):,.0f}  "
              f"max {max(rates):,.0f}")

        expected = candles[-500:].copy()
        if args.rewrite:
            tail = candles[-args.rewrite:].copy()
            tail["close"] += 1.0
            store.write(KEY, tail, now=now)
            expected["close"][-args.rewrite:] += 1.0
        assert np.array_equal(store.last(KEY, 500), expected), "last() returned stale rows"
        client, table = store._client, store._table
        if args.optimize:
            client.command(f"OPTIMIZE TABLE {table} FINAL")
        t = time.perf_counter()  # let the merges the ingest started finish: a store at rest
        while client.command("SELECT count() FROM system.merges") and \
                time.perf_counter() - t < args.settle:
            time.sleep(0.5)
        print(f"waited {time.perf_counter() - t:.1f} s for background merges")
        parts, rows = client.query(f"SELECT count(), sum(rows) FROM system.parts WHERE active "
                                   f"AND database = '{store._db}' AND table = 'candles'"
                                   ).result_rows[0]
        print(f"last(key, 500): {args.rows:,} candles stored, {rows:,} physical rows in "
              f"{parts} active parts, {args.queries} calls")
        report("store.last, repeated (FINAL, ts >= hint)", timed(
            lambda: store.last(KEY, 500), args.queries))

        def cold() -> None:
            store._hints.clear()
            store.last(KEY, 500)

        report("store.last, first call (DESC LIMIT, dedupe)", timed(cold, args.queries))
        if args.compare:
            params = {"exchange": KEY.exchange, "symbol": KEY.symbol, "timeframe": KEY.timeframe}
            base = f"FROM {table} WHERE {WHERE_KEY}"
            queries = {
                "FINAL ORDER BY ts DESC LIMIT 500":
                    f"SELECT {SELECT} FROM {table} FINAL WHERE {WHERE_KEY} "
                    "ORDER BY ts DESC LIMIT 500",
                "LIMIT 1 BY ts":
                    f"SELECT {SELECT} {base} ORDER BY ts DESC, version DESC LIMIT 1 BY ts "
                    "LIMIT 500",
                "argMax GROUP BY ts":
                    f"SELECT ts, argMax(close, version) {base} GROUP BY ts "
                    "ORDER BY ts DESC LIMIT 500",
                "FINAL, ts >= literal bound (bound known)":
                    f"SELECT {SELECT} FROM {table} FINAL WHERE {WHERE_KEY} AND ts >= "
                    f"{int(candles['ts'][-500])} ORDER BY ts",
            }
            for name, sql in queries.items():
                runs = max(10, args.queries // 10) if "bound" not in name else args.queries
                report(name, timed(lambda sql=sql: client.query_np(sql, parameters=params),
                                   runs))
        day = int(candles["ts"][-1440])
        report("read(key, last day) (FINAL, 1,440 rows)", timed(
            lambda: store.read(KEY, day), max(10, args.queries // 10)))
        for name, fn in (("coverage()", store.coverage), ("gaps(key)", lambda: store.gaps(KEY)),
                         ("read(key) (all)", lambda: store.read(KEY))):
            t = time.perf_counter()
            fn()
            print(f"  {name:44s} once    {(time.perf_counter() - t) * 1e3:7.0f} ms")
        store.close()


if __name__ == "__main__":
    main()
