"""One close for many bots: read for all at once, let every bot decide, then let every bot act.

    results = run_batch(runner, slots, now_ms)

1. `tick.prepare` reads what every cycle starts from (a dozen queries for the batch) and opens
   their cycle records in one transaction; the exchange's and the fleet's books are taken once
   (`aggregate`).
2. The bots' `cycle:<bot>` locks are taken in one round trip (`_take_locks`); each is freed
   when its bot's cycle ends. Every bot reads in the worker threads what may wait on I/O
   (candles, the exchange's sync of a resting stop); then, once all have read, every bot
   decides (signals, sizing, risk checks), one at a time (`work.DECIDING`); then, once all
   have decided, every bot acts (sends, protects, records). Each bot is isolated: its
   exception is its outcome.

Why phases: a decision is ~0.2 ms of pure Python, but a thread that wants the interpreter
lock back from one doing Python work (parsing an exchange's answer, building SQL) waits up to
the switch interval, 5 ms. Deciding while other bots read or act made about one decision in
a hundred take 1-5 ms and the last decision of a close wait behind sends. In phases nothing
else runs Python while the bots decide. A bot slower than the rest (a strategy that sleeps,
an exchange slow to answer) holds the others' next phase back STALL_S (a quarter of the
cycle timeout if less) after the last of them got there; then they go on without it.
`RunnerOptions.phased=False`: each bot goes through its cycle without waiting for the others
(the behaviour before the phases; the benchmark's peer).

A deadline (`RunnerOptions.cycle_timeout_s`) bounds the batch: a bot still deciding or acting
then is told to stop before its next send, and its cycle is closed as "timeout"; its thread
may finish its current request, and until it does the bot's next close is skipped. A bot
whose previous cycle still runs, or whose `cycle:<bot>` lock another process holds, is
"skipped".
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, wait

from botfleet.bus import BusError
from botfleet.runtime.aggregate import aggregates_for
from botfleet.runtime.controls import pause_of
from botfleet.runtime.cycle import CycleResult, CycleRun
from botfleet.runtime.logctx import bot_context
from botfleet.runtime.tick import prepare

log = logging.getLogger("botfleet.runtime.runner")
STALL_S = 0.25


def _take_locks(runner, runs: dict[str, CycleRun]) -> None:
    """Every bot's cycle lock in one round trip (one each was most of the reads' wall time on
    Redis): `run.lock` for the bots that got theirs, `run.locked_out` for those whose lock
    another process holds (they are skipped in their read job, as when each took its own)."""
    if not runs:
        return
    bus, ttl_s = runner.svc.bus, max(runner.options.cycle_timeout_s * 2, 30)
    locks = [bus.lock(f"cycle:{name}", ttl_s=ttl_s) for name in runs]
    try:
        taken = bus.locks.acquire_many(locks)
    except BusError as exc:  # the bus is away: the database's cycle rows still order them
        for name in runs:
            log.warning("bot %s: cycle lock unavailable (%s); running without it", name, exc)
        return
    for run, lock, got in zip(runs.values(), locks, taken, strict=True):
        if got:
            run.lock = lock
        else:
            run.locked_out = True


def _decide(runner, slot, run: CycleRun) -> bool:
    """Phase 2's reads for one bot, under its cycle lock (released when the cycle closes)."""
    if run.__dict__.get("locked_out"):
        run.close("skipped", "another process is running a cycle of this bot")
        return False
    return run.read()


def _release(run: CycleRun) -> None:
    """The cycle's locks, once its thread is done with it (once: `pop` is atomic)."""
    lock = run.__dict__.pop("lock", None)
    if lock is not None:
        try:
            lock.release()
        except BusError:
            pass
    slot = run.__dict__.pop("slot", None)
    if slot is not None:
        slot.busy.release()


