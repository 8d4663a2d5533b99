"""Our own request budget per exchange, on top of ccxt's `enableRateLimit`.

ccxt spaces requests out, but it does not know that other tools (or other botfleet processes)
share the API key's weight, nor that a burst of paging can exhaust a minute's weight. So each
exchange gets one budget, shared by every downloader and bot in the process, that keeps our use
under a share (default 80%) of the exchange's per-minute weight: Binance reports the weight
used so far in `X-MBX-USED-WEIGHT-1M`, which we trust over our own count when present.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

WEIGHT_HEADERS = ("x-mbx-used-weight-1m", "x-mbx-used-weight")


class WeightBudget:
    def __init__(self, limit_per_minute: int, share: float = 0.8, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        if limit_per_minute <= 0 or not 0 < share <= 1:
            raise ValueError("a budget needs a positive limit and a share in (0, 1]")
        self.limit = limit_per_minute
        self.share = share
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._window = self._minute()
        self._used = 0
        self.waited = 0.0  # seconds spent waiting, for metrics and tests

    @property
    def allowed(self) -> int:
        return int(self.limit * self.share)

    def _minute(self) -> int:
        return int(self.clock() // 60)

    def _roll(self) -> None:
        minute = self._minute()
        if minute != self._window:
            self._window, self._used = minute, 0

    def acquire(self, weight: int = 1) -> None:
        """Wait until `weight` more fits in this minute's share, then count it."""
        while True:
            with self._lock:
                self._roll()
                if self._used + weight <= self.allowed or self._used == 0:
                    self._used += weight
                    return
                pause = (self._window + 1) * 60 - self.clock() + 0.05
            self.waited += pause
            self.sleep(max(pause, 0.05))

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Take the exchange's own count of used weight when it tells us."""
        if not headers:
            return
        lower = {k.lower(): v for k, v in headers.items()}
        for name in WEIGHT_HEADERS:
            if name in lower:
                try:
                    used = int(lower[name])
                except ValueError:
                    return
                with self._lock:
                    self._roll()
                    self._used = max(self._used, used)
                return

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used


_BUDGETS: dict[str, WeightBudget] = {}
_BUDGETS_LOCK = threading.Lock()

# Per-minute request weight where the exchange publishes one (Binance spot: REQUEST_WEIGHT).
KNOWN_LIMITS = {"binance": 6000, "binanceus": 1200}


def budget_for(exchange_id: str, rate_limit_ms: float | None = None,
               share: float = 0.8) -> WeightBudget:
    """The process-wide budget of an exchange (created on first use)."""
    with _BUDGETS_LOCK:
        if exchange_id not in _BUDGETS:
            limit = KNOWN_LIMITS.get(exchange_id)
            if limit is None:  # no published weight: count requests at ccxt's pace
                limit = max(1, int(60_000 / (rate_limit_ms or 1000)))
            _BUDGETS[exchange_id] = WeightBudget(limit, share)
        return _BUDGETS[exchange_id]
