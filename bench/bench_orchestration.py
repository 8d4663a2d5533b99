"""Prefect's overhead on a cycle of 100 bots (target: under 6 s, 10% of a 1-minute budget).

Two identical fleets of --bots paper bots (BTC/USDT and ETH/USDT, 1h, alternating the example
fleet's two 1h strategies), each with its own state database and its own account, trade on
botfleet's simulator in this process (the real ccxt client over loopback). The per-bot work is
the trading runtime's own cycle (`FleetRunner.run_once`, via `jobs.cycle.runtime_work`). At
each of --runs candles (the simulator's clock moves one hour), fleet A runs its cycle directly
and fleet B through Prefect, so both do exactly the same work (the same signals, the same
orders); the order alternates between runs. Each figure is the median over the runs:

- direct: without Prefect: load and check the fleet, start the runtime (state database,
  exchange links, each bot reconciled), every bot's cycle on 32 threads, shut down;
- flow: the `botfleet-cycle` flow run in this process against a local Prefect server
  (`prefect server start`, SQLite): the same steps, one task per bot on its 32-thread pool
  with its per-bot lock, the result persisted and published as an artifact;

The simulator's request-weight limit is lifted (Binance's is 6000 a minute per IP): two fleets
of 100 bots at one candle exceed it, and whichever fleet comes second then waits ~50 s for the
next minute, which would be measured as orchestration cost when it is the exchange's.

- overhead = flow - direct: what orchestrating the cycle with Prefect adds;
- idle: the flow with a per-bot work that does nothing (`BOTFLEET_CYCLE_WORK=
  bench_orchestration:idle_work`) minus loading the fleet: Prefect's cost alone;
- served (with --served): the cycle deployment served by a runner in this process, a run
  created through the API; its time from creation to the end (the run is a child process:
  interpreter start, imports, fleet load and runtime start all happen in it every time).

    .venv/bin/python bench/bench_orchestration.py [--bots 100] [--runs 3] [--served]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BOTFLEET_SHARED_DATA", ROOT.parent / "shared" / "data"))
H = 3_600_000
START = 1_706_745_600_000  # 2024-02-01 00:00 UTC
BOT = """kind: bot
version: 1
name: {name}
pairs: [{pair}]
strategy: {strategy}
capital: {{allocation: 90}}
"""


def write_fleet(folder: Path, name: str, n: int, venue_url: str) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from prefect_fixtures import example_fleet

    path = example_fleet(folder, name=name)
    shutil.rmtree(folder / "bots.d")
    (folder / "bots.d").mkdir()
    for i in range(n):
        pair, strategy = (("BTC/USDT", "sma_cross"), ("ETH/USDT", "rsi_reversion"))[i % 2]
        (folder / "bots.d" / f"bot-{i:03d}.yaml").write_text(
            BOT.format(name=f"bot-{i:03d}", pair=pair, strategy=strategy))
    exchange = folder / "exchanges.d" / "binance.yaml"
    exchange.write_text(exchange.read_text().replace("# api_url: http://127.0.0.1:8800",
                                                     f"api_url: {venue_url}"))
    return path


@contextmanager
def idle_work(load, bots):
    """Per-bot work that does nothing: what is left of a cycle flow is Prefect's own cost."""
    yield lambda bot, timeout_s: {"outcome": "ok"}


def direct(path: Path, names: list[str]) -> dict[str, float]:
    from botfleet.jobs import load_checked
    from botfleet.jobs.cycle import runtime_work

    t0 = time.perf_counter()
    load = load_checked(path)
    t1 = time.perf_counter()
    with runtime_work(load, names) as run:
        t2 = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            rows = list(pool.map(lambda b: run(b, 60.0), names))
        t3 = time.perf_counter()
    bad = [r for r in rows if r["outcome"] != "ok"]
    if bad:
        raise SystemExit(f"direct: {len(bad)} cycle(s) not ok, e.g. {bad[0]}")
    return {"load": t1 - t0, "start": t2 - t1, "cycles": t3 - t2, "total": t3 - t0}


def flow_run(flow, path: Path, names: list[str]) -> float:
    t0 = time.perf_counter()
    result = flow(fleet=str(path), bots=names)
    took = time.perf_counter() - t0
    bad = [r for r in result["rows"] if r["outcome"] != "ok"]
    if bad:
        raise SystemExit(f"flow: {len(bad)} cycle(s) not ok, e.g. {bad[0]}")
    return took


