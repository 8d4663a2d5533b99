"""The metrics and health endpoint of a botfleet process: `/metrics` and `/health`.

A plain threaded `http.server` in a daemon thread: it must run beside trading without an event
loop of its own and must never hold the process at shutdown. `/health` calls the process's
health function on every request (it is cheap by construction: see `obs.health`), answers 200
when nothing failed and 503 otherwise, with the per-check JSON, so a container orchestrator and
a person read the same answer.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from botfleet.obs.metrics import REGISTRY

log = logging.getLogger(__name__)


def _health_body(health: Callable[[], object] | None) -> tuple[int, dict]:
    if health is None:
        return 200, {"status": "ok", "checks": {}}
    try:
        report = health()
    except Exception as exc:  # noqa: BLE001 - a broken probe is an unhealthy process
        return 503, {"status": "fail", "checks": {},
                     "error": f"health check raised {type(exc).__name__}: {exc}"}
    body = report.as_dict() if hasattr(report, "as_dict") else dict(report)
    return (503 if body.get("status") == "fail" else 200), body


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        elif path in ("/health", "/healthz"):
            code, body = _health_body(self.server.health)
            self._send(code, "application/json", json.dumps(body, indent=1).encode())
        elif path == "/":
            self._send(200, "text/plain; charset=utf-8",
                       b"botfleet: /metrics (Prometheus), /health (JSON)\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /health\n")

    def _send(self, code: int, ctype: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:  # scrapes every 15 s: keep them out of logs
        log.debug("%s " + fmt, self.address_string(), *args)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, health: Callable[[], object] | None = None):
        super().__init__((host, port), _Handler)
        self.health = health
        self._thread = threading.Thread(target=self.serve_forever, name="botfleet-metrics",
                                        daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def start_server(port: int, host: str = "127.0.0.1",
                 health: Callable[[], object] | None = None) -> MetricsServer:
    """Serve `/metrics` and `/health` on host:port (0: a free port) in a daemon thread."""
    try:
        server = MetricsServer(host, port, health)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
                      "(another process on that port? choose another with --metrics-port)"
                      ) from exc
    log.info("metrics on %s/metrics, health on %s/health", server.url, server.url)
    return server.start()
