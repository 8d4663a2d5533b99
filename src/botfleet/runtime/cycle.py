"""One bot's cycle: candles -> latest signals -> sizing -> risk check -> executor -> ledger,
events; everything it does carries the cycle's correlation id.

    result = run_cycle(plan, services, now_ms=clock.now_ms())

The cycle key is the candle it acts on, so a cycle retried after a crash (here or in another
process) gives its orders the same client ids and the ledger and exchange recognise them; a
cycle of that candle that already finished well is not run again ("done"). Everything the
cycle knows about the bot comes from the state database at its start (positions, working
orders, fills, breakers, kill switches): no state is carried in the process between cycles.

Order of work (`work.BotCycle`): the first half decides — the bot's state, its candles, the
kill switch, breakers and loss limits, signals, decisions (`decide`) each judged by the risk
engine (refusals recorded and emitted, never sent); the second half acts — the kill switch's
cancels and flattening, the orders, protection of what is now held (the resting stop), the
equity point. An exception anywhere is the cycle's outcome ("error"), recorded with
the error and counted by the breakers; the runner carries on with the other bots.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass, field

from botfleet.data.quality import iso
from botfleet.execution.records import OrderRecord
from botfleet.risk.book import Book
from botfleet.runtime.cycle_metrics import cycle_closed
from botfleet.runtime.events import Emitter
from botfleet.runtime.guards import Guards
from botfleet.runtime.logctx import cycle_context
from botfleet.runtime.services import Services
from botfleet.runtime.timing import last_closed_open
from botfleet.runtime.work import UNREAD, BotCycle, Interrupted

log = logging.getLogger("botfleet.runtime.cycle")


@dataclass
class CycleResult:
    bot: str
    candle_ms: int
    outcome: str  # ok, paused, no_data, error, interrupted, timeout; done/skipped: not run
    correlation_id: str | None = None
    error: str | None = None
    orders: list[OrderRecord] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = 0.0  # time.perf_counter() at the start
    decided: float | None = None  # perf_counter() once every decision was made
    finished: float = 0.0
    decision_s: float = 0.0  # signals + decisions + risk checks, the cycle's own CPU work

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "done", "no_data", "paused")


@dataclass
class Aggregates:
    """The exchange's and the fleet's books at this tick (None: no limit needs them)."""

    exchange: dict[str, Book] = field(default_factory=dict)
    fleet: Book | None = None


def _error_kind(exc: BaseException) -> tuple[str, float | None]:
    """The breaker's error kind for an exception (ban, rate_limit, rejection or error)."""
    from botfleet.execution.broker import NotSent, Rejected

    text = str(exc)
    retry = getattr(exc, "retry_after_s", None)
    if "418" in text or "banned" in text.lower():
        return "ban", retry
    if isinstance(exc, NotSent) or "429" in text:
        return "rate_limit", retry
    if isinstance(exc, Rejected):
        return "rejection", retry
    return "error", retry


