"""Bus speed: event-stream appends and consumer-group reads, pub/sub round trips, locks.

Target (orchestration issue): event-stream throughput >= 20,000 events/s into Redis. Measured
for Redis (127.0.0.1, override with --redis) and for the in-process bus, each figure the median
over --runs. What is timed:

- append, one by one: `bus.events.append(event)`, one round trip each (events pre-built; the
  JSON encoding of the payload, with its Decimals, is timed);
- append, pipelined: `bus.events.append_many(batch)` of --batch events per round trip;
- peer (Redis only): raw redis-py XADD of pre-encoded fields, one by one and pipelined: the
  ceiling for a Python client, so the bus's own overhead shows;
- group read: `read(group, consumer, count=1000)` + `ack(batch)` until the topic is drained;
- pub/sub round trip: publish -> another process's subscription -> its reply -> our
  subscription (in process: another thread), median and p99 over --pings;
- lock: `acquire()` + `release()` pairs of one lock.

    .venv/bin/python bench/bench_bus.py [--events 50000] [--batch 500] [--runs 5]
        [--pings 1000] [--locks 5000] [--backends redis,memory]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal

from botfleet.bus import ORDERS_PLACED, Event, open_bus
from botfleet.bus.event import to_fields

REDIS = os.environ.get("BOTFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

ECHO = """
import sys
from botfleet.bus import open_bus
bus = open_bus(sys.argv[1], prefix=sys.argv[2])
with bus.pubsub.subscribe("ping") as sub:
    print("ready", flush=True)
    for message in sub:
        if message.data == "stop":
            break
        bus.pubsub.publish("pong", message.data)
