"""One Redis connection setup for the bus, and the translation of Redis errors into bus errors.

Why three clients: a trading loop's writes (cache, lock, publish, append) must fail within
`timeout_s` when Redis hangs, but a consumer's blocking read legitimately waits up to 30 s, and
a subscription holds a connection of its own. Each client has its own pool with its own socket
timeout. The retry policy is set explicitly because redis-py's defaults differ by constructor:
`Redis(...)` retries 10 times with exponential backoff, which against a hung server took 7-8 s
per command (measured with a 0.3 s socket timeout) and would stall a trading cycle. Here a
command is retried at most once, at once, and only after a connection error (a timeout is not
retried: the command may have run); when Redis is really gone the call fails at once with
`BusConnectionError`, and the next call connects afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from botfleet.bus.checks import MAX_BLOCK_MS
from botfleet.bus.errors import BusConfigError, BusConnectionError, BusError
from botfleet.bus.urls import EXPECTED, redact, scrub

CLIENT_NAME = "botfleet-bus"


class RedisConn:
    def __init__(self, url: str, timeout_s: float):
        self.url = url
        self.shown = redact(url)
        self.timeout_s = timeout_s
        self._scripts: dict[str, object] = {}

        def client(socket_timeout: float, **extra) -> redis.Redis:
            try:
                return redis.Redis.from_url(
                    url, socket_timeout=socket_timeout, socket_connect_timeout=timeout_s,
                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                    client_name=CLIENT_NAME, **extra)
            except (ValueError, TypeError) as exc:
                raise BusConfigError(f"storage.cache: {self.shown!r}: {scrub(str(exc), url)}; "
                                     f"{EXPECTED}") from None

        self.fast = client(timeout_s)
        self.slow = client(MAX_BLOCK_MS / 1000 + timeout_s)
        self.subs = client(timeout_s, health_check_interval=5)

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Run a command; Redis errors leave as bus errors naming the action and the URL."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BusConnectionError(
                f"storage.cache {self.shown}: {action} failed, Redis unreachable "
                f"({type(exc).__name__}: {scrub(str(exc), self.url)}); the next call "
                "reconnects") from None
        except redis.RedisError as exc:
            raise BusError(f"storage.cache {self.shown}: {action} failed "
                           f"({type(exc).__name__}: {scrub(str(exc), self.url)})") from None

    def script(self, lua: str):
        """A registered Lua script (EVALSHA, loading it again if Redis lost it)."""
        if lua not in self._scripts:
            self._scripts[lua] = self.fast.register_script(lua)
        return self._scripts[lua]

    def ping(self) -> None:
        with self.guard("ping"):
            self.fast.ping()

    def purge(self, prefix: str) -> int:
        """Delete every key under `prefix` (SCAN, never KEYS: other clients keep running)."""
        gone = 0
        with self.guard("purge"):
            batch = []
            for key in self.fast.scan_iter(match=_glob_escape(prefix) + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    gone += self.fast.delete(*batch)
                    batch.clear()
            if batch:
                gone += self.fast.delete(*batch)
        return gone

    def close(self) -> None:
        for c in (self.fast, self.slow, self.subs):
            c.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
