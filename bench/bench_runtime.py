"""Fleet runner speed: 100 bots in one process on 2 cores, each on its own pair and timeframe.

Targets (issue "fleet runtime and risk engine"): from a candle close to every bot's decision
made, p99 < 250 ms excluding the exchange's own latency; one bot's decision p99 < 1 ms;
resident memory < 50 MB per bot sharing a process; kill switch propagation (no target given
beyond the risk engine's < 1 s).

The market is SYNTHETIC (the simulator's seeded random walk, labelled so by the simulator):
100 pairs (S00/USDT ... S99/USDT), no recorded data has 100 pairs. The simulator runs in its
own process (`botfleet venue serve --synthetic`), matching on 5m candles under a manual clock
moved by this script; the bots reach it through the real ccxt client. Bots: 100, timeframes
5m/15m/30m/1h/4h in turn (so at a 4h boundary all 100 close at once: the worst case), three
small declarative strategies (SMA cross, RSI band, Donchian breakout) without stops, the
example fleet's conservative risk profile at bot level and its fleet-level limits (so every
order is judged at bot and fleet level). State: SQLite (WAL) in a temp folder.

Measured, over `--ticks` 4h closes after `--warm` warm-up closes:
1. close -> all decisions, end to end: `run_once(now=close)` from the call to the last bot's
   decision (`CycleResult.decided`); includes fetching every series' new candle from the
   simulator (100 klines requests to a process on the same 2 cores).
2. the same with each series' new candle fetched just before the timed call (the exchange's
   latency taken out; everything botfleet does itself stays in: state reads, cycle records,
   kill switch and breaker reads, aggregate books, strategy, sizing, risk checks, threads).
3. one bot's decision: `CycleResult.decision_s` (latest signals + decisions + risk checks of
   one cycle), all bots of all timed ticks; and the same with one worker thread (no
   contention).
4. RSS per bot: the process's resident memory after starting 100 bots (and running the
   ticks) minus before building the runner, / 100; and the whole process / 100.
5. kill switch propagation with `--redis`: another process engages (and releases) a global
   switch; time from just before `engage()` to this runner's `on_change` (on the monotonic
   clock shared by the processes of one host).

    .venv/bin/python bench/bench_runtime.py [--bots 100] [--ticks 30] [--warm 3]
        [--workers 8] [--redis redis://127.0.0.1:6379/0] [--trials 20] [--no-turns]
        [--before] [--locks-each] [--explain]

`--before` runs the runner as it was before issue 7's fixes: each bot reads, decides and acts
on its own (`RunnerOptions(phased=False)`) and the heap is not frozen (`freeze_heap=False`):
the peer for the default. `--no-turns` lets the bots decide at the same time (no
`runtime.work.DECIDING` turns). `--locks-each`: each bot takes its `cycle:<bot>` lock in its
own read job, one round trip each, as before the close took them in one batch (the peer for
`runtime.batch._take_locks`; with `--redis` the locks are on Redis). `--explain` probes every phase of every tick
(`runtime_explain.py`: wall and CPU time per call, GC pauses) and tells the slowest ticks'
and the slowest decisions' breakdown; the probes cost a few microseconds a call.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BOTFLEET = str(Path(sys.executable).with_name("botfleet"))
TFS = ("5m", "15m", "30m", "1h", "4h")
T0 = 1_704_067_200_000  # 2024-01-01, the simulator's start
FOUR_H = 4 * 3_600_000
TICKS: list[tuple] = []  # (start, end, results, prefetched) of every tick, for --explain
STRATEGIES = """
  - name: sma_x
    parameters: {fast: {default: 10, range: [2, 50]}, slow: {default: 30, range: [5, 100]}}
    indicators: {f: "sma(close, fast)", s: "sma(close, slow)"}
    entry: crosses_above(f, s)
    exit: crosses_below(f, s)
  - name: rsi_band
    parameters: {period: {default: 14, range: [2, 50]}}
    indicators: {r: "rsi(close, period)"}
    entry: r < 35
    exit: r > 60
  - name: breakout
    parameters: {n: {default: 20, range: [5, 100]}}
    indicators: {hi: "max(high, n)", lo: "min(low, n)"}
    entry: close >= hi
    exit: close <= lo
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def write_fleet(folder: Path, n: int, cache: str) -> Path:
    import shutil

    shutil.copytree(ROOT / "risk.d", folder / "risk.d")
    (folder / "bots.d").mkdir()
    (folder / "fleet.yaml").write_text(textwrap.dedent(f"""\
        kind: fleet
        version: 1
        name: bench
        storage: {{state: "sqlite:///state.db", candles: "sqlite:///candles.db",
                   cache: "{cache}"}}
        capital: {{currency: USDT, total: {n * 1000}}}
        defaults:
          exchange: binance
          mode: paper
          risk: {{profile: conservative, max_open_positions: 1}}
        exchanges:
          - name: binance
            ccxt_id: binance
            credentials: {{api_key: "${{env:BENCH_KEY}}", secret: "${{env:BENCH_SECRET}}"}}
            rate_limit: {{max_weight_share: 100%}}
        risk: {{max_daily_loss: 3%, max_drawdown: 15%, max_total_exposure: 80%}}
        risk_profiles: [risk.d/*.yaml]
        bots: [bots.d/*.yaml]
        strategies:
        """) + STRATEGIES)
    names = ("sma_x", "rsi_band", "breakout")
    for i in range(n):
        (folder / "bots.d" / f"b{i:02d}.yaml").write_text(textwrap.dedent(f"""\
            kind: bot
            version: 1
            name: b{i:02d}
            pairs: [S{i:02d}/USDT]
            timeframe: {TFS[i % len(TFS)]}
            strategy: {names[i % len(names)]}
            capital: {{allocation: 1000}}
            sizing: {{method: percent_equity, value: 20%}}
            """))
    return folder / "fleet.yaml"


