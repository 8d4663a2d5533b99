"""Notification fan-out next to a trading loop: does the loop slow down?

Target (issue 9): 1,000 events fanned out to 5 channels without blocking the trading loop
(cycle latency unchanged within noise). A stand-in trading loop runs --cycles cycles, one every
--period-ms: each cycle does a fixed amount of work (indicators over 2,000 candles with numpy,
Decimal sizing, building its events) and appends its events to the in-process bus in one
`append_many`, as the runtime's Emitter does. Three runs:

- baseline: the loop alone, no events;
- events, no notifier: the same loop appending --events events (spread over the first cycles)
  with nobody reading them: the cost of emitting;
- fan-out: the same, with `run_notifier` reading the bus in a consumer group on a thread of the
  same process (what `botfleet run` with `memory://` does) and routing every event to
  --channels channels: local HTTP webhooks through Apprise (`json://`), one of them slow
  (--slow-ms per request, rate limit 30/1m so its excess goes as digests).

Per run: cycle latency p50/p99/max (ms), and for the fan-out the seconds from the loop's start
until every fast channel had all events (the events are emitted during the first
events/5 cycles: 4 s at the defaults), and the posts each channel received.

    .venv/bin/python bench/bench_notify.py [--events 1000] [--channels 5] [--cycles 600]
        [--period-ms 20] [--slow-ms 200]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from botfleet.bus import TRADES_OPENED, Event, open_bus
from botfleet.config import load_fleet
from botfleet.notify import run_notifier

REDIS = os.environ.get("BOTFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _serve(port_out, posts, delay_s: float) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if delay_s:
                time.sleep(delay_s)
            with posts.get_lock():
                posts.value += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.value = server.server_address[1]
    server.serve_forever()


class Sink:
    """A webhook in a process of its own (as a chat service would be: its work must not be
    counted against the trading loop's interpreter); counts posts; `delay_s` makes it slow."""

    def __init__(self, delay_s: float = 0.0):
        ctx = mp.get_context("spawn")
        self._posts, port = ctx.Value("i", 0), ctx.Value("i", 0)
        self.proc = ctx.Process(target=_serve, args=(port, self._posts, delay_s), daemon=True)
        self.proc.start()
        while not port.value:
            time.sleep(0.01)
        self.port = port.value

    @property
    def posts(self) -> int:
        return self._posts.value

    def reset(self) -> None:
        with self._posts.get_lock():
            self._posts.value = 0

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


def _notifier_process(fleet_path: str, url: str, prefix: str, stop) -> None:
    """`botfleet notify run` in short: the notifier as a process of its own on Redis."""
    from botfleet.bus import open_bus
    from botfleet.config import load_fleet
    from botfleet.notify import run_notifier

    bus = open_bus(url, prefix=prefix)
    flag = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), flag.set()), daemon=True).start()
    run_notifier(load_fleet(fleet_path).fleet, bus, stop=flag, block_ms=200)


def write_fleet(root: Path, n_channels: int) -> Path:
    channels = "\n".join(
        f"  c{i}: {{url: \"${{env:BENCH_NOTIFY_C{i}}}\", retries: 0"
        + (", rate_limit: 30/1m" if i == 0 else "") + ", dedup_window: 0s}"
        for i in range(n_channels))
    names = ", ".join(f"c{i}" for i in range(n_channels))
    (root / "notifiers.d").mkdir()
    (root / "notifiers.d" / "bench.yaml").write_text(
        f"kind: notifier\nversion: 1\nname: bench\nchannels:\n{channels}\n"
        f"routes:\n  - {{events: [\"*\"], channels: [{names}]}}\n")
    (root / "fleet.yaml").write_text(
        "kind: fleet\nversion: 1\nname: bench\ncapital: {currency: USDT, total: 1000}\n"
        "defaults: {exchange: binance, timeframe: 1h}\n"
        "exchanges:\n  - {name: binance, ccxt_id: binance}\n"
        "strategies:\n  - {name: s, entry: close > open, exit: close < open}\n"
        "bots: []\nnotifiers: [notifiers.d/*.yaml]\n")
    return root / "fleet.yaml"


CLOSES = 60_000 + np.cumsum(np.random.default_rng(1).normal(0, 50, 2000))