class CycleRun:
    """One opened cycle, run in its two halves (`decide`, then `act`) and closed exactly once,
    whatever happens in between: its outcome and error in the ledger, its breakers saved,
    its events appended."""

    def __init__(self, plan, svc: Services, cycle, now_ms: int, result: CycleResult, *,
                 agg: Aggregates | None = None, stop: threading.Event | None = None,
                 state=None, fills=None, breakers=None, paused=UNREAD):
        self.plan, self.svc, self.cycle, self.result = plan, svc, cycle, result
        self.now, self.agg, self.stop = now_ms, agg or Aggregates(), stop
        self.state, self.fills, self.breakers = state, fills, breakers
        self.paused = paused
        result.correlation_id = cycle.correlation_id
        self.emit = Emitter(svc.bus, plan.name, plan.exchange.name, cycle.correlation_id)
        self.guards = self.work = None
        self.failed = self.closed = self.ready = False
        self._lock = threading.Lock()

    def decide(self) -> bool:
        """The first half; False if the cycle failed (it is then closed)."""
        return self.read() and self.decide_now()

    def read(self) -> bool:
        """The first half's reads (`BotCycle.read`); False if the cycle failed (closed)."""
        def read():
            self.guards = Guards(self.plan, self.svc.risk, self.svc.clock.now_ms,
                                 self.breakers)
            self.work = BotCycle(self.plan, self.svc, self.cycle, self.now, agg=self.agg,
                                 stop=self.stop, emit=self.emit, guards=self.guards,
                                 result=self.result, state=self.state, fills=self.fills,
                                 paused=self.paused)
            self.ready = self.work.read()

        return self._step(read)

    def decide_now(self) -> bool:
        """The first half's decisions, when `read` found something to decide."""
        return self._step(lambda: self.ready and self.work.decide_now())

    def _step(self, fn) -> bool:
        with cycle_context(self.plan.name, self.cycle.correlation_id):
            try:
                fn()
                return True
            except Exception as exc:  # noqa: BLE001 - the cycle's outcome, not the runner's
                self._failed(exc)
                self.close()
                return False

    def act(self) -> None:
        """The second half, then the close."""
        with cycle_context(self.plan.name, self.cycle.correlation_id):
            try:
                if self.stop is not None and self.stop.is_set():
                    raise Interrupted("the runner stopped this cycle (deadline or shutdown) "
                                      "before its orders were sent")
                self.work.act()
                if self.result.outcome == "done":
                    self.result.outcome = "ok"
            except Interrupted as exc:
                self.result.outcome, self.result.error = "interrupted", str(exc)
                log.warning("cycle interrupted before sending: %s", exc)
            except Exception as exc:  # noqa: BLE001
                self._failed(exc)
            finally:
                self.close()

    def _failed(self, exc: BaseException) -> None:
        result = self.result
        result.outcome, result.error = "error", f"{type(exc).__name__}: {exc}"
        log.error("cycle failed: %s\n%s", result.error, traceback.format_exc(limit=8))
        self.emit.notify(f"{self.plan.name}: cycle failed", result.error, "error")
        if self.guards is not None:
            kind, retry = _error_kind(exc)
            self.guards.error(kind, result.error, retry)

    def close(self, outcome: str | None = None, error: str | None = None) -> bool:
        """Record the end (once; `outcome` overrides, e.g. "timeout"); False if it was."""
        with self._lock:
            if self.closed:
                return False
            self.closed = True
        result = self.result
        if outcome is not None:
            result.outcome, result.error = outcome, error
        with cycle_context(self.plan.name, self.cycle.correlation_id):
            try:
                if self.guards is not None:
                    for event in self.guards.save():
                        log.warning("circuit breaker %s %s: %s", event.level, event.state,
                                    event.detail)
                        self.emit.breaker(event)
            finally:
                wall_ms = round((time.perf_counter() - result.started) * 1000) \
                    if result.started else None
                self.svc.ledger.end_cycle(self.cycle, result.outcome, result.error,
                                          wall_ms=wall_ms)
                self.emit.flush()
                result.finished = time.perf_counter()
                if result.decided is None:
                    result.decided = result.finished
                cycle_closed(self)
                log.info("cycle %s of candle %s: %s%s", result.outcome, iso(result.candle_ms),
                         f"{len(result.orders)} order(s)" if result.orders else "no orders",
                         f"; {result.error}" if result.error else "")
        return True


def run_cycle(plan, svc: Services, *, now_ms: int, candle_ms: int | None = None,
              aggregates: Aggregates | None = None, stop: threading.Event | None = None,
              on_begin=None) -> CycleResult:
    """Run `plan`'s cycle for the newest candle closed at `now_ms` (or `candle_ms`), reading
    everything it needs itself (a runner with many bots reads for all at once: `batch`)."""
    started = time.perf_counter()
    candle = candle_ms if candle_ms is not None else last_closed_open(now_ms, plan.timeframe)
    result = CycleResult(plan.name, candle, "done", started=started)
    if svc.cycle_done(plan.name, str(candle)):
        result.finished = time.perf_counter()
        return result
    svc.killswitch.refresh()
    cycle = svc.ledger.begin_cycle(plan.name, candle_ms=candle,
                                   run_id=svc.run_ids.get(plan.name))
    if on_begin is not None:
        on_begin(cycle)
    run = CycleRun(plan, svc, cycle, now_ms, result, agg=aggregates, stop=stop)
    if run.decide():
        run.act()
    return result