def served(path: Path, flows: dict, venue, runs: int) -> list[tuple[float, float, float]]:
    """(created -> started, started -> finished, created -> finished) of each served run."""
    from prefect import get_client

    from botfleet import orchestration as orch
    from botfleet.config import load_fleet
    from botfleet.deployments import deployments_for

    specs = [s for s in deployments_for(load_fleet(path).fleet) if s.kind == "cycle"]
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=orch.serve_all, args=(specs,), daemon=True, kwargs={
        "flows": flows, "stop": stop, "query_seconds": 1, "on_ready": ready.set})
    thread.start()
    ready.wait(120)
    out = []
    try:
        with get_client(sync_client=True) as client:
            dep = client.read_deployment_by_name(specs[0].full_name)
            for _ in range(runs):
                venue.advance(H)
                created = client.create_flow_run_from_deployment(dep.id)
                while True:
                    fr = client.read_flow_run(created.id)
                    if fr.state.is_final():
                        break
                    time.sleep(0.2)
                if not fr.state.is_completed():
                    raise SystemExit(f"served run ended {fr.state.name}: {fr.state.message}")
                out.append(((fr.start_time - fr.created).total_seconds(),
                            (fr.end_time - fr.start_time).total_seconds(),
                            (fr.end_time - fr.created).total_seconds()))
    finally:
        stop.set()
        thread.join(60)
    return out


def use_account(account) -> None:
    os.environ.update(BINANCE_API_KEY=account.api_key, BINANCE_API_SECRET=account.secret)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bots", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--served", action="store_true")
    args = ap.parse_args()
    if args.bots < 1 or args.runs < 1:
        raise SystemExit("--bots and --runs must be at least 1")
    for k, v in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}.items():
        os.environ.setdefault(k, v)
    tmp = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    os.environ["PREFECT_HOME"] = str(tmp / "prefect")
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # idle_work, for flow runs

    from botfleet.localserver import LocalServer
    from botfleet.venue import BinanceServer, Clock, MarketData

    server = LocalServer(port=0, home=tmp / "prefect").start(timeout_s=180)
    os.environ["PREFECT_API_URL"] = server.api_url  # before Prefect is imported
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT", "ETH/USDT"],
                                       timeframes=["1h"], clock=Clock(START))
    try:
        with BinanceServer(market, order_limit=0, weight_limit=10**9) as venue:
            os.environ["BOTFLEET_VENUE_URL"] = venue.base_url
            accounts = [venue.add_account(n, {"USDT": "1000000"}) for n in ("a", "b")]
            fleets = [write_fleet(tmp / n, f"bench-{n}", args.bots, venue.base_url)
                      for n in ("a", "b")]
            names = [f"bot-{i:03d}" for i in range(args.bots)]
            from botfleet.orchestration import load_flows

            cycle = load_flows()["cycle"]
            d_runs, f_runs, idle = [], [], []
            for i in range(args.runs + 1):  # the first round warms up: not counted
                venue.advance(H)
                steps = [("direct", 0), ("flow", 1)]
                for kind, k in steps if i % 2 else reversed(steps):
                    use_account(accounts[k])
                    if kind == "direct":
                        got = direct(fleets[k], names)
                        if i:
                            d_runs.append(got)
                    else:
                        took = flow_run(cycle, fleets[k], names)
                        if i:
                            f_runs.append(took)
                os.environ["BOTFLEET_CYCLE_WORK"] = "bench_orchestration:idle_work"
                took = flow_run(cycle, fleets[1], names)
                if i:
                    idle.append(took)
                del os.environ["BOTFLEET_CYCLE_WORK"]
            report(args, d_runs, f_runs, idle)
            if args.served:
                use_account(accounts[1])
                s_runs = served(fleets[1], {"cycle": cycle}, venue, args.runs)
                wait, ran, total = (statistics.median(r[i] for r in s_runs) for i in range(3))
                print(f"served: created -> started {wait:.2f} s (runner poll, child process "
                      f"start), flow run {ran:.2f} s, total {total:.2f} s; overhead of the "
                      f"flow run itself {ran - statistics.median(r['total'] for r in d_runs):.2f}"
                      f" s (runs: {', '.join(f'{r[2]:.2f}' for r in s_runs)})")
    except BaseException:
        print(f"Prefect server log (tail):\n{server.log_tail(40)}", file=sys.stderr)
        raise
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(args, d_runs: list[dict], f_runs: list[float], idle: list[float]) -> None:
    med = {k: statistics.median(r[k] for r in d_runs) for k in d_runs[0]}
    flow = statistics.median(f_runs)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.bots} bots, "
          f"median of {args.runs}")
    print(f"direct: load {med['load']:.2f} s + runtime start {med['start']:.2f} s + cycles "
          f"{med['cycles']:.2f} s = {med['total']:.2f} s "
          f"(runs: {', '.join(format(r['total'], '.2f') for r in d_runs)})")
    print(f"flow (in process): {flow:.2f} s (runs: {', '.join(f'{x:.2f}' for x in f_runs)})")
    print(f"Prefect overhead = flow - direct: {flow - med['total']:.2f} s "
          f"({(flow - med['total']) / 60:.1%} of a 1-minute cycle)")
    print(f"idle flow (no per-bot work): {statistics.median(idle):.2f} s, of which loading the "
          f"fleet {med['load']:.2f} s (runs: {', '.join(f'{x:.2f}' for x in idle)})", flush=True)


if __name__ == "__main__":
    main()
