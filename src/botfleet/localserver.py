"""The embedded Prefect server: `prefect server start` as a child process of this one.

`botfleet up` needs a server that schedules (Prefect's temporary "ephemeral" server, which a
plain flow call starts, runs no scheduler, so deployments would never fire). This is Prefect's
own server, from the installed package, on SQLite under `PREFECT_HOME`: nothing to install,
its UI at the printed address, its history kept between runs. Started and stopped here without
importing Prefect (it runs in the child), so this module is not Prefect's "one place".
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

OFFLINE = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
DEFAULT_PORT = 4200


class ServerError(RuntimeError):
    """The server could not start; the message says why and where its log is."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    try:
        # bandit B310: the local server's http URL
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as resp:  # nosec B310
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class LocalServer:
    """A Prefect server on `host:port` (port 0: any free one) keeping its database under
    `home` (default: `$PREFECT_HOME`, else ~/.prefect). `env` adds settings for the child,
    e.g. `PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS` for tests that cannot wait a minute."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 home: str | Path | None = None, env: dict[str, str] | None = None):
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.host = host
        self.port = port or free_port(host)
        self.home = Path(home or os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.log_path = self.home / "botfleet-server.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def start(self, timeout_s: float = 120.0) -> Self:
        """Start the server and wait until it answers; `ServerError` with the log's tail if
        it exits or stays silent past `timeout_s`."""
        if port_in_use(self.host, self.port):
            raise ServerError(f"{self.host}:{self.port} is already in use; choose another "
                              "port, or point PREFECT_API_URL at the server listening there")
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**OFFLINE, **os.environ, "PREFECT_HOME": str(self.home), **self.env}
        env.pop("PREFECT_API_URL", None)  # the server must not talk to another server
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it while it lives
        self.process = subprocess.Popen(  # nosec B603 # this interpreter running prefect
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host,
             "--port", str(self.port)], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerError(f"the Prefect server exited with "
                                      f"{self.process.returncode}:\n{self.log_tail()}")
                if healthy(self.api_url):
                    return self
                time.sleep(0.25)
        except BaseException:  # interrupted while waiting: leave no server behind
            self.stop()
            raise
        self.stop()
        raise ServerError(f"the Prefect server did not answer within {timeout_s:.0f}s (log: "
                          f"{self.log_path}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
