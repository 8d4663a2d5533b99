"""The circuit breakers covering one bot, for the length of one cycle.

A breaker's memory (its state, its run of errors) is in the state database (`RiskStore`),
because the next cycle may run in another process: each cycle loads the breakers declared at
the bot's three levels, feeds them what happened (fresh or stale data, a loss limit breached,
an error, a success) and saves them. Exchange- and fleet-level breakers are shared by many
bots; two bots of one process saving one at the same instant keep the later write (an error
counted twice or once, never a breaker stuck open).
"""

from __future__ import annotations

from collections.abc import Callable

from botfleet.risk.breaker import BreakerState, CircuitBreaker
from botfleet.risk.decision import Refusal, RiskEvent
from botfleet.risk.store import RiskStore


class Guards:
    def __init__(self, plan, store: RiskStore, clock: Callable[[], int],
                 loaded: dict[tuple[str, str], BreakerState] | None = None):
        """`loaded`: (level, target) -> state, read for many bots at once (`tick.prepare`);
        without it each breaker is read here."""
        self.store, self.clock = store, clock
        self.items: dict[str, CircuitBreaker] = {}
        for level, (target, cfg) in plan.breaker_configs().items():
            state = loaded.get((level, target)) if loaded is not None else \
                store.load_breaker(level, target)
            self.items[level] = CircuitBreaker(cfg, level, target, state, clock)
        self._saved = {level: b.snapshot for level, b in self.items.items()}
        self.events: list[RiskEvent] = []

    def _take(self, events: list[RiskEvent]) -> list[RiskEvent]:
        self.events.extend(events)
        return events

    def states(self) -> list[BreakerState]:
        for b in self.items.values():
            self._take(b.refresh())
        return [b.snapshot for b in self.items.values()]

    def halted(self) -> list[BreakerState]:
        now = self.clock()
        return [b.snapshot for b in self.items.values() if b.snapshot.halts(now)]

    def check_data(self, newest_close_ms: int) -> None:
        for b in self.items.values():
            self._take(b.check_data(newest_close_ms))

    def trip(self, breaches: list[Refusal]) -> None:
        """Open the breaker of each level a loss limit is breached at (if it has one)."""
        for r in breaches:
            b = self.items.get(r.level)
            if b is not None:
                self._take(b.trip(r.rule, r.message))

    def success(self) -> None:
        for b in self.items.values():
            self._take(b.record_success())

    def error(self, kind: str, detail: str, retry_after_s: float | None = None) -> None:
        for b in self.items.values():
            self._take(b.record_error(kind, detail[:300], retry_after_s))

    def save(self) -> list[RiskEvent]:
        """Persist the breakers that changed and the events of their transitions."""
        now = self.clock()
        for level, b in self.items.items():
            if b.snapshot != self._saved[level]:
                self.store.save_breaker(b.snapshot, now)
                self._saved[level] = b.snapshot
        events, self.events = self.events, []
        if events:
            self.store.add_events(events)
        return events
