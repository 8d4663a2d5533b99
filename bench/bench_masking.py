"""Secret masking cost: `mask` on the lines botfleet writes, and a log call with and without
the masking filter.

Every log line, bus event and CLI error goes through `obs.masking.mask`, so its cost is paid
on the hot path. Target: a typical log line under 5 us with ten secrets registered.

    .venv/bin/python bench/bench_masking.py [--n 200000]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import timeit

from botfleet.obs.logs import stream_handler
from botfleet.obs.masking import MaskingFilter, mask, register_secret

LINES = {
    "typical console line": "12:00:00.123 info    [btc-trend 1a2b3c4d] "
                            "botfleet.execution.executor: buy market 0.00736 BTC/USDT: filled",
    "JSON log line": json.dumps({
        "ts": "2024-01-01T00:00:00.000Z", "level": "info",
        "logger": "botfleet.execution.executor", "message": "buy market 0.00736 BTC/USDT: filled",
        "bot": "btc-trend", "correlation_id": "eb43baaed2e344ca8594353b674f6485",
        "order_id": "bfay2toddynr3ylz6235mca4h4qhp54n"}),
    "ccxt request line, key + signature": (
        "POST http://127.0.0.1:41379/api/v3/order, Request: {'X-MBX-APIKEY': "
        "'LeakApiKey123', 'Content-Type': 'application/x-www-form-urlencoded'} "
        "timestamp=1795245887829&symbol=BTCUSDT&side=BUY&newClientOrderId=bfay2t&type=MARKET"
        "&quantity=0.00736&recvWindow=10000&signature=abcdef0123456789"),
    "order event payload": '{"bot":"a","exchange":"binance","symbol":"BTC/USDT","side":"buy",'
                           '"type":"market","amount":"0.00736","price":"27139.08",'
                           '"client_order_id":"bfay2toddynr3ylz6235mca4h4qhp54n"}',
}


def best_us(fn, n: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def log_call_us(masked: bool, n: int) -> float:
    log = logging.getLogger("bench.masking")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = stream_handler(io.StringIO(), json=True)
    if not masked:
        handler.filters = [f for f in handler.filters if not isinstance(f, MaskingFilter)]
    log.handlers = [handler]
    return best_us(lambda: log.info("buy %s %s %s: %s", "market", "0.00736", "BTC/USDT",
                                    "filled"), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    n_log = max(args.n // 4, 1000)
    # first without any masking: no secret registered yet, so no masking record factory
    unmasked = log_call_us(False, n_log)
    for i in range(10):
        register_secret(f"RegisteredSecretValue{i:02d}abcdef")
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; 10 secrets registered")
    for name, line in LINES.items():
        print(f"mask, {name} ({len(line)} chars): {best_us(lambda s=line: mask(s), args.n):.2f} us")
    masked = log_call_us(True, n_log)
    print(f"log.info to a JSON line: {unmasked:.2f} us without masking, {masked:.2f} us with "
          "(record factory + filter)")


if __name__ == "__main__":
    main()