"""


def events(n: int) -> list[Event]:
    return [Event(ORDERS_PLACED, "order_placed",
                  {"bot": "btc-trend", "exchange": "binance", "symbol": "BTC/USDT",
                   "side": "buy", "type": "limit", "amount": Decimal("0.01500000"),
                   "price": Decimal("64012.35"), "client_order_id": f"bf-btc-trend-{i:08d}"},
                  correlation_id=f"c{i}") for i in range(n)]


def rate(n: int, seconds: float) -> float:
    return n / seconds


def bench_appends(bus, evs, batch: int) -> tuple[float, float]:
    t = time.perf_counter()
    for e in evs[: len(evs) // 5]:
        bus.events.append(e)
    one = rate(len(evs) // 5, time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, len(evs), batch):
        bus.events.append_many(evs[i:i + batch])
    return one, rate(len(evs), time.perf_counter() - t)


def bench_peer(url: str, prefix: str, evs, batch: int) -> tuple[float, float]:
    """Raw redis-py XADD of pre-encoded fields: (one by one, pipelined) events/s."""
    import redis

    client = redis.Redis.from_url(url)
    fields = [to_fields(e) for e in evs]
    key = prefix + "peer"
    t = time.perf_counter()
    for f in fields[: len(fields) // 5]:
        client.xadd(key, f, maxlen=10**6, approximate=True)
    one = rate(len(fields) // 5, time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, len(fields), batch):
        pipe = client.pipeline(transaction=False)
        for f in fields[i:i + batch]:
            pipe.xadd(key, f, maxlen=10**6, approximate=True)
        pipe.execute()
    piped = rate(len(fields), time.perf_counter() - t)
    client.delete(key)
    client.close()
    return one, piped


def bench_read(bus, n: int, group: str) -> float:
    done = 0
    t = time.perf_counter()
    while done < n:
        got = bus.events.read(group, "c1", count=1000, topics=[ORDERS_PLACED])
        if not got:
            raise RuntimeError(f"group read stalled at {done} of {n}")
        bus.events.ack(group, got)
        done += len(got)
    return rate(done, time.perf_counter() - t)


def bench_pings(bus, url: str, pings: int) -> tuple[float, float]:
    """Round trips in ms: (median, p99)."""
    if bus.kind == "redis":
        echo = subprocess.Popen([sys.executable, "-c", ECHO, url, bus.prefix],
                                stdout=subprocess.PIPE, text=True)
        assert echo.stdout.readline().strip() == "ready"
    else:
        import threading

        sub_ping = bus.pubsub.subscribe("ping")

        def run():
            for m in sub_ping:
                if m.data == "stop":
                    break
                bus.pubsub.publish("pong", m.data)

        echo = threading.Thread(target=run, daemon=True)
        echo.start()
    times = []
    with bus.pubsub.subscribe("pong") as pong:
        for i in range(pings):
            t = time.perf_counter()
            bus.pubsub.publish("ping", i)
            reply = pong.get(timeout_s=5)
            if reply is None or reply.data != i:
                raise RuntimeError(f"ping {i}: got {reply}")
            times.append((time.perf_counter() - t) * 1000)
        bus.pubsub.publish("ping", "stop")
    if bus.kind == "redis":
        echo.wait(10)
    else:
        echo.join(5)
        sub_ping.close()
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def bench_locks(bus, n: int) -> float:
    lock = bus.lock("bench", ttl_s=10)
    t = time.perf_counter()
    for _ in range(n):
        if not lock.acquire() or not lock.release():
            raise RuntimeError("uncontended lock refused")
    return rate(n, time.perf_counter() - t)


def run_backend(kind: str, args) -> dict[str, float]:
    url = args.redis if kind == "redis" else "memory://"
    evs = events(args.events)
    samples: dict[str, list[float]] = {}
    for run in range(args.runs):
        bus = open_bus(url, prefix=f"bench:{uuid.uuid4().hex[:10]}:", maxlen=10 * args.events)
        try:
            one, piped = bench_appends(bus, evs, args.batch)
            figures = {"append one by one (events/s)": one,
                       f"append pipelined, batches of {args.batch} (events/s)": piped}
            if kind == "redis":
                peer_one, peer_piped = bench_peer(url, bus.prefix, evs, args.batch)
                figures["peer: raw redis-py XADD one by one (events/s)"] = peer_one
                figures["peer: raw redis-py XADD pipelined (events/s)"] = peer_piped
            total = bus.events.length(ORDERS_PLACED)
            figures["group read + ack, count=1000 (events/s)"] = bench_read(bus, total, "g")
            med, p99 = bench_pings(bus, url, args.pings)
            figures["pub/sub round trip median (ms)"] = med
            figures["pub/sub round trip p99 (ms)"] = p99
            figures["lock acquire+release (pairs/s)"] = bench_locks(bus, args.locks)
        finally:
            bus.purge()
            bus.close()
        for name, value in figures.items():
            samples.setdefault(name, []).append(value)
        print(f"  {kind} run {run + 1}/{args.runs} done", file=sys.stderr)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--locks", type=int, default=5000)
    parser.add_argument("--backends", default="redis,memory")
    parser.add_argument("--redis", default=REDIS)
    args = parser.parse_args()
    results = {kind: run_backend(kind, args) for kind in args.backends.split(",")}
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.events} events, median of {args.runs} runs\n")
    kinds = list(results)
    names = list(dict.fromkeys(n for r in results.values() for n in r))
    print("| measurement | " + " | ".join(kinds) + " |")
    print("| --- |" + " --- |" * len(kinds))
    for name in names:
        cells = []
        for k in kinds:
            v = results[k].get(name)
            cells.append("" if v is None else f"{v:,.3f}" if "(ms)" in name else f"{v:,.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    redis_piped = next((v for n, v in results.get("redis", {}).items()
                        if n.startswith("append pipelined")), None)
    if redis_piped is not None:
        verdict = "met" if redis_piped >= 20_000 else "NOT met"
        print(f"\ntarget >= 20,000 events/s into Redis (pipelined): {verdict} "
              f"({redis_piped:,.0f}/s)")


if __name__ == "__main__":
    main()
