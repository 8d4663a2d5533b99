"""Scripted failures for the simulated venue.

Retry and resume logic is only trustworthy if it has been seen to work against failures that
happen at a chosen moment: "the third klines page gets a 503", "the next request loses its
connection". A test arms the plan from its own thread; the server consults it once per request,
before any other work, so a failed request never counts weight or touches state.

Kinds: `status` answers with an HTTP error (default 503 with a non-JSON body, as a load balancer
would, which ccxt maps to ExchangeNotAvailable); `drop` closes the connection without an answer
(ccxt: NetworkError); `delay` stalls before answering normally (for client timeouts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "drop" | "delay"
    status: int = 503
    body: str = "Service Unavailable"
    delay_s: float = 0.0


@dataclass
class _Rule:
    fault: Fault
    endpoint: str | None
    skip: int
    remaining: int
    fired: int = field(default=0)

    def matches(self, path: str) -> bool:
        if self.endpoint is None:
            return True
        return path == self.endpoint or path.rsplit("/", 1)[-1] == self.endpoint.strip("/")


class FaultPlan:
    """Thread-safe queue of armed faults. `endpoint` is a path ('/api/v3/klines') or its last
    segment ('klines'); None matches every request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self.fired: list[tuple[str, Fault]] = []

    def fail_next(self, n: int = 1, *, status: int = 503, endpoint: str | None = None,
                  body: str = "Service Unavailable") -> None:
        self._arm(Fault("status", status=status, body=body), endpoint, 0, n)

    def fail_after(self, k: int, n: int = 1, *, status: int = 503, endpoint: str | None = None,
                   body: str = "Service Unavailable") -> None:
        """Let `k` matching requests through, then fail the following `n`."""
        self._arm(Fault("status", status=status, body=body), endpoint, k, n)

    def drop_next(self, n: int = 1, *, endpoint: str | None = None, after: int = 0) -> None:
        """Close the connection without a response."""
        self._arm(Fault("drop"), endpoint, after, n)

    def delay_next(self, seconds: float, n: int = 1, *, endpoint: str | None = None,
                   after: int = 0) -> None:
        self._arm(Fault("delay", delay_s=seconds), endpoint, after, n)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.fired.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(r.remaining for r in self._rules)

    def take(self, path: str) -> Fault | None:
        """Called by the server for each request: the fault to apply, if one is due."""
        with self._lock:
            chosen = None
            for rule in self._rules:
                if not rule.matches(path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                elif chosen is None:
                    chosen = rule
            if chosen is None:
                return None
            chosen.remaining -= 1
            chosen.fired += 1
            if chosen.remaining <= 0:
                self._rules.remove(chosen)
            self.fired.append((path, chosen.fault))
            return chosen.fault

    def _arm(self, fault: Fault, endpoint: str | None, skip: int, n: int) -> None:
        if n < 1 or skip < 0:
            raise ValueError("n must be >= 1 and the skip count >= 0")
        with self._lock:
            self._rules.append(_Rule(fault, endpoint, skip, n))
