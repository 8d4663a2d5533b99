"""The control panel's overview query at fleet sizes: `runtime.overview.fleet_overview` over a
state database holding N bots with a run, `--points` cycles and equity points each, on SQLite
and PostgreSQL. The browser figure (the whole page, rendered in Chromium) comes from
`tests/test_ui_e2e.py::test_the_overview_of_100_bots_renders_in_under_two_seconds`.

    .venv/bin/python bench/bench_ui.py --bots 100 1000 --points 48
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench_state import state_url

from botfleet.execution.ledger import Ledger
from botfleet.runtime.overview import fleet_overview
from botfleet.storage.db import state_engine


def fill(url: str, bots: int, points: int) -> None:
    """Each bot: registered, one run, `points` hourly cycles and equity points (the ledger's
    own bookkeeping API, as the runtime writes them)."""
    now = [datetime.now(UTC) - timedelta(hours=points)]
    ledger = Ledger(url, clock=lambda: now[0])
    start = now[0]
    for i in range(bots):
        name = f"bot-{i:04d}"
        ledger.register_bot(name, "binance", "paper")
        run = ledger.start_run(name)
        for h in range(points):
            now[0] = start + timedelta(hours=h)
            cycle = ledger.begin_cycle(name, candle_ms=int(now[0].timestamp() * 1000))
            now[0] += timedelta(milliseconds=40)
            ledger.end_cycle(cycle, "ok")
            ledger.record_equity(name, Decimal(100) + Decimal(h) / 10, now[0])
        ledger.stop_run(run, "bench")
    ledger.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bots", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--points", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.backends:
            for n in args.bots:
                try:
                    url, drop = state_url(kind, Path(tmp))
                except Exception as exc:  # noqa: BLE001 - no PostgreSQL: say so, go on
                    print(f"{kind}: skipped ({exc})")
                    break
                try:
                    began = time.perf_counter()
                    fill(url, n, args.points)
                    filled = time.perf_counter() - began
                    fleet_overview(url)  # warm: imports, first connection
                    times = []
                    for _ in range(args.repeat):
                        began = time.perf_counter()
                        rows = fleet_overview(url)
                        times.append(time.perf_counter() - began)
                    assert len(rows) == n
                    kept = []  # one engine kept across reads, as the panel does
                    engine = state_engine(url)
                    fleet_overview(engine)
                    for _ in range(args.repeat):
                        began = time.perf_counter()
                        rows = fleet_overview(engine)
                        kept.append(time.perf_counter() - began)
                    engine.dispose()
                    print(f"{kind:<10} {n:>5} bots x {args.points} points: overview "
                          f"median {statistics.median(times) * 1000:.0f} ms, "
                          f"min {min(times) * 1000:.0f} ms; engine kept: median "
                          f"{statistics.median(kept) * 1000:.0f} ms, "
                          f"min {min(kept) * 1000:.0f} ms (filled in {filled:.0f} s)")
                finally:
                    drop()


if __name__ == "__main__":
    main()
