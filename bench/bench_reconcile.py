"""Reconciliation of a fleet, and the executor's round trip, on the exchange simulator.

Target (issue "Execution: ... brokers and reconciliation"): reconciliation of 100 bots with 20
open orders each in under 10 s. Set-up, untimed except where said: one simulator (manual clock,
real BTC/USDT candles; its per-IP weight limit raised out of the way, since 100 bots share one
IP here and their ~2,000 orders and 100 market loads would exceed Binance's 6,000 a minute),
one account and one ccxt client per bot, one state database (SQLite file, or PostgreSQL) for
the fleet. Each bot reconciles once (the baseline) and places 20 resting limit orders through
the executor — each `place()` is timed: the executor's round trip, intent -> ack, with its
ledger writes (record_intent, mark_submitted, mark_acknowledged and their events) and the
HTTP request through ccxt.

Then every bot is reconciled (open orders, recent trades, balances and its ledger, all
compared): timed as a whole, sequentially in one thread, and with a pool of `--workers`
threads as a runtime would. Every reconciliation must pass (and its 20 orders be listed).

    .venv/bin/python bench/bench_reconcile.py [--bots 100] [--orders 20] [--runs 3]
        [--backends sqlite,postgresql] [--workers 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from bench_state import state_url

from botfleet.execution.executor import Executor
from botfleet.execution.ledger import Ledger
from botfleet.execution.paper_broker import PaperBroker
from botfleet.execution.reconcile import ReconcilePolicy
from botfleet.orders import Order, OrderType, Side
from botfleet.sim.fillmodel import FillModel
from botfleet.venue import BinanceServer, Clock, MarketData

DATA = Path(os.environ.get("BOTFLEET_SHARED_DATA", "/work/shared/data"))
SYM = "BTC/USDT"
T0 = 1_704_067_200_000
POLICY = ReconcilePolicy(symbols=(SYM,))




def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def one_run(kind: str, bots: int, orders: int, workers: int, folder: Path) -> dict:
    url, drop = state_url(kind, folder)
    market = MarketData.from_directory(DATA, symbols=[SYM], timeframes=["1h"], clock=Clock(T0))
    venue = BinanceServer(market, fills=FillModel(slippage="fixed", bps=5),
                          weight_limit=10**9).start()
    ledger = Ledger(url)
    try:
        warm = venue.add_account("warm-up", {"USDT": "100000"})  # the venue's first order
        PaperBroker.venue(venue.base_url, warm.api_key, warm.secret).submit(  # loads its
            Order("warm", SYM, Side.BUY, OrderType.LIMIT, Decimal("0.01"),  # compiled fill
                  Decimal(30000)))  # rules (~2 s once): not the executor's cost
        fleet = []
        for b in range(bots):
            name = f"bot{b:03d}"
            acct = venue.add_account(name, {"USDT": "100000"})
            broker = PaperBroker.venue(venue.base_url, acct.api_key, acct.secret,
                                       enableRateLimit=False)
            ledger.register_bot(name, "binance")
            ex = Executor(ledger, broker, name)
            assert ex.start(POLICY).passed
            fleet.append(ex)
        round_trips = []
        for ex in fleet:
            cycle = ledger.begin_cycle(ex.bot, candle_ms=T0)
            for k in range(orders):
                price = Decimal(30000 - 10 * k)
                t0 = time.perf_counter()
                rec = ex.place(cycle, f"rest{k}", Order("", SYM, Side.BUY, OrderType.LIMIT,
                                                        Decimal("0.01"), price))
                round_trips.append(time.perf_counter() - t0)
                assert rec.exchange_id is not None
        t0 = time.perf_counter()
        reports = [ex.reconcile(POLICY) for ex in fleet]
        sequential = time.perf_counter() - t0
        assert all(r.passed for r in reports), [r.summary() for r in reports if not r.passed]
        assert all(len(ledger.open_orders(ex.bot)) == orders for ex in fleet)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            reports = list(pool.map(lambda ex: ex.reconcile(POLICY), fleet))
        pooled = time.perf_counter() - t0
        assert all(r.passed for r in reports), [r.summary() for r in reports if not r.passed]
        per_bot = [r.seconds for r in reports]
        return {"sequential": sequential, "pooled": pooled,
                "per_bot_p50": statistics.median(per_bot), "rt_p50": statistics.median(
                    round_trips), "rt_p99": pct(round_trips, 0.99), "rt_n": len(round_trips)}
    finally:
        ledger.close()
        venue.stop()
        drop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bots", type=int, default=100)
    p.add_argument("--orders", type=int, default=20)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--backends", default="sqlite,postgresql")
    a = p.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"{a.bots} bots x {a.orders} open orders, {a.runs} runs")
    print(f"{'backend':<11} {'reconcile all: seq':>19} {'pool':>7} {'per bot p50':>12} "
          f"{'place() p50':>12} {'p99':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in a.backends.split(","):
            runs = [one_run(kind, a.bots, a.orders, a.workers, Path(folder))
                    for _ in range(a.runs)]

            def med(k, runs=runs):
                return statistics.median(r[k] for r in runs)

            print(f"{kind:<11} {med('sequential'):>17.2f} s {med('pooled'):>5.2f} s "
                  f"{med('per_bot_p50') * 1000:>9.1f} ms {med('rt_p50') * 1000:>9.2f} ms "
                  f"{med('rt_p99') * 1000:>5.1f} ms   (target < 10 s: "
                  f"{'met' if med('sequential') < 10 else 'MISSED'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
