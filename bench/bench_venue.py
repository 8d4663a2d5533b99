"""Exchange simulator: order round trip through the real ccxt client, and throughput from many
concurrent clients.

Targets (issue "Execution", part 3): the submit -> ack round trip through ccxt, median and p99
over >= 500 orders; the simulator sustaining >= 500 orders/s from 50 concurrent clients.

The venue runs as `botfleet venue serve` in its own process, as a bot in another process sees
it (a synthetic market, a manual clock parked at a bar's open, one account per client). The
request-weight limit and Binance's ORDERS limit (100 per 10 s per account, which alone caps 50
accounts at 500 orders/s) are lifted so that throttling does not cap the count; ccxt's
client-side rate limiter is off: it would measure ccxt's sleeping, not the simulator.

Round trip: one client, sequential orders, each a LIMIT that rests (ack = the order booked,
status NEW; cancelled afterwards, untimed, as MAX_NUM_ORDERS allows 200 open) and, separately,
a MARKET that fills in its answer (the clock is at a bar's open), both with Binance's default
FULL answer. Floor, same run: `fetch_time` (GET /api/v3/time: the same ccxt + HTTP path with
no signing, no order). Throughput: `--clients` asyncio ccxt clients (ccxt.async_support,
aiohttp) spread over `--procs` client processes, each placing MARKET orders (each filled and
booked as a trade in its answer) back to back for `--seconds`; the figure is acked orders /
wall time of the window, with latency percentiles under that load.

    .venv/bin/python bench/bench_venue.py [--orders 1000] [--clients 50] [--procs 1]
        [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = "2024-01-01"  # a bar open of the synthetic market: market orders fill in the answer


def start_venue(n_accounts: int, folder: Path) -> tuple[subprocess.Popen, dict]:
    cfg = folder / "venue.yaml"
    lines = ["accounts:"] + [f"  - name: c{i}\n    balances: {{USDT: 1000000000}}"
                             for i in range(n_accounts)]
    cfg.write_text("\n".join(lines) + "\n")
    botfleet = Path(sys.executable).with_name("botfleet")
    proc = subprocess.Popen(
        [str(botfleet), "venue", "serve", "--synthetic", "1", "--pairs", "BTC/USDT",
         "--manual", "--start", START, "--days", "30", "--port", "0", "--weight-limit",
         "100000000", "--order-limit", "0", "--config", str(cfg), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the venue did not start: " + proc.stderr.read())
        if line.startswith("{"):
            return proc, json.loads(line)


def stop_venue(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def round_trip(info: dict, n: int) -> dict:
    from botfleet.venue import binance_client

    acct = info["accounts"][0]
    ex = binance_client(info["base_url"], apiKey=acct["api_key"], secret=acct["secret"],
                        enableRateLimit=False)
    ex.load_markets()
    for _ in range(20):  # warm: connections, ccxt's caches
        ex.fetch_time()
        ex.create_order("BTC/USDT", "market", "buy", 0.001)
    out = {}
    for name, call, then in (
            ("fetch_time (floor)", lambda: ex.fetch_time(), None),
            ("limit, rests (ack NEW)",
             lambda: ex.create_order("BTC/USDT", "limit", "buy", 0.001, 10_000),
             lambda answer: ex.cancel_order(answer["id"], "BTC/USDT")),
            ("market, fills in answer",
             lambda: ex.create_order("BTC/USDT", "market", "buy", 0.001), None)):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            answer = call()
            times.append((time.perf_counter() - t0) * 1000.0)
            assert answer
            if then is not None:
                then(answer)
        out[name] = times
    return out


def client_proc(info: dict, accounts: list[dict], seconds: float, queue) -> None:
    queue.put(asyncio.run(clients(info, accounts, seconds)))


async def clients(info: dict, accounts: list[dict], seconds: float) -> dict:
    import ccxt.async_support as accxt

    from botfleet.venue.ccxt_client import SPOT_ONLY_OPTIONS, point_at

    exs = []
    for acct in accounts:
        ex = accxt.binance({"apiKey": acct["api_key"], "secret": acct["secret"],
                            "enableRateLimit": False, "options": dict(SPOT_ONLY_OPTIONS)})
        point_at(ex, info["base_url"])
        exs.append(ex)
    markets = await exs[0].load_markets()
    for ex in exs[1:]:
        ex.set_markets(markets.values())
    lat: list[float] = []
    errors = 0
    start_at = time.perf_counter() + 0.5  # everyone starts together
    stop_at = start_at + seconds

    async def one(ex) -> None:
        nonlocal errors
        await ex.create_order("BTC/USDT", "market", "buy", 0.001)  # warm the connection
        await asyncio.sleep(start_at - time.perf_counter())
        while (now := time.perf_counter()) < stop_at:
            try:
                await ex.create_order("BTC/USDT", "market", "buy", 0.001)
                lat.append((time.perf_counter() - now) * 1000.0)
            except Exception:  # noqa: BLE001 - counted and reported
                errors += 1

    await asyncio.gather(*(one(ex) for ex in exs))
    wall = time.perf_counter() - start_at
    for ex in exs:
        await ex.close()
    return {"orders": len(lat), "errors": errors, "wall": wall, "lat": lat}


def throughput(info: dict, n_clients: int, procs: int, seconds: float) -> dict:
    accounts = info["accounts"][1:n_clients + 1]
    queue = mp.get_context("spawn").Queue()
    workers = []
    for k in range(procs):
        part = accounts[k::procs]
        w = mp.get_context("spawn").Process(target=client_proc,
                                            args=(info, part, seconds, queue))
        w.start()
        workers.append(w)
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join()
    orders = sum(r["orders"] for r in results)
    wall = max(r["wall"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    return {"orders": orders, "errors": sum(r["errors"] for r in results), "wall": wall,
            "rate": orders / wall, "lat": lat}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        proc, info = start_venue(args.clients + 1, Path(tmp))
        try:
            cpu0 = cpu_seconds(proc.pid)
            rt = round_trip(info, args.orders)
            rt_cpu = cpu_seconds(proc.pid) - cpu0
            print(f"\nround trip through ccxt, one client, {args.orders} sequential calls (ms):")
            for name, times in rt.items():
                print(f"  {name:26s} median {statistics.median(times):6.2f}  p99 "
                      f"{pct(times, 0.99):6.2f}  max {max(times):6.2f}")
            print(f"  venue process CPU: {rt_cpu * 1000 / (3 * args.orders + 40):.2f} ms per "
                  "request (all of the above, cancels included)")
            cpu0 = cpu_seconds(proc.pid)
            tp = throughput(info, args.clients, args.procs, args.seconds)
            tp_cpu = cpu_seconds(proc.pid) - cpu0
            print(f"\nthroughput: {args.clients} concurrent asyncio ccxt clients in "
                  f"{args.procs} process(es), {tp['wall']:.1f} s of MARKET orders:")
            print(f"  {tp['orders']} orders acked, {tp['errors']} errors -> "
                  f"{tp['rate']:.0f} orders/s (target >= 500)")
            print(f"  latency under load (ms): median {statistics.median(tp['lat']):.1f}  "
                  f"p99 {pct(tp['lat'], 0.99):.1f}")
            print(f"  venue process CPU: {tp_cpu * 1000 / max(tp['orders'], 1):.2f} ms per "
                  f"order -> one core would serve ~{tp['orders'] / max(tp_cpu, 1e-9):.0f} "
                  "orders/s")
        finally:
            stop_venue(proc)


if __name__ == "__main__":
    main()