def start_venue(n: int) -> tuple[subprocess.Popen, dict]:
    pairs = ",".join(f"S{i:02d}/USDT" for i in range(n))
    proc = subprocess.Popen(
        [BOTFLEET, "venue", "serve", "--synthetic", "7", "--pairs", pairs, "--days", "20",
         "--timeframe", "5m", "--manual", "--port", "0", "--json", "--weight-limit",
         "1000000", "--order-limit", "0", "--account", f"bench:USDT={n * 10_000}"],
        stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("{"):
            return proc, json.loads(line)
    raise RuntimeError("the simulator did not start")


def tick(runner, sim_clock, t: int, prefetch: bool) -> tuple[float, list]:
    sim_clock.set(t)
    if prefetch:  # the exchange's latency paid before the clock starts
        for slot in runner.slots.values():
            p = slot.plan
            runner.svc.feed.window(p.exchange.name, p.config.pairs[0], p.timeframe, p.window, t)
    start = time.perf_counter()
    results = runner.run_once(now_ms=t)
    TICKS.append((start, time.perf_counter(), results, prefetch))
    bad = [r for r in results if r.outcome not in ("ok",)]
    if bad:
        raise RuntimeError(f"{len(bad)} cycle(s) failed at {t}: {bad[0].bot} {bad[0].outcome} "
                           f"{bad[0].error}")
    return max(r.decided for r in results) - start, results


def kill_propagation(runner, fleet_path: Path, trials: int) -> list[float]:
    import threading

    seen = threading.Event()
    at: list[float] = []
    runner.svc.killswitch.on_change(lambda active: (at.append(time.monotonic()), seen.set()))
    script = textwrap.dedent(f"""
        import sys, time
        from botfleet.config import load_fleet
        from botfleet.risk import KillSwitch
        fleet = load_fleet({str(fleet_path)!r}).fleet
        ks = KillSwitch(fleet.storage.state, fleet.storage.cache, listen=False)
        for line in sys.stdin:
            t = time.monotonic()
            if line.strip() == "engage":
                ks.engage("global", None, "freeze", "bench", "bench")
            else:
                ks.release("global", None, "bench", "bench")
            print(t, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    out = []
    try:
        for k in range(trials):
            seen.clear()
            proc.stdin.write(("engage" if k % 2 == 0 else "release") + "\n")
            proc.stdin.flush()
            sent = float(proc.stdout.readline())
            if not seen.wait(5):
                raise RuntimeError("the runner never heard of the switch")
            out.append((at[-1] - sent) * 1000)
            time.sleep(0.05)
    finally:
        proc.stdin.close()
        proc.wait(10)
    return out


def lock_each_bot() -> None:
    """The close's locks as they were taken before the batch: each bot in its read job."""
    from botfleet.runtime import batch

    read = batch._decide

    def lock_then_read(runner, slot, run):
        lock = runner.svc.bus.lock(f"cycle:{slot.plan.name}",
                                   ttl_s=max(runner.options.cycle_timeout_s * 2, 30))
        if lock.acquire():
            run.lock = lock
        else:
            run.locked_out = True
        return read(runner, slot, run)

    batch._take_locks = lambda runner, runs: None
    batch._decide = lock_then_read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bots", type=int, default=100)
    ap.add_argument("--ticks", type=int, default=30)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--no-turns", action="store_true",
                    help="let bots decide at the same time (no turn lock): the peer for the "
                         "one-decision-at-a-time runner")
    ap.add_argument("--before", action="store_true",
                    help="the runner as it was before issue 7's fixes (no phases, no heap "
                         "freeze): the peer for the default")
    ap.add_argument("--locks-each", action="store_true",
                    help="one cycle-lock round trip per bot, in its read job (the peer for "
                         "the close's batch of locks)")
    ap.add_argument("--explain", action="store_true",
                    help="probe the phases of every tick (runtime_explain) and tell the "
                         "slowest tick's and the slowest decisions' breakdown")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.no_turns:
        from botfleet.runtime import work

        class _NoTurn:
            def acquire(self, timeout: float = -1) -> bool:
                return False

            def release(self) -> None:
                raise AssertionError("never acquired")

        work.DECIDING = _NoTurn()
    if args.locks_each:
        lock_each_bot()
    if args.explain:
        sys.path.insert(0, str(Path(__file__).parent))
        import runtime_explain

        runtime_explain.install()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython "
          f"{platform.python_version()}, load {os.getloadavg()[0]:.1f}; market: SYNTHETIC "
          f"(simulator seed 7), {args.bots} pairs", flush=True)
    cache = "memory://"
    if args.redis:
        import redis

        try:
            redis.Redis.from_url(args.redis, socket_connect_timeout=2).ping()
            cache = args.redis
        except redis.RedisError as exc:
            print(f"Redis not reachable ({exc}): kill switch propagation not measured")
    venue, info = start_venue(args.bots)
    folder = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    try:
        run_bench(args, folder, info, cache)
    finally:
        venue.terminate()
        venue.wait(10)


