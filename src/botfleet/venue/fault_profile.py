"""Random faults at chosen rates, seeded: the venue's weather for soak and crash tests.

Scripted faults prove that one failure is handled; a profile shows that a bot survives a run in
which any request may fail in any of the ways Binance fails, without the test knowing where. The
rates are per request (per order for `partial`/`reject`); one uniform draw per request picks at
most one fault, so a profile's rates must add up to at most 1. The same seed and the same request
sequence give the same faults.

Written as `key=value` pairs (`--faults "seed=7,5xx=1%,timeout=2%,latency=20ms"`) or as a YAML
mapping with the same keys:

| key           | what                                                                        |
| ------------- | --------------------------------------------------------------------------- |
| seed          | random seed (default 0)                                                     |
| latency       | added to every request (ms; `20ms`, `0.5s`)                                 |
| jitter        | uniform extra latency up to this                                            |
| 5xx           | rate of 503 answers before any processing                                   |
| 429           | rate of 429 -1003 answers with Retry-After (`retry_after`, s, default 1)    |
| 418           | rate of bans starting (`ban`, duration, default 2 s)                        |
| drop          | rate of connections closed before processing                                |
| timeout       | order requests: booked, then the answer stalls `timeout_s` (default 30 s)   |
| accept_drop   | order requests: booked, then the connection is closed                       |
| unknown       | order requests: booked, then a 503 (execution status unknown)               |
| partial       | orders filling at most half their size per bar                              |
| reject        | orders refused with -2010                                                   |
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from botfleet.venue.faults import Fault, OrderFault, throttle_fault

ORDER_PATH = "/api/v3/order"
_RATE_KEYS = {"5xx": "error_5xx", "429": "throttle", "418": "ban_rate", "drop": "drop",
              "timeout": "timeout", "accept_drop": "accept_drop", "unknown": "unknown",
              "partial": "partial", "reject": "reject"}
_TIME_KEYS = {"latency": "latency_s", "jitter": "jitter_s", "ban": "ban_s",
              "timeout_s": "timeout_s", "retry_after": "retry_after_s"}


@dataclass
class FaultProfile:
    seed: int = 0
    latency_s: float = 0.0
    jitter_s: float = 0.0
    error_5xx: float = 0.0
    throttle: float = 0.0
    retry_after_s: float = 1.0
    ban_rate: float = 0.0
    ban_s: float = 2.0
    drop: float = 0.0
    timeout: float = 0.0
    timeout_s: float = 30.0
    accept_drop: float = 0.0
    unknown: float = 0.0
    partial: float = 0.0
    reject: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "seed" and not value >= 0:
                raise ValueError(f"fault profile: {f.name} must be >= 0, got {value}")
        if self.error_5xx + self.throttle + self.ban_rate + self.drop + self.timeout + \
                self.accept_drop + self.unknown > 1.0:
            raise ValueError("fault profile: the request fault rates add up to more than 100%")
        if self.partial + self.reject > 1.0:
            raise ValueError("fault profile: partial + reject add up to more than 100%")
        self._rng = random.Random(self.seed)  # nosec B311 # simulated faults, seeded

    @classmethod
    def parse(cls, spec: str | Mapping[str, object]) -> FaultProfile:
        """From 'seed=7,5xx=1%,latency=20ms' or a mapping of the same keys."""
        if isinstance(spec, str):
            items = []
            for part in (p.strip() for p in spec.split(",")):
                if not part:
                    continue
                key, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(f"fault profile: '{part}' is not key=value")
                items.append((key.strip(), value.strip()))
        elif isinstance(spec, Mapping):
            items = list(spec.items())
        else:
            raise TypeError("fault profile: expected 'key=value,...' or a mapping")
        kw: dict[str, float | int] = {}
        for key, value in items:
            key = str(key)
            if key == "seed":
                kw["seed"] = _int(value)
            elif key in _RATE_KEYS:
                kw[_RATE_KEYS[key]] = _rate(key, value)
            elif key in _TIME_KEYS:
                kw[_TIME_KEYS[key]] = _seconds(key, value)
            else:
                known = ", ".join(["seed", *_RATE_KEYS, *_TIME_KEYS])
                raise ValueError(f"fault profile: unknown key '{key}' (known: {known})")
        return cls(**kw)

    def describe(self) -> str:
        """The non-default settings, in the notation `parse` reads."""
        default = FaultProfile()
        names = {v: k for k, v in {**_RATE_KEYS, **_TIME_KEYS}.items()}
        parts = [f"seed={self.seed}"]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "seed" or value == getattr(default, f.name):
                continue
            key = names[f.name]
            parts.append(f"{key}={value:.4g}s" if f.name.endswith("_s") else
                         f"{key}={value * 100:.4g}%")
        return ",".join(parts)

    # --- draws (the FaultPlan holds its lock while calling these) --------------------------

    def latency(self) -> float:
        if self.jitter_s:
            return self.latency_s + self._rng.uniform(0.0, self.jitter_s)
        return self.latency_s

    def draw(self, path: str, method: str) -> tuple[Fault | None, float]:
        """(fault, ban seconds) for one request."""
        u = self._rng.random()
        for rate, make in (
                (self.error_5xx, lambda: Fault("status")),
                (self.throttle, lambda: throttle_fault(int(self.retry_after_s))),
                (self.drop, lambda: Fault("drop"))):
            if u < rate:
                return make(), 0.0
            u -= rate
        if u < self.ban_rate:
            return None, self.ban_s
        u -= self.ban_rate
        if path == ORDER_PATH and method in ("POST", "DELETE"):
            for rate, fault in (
                    (self.timeout, Fault("delay", delay_s=self.timeout_s, processed=True)),
                    (self.accept_drop, Fault("drop", processed=True)),
                    (self.unknown, Fault("status", processed=True))):
                if u < rate:
                    return fault, 0.0
                u -= rate
        return None, 0.0

    def draw_order(self) -> OrderFault | None:
        u = self._rng.random()
        if u < self.partial:
            return OrderFault("partial", fraction=0.5)
        if u < self.partial + self.reject:
            return OrderFault("reject")
        return None


def _int(value) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"fault profile: seed must be an integer, got {value!r}") from None


def _rate(key: str, value) -> float:
    text = str(value).strip()
    try:
        rate = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"fault profile: {key}={value!r} is not a rate such as 1% or "
                         "0.01") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault profile: {key}={value!r} is not between 0 and 100%")
    return rate


def _seconds(key: str, value) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", str(value))
    if not m:
        raise ValueError(f"fault profile: {key}={value!r} is not a duration such as 20ms or "
                         "2s")
    amount = float(m[1])
    return amount / 1000.0 if m[2] == "ms" else amount
