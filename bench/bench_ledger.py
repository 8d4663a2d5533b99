"""Order ledger speed: the write path a broker pays per order, and backup/restore of the state DB.

Targets (2-core machine; issue "execution: trading state, orders ..."): the ledger must never
be what limits a fleet's order rate, so
  1. one order's whole life in the ledger — `record_intent` (order + event), `mark_submitted`,
     `mark_acknowledged`, two partial `record_fill`s (fill, order, event, position) — under
     25 ms on SQLite and PostgreSQL, i.e. >= 40 orders/s from one process;
  2. an idempotent repeat of `record_intent` (the restart path) under 5 ms;
  3. the ledger's cost per transaction within 3x of the floor: a bare SQLAlchemy Core
     transaction inserting one row (same engine settings: SQLite WAL with BEGIN IMMEDIATE,
     PostgreSQL on 127.0.0.1), measured in the same run;
  4. `backup` and `restore` of a state database holding --orders orders (with their events and
     fills): reported, no target.

Each figure is the median over --runs runs of --count orders (a fresh database per backend).

    .venv/bin/python bench/bench_ledger.py [--count 300] [--runs 5] [--orders 10000]
        [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from bench_state import state_url

from botfleet.execution.ledger import Ledger
from botfleet.orders import OrderType, Side
from botfleet.storage.backup import backup, restore
from botfleet.storage.db import state_engine, transaction

TRANSACTIONS_PER_ORDER = 5




def lifecycle(led: Ledger, cycle, i: int) -> str:
    rec = led.record_intent(cycle, f"o{i}", symbol="BTC/USDT", side=Side.BUY if i % 2 else
                            Side.SELL, type=OrderType.LIMIT, amount=Decimal("0.01"),
                            price=Decimal("42000.5"))
    led.mark_submitted(rec.client_id)
    led.mark_acknowledged(rec.client_id, f"x{i}", created_ms=i)
    for part in (0, 1):
        led.record_fill(rec.client_id, f"t{i}-{part}", Decimal("0.005"), Decimal("42000.5"),
                        i + part, fee=Decimal("0.021"), fee_currency="USDT")
    return rec.client_id


def run_once(kind: str, folder: Path, count: int, offset: int = 0) -> dict:
    url, drop = state_url(kind, folder)
    try:
        with Ledger(url) as led:
            led.register_bot("bench", "binance")
            cycle = led.begin_cycle("bench", candle_ms=1_700_000_000_000)
            lifecycle(led, cycle, -1)  # warm: statement caches, connection pool
            t0 = time.perf_counter()
            ids = [lifecycle(led, cycle, i) for i in range(count)]
            life = (time.perf_counter() - t0) / count
            t0 = time.perf_counter()
            for i in range(count):
                led.record_intent(cycle, f"o{i}", symbol="BTC/USDT", side=Side.BUY if i % 2
                                  else Side.SELL, type=OrderType.LIMIT,
                                  amount=Decimal("0.01"), price=Decimal("42000.5"))
            repeat = (time.perf_counter() - t0) / count
            assert len(set(ids)) == count
        floor = bare_transaction(url, count * TRANSACTIONS_PER_ORDER)
        return {"life": life, "repeat": repeat, "floor": floor}
    finally:
        drop()


def bare_transaction(url: str, n: int) -> float:
    """The floor: one INSERT per transaction through the same engine setup."""
    engine = state_engine(url)
    table = sa.Table("bench_floor", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("v", sa.Numeric(38, 12)))
    try:
        table.create(engine)
        with transaction(engine, write=True) as conn:  # warm
            conn.execute(table.insert().values(v=Decimal(0)))
        t0 = time.perf_counter()
        for i in range(n):
            with transaction(engine, write=True) as conn:
                conn.execute(table.insert().values(v=Decimal(i)))
        return (time.perf_counter() - t0) / n
    finally:
        table.drop(engine)
        engine.dispose()


def bench_backup(kind: str, folder: Path, orders: int) -> None:
    url, drop = state_url(kind, folder)
    try:
        with Ledger(url) as led:
            led.register_bot("bench", "binance")
            cycle = led.begin_cycle("bench", candle_ms=1_700_000_000_000)
            engine = led.engine
            t0 = time.perf_counter()
            for i in range(orders):
                lifecycle(led, cycle, i)
            fill_s = time.perf_counter() - t0
            with engine.connect() as conn:
                rows = sum(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                           for t in ("orders", "order_events", "fills"))
        path = folder / f"backup-{kind}.bak"
        t0 = time.perf_counter()
        info = backup(url, path)
        backup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        restore(url, path, force=True)
        restore_s = time.perf_counter() - t0
        print(f"  {kind:<10} {orders:,} orders ({rows:,} order/event/fill rows, written in "
              f"{fill_s:.1f} s): backup {backup_s:.2f} s ({info.size / 1e6:.1f} MB), "
              f"restore {restore_s:.2f} s")
    finally:
        drop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}")
    folder = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    try:
        for kind in args.backends.split(","):
            runs = [run_once(kind, folder, args.count) for _ in range(args.runs)]
            life = statistics.median(r["life"] for r in runs)
            repeat = statistics.median(r["repeat"] for r in runs)
            floor = statistics.median(r["floor"] for r in runs)
            per_tx = life / TRANSACTIONS_PER_ORDER
            print(f"{kind}: {args.runs} runs x {args.count} orders")
            print(f"  order lifecycle (5 transactions): median {life * 1000:.2f} ms/order "
                  f"= {1 / life:,.0f} orders/s (target < 25 ms) "
                  f"[min {min(r['life'] for r in runs) * 1000:.2f}, "
                  f"max {max(r['life'] for r in runs) * 1000:.2f}]")
            print(f"  repeated record_intent: median {repeat * 1000:.2f} ms (target < 5 ms)")
            print(f"  per ledger transaction {per_tx * 1000:.2f} ms vs bare one-row transaction "
                  f"{floor * 1000:.2f} ms: ratio {per_tx / floor:.2f} (target <= 3)")
        print(f"backup / restore of {args.orders:,} orders:")
        for kind in args.backends.split(","):
            if kind == "postgresql" and not (shutil.which("pg_dump") and
                                             shutil.which("pg_restore")):
                print("  postgresql: skipped, pg_dump/pg_restore not on PATH")
                continue
            bench_backup(kind, folder, args.orders)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