def run_batch(runner, slots, now_ms: int) -> list[CycleResult]:
    svc, pool, opts = runner.svc, runner.pool, runner.options
    deadline = time.monotonic() + opts.cycle_timeout_s
    results: list[CycleResult] = []
    ready = []
    for slot in slots:
        if not slot.busy.acquire(blocking=False):
            log.warning("bot %s: skipping the close at %s: its previous cycle is still "
                        "running", slot.plan.name, now_ms)
            results.append(CycleResult(slot.plan.name, now_ms, "skipped"))
            continue
        if slot.pending is not None:
            log.info("bot %s: the reloaded configuration takes effect", slot.plan.name)
            slot.plan, slot.pending = slot.pending, None
        slot.stop.clear()
        if slot.executor.last_report is None or not slot.executor.last_report.passed:
            with bot_context(slot.plan.name):
                runner._reconcile(slot, 0)
        ready.append(slot)
    if not ready:
        return results
    plans = [s.plan for s in ready]
    try:
        got = prepare(svc, plans, now_ms, svc.run_ids)
        agg = aggregates_for(runner, now_ms, plans, got.states)
    except BaseException:  # no cycle of this close can run: free the bots for the next
        for slot in ready:
            slot.busy.release()
        raise
    runs: dict[str, CycleRun] = {}
    for slot in ready:
        name = slot.plan.name
        result = CycleResult(name, got.candles[name], "done", started=time.perf_counter())
        results.append(result)
        if name in got.done:
            result.finished = result.decided = time.perf_counter()
            slot.busy.release()
            continue
        run = CycleRun(slot.plan, svc, got.cycles[name], now_ms, result, agg=agg,
                       stop=slot.stop, state=got.states.get(name), fills=got.fills.get(name),
                       breakers=got.breakers, paused=pause_of(got.paused, name))
        run.slot, run.slot_stop = slot, slot.stop
        slot.cycle, slot.run = run.cycle, run
        runs[name] = run
    try:
        _take_locks(runner, runs)
    except BaseException:  # a bug of ours: no cycle of this close can run
        for run in runs.values():
            run.close("error", "the runner failed to take the cycle locks (see its log)")
            _release(run)
        raise
    acts = _Gate(len(runs), lambda run: _to_act(runner, run))
    reads = _Gate(len(runs), lambda run: _to_decide(runner, run, acts), then=acts)
    if not opts.phased:  # each bot on its own: decides right after reading, acts once decided
        reads.go = lambda run: _decide_job(run, acts)
        reads.open()
        acts.open()
    finished: dict[str, Future] = {}
    for name, run in runs.items():
        slot = run.slot
        slot.future = finished[name] = run.done = Future()
        try:
            pool.submit(_read_job, runner, slot, run, reads)
        except RuntimeError:  # the pool was shut down meanwhile
            run.close("interrupted", "the runner is shutting down")
            reads.stopped(run)
    stall = min(STALL_S, opts.cycle_timeout_s / 4)
    reads.wait(stall, deadline)
    acts.wait(stall, deadline, since=reads.opened_at)  # the decisions began when reads opened
    wait(list(finished.values()), timeout=max(0.0, deadline - time.monotonic()))
    for name, run in runs.items():
        if not finished[name].done():
            run.slot_stop.set()
            if run.close("timeout", f"still running after {opts.cycle_timeout_s:g}s; told "
                         "to stop before its next send"):
                log.error("bot %s: cycle still running after %gs: told to stop before "
                          "sending; the next close is skipped while it runs", name,
                          opts.cycle_timeout_s)
    return results


def _finish(run: CycleRun) -> None:
    _release(run)
    if not run.done.done():
        run.done.set_result(None)


class _Gate:
    """Holds each bot of a close between two phases until every bot has finished the first
    (or the batch opens it): then all go on at once. `then`: the next gate, told at once of
    a bot that stops here (it failed), so that it waits for no one in vain."""

    def __init__(self, expected: int, go, then: _Gate | None = None):
        self._lock = threading.Lock()
        self._left, self._held, self.go, self.then = expected, [], go, then
        self.opened = threading.Event()
        self.last = self.opened_at = time.monotonic()  # when a bot last arrived; opened
        if expected <= 0:
            self.opened.set()

    def wait(self, stall_s: float, deadline: float, since: float | None = None) -> None:
        """Until every bot arrived, or none did for `stall_s` since the last did (or since
        `since`, the phase's start, if later) — the rest are slow: the arrived go on without
        them — or the deadline; then open."""
        if since is not None:
            with self._lock:
                self.last = max(self.last, since)
        while not self.opened.is_set():
            now = time.monotonic()
            left = min(stall_s - (now - self.last), deadline - now)
            if left <= 0:
                break
            self.opened.wait(left)
        self.open()

    def arrive(self, run: CycleRun | None) -> None:
        """`run` finished this phase (None: it goes no further)."""
        with self._lock:
            self._left -= 1
            self.last = time.monotonic()
            if run is not None and not self.opened.is_set():
                self._held.append(run)
                run = None
            last = self._left <= 0
        if run is not None:
            self.go(run)
        if last:
            self.open()

    def open(self) -> None:
        with self._lock:
            if self.opened.is_set():
                return
            self.opened_at = time.monotonic()
            self.opened.set()
            held, self._held = self._held, []
        for run in held:
            self.go(run)

    def stopped(self, run: CycleRun) -> None:
        """`run` stops before this gate: it is finished, and no later gate waits for it."""
        _finish(run)
        self.arrive(None)
        if self.then is not None:
            self.then.arrive(None)


def _read_job(runner, slot, run: CycleRun, reads: _Gate) -> None:
    ok = False
    try:
        ok = _decide(runner, slot, run)
    except BaseException:
        run.close("error", "the runner failed to run this cycle (see its log)")
        raise
    finally:
        if ok:
            reads.arrive(run)
        else:
            reads.stopped(run)


def _to_decide(runner, run: CycleRun, acts: _Gate) -> None:
    try:
        runner.pool.submit(_decide_job, run, acts)
    except RuntimeError as exc:  # the pool was shut down meanwhile
        run.close("interrupted", f"the runner is shutting down; nothing was sent ({exc})")
        _finish(run)
        acts.arrive(None)


def _decide_job(run: CycleRun, acts: _Gate) -> None:
    ok = False
    try:
        ok = run.decide_now()
    except BaseException:
        run.close("error", "the runner failed to run this cycle (see its log)")
        raise
    finally:
        if ok:
            acts.arrive(run)
        else:
            _finish(run)
            acts.arrive(None)


def _to_act(runner, run: CycleRun) -> None:
    """Queue the acting (a shutdown meanwhile: nothing is sent)."""
    if runner._stopping:
        run.close("interrupted", "the runner is shutting down; nothing was sent")
        _finish(run)
        return
    try:
        runner.pool.submit(_act, run)
    except RuntimeError as exc:  # the pool was shut down meanwhile
        run.close("interrupted", f"the runner is shutting down; nothing was sent ({exc})")
        _finish(run)


def _act(run: CycleRun) -> None:
    try:
        run.act()
    finally:
        _finish(run)
