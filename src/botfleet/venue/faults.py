"""Scripted failures for the simulated venue.

Retry, resume and reconciliation logic is only trustworthy if it has been seen to work against
failures that happen at a chosen moment: "the third klines page gets a 503", "the next order is
booked but its answer never arrives". A test arms the plan from its own thread; the server
consults it once per request, before any other work, so a failed request never counts weight or
touches state — unless the fault is armed `processed=True`, in which case the request is handled
first (an order is booked) and the fault replaces or stalls its answer.

Request faults (`take`):
- `status`: an HTTP error (default 503 with a non-JSON body, as a load balancer would; ccxt:
  ExchangeNotAvailable). `throttle_next` is Binance's 429 -1003 with `Retry-After` (ccxt:
  DDoSProtection/RateLimitExceeded); a ban (`ban`, `ban_after`) answers 418 with the ban's end and
  `Retry-After` to every request until it expires.
- `drop`: the connection is closed without an answer (ccxt: NetworkError).
- `delay`: the answer stalls (ccxt: RequestTimeout once past the client's timeout).
- `latency`: every matching request stalls a little (persistent, optional seeded jitter).
- `accept_then_timeout`: the order is booked, then its answer is stalled past the client's
  timeout or dropped — the case a broker must resolve by looking the order up by client id.

Order faults (`take_order`, consulted by the exchange when an order passes validation):
`partial_fill_next` makes the next orders fill at most a fraction of their size per bar;
`reject_next` refuses them with a chosen Binance error (default -2010).

A seeded `FaultProfile` (see `fault_profile`) adds random faults of every kind at given rates,
for soak and crash tests; scripted faults take precedence over it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SIM_PREFIX = "/sim/"  # the simulator's own control endpoints are never faulted


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "drop" | "delay"
    status: int = 503
    body: str = "Service Unavailable"
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    processed: bool = False  # handle the request first, then fail or stall its answer
    json: bool = False  # the body is a Binance JSON error


@dataclass(frozen=True)
class OrderFault:
    kind: str  # "partial" | "reject"
    fraction: float = 0.5
    code: int = -2010
    msg: str = "New order rejected by the simulator (injected fault)."


@dataclass
class _Rule:
    fault: Fault | OrderFault
    endpoint: str | None
    skip: int
    remaining: int
    method: str | None = None
    ban_s: float = 0.0  # > 0: firing starts a ban
    fired: int = field(default=0)

    def matches(self, path: str, method: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return path_matches(self.endpoint, path)


def path_matches(endpoint: str | None, path: str) -> bool:
    if endpoint is None:
        return True
    return path == endpoint or path.endswith("/" + endpoint.strip("/"))


def binance_error(status: int, code: int, msg: str, headers=()) -> Fault:
    return Fault("status", status=status, body=json.dumps({"code": code, "msg": msg}),
                 headers=tuple(headers), json=True)


class FaultPlan:
    """Thread-safe queue of armed faults. `endpoint` is a path ('/api/v3/klines') or its end
    ('klines', 'ticker/price'); None matches every request; `method` narrows to 'POST', 'GET', ...
    `clock` is the wall clock in seconds (bans last real time)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._lock = threading.Lock()
        self._clock = clock
        self._rules: list[_Rule] = []
        self._order_rules: list[_Rule] = []
        self._latency: tuple[float, float, str | None] = (0.0, 0.0, None)
        self._jitter = random.Random(0)  # nosec B311 # simulated latency jitter
        self._banned_until = 0.0
        self.profile = None  # a FaultProfile, or None
        self.fired: list[tuple[str, Fault | OrderFault]] = []

    # --- arming request faults -------------------------------------------------------------

    def fail_next(self, n: int = 1, *, status: int = 503, endpoint: str | None = None,
                  body: str = "Service Unavailable", method: str | None = None,
                  processed: bool = False) -> None:
        """The next `n` matching requests answer `status`; `processed=True`: after handling
        them (a 5xx whose order was booked: Binance's "execution status unknown")."""
        self._arm(Fault("status", status=status, body=body, processed=processed), endpoint, 0,
                  n, method)

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

    def throttle_next(self, n: int = 1, *, retry_after: int = 1, endpoint: str | None = None,
                      after: int = 0) -> None:
        """Binance's 429: -1003 'Too many requests' with a Retry-After header (seconds)."""
        self._arm(throttle_fault(retry_after), endpoint, after, n)

    def ban(self, seconds: float) -> None:
        """An IP ban starting now: every request answers 418 until it ends."""
        with self._lock:
            self._banned_until = max(self._banned_until, self._clock() + seconds)

    def ban_after(self, seconds: float, *, after: int = 0, endpoint: str | None = None) -> None:
        """Let `after` matching requests through; the next one starts a ban of `seconds`."""
        if not seconds > 0:
            raise ValueError("a ban needs a positive duration")
        with self._lock:
            self._rules.append(_Rule(Fault("status", status=418), endpoint, after, 1,
                                     ban_s=float(seconds)))

    def accept_then_timeout(self, n: int = 1, *, delay_s: float = 30.0, drop: bool = False,
                            endpoint: str | None = "/api/v3/order", method: str | None = "POST",
                            after: int = 0) -> None:
        """Book the order, then stall its answer `delay_s` (past the client's timeout) or,
        with `drop`, close the connection without one."""
        fault = Fault("drop", processed=True) if drop else Fault("delay", delay_s=delay_s,
                                                                 processed=True)
        self._arm(fault, endpoint, after, n, method)

    def latency(self, seconds: float, *, jitter_s: float = 0.0, endpoint: str | None = None,
                seed: int = 0) -> None:
        """Every matching request waits `seconds` + uniform(0, jitter_s) (0 switches it off)."""
        if seconds < 0 or jitter_s < 0:
            raise ValueError("latency and jitter must be >= 0")
        with self._lock:
            self._latency = (float(seconds), float(jitter_s), endpoint)
            self._jitter = random.Random(seed)  # nosec B311 # simulated latency jitter, seeded

    # --- arming order faults ---------------------------------------------------------------

    def partial_fill_next(self, fraction: float = 0.5, n: int = 1) -> None:
        """The next `n` orders fill at most `fraction` of their size per bar."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        self._arm_order(OrderFault("partial", fraction=fraction), n)

    def reject_next(self, n: int = 1, *, code: int = -2010,
                    msg: str = OrderFault.msg) -> None:
        """The next `n` valid orders are refused with `code`/`msg` (nothing is booked)."""
        self._arm_order(OrderFault("reject", code=code, msg=msg), n)

    # --- state -----------------------------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._order_rules.clear()
            self.fired.clear()
            self._latency = (0.0, 0.0, None)
            self._banned_until = 0.0
            self.profile = None

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(r.remaining for r in self._rules + self._order_rules)

    @property
    def banned_until(self) -> float:
        """Wall-clock seconds when the current ban ends (0 or past: none)."""
        with self._lock:
            return self._banned_until

    # --- consulted by the server and the exchange ------------------------------------------

    def take(self, path: str, method: str = "GET") -> Fault | None:
        """Called by the server for each request: the fault to apply, if one is due."""
        if path.startswith(SIM_PREFIX):
            return None
        with self._lock:
            now = self._clock()
            if now < self._banned_until:
                return self._ban_fault(now)
            chosen = self._choose(self._rules, path, method)
            if chosen is not None:
                if chosen.ban_s > 0:
                    self._banned_until = now + chosen.ban_s
                    fault = self._ban_fault(now)
                else:
                    fault = chosen.fault
                self.fired.append((path, fault))
                return fault
            if self.profile is not None:
                fault, ban_s = self.profile.draw(path, method)
                if ban_s > 0:
                    self._banned_until = now + ban_s
                    fault = self._ban_fault(now)
                if fault is not None:
                    self.fired.append((path, fault))
                return fault
            return None

    def take_order(self) -> OrderFault | None:
        """Called by the exchange for each order that passed validation."""
        with self._lock:
            chosen = self._choose(self._order_rules, "", "")
            fault = chosen.fault if chosen is not None else (
                self.profile.draw_order() if self.profile is not None else None)
            if fault is not None:
                self.fired.append(("order", fault))
            return fault

    def latency_for(self, path: str) -> float:
        if path.startswith(SIM_PREFIX):
            return 0.0
        with self._lock:
            base, jitter, endpoint = self._latency
            extra = self.profile.latency() if self.profile is not None else 0.0
            if base == 0.0 and jitter == 0.0:
                return extra
            if not path_matches(endpoint, path):
                return extra
            return base + (self._jitter.uniform(0.0, jitter) if jitter else 0.0) + extra

    def _ban_fault(self, now: float) -> Fault:
        until_ms = int(self._banned_until * 1000)
        retry = max(1, int(self._banned_until - now + 0.999))
        return binance_error(418, -1003, f"Way too much request weight used; IP banned until "
                                         f"{until_ms}. Please use WebSocket Streams for live "
                                         "updates to avoid bans.",
                             (("Retry-After", str(retry)),))

    def _choose(self, rules: list[_Rule], path: str, method: str) -> _Rule | None:
        chosen = None
        for rule in rules:
            if not rule.matches(path, method):
                continue
            if rule.skip > 0:
                rule.skip -= 1
            elif chosen is None:
                chosen = rule
        if chosen is not None:
            chosen.remaining -= 1
            chosen.fired += 1
            if chosen.remaining <= 0:
                rules.remove(chosen)
        return chosen

    def _arm(self, fault: Fault, endpoint: str | None, skip: int, n: int,
             method: str | None = None) -> None:
        if n < 1 or skip < 0:
            raise ValueError("n must be >= 1 and the skip count >= 0")
        with self._lock:
            self._rules.append(_Rule(fault, endpoint, skip, n, method))

    def _arm_order(self, fault: OrderFault, n: int) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        with self._lock:
            self._order_rules.append(_Rule(fault, None, 0, n))


def throttle_fault(retry_after: int) -> Fault:
    return binance_error(429, -1003, "Too many requests; current limit of IP is 6000 requests "
                                     "per minute. Please use WebSocket Streams for live updates "
                                     "to avoid polling the API.",
                         (("Retry-After", str(int(retry_after))),))
