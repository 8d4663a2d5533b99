"""`botfleet live --metrics-port`: the fleet runner, a process of its own, serves `/metrics` and
`/health` while it runs (here: live bots on the simulator through the exchange file's
`api_url`, on the wall clock), and stops serving when it shuts down on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from test_runtime_helpers import bot_yaml, write_fleet

BOTFLEET = str(Path(sys.executable).with_name("botfleet"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_runner_serves_metrics_and_health_until_it_stops(tmp_path):
    from botfleet.venue import BinanceServer, Clock, synthetic_market

    now = int(time.time() * 1000)
    market = synthetic_market(5, now - 30 * 86_400_000, now + 86_400_000,
                              symbols=["BTC/USDT"], clock=Clock())
    server = BinanceServer(market, order_limit=0).start()
    port = free_port()
    proc = None
    try:
        account = server.add_account("live", {"USDT": "5000"})
        path = write_fleet(tmp_path, {"a": bot_yaml("a", extra="mode: live\n")})
        path.write_text(path.read_text().replace(
            "    ccxt_id: binance\n", f"    ccxt_id: binance\n    api_url: {server.base_url}\n"))
        env = {**os.environ, "RT_KEY": account.api_key, "RT_SECRET": account.secret,
               "BOTFLEET_METRICS_PORT": str(port)}
        proc = subprocess.Popen([BOTFLEET, "live", "--fleet", str(path),
                                 "--i-understand-this-trades-real-money", "--reload-every", "0"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                code, raw = fetch(base + "/health")
                body = json.loads(raw)
                if code == 200 and "database" in body.get("checks", {}):
                    break  # (a probe may time out while the machine is busy: ask again)
            except OSError:
                pass
            time.sleep(0.3)
        assert proc.poll() is None, proc.stdout.read()
        assert body and code == 200, body
        assert body["checks"]["database"]["status"] == "ok"
        assert body["checks"]["exchange:binance"]["status"] == "ok"
        code, raw = fetch(base + "/metrics")
        assert code == 200
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(raw.decode()) for s in f.samples}
        # startup reconciliation ran, asked the exchange, and found nothing amiss
        assert samples[("botfleet_reconciliation_halted", (("bot", "a"),))] == 0
        asked = {dict(labels)["method"] for (name, labels), v in samples.items()
                 if name == "botfleet_exchange_request_seconds_count" and v >= 1}
        assert {"open_orders", "trades"} <= asked, asked
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert f"metrics on http://127.0.0.1:{port}/metrics" in out
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            raise AssertionError("the endpoint still answers after the runner stopped")
        except OSError:
            pass
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
