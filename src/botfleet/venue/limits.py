"""Request-weight accounting, the way Binance throttles an IP.

Ingestion code must survive being throttled, and the only honest way to test that is a server that
throttles: every endpoint costs a weight, weights add up within a fixed one-minute window, the
running total is reported in `X-MBX-USED-WEIGHT-1M`, and a request that would exceed the limit is
refused with HTTP 429 / code -1003 and a `Retry-After`. The window clock is injectable so tests
do not flake at a minute boundary.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Charge:
    allowed: bool
    used: int  # weight used in the current window after this request
    retry_after: int  # seconds until the window resets (meaningful when refused)


class WeightLimiter:
    def __init__(self, limit: int = 6000, *, window_s: float = 60.0,
                 clock: Callable[[], float] = time.time):
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._window: int | None = None
        self._used = 0

    def charge(self, weight: int) -> Charge:
        """Add `weight` unless that would exceed the limit (refused requests cost nothing)."""
        with self._lock:
            now = self.clock()
            window = math.floor(now / self.window_s)
            if window != self._window:
                self._window, self._used = window, 0
            retry = max(1, math.ceil((window + 1) * self.window_s - now))
            if self._used + weight > self.limit:
                return Charge(False, self._used, retry)
            self._used += weight
            return Charge(True, self._used, retry)

    @property
    def used(self) -> int:
        with self._lock:
            if self._window != math.floor(self.clock() / self.window_s):
                return 0
            return self._used

    def reset(self) -> None:
        with self._lock:
            self._window, self._used = None, 0


class OrderLimiter:
    """Binance's ORDERS rate limit: new orders per account in fixed windows (100 per 10 s by
    default). A broker that bursts orders must meet -1015 here rather than on the exchange.
    Counted on the wall clock, like the weight: it limits real request rates."""

    def __init__(self, limit: int = 100, *, window_s: float = 10.0,
                 clock: Callable[[], float] = time.time):
        self.limit = limit  # 0: no limit
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window, orders)

    def charge(self, key: str) -> Charge:
        with self._lock:
            now = self.clock()
            window = math.floor(now / self.window_s)
            seen, count = self._counts.get(key, (window, 0))
            if seen != window:
                count = 0
            retry = max(1, math.ceil((window + 1) * self.window_s - now))
            if self.limit and count >= self.limit:
                self._counts[key] = (window, count)
                return Charge(False, count, retry)
            self._counts[key] = (window, count + 1)
            return Charge(True, count + 1, retry)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