def run_bench(args, folder: Path, info: dict, cache: str) -> None:
    from botfleet.runtime.connect import remote_connection
    from botfleet.runtime.reload import load_checked
    from botfleet.runtime.runner import FleetRunner, RunnerOptions

    path = write_fleet(folder, args.bots, cache)
    acct = info["accounts"][0]
    os.environ.update(BENCH_KEY=acct["api_key"], BENCH_SECRET=acct["secret"])
    load = load_checked(path)
    assert load.ok, [str(p) for p in load.errors]
    before = rss_mb()
    conn = remote_connection(info["base_url"], load.fleet, load.fleet.enabled_bots())
    sim = conn.clock.sim
    runner = FleetRunner(load, conn, mode="paper",
                         options=RunnerOptions(workers=args.workers, reload_every_s=0,
                                               phased=not args.before,
                                               freeze_heap=not args.before))
    t = T0 + 2 * FOUR_H
    sim.set(t)
    started = time.perf_counter()
    runner.start()
    print(f"{len(runner.slots)} bots started (reconciled) in {time.perf_counter() - started:.1f}"
          " s", flush=True)
    for _ in range(args.warm):
        t += FOUR_H
        tick(runner, sim, t, False)
    e2e, inner, decisions = [], [], []
    for k in range(args.ticks):
        t += FOUR_H
        lat, _ = tick(runner, sim, t, prefetch=False)
        e2e.append(lat)
        t += FOUR_H
        lat, results = tick(runner, sim, t, prefetch=True)
        inner.append(lat)
        decisions += [r.decision_s for r in results]
    after = rss_mb()
    orders = sum(len(runner.svc.ledger.orders(n)) for n in runner.slots)
    print(f"ticks: {args.ticks} of each kind, {args.bots} bots each, {orders} orders placed",
          flush=True)
    ms = [x * 1000 for x in e2e]
    print(f"close -> all {args.bots} decisions, end to end (incl. 100 klines requests): "
          f"p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms")
    ms = [x * 1000 for x in inner]
    print(f"close -> all {args.bots} decisions, candles prefetched (exchange latency out): "
          f"p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms (target p99 < 250 ms)")
    us = [x * 1e6 for x in decisions]
    print(f"one bot's decision, {args.workers} workers: p50 {pct(us, 50):.0f} us, "
          f"p99 {pct(us, 99):.0f} us (target p99 < 1 ms)")
    if args.explain:
        import runtime_explain as rx

        print("\n".join(rx.report(TICKS[args.warm:])), flush=True)
    print(f"RSS: {before:.0f} MB before the runner, {after:.0f} MB with {args.bots} bots: "
          f"{(after - before) / args.bots:.2f} MB per bot added, "
          f"{after / args.bots:.2f} MB per bot for the whole process (target < 50)", flush=True)
    runner.options.workers = 1
    from botfleet.runtime.pool import DaemonPool

    runner.pool.shutdown()
    runner.pool = DaemonPool(1)
    alone, mark = [], time.perf_counter()
    for _ in range(max(3, args.ticks // 3)):
        t += FOUR_H
        _, results = tick(runner, sim, t, prefetch=True)
        alone += [r.decision_s * 1e6 for r in results]
    print(f"one bot's decision, 1 worker: p50 {pct(alone, 50):.0f} us, "
          f"p99 {pct(alone, 99):.0f} us", flush=True)
    if args.explain:
        print("\n".join(rx.explain_decisions(since=mark)), flush=True)
    if cache.startswith("redis"):
        lat = kill_propagation(runner, path, args.trials)
        print(f"kill switch propagation (another process -> this runner, Redis pub/sub, "
              f"SQLite): p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms over "
              f"{len(lat)} trials")
    runner.shutdown(10)


if __name__ == "__main__":
    main()
