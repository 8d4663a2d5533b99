"""Circuit breakers: stop a bot that is failing before it fails expensively.

closed --(N errors in a row | N errors in a window | a ban | stale data | a loss limit)--> open
open --(cooldown passed)--> half_open --(a success)--> closed
                                      --(a failure)--> open again

Rejections and rate-limit answers (HTTP 429) count as errors; an IP ban (HTTP 418) opens the
breaker at once. An exchange's `Retry-After` lengthens the cooldown, never shortens it. An
open breaker halts new entries (risk-reducing orders still pass); half-open lets orders
through, and the next outcome decides.

Deterministic: time comes from an injectable clock (ms), and every method returns the
`RiskEvent`s of the transitions it made, so the runner can log, alert and persist them.
The state is a plain dataclass (`BreakerState`) that `risk.store` saves between cycles, since
the fleet runner may run each cycle in a new process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from botfleet.config.units import duration_seconds, parse_rate
from botfleet.risk.decision import RiskEvent, RiskInputError

STATES = ("closed", "open", "half_open")
ERROR_KINDS = ("error", "rejection", "rate_limit", "ban")
DEFAULT_COOLDOWN_MS = 300_000  # when `cooldown` is not declared: 5 minutes
_SEVERITY = {"open": "error", "half_open": "warning", "closed": "warning"}


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _span(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    max_consecutive_errors: int | None = None
    max_error_rate: tuple[int, int] | None = None  # count, window ms
    stale_after_ms: int | None = None
    cooldown_ms: int = DEFAULT_COOLDOWN_MS

    @classmethod
    def from_yaml(cls, data: dict | None) -> BreakerConfig:
        """`circuit_breaker:` as declared (already schema-checked)."""
        d = data or {}
        rate = parse_rate(d["max_error_rate"]) if "max_error_rate" in d else None
        stale = d.get("data_stale_after")
        return cls(d.get("max_consecutive_errors"),
                   (rate[0], int(rate[1] * 1000)) if rate else None,
                   int(duration_seconds(stale) * 1000) if stale else None,
                   int(duration_seconds(d["cooldown"]) * 1000) if "cooldown" in d
                   else DEFAULT_COOLDOWN_MS)


@dataclass(frozen=True, slots=True)
class BreakerState:
    """Everything a breaker remembers (persisted per level and target)."""

    level: str
    target: str
    state: str = "closed"
    since_ms: int = 0
    open_until_ms: int | None = None
    rule: str = ""  # what opened it last
    detail: str = ""
    consecutive: int = 0
    error_times: tuple[int, ...] = ()  # within the rate window
    counts: dict[str, int] = field(default_factory=dict)  # the current run of errors, by kind
    trips: int = 0

    def halts(self, now_ms: int) -> bool:
        return self.state == "open" and (self.open_until_ms is None or
                                         now_ms < self.open_until_ms)


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, level: str = "bot", target: str = "",
                 state: BreakerState | None = None, clock: Callable[[], int] = wall_ms):
        self.config = config
        self.clock = clock
        self._s = state or BreakerState(level, target, since_ms=clock())

    @property
    def snapshot(self) -> BreakerState:
        return self._s

    @property
    def state(self) -> str:
        """The state now (an open breaker past its cooldown reads half_open; `refresh` records
        that transition and its event)."""
        s = self._s
        if s.state == "open" and s.open_until_ms is not None and self.clock() >= s.open_until_ms:
            return "half_open"
        return s.state

    def allows(self) -> bool:
        return self.state != "open"

    def _event(self, new: str, rule: str, detail: str, now: int) -> RiskEvent:
        return RiskEvent("circuit_breaker", self._s.target, rule, detail, now, self._s.level,
                         new, _SEVERITY[new])

    def refresh(self) -> list[RiskEvent]:
        s, now = self._s, self.clock()
        if s.state == "open" and s.open_until_ms is not None and now >= s.open_until_ms:
            self._s = replace(s, state="half_open", since_ms=now)
            cooldown = _span(self.config.cooldown_ms)
            return [self._event("half_open", s.rule, f"half-open after the {cooldown} "
                                "cooldown: the next outcome closes or reopens it", now)]
        return []

    def _open(self, rule: str, detail: str, now: int, retry_after_ms: int = 0) -> RiskEvent:
        until = now + max(self.config.cooldown_ms, retry_after_ms)
        self._s = replace(self._s, state="open", since_ms=now, open_until_ms=until, rule=rule,
                          detail=detail, trips=self._s.trips + 1)
        return self._event("open", rule, f"open for {_span(until - now)}: {detail}", now)

    def trip(self, rule: str, detail: str, cooldown_ms: int | None = None) -> list[RiskEvent]:
        """Open now for `rule` (e.g. a loss limit the runner found breached); already open:
        nothing changes."""
        events = self.refresh()
        if self._s.state == "open":
            return events
        return events + [self._open(rule, detail, self.clock(), cooldown_ms or 0)]

    def record_success(self) -> list[RiskEvent]:
        events = self.refresh()
        s, now = self._s, self.clock()
        if s.state == "half_open":
            self._s = replace(s, state="closed", since_ms=now, open_until_ms=None,
                              consecutive=0, error_times=(), counts={})
            events.append(self._event("closed", s.rule, "closed: a success after half-open",
                                      now))
        elif s.state == "closed" and s.consecutive:
            self._s = replace(s, consecutive=0, counts={})
        return events

    def record_error(self, kind: str = "error", detail: str = "",
                     retry_after_s: float | None = None) -> list[RiskEvent]:
        """An exchange or cycle error; `kind`: error, rejection, rate_limit (429) or ban (418).
        """
        if kind not in ERROR_KINDS:
            raise RiskInputError(f"error kind {kind!r} is not one of {', '.join(ERROR_KINDS)}")
        events = self.refresh()
        s, now, cfg = self._s, self.clock(), self.config
        window = cfg.max_error_rate[1] if cfg.max_error_rate else 0
        times = tuple(t for t in s.error_times if t > now - window) + (now,) if window else ()
        counts = {**s.counts, kind: s.counts.get(kind, 0) + 1}
        self._s = s = replace(s, consecutive=s.consecutive + 1, error_times=times, counts=counts)
        if s.state == "open":
            return events
        what = f"{kind}" + (f": {detail}" if detail else "")
        retry = int(retry_after_s * 1000) if retry_after_s else 0
        if s.state == "half_open":
            rule = "ban" if kind == "ban" else s.rule
            return events + [self._open(rule, f"failed while half-open ({what})", now, retry)]
        if kind == "ban":
            return events + [self._open("ban", f"the exchange banned the client ({what})", now,
                                        retry)]
        if cfg.max_consecutive_errors and s.consecutive >= cfg.max_consecutive_errors:
            return events + [self._open(
                "max_consecutive_errors", f"{s.consecutive} errors in a row (limit "
                f"{cfg.max_consecutive_errors}; {self._kinds()}); last: {what}", now, retry)]
        if cfg.max_error_rate and len(times) >= cfg.max_error_rate[0]:
            n, span = cfg.max_error_rate
            return events + [self._open(
                "max_error_rate", f"{len(times)} errors within {_span(span)} (limit {n}/"
                f"{_span(span)}); last: {what}", now, retry)]
        return events

    def _kinds(self) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(self._s.counts.items()))

    def check_data(self, newest_ms: int) -> list[RiskEvent]:
        """`newest_ms`: when the newest candle closed. Older than `data_stale_after` opens the
        breaker (exactly that old does not); fresh data while half-open is a success."""
        events = self.refresh()
        stale = self.config.stale_after_ms
        if stale is None:
            return events
        now = self.clock()
        age = now - newest_ms
        if age > stale:
            if self._s.state == "open":
                return events
            return events + [self._open("data_stale_after", f"newest candle is {_span(age)} old "
                                        f"(limit {_span(stale)})", now)]
        return events + self.record_success() if self._s.state == "half_open" else events

    def reset(self, actor: str) -> list[RiskEvent]:
        """Close by hand (an operator who fixed the cause)."""
        s, now = self._s, self.clock()
        if s.state == "closed":
            return []
        self._s = replace(s, state="closed", since_ms=now, open_until_ms=None, consecutive=0,
                          error_times=(), counts={})
        return [self._event("closed", s.rule, f"closed by {actor}", now)]
