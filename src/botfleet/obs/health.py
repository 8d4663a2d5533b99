"""Health: named checks, each OK, WARN or FAIL with what to fix, rolled up into one report.

Shared by the `/health` endpoints (fleet runner, UI) and `botfleet doctor`, so a person and a
probe read the same verdicts. The probes themselves (database, Redis, exchange, candles) live
where those pieces are known (`runtime.health`); this module only runs them: each under a
timeout, an exception becoming a FAIL that names it, and the result cached for a few seconds
so a scraper polling `/health` cannot turn into load on the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str = ""
    fix: str = ""  # what to do about it; empty when ok

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"check {self.name}: status {self.status!r} is not ok/warn/fail")

    def as_dict(self) -> dict:
        d = {"status": self.status, "detail": self.detail}
        if self.fix:
            d["fix"] = self.fix
        return d


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...] = ()
    at: float = field(default_factory=time.time)

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=OK)

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def as_dict(self) -> dict:
        return {"status": self.status, "at": round(self.at, 3),
                "checks": {c.name: c.as_dict() for c in self.checks}}


Probe = Callable[[], Check]


def run_probes(probes: Mapping[str, Probe], timeout_s: float = 5.0) -> HealthReport:
    """Run every probe at once, each bounded by `timeout_s`; never raises."""
    if not probes:
        return HealthReport(())
    pool = ThreadPoolExecutor(max_workers=min(8, len(probes)), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(probe) for name, probe in probes.items()}
        deadline = time.monotonic() + timeout_s
        checks = []
        for name, fut in futures.items():
            try:
                result = fut.result(timeout=max(0.0, deadline - time.monotonic()))
                checks.append(result if isinstance(result, Check)
                              else Check(name, FAIL, f"probe returned {result!r}"))
            except FutureTimeout:
                checks.append(Check(name, FAIL, f"no answer within {timeout_s:g} s",
                                    "check that the service is up and reachable"))
            except Exception as exc:  # noqa: BLE001 - a probe's failure is its verdict
                checks.append(Check(name, FAIL, f"{type(exc).__name__}: {exc}"))
        return HealthReport(tuple(checks))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class CachedHealth:
    """A health function for `/health`: runs the probes at most once per `ttl_s` seconds."""

    def __init__(self, probes: Mapping[str, Probe], *, ttl_s: float = 5.0,
                 timeout_s: float = 5.0):
        self.probes = dict(probes)
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._last: HealthReport | None = None
        self._lock = threading.Lock()

    def __call__(self) -> HealthReport:
        with self._lock:
            if self._last is None or time.time() - self._last.at >= self.ttl_s:
                self._last = run_probes(self.probes, self.timeout_s)
            return self._last
