"""One close for many bots: read for all at once, let every bot decide, then let every bot act.

    results = run_batch(runner, slots, now_ms)

1. `tick.prepare` reads what every cycle starts from (a dozen queries for the batch) and opens
   their cycle records in one transaction; the exchange's and the fleet's books are taken once
   (`aggregate`).
2. Every bot decides in the worker threads (candles, signals, sizing, risk checks), each
   isolated: its exception is its outcome.
3. Each bot that decided acts (sends, protects, records): its acting is queued behind the
   decisions already waiting, so the close's decisions come first, yet a slow bot never
   holds back the others' orders.

A deadline (`RunnerOptions.cycle_timeout_s`) bounds the batch: a bot still deciding or acting
then is told to stop before its next send, and its cycle is closed as "timeout"; its thread
may finish its current request, and until it does the bot's next close is skipped. A bot
whose previous cycle still runs, or whose `cycle:<bot>` lock another process holds, is
"skipped".
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, wait

from botfleet.bus import BusError
from botfleet.runtime.aggregate import aggregates_for
from botfleet.runtime.controls import pause_of
from botfleet.runtime.cycle import CycleResult, CycleRun
from botfleet.runtime.logctx import bot_context
from botfleet.runtime.tick import prepare

log = logging.getLogger("botfleet.runtime.runner")


def _decide(runner, slot, run: CycleRun) -> bool:
    """Phase 2 for one bot, under its cycle lock (released when the cycle closes)."""
    lock = runner.svc.bus.lock(f"cycle:{slot.plan.name}",
                               ttl_s=max(runner.options.cycle_timeout_s * 2, 30))
    try:
        got = lock.acquire()
    except BusError as exc:  # the bus is away: the database's cycle rows still order them
        log.warning("bot %s: cycle lock unavailable (%s); running without it", run.plan.name,
                    exc)
        got, lock = True, None
    if not got:
        run.close("skipped", "another process is running a cycle of this bot")
        return False
    run.lock = lock
    return run.decide()


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
        agg = aggregates_for(runner, now_ms, plans)
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
    finished: dict[str, Future] = {}
    for name, run in runs.items():
        slot, done = run.slot, Future()
        slot.future = finished[name] = done
        try:
            pool.submit(_decide_then_act, runner, slot, run, done)
        except RuntimeError:  # the pool was shut down meanwhile
            run.close("interrupted", "the runner is shutting down")
            _finish(run, done)
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


def _finish(run: CycleRun, done: Future) -> None:
    _release(run)
    if not done.done():
        done.set_result(None)


def _decide_then_act(runner, slot, run: CycleRun, done: Future) -> None:
    """Decide now; queue the acting behind the decisions already queued (the pool's queue is
    first in, first out, so a close's decisions come before its sends without making one
    slow bot hold the others' sends back)."""
    try:
        if not _decide(runner, slot, run):
            _finish(run, done)
            return
        if runner._stopping:  # decided, nothing sent yet: a shutdown sends nothing new
            run.close("interrupted", "the runner is shutting down; nothing was sent")
            _finish(run, done)
            return
        runner.pool.submit(_act, run, done)
    except RuntimeError as exc:  # the pool was shut down meanwhile
        run.close("interrupted", f"the runner is shutting down; nothing was sent ({exc})")
        _finish(run, done)
    except BaseException:
        run.close("error", "the runner failed to run this cycle (see its log)")
        _finish(run, done)
        raise


def _act(run: CycleRun, done: Future) -> None:
    try:
        run.act()
    finally:
        _finish(run, done)
