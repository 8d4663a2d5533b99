"""Risk engine speed: one full pre-trade check, and kill-switch propagation across processes.

Targets (issue "fleet runtime and risk engine"): a pre-trade check < 50 us; a kill switch
effective in every running bot in < 1 s.

1. Pre-trade check: `RiskEngine.for_bot` on the example fleet's btc-trend (limits at bot,
   exchange and fleet level: size, position, open positions, rate, price band, min notional,
   daily loss, drawdown, losing streak, cooldown, total exposure) and a realistic snapshot
   (3 positions, 2 working orders, 16 orders in the last minute, performance, free balances).
   Each call is timed alone with perf_counter_ns (median, p99) and in bulk with timeit (mean);
   cases: an order that passes, one refused by several rules (messages built), and a risk-reducing
   exit under a kill switch.
2. Propagation: `--bots` bot processes each hold a `KillSwitch` listening on Redis; the parent
   engages (then releases) a global switch `--trials` times; the time from just before
   `engage()` (SQL write + publish) to the moment the slowest bot's `on_change` callback sees
   it (after its own SQL reload), on the shared monotonic clock. State on SQLite and
   PostgreSQL.

    .venv/bin/python bench/bench_risk.py [--calls 200000] [--trials 40] [--bots 4]
        [--backends sqlite,postgresql] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import uuid
from decimal import Decimal
from pathlib import Path

from bench_state import state_url

from botfleet.config import load_fleet
from botfleet.orders import Order, OrderType, Side
from botfleet.risk import Book, KillState, KillSwitch, RiskContext, RiskEngine, performance
from botfleet.storage import upgrade

ROOT = Path(__file__).resolve().parents[1]
D = Decimal
NOW = 1_767_268_800_000  # 2026-01-01 12:00 UTC


def snapshot(order: Order, kill=None) -> tuple[RiskEngine, RiskContext]:
    fleet = load_fleet(ROOT / "fleet.yaml").fleet
    engine = RiskEngine.for_bot(fleet, "btc-trend")
    prices = {"BTC/USDT": D("64000.5"), "ETH/USDT": D("3100.25"), "SOL/USDT": D("140.1")}
    working = [Order("w1", "ETH/USDT", Side.BUY, OrderType.LIMIT, D("0.1"), D(3000)),
               Order("w2", "BTC/USDT", Side.SELL, OrderType.LIMIT, D("0.001"), D(66000))]
    times = [NOW - i * 7_000 for i in range(8)]  # 16 in the last minute at exchange level
    equity = [(NOW - (48 - i) * 3_600_000, D(4000) + D(i)) for i in range(48)]
    perf = performance(equity, [], NOW)
    bot = Book.build({"BTC/USDT": D("0.01")}, prices, working[1:], times, perf)
    others = Book.build({"ETH/USDT": D("0.3"), "SOL/USDT": D(4)}, prices, working[:1], times,
                        perf)
    agg = Book.combine([bot, others], perf)
    ctx = RiskContext(order, NOW, prices[order.symbol], bot,
                      {"USDT": D(3000), "BTC": D("0.01")}, agg, agg, kill, (), D("0.001"))
    return engine, ctx


def time_calls(fn, calls: int) -> dict:
    clock = time.perf_counter_ns
    for _ in range(2000):
        fn()
    samples = [0] * calls
    gc.disable()  # as timeit does: a collection is not the check's cost
    try:
        for i in range(calls):
            t0 = clock()
            fn()
            samples[i] = clock() - t0
    finally:
        gc.enable()
    samples.sort()
    mean = min(timeit.repeat(fn, number=calls // 10, repeat=5)) / (calls // 10)
    return {"median_us": samples[len(samples) // 2] / 1000,
            "p99_us": samples[int(len(samples) * 0.99)] / 1000, "timeit_mean_us": mean * 1e6}


def bench_checks(calls: int) -> None:
    cases = {
        "passes": (Order("c", "BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.005"), D(64100)), None),
        "refused by several rules": (Order("c", "SOL/USDT", Side.BUY, OrderType.LIMIT, D(10),
                                     D(150)), None),
        "exit under a kill switch": (Order("c", "BTC/USDT", Side.SELL, OrderType.MARKET,
                                           D("0.009")),
                                     KillState(1, "global", "", "flatten", "bench", "cli", NOW)),
    }
    print("pre-trade check, example fleet btc-trend (3 levels), one call timed alone:")
    for name, (order, kill) in cases.items():
        engine, ctx = snapshot(order, kill)
        d = engine.check(ctx)
        r = time_calls(lambda e=engine, c=ctx: e.check(c), calls)
        print(f"  {name:<26} median {r['median_us']:6.2f} us  p99 {r['p99_us']:6.2f} us  "
              f"timeit mean {r['timeit_mean_us']:6.2f} us  -> allowed={d.allowed} "
              f"rules={d.rules()}")


CHILD = """
import json, sys, time
from botfleet.risk import KillSwitch

url, cache, prefix = sys.argv[1:4]
ks = KillSwitch(url, cache, prefix=prefix)
ks.on_change(lambda active: print(json.dumps({"t": time.monotonic(), "n": len(active)}),
                                  flush=True))
print(json.dumps({"ready": ks.subscribed}), flush=True)
sys.stdin.readline()
ks.close()
"""




def bench_propagation(kind: str, redis_url: str, trials: int, n_bots: int) -> None:
    import queue

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = state_url(kind, Path(tmp))
        try:
            upgrade(url)
            prefix = f"bench{uuid.uuid4().hex[:8]}:"
            procs, queues = [], []
            for _ in range(n_bots):
                p = subprocess.Popen([sys.executable, "-c", CHILD, url, redis_url, prefix],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                q: queue.Queue = queue.Queue()
                threading.Thread(target=lambda p=p, q=q: [q.put(json.loads(x)) for x in
                                                          p.stdout], daemon=True).start()
                procs.append(p)
                queues.append(q)
            assert all(q.get(timeout=60) == {"ready": True} for q in queues)
            lat = []
            with KillSwitch(url, redis_url, prefix=prefix, listen=False) as cli:
                for i in range(trials):
                    t0 = time.monotonic()
                    if i % 2 == 0:
                        cli.engage("global", None, "freeze", f"bench {i}", "bench")
                    else:
                        cli.release("global", None, f"bench {i}", "bench")
                    seen = [q.get(timeout=5)["t"] for q in queues]
                    lat.append(max(seen) - t0)
                    time.sleep(0.05)
            for p in procs:
                p.stdin.write("\n")
                p.stdin.close()
                p.wait(timeout=10)
        finally:
            drop()
    lat.sort()
    print(f"kill switch propagation, state on {kind}, {n_bots} bot processes, {trials} "
          f"engage/release: median {statistics.median(lat) * 1000:.1f} ms, p99 "
          f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.1f} ms, max "
          f"{lat[-1] * 1000:.1f} ms (engage: SQL write + publish; bot: SQL reload)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--bots", type=int, default=4)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}")
    bench_checks(args.calls)
    for kind in args.backends.split(","):
        bench_propagation(kind, args.redis, args.trials, args.bots)


if __name__ == "__main__":
    main()