def cycle_work(i: int, per_cycle: int) -> list[Event]:
    """A bot's decision: indicators, a signal, Decimal sizing, and its events."""
    fast = np.convolve(CLOSES, np.ones(20) / 20, "valid")
    slow = np.convolve(CLOSES, np.ones(50) / 50, "valid")
    diff = fast[-len(slow):] - slow
    std = float(np.std(np.diff(np.log(CLOSES[-200:]))))
    price = Decimal(str(round(float(CLOSES[-1]), 2)))
    size = (Decimal(250) / price).quantize(Decimal("0.00001"), ROUND_DOWN)
    _ = (diff[-1] > 0, std, size)
    return [Event(TRADES_OPENED, "trade_opened", {
        "bot": f"bot-{k}", "symbol": "BTC/USDT", "side": "long", "amount": size,
        "entry_price": price, "trade_id": f"{i}-{k}"}) for k in range(per_cycle)]


def run_loop(bus, cycles: int, period_s: float, events: int) -> list[float]:
    per_cycle = 5
    emitting = events // per_cycle if events else 0
    lat = []
    next_at = time.perf_counter()
    for i in range(cycles):
        t0 = time.perf_counter()
        batch = cycle_work(i, per_cycle)
        if i < emitting:
            bus.events.append_many(batch)
        lat.append(time.perf_counter() - t0)
        next_at += period_s
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return lat


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def fan_out(bus, fleet, fleet_path: Path, args, sinks, where: str):
    """Run the loop with a notifier reading `bus`, in this process or another one."""
    for sink in sinks:
        sink.reset()
    if where == "thread":
        stop = threading.Event()
        t = threading.Thread(target=run_notifier, args=(fleet, bus),
                             kwargs={"stop": stop, "block_ms": 200})
    else:
        stop = mp.get_context("spawn").Event()
        t = mp.get_context("spawn").Process(target=_notifier_process, args=(
            str(fleet_path), bus.url, bus.prefix, stop))
    t.start()
    time.sleep(0.5 if where == "thread" else 3.0)  # started and reading, as in a running fleet
    finished: list[float] = []

    def watch() -> None:  # when the fast channels had every event
        while any(s.posts < args.events for s in sinks[1:]):
            time.sleep(0.005)
        finished.append(time.perf_counter())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.perf_counter()
    lat = run_loop(bus, args.cycles, args.period_ms / 1000, args.events)
    watcher.join(120)
    done = finished[0] - start
    stop.set()
    t.join(60)
    return lat, done, [s.posts for s in sinks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--channels", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=600)
    ap.add_argument("--period-ms", type=float, default=20)
    ap.add_argument("--slow-ms", type=float, default=200)
    ap.add_argument("--redis", default=REDIS, help="Redis for the separate-process run "
                    "('' to skip it)")
    args = ap.parse_args()

    sinks = [Sink(args.slow_ms / 1000 if i == 0 else 0) for i in range(args.channels)]
    for i, s in enumerate(sinks):
        os.environ[f"BENCH_NOTIFY_C{i}"] = s.url
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fleet_path = write_fleet(Path(tmp), args.channels)
        load = load_fleet(fleet_path)
        load.raise_for_errors()
        fleet = load.fleet
        runs = [("baseline", "memory", 0, None), ("events, no notifier", "memory",
                                                  args.events, None),
                ("fan-out, thread", "memory", args.events, "thread")]
        if args.redis:
            runs.append(("fan-out, own process", args.redis, args.events, "process"))
        for name, url, events, where in runs:
            bus = open_bus("memory://" if url == "memory" else url,
                           prefix=f"bench:{uuid.uuid4().hex[:8]}:")
            posts, done = None, None
            if where is None:
                lat = run_loop(bus, args.cycles, args.period_ms / 1000, events)
            else:
                lat, done, posts = fan_out(bus, fleet, fleet_path, args, sinks, where)
            rows.append((name, len(lat), statistics.median(lat) * 1000, pct(lat, 0.99),
                         max(lat) * 1000, events, done, posts))
            bus.purge()
            bus.close()
    for s in sinks:
        s.close()

    print(f"python {sys.version.split()[0]} on {platform.machine()}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}; {args.cycles} cycles every {args.period_ms:g} ms, "
          f"5 events per emitting cycle; {args.channels} channels (c0 slow: "
          f"{args.slow_ms:g} ms/request, 30/1m)")
    print(f"{'run':<22}{'cycles':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'events':>8}"
          f"{'delivered s':>13}  posts per channel")
    for name, n, p50, p99, mx, ev, done, posts in rows:
        d = f"{done:.2f}" if done is not None else "-"
        p = ",".join(map(str, posts)) if posts else "-"
        print(f"{name:<22}{n:>7}{p50:>9.3f}{p99:>9.3f}{mx:>9.2f}{ev:>8}{d:>13}  {p}")


if __name__ == "__main__":
    main()
