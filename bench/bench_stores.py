"""Candle-store speed: bulk ingest and "last 500 candles of one pair" on a large store.

Targets (issue 3): ingest of 1,000,000 candles at >= 150,000 rows/s into SQLite, >= 300,000
into PostgreSQL, >= 500,000 into chDB; last-500 p99 < 5 ms on a store of 10,000,000 candles.
Each ingest run writes a fresh series (as real ingestion appends), medians over --runs in one
process. Peer, same run: pandas `DataFrame.to_sql` (SQL stores) into an equivalent table.

    .venv/bin/python bench/bench_stores.py [--stores sqlite,postgresql,chdb] [--rows 1000000]
        [--runs 3] [--big 10000000] [--peer-rows 200000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from botfleet.data.candles import CANDLE_DTYPE
from botfleet.data.store import SeriesKey, open_store

PG = os.environ.get("BOTFLEET_TEST_PG_URL", "postgresql+psycopg://127.0.0.1:5432/test")
NOW = 10**15


def synthetic(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = np.empty(n, dtype=CANDLE_DTYPE)
    c["ts"] = 1_500_000_000_000 + np.arange(n, dtype=np.int64) * 60_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    c["open"], c["close"] = np.roll(close, 1), close
    c["high"] = np.maximum(c["open"], close) * 1.0005
    c["low"] = np.minimum(c["open"], close) * 0.9995
    c["volume"] = rng.uniform(0, 10, n)
    return c


def store_url(kind: str, folder: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}", lambda: None
    if kind == "chdb":
        return f"chdb:///{folder / uuid.uuid4().hex}", lambda: None
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop():
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{PG}?options=-csearch_path%3D{schema}", drop


def bench_ingest(kind: str, folder: Path, rows: int, runs: int) -> list[float]:
    url, drop = store_url(kind, folder)
    store = open_store(url)
    rates = []
    for i in range(runs):
        batch = synthetic(rows, i)
        key = SeriesKey("bench", f"S{i}/USDT", "1m")
        t0 = time.perf_counter()
        store.write(key, batch, now=NOW)
        rates.append(rows / (time.perf_counter() - t0))
        assert len(store.last(key, 10)) == 10
    store.close()
    drop()
    return rates


def bench_last(kind: str, folder: Path, big: int, queries: int = 2000) -> dict[str, float]:
    """A fleet polling its series while ingestion appends: every 10th call is preceded by one
    new closed candle on a random series (untimed), as a live store sees. For chDB the engine
    query alone (`_query_last`, what a miss of the tail cache costs) is timed too."""
    url, drop = store_url(kind, folder)
    store = open_store(url)
    per = 500_000
    keys = [SeriesKey("bench", f"P{i}/USDT", "1m") for i in range(big // per)]
    tails = {}
    for i, key in enumerate(keys):
        series = synthetic(per, 100 + i)
        store.write(key, series, now=NOW)
        tails[key] = series[-1:].copy()
    lat, engine = [], []
    rng = np.random.default_rng(0)
    for q in range(queries):
        if q % 10 == 9:
            grow = keys[rng.integers(len(keys))]
            tails[grow]["ts"] += 60_000
            store.write(grow, tails[grow], now=NOW)
        key = keys[rng.integers(len(keys))]
        t0 = time.perf_counter()
        got = store.last(key, 500)
        lat.append(time.perf_counter() - t0)
        assert len(got) == 500 and got["ts"][-1] == tails[key]["ts"][0]
        if kind == "chdb":
            t0 = time.perf_counter()
            direct = store._query_last(key, 500)
            engine.append(time.perf_counter() - t0)
            assert np.array_equal(direct, got)
    store.close()
    drop()
    out = {"p50": np.percentile(lat, 50) * 1e3, "p99": np.percentile(lat, 99) * 1e3}
    if engine:
        out |= {"engine p50": np.percentile(engine, 50) * 1e3,
                "engine p99": np.percentile(engine, 99) * 1e3}
    return {k: float(v) for k, v in out.items()}


def bench_peer(kind: str, folder: Path, rows: int) -> float:
    from sqlalchemy import create_engine

    url, drop = store_url(kind, folder)
    engine = create_engine(url)
    frame = pd.DataFrame(synthetic(rows, 7))
    t0 = time.perf_counter()
    frame.to_sql("peer_candles", engine, if_exists="replace", index=False, chunksize=10_000,
                 method="multi" if kind == "postgresql" else None)
    rate = rows / (time.perf_counter() - t0)
    engine.dispose()
    drop()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", default="sqlite,postgresql,chdb")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--peer-rows", type=int, default=200_000)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython "
          f"{platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in args.stores.split(","):
            rates = bench_ingest(kind, folder, args.rows, args.runs)
            line = (f"{kind}: ingest {args.rows} rows x {args.runs}: median "
                    f"{statistics.median(rates):,.0f} rows/s (min {min(rates):,.0f})")
            if kind != "chdb":
                peer = bench_peer(kind, folder, args.peer_rows)
                line += f"; peer pandas.to_sql {peer:,.0f} rows/s, ratio " \
                        f"{statistics.median(rates) / peer:.1f}x"
            print(line, flush=True)
            figures = bench_last(kind, folder, args.big)
            print(f"{kind}: last 500 of one pair, store of {args.big:,} candles: "
                  + ", ".join(f"{k} {v:.2f} ms" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
