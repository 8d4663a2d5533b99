"""Where a tick's time goes (`bench_runtime.py --explain`): phase timings per tick and per bot.

The p99 of "close -> all decisions" is the worst tick or two of thirty, and the p99 of one
decision is a handful of decisions out of thousands: averages say nothing about either. So
this probe wraps the runtime's own functions (without changing them) and records, for every
call, its thread, its bot, its wall time and the CPU time its thread got meanwhile
(`time.thread_time`). A phase of pure CPU work (a decision) whose wall time exceeds its CPU
time spent the difference off the CPU: waiting for the interpreter lock held by another
thread, or for a core the OS gave to another process. GC pauses come from `gc.callbacks`.
Then the slowest tick and the slowest decisions are told phase by phase.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections import defaultdict

import numpy as np

EVENTS: list[tuple] = []  # (phase, bot, thread, start, end, cpu_s)
GCS: list[tuple] = []  # (thread, start, end, generation, collected, cpu_s)
_gc_start: dict[int, tuple[float, float]] = {}
ACTS = ("act", "order send", "order cancel", "cycle close write", "equity write")


def _record(phase: str, bot_of, fn):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        c0, t0 = time.thread_time(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            t1, c1 = time.perf_counter(), time.thread_time()
            EVENTS.append((phase, bot_of(args), threading.current_thread().name, t0, t1,
                           c1 - c0))

    timed.__wrapped_probe__ = True
    return timed


def _bot(args) -> str:
    from botfleet.obs.logs import BOT

    return BOT.get(None) or "-"


def _wrap(owner, attr: str, phase: str, bot_of=_bot) -> None:
    fn = getattr(owner, attr)
    if not getattr(fn, "__wrapped_probe__", False):
        setattr(owner, attr, _record(phase, bot_of, fn))


class _TimedTurn:
    """`work.DECIDING` with the wait for the turn recorded."""

    def __init__(self, inner):
        self.inner = inner

    def acquire(self, timeout: float = -1) -> bool:
        t0 = time.perf_counter()
        got = self.inner.acquire(timeout=timeout)
        EVENTS.append(("turn wait", _bot(()), threading.current_thread().name, t0,
                       time.perf_counter(), 0.0))
        return got

    def release(self) -> None:
        self.inner.release()


def _on_gc(phase: str, info: dict) -> None:
    ident = threading.get_ident()
    if phase == "start":
        _gc_start[ident] = (time.perf_counter(), time.thread_time())
    else:
        t0, c0 = _gc_start.pop(ident, (None, None))
        if t0 is not None:
            GCS.append((threading.current_thread().name, t0, time.perf_counter(),
                        info.get("generation"), info.get("collected"),
                        time.thread_time() - c0))


def install() -> None:
    """Wrap the phases of a close (call before the runner is built)."""
    from botfleet.execution.bookkeeping import Bookkeeping
    from botfleet.execution.executor import Executor
    from botfleet.risk.killswitch import KillSwitch
    from botfleet.risk.store import RiskStore
    from botfleet.runtime import batch, cycle, tick, work
    from botfleet.runtime.books import StateReader
    from botfleet.runtime.feed import CandleFeed

    def run_bot(args):
        return args[2].plan.name

    _wrap(batch, "prepare", "prepare (batch state reads, cycles opened)")
    _wrap(tick, "_begin", "cycle records opened (1 txn)")
    _wrap(batch, "aggregates_for", "aggregates (fleet/exchange books)")
    if hasattr(batch, "_take_locks"):  # absent in a runtime that locks bot by bot
        _wrap(batch, "_take_locks", "cycle locks (all bots, one round trip)")
    _wrap(batch, "_decide", "read job (cycle lock + reads)", run_bot)
    _wrap(cycle.CycleRun, "read", "cycle read (guards + reads)")
    _wrap(work.BotCycle, "read", "bot read")
    _wrap(cycle.CycleRun, "decide_now", "decide step (turn + decision)")
    _wrap(cycle.CycleRun, "act", "act")
    _wrap(cycle.CycleRun, "close", "cycle close")
    _wrap(Bookkeeping, "end_cycle", "cycle close write")
    _wrap(Bookkeeping, "record_equity", "equity write")
    _wrap(StateReader, "read", "state read")
    _wrap(StateReader, "fills_of", "fills read")
    _wrap(CandleFeed, "window", "candles (window/cache)")
    _wrap(Executor, "sync", "exchange sync (working orders)")
    _wrap(Executor, "place", "order send")
    _wrap(Executor, "cancel", "order cancel")
    _wrap(KillSwitch, "refresh", "kill switch refresh")
    _wrap(RiskStore, "add_events", "refusal records write")
    _wrap(work.BotCycle, "_decide", "decision (signals+sizing+risk)")
    _wrap(work.BotCycle, "views", "latest signals (views)")
    _wrap(work, "decide", "decisions/sizing")
    _wrap(work.BotCycle, "judge", "risk checks")
    work.DECIDING = _TimedTurn(work.DECIDING)
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _in(t0: float, t1: float) -> list[tuple]:
    return [e for e in EVENTS if e[3] >= t0 and e[4] <= t1]


def _gcs(t0: float, t1: float) -> list[tuple]:
    return [g for g in GCS if g[2] >= t0 and g[1] <= t1]


def _gc_line(gcs: list[tuple]) -> str:
    if not gcs:
        return "no GC pause"
    by_gen = defaultdict(list)
    for g in gcs:
        by_gen[g[3]].append((g[2] - g[1]) * 1000)
    return ", ".join(f"gen{k}: {len(v)} pause(s) {sum(v):.1f} ms (max {max(v):.1f})"
                     for k, v in sorted(by_gen.items()))


def explain_tick(label: str, t0: float, t1: float, results) -> list[str]:
    """The story of one tick: its serial phases, the last bot's path, what ran meanwhile."""
    ev = _in(t0, t1)
    last = max(results, key=lambda r: r.decided or 0)
    out = [(f"{label}: {(last.decided - t0) * 1000:.1f} ms to the last decision "
            f"({last.bot}); tick returned after {(t1 - t0) * 1000:.1f} ms")]
    totals = defaultdict(lambda: [0, 0.0, 0.0])
    for phase, _bot, _th, a, b, cpu in ev:
        if b <= last.decided:
            agg = totals[phase]
            agg[0] += 1
            agg[1] += b - a
            agg[2] += cpu
    out.append("  phases before the last decision (count, wall summed over threads, CPU):")
    for phase, (n, wall, cpu) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        out.append(f"    {phase:<42} {n:4d}  {wall * 1000:8.1f} ms  cpu {cpu * 1000:7.1f} ms")
    mine = sorted((e for e in ev if e[1] == last.bot), key=lambda e: e[3])
    out.append(f"  the last bot ({last.bot}), from the tick's start:")
    for phase, _bot, th, a, b, cpu in mine:
        if a > last.decided:
            break
        out.append(f"    +{(a - t0) * 1000:7.1f} .. +{(b - t0) * 1000:7.1f} ms  {phase:<34} "
                   f"wall {(b - a) * 1000:6.2f} cpu {cpu * 1000:6.2f} ({th})")
    acts = [e for e in ev if e[0] == "act" and e[3] < last.decided]
    out.append(f"  acts started before the last decision: {len(acts)}; "
               f"{_gc_line(_gcs(t0, last.decided))} before it")
    return out


def explain_decisions(n: int = 5, since: float = 0.0, until: float = float("inf")
                      ) -> list[str]:
    """The slowest decisions: wall vs own CPU, GC pauses in them, who ran meanwhile."""
    decisions = [e for e in EVENTS if e[0] == "decision (signals+sizing+risk)"
                 and since <= e[3] <= until]
    decisions.sort(key=lambda e: e[4] - e[3], reverse=True)
    walls = np.array([(e[4] - e[3]) * 1e6 for e in decisions])
    cpus = np.array([e[5] * 1e6 for e in decisions])
    out = [(f"decisions probed: {len(decisions)}; wall p50 {np.percentile(walls, 50):.0f} / "
            f"p99 {np.percentile(walls, 99):.0f} us; own CPU p50 "
            f"{np.percentile(cpus, 50):.0f} / p99 {np.percentile(cpus, 99):.0f} us")]
    for phase, bot, th, a, b, cpu in decisions[:n]:
        others = defaultdict(float)
        for e in EVENTS:
            if e[2] != th and e[0] in ACTS + ("read job (cycle lock + reads)", "state read",
                                              "exchange sync (working orders)"):
                others[e[0]] += _overlap(a, b, e[3], e[4])
        subs = [e for e in EVENTS if e[2] == th and e[3] >= a and e[4] <= b and e[0] in
                ("latest signals (views)", "decisions/sizing", "risk checks")]
        out.append(f"  {bot} (+{(a - since) * 1000:.0f} ms): wall {(b - a) * 1e6:.0f} us, own CPU {cpu * 1e6:.0f} us; "
                   + "; ".join(f"{e[0]} {(e[4] - e[3]) * 1e6:.0f} us" for e in subs)
                   + f"; {_gc_line(_gcs(a, b))}")
        busy = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in sorted(
            others.items(), key=lambda kv: -kv[1]) if v > 0)
        out.append(f"    other threads meanwhile: {busy or 'nothing probed'}")
    return out


def summary(ticks: list[tuple[float, float, list]]) -> list[str]:
    """Per tick medians vs the slowest tick, for the phases on the critical path."""
    rows = defaultdict(list)
    for t0, t1, _res in ticks:
        per = defaultdict(float)
        for e in _in(t0, t1):
            per[e[0]] += e[4] - e[3]
        per["GC pauses"] = sum(g[2] - g[1] for g in _gcs(t0, t1))
        reads = [e[4] for e in _in(t0, t1) if e[0] == "read job (cycle lock + reads)"]
        if reads:  # a span, not a sum: the close's start to the last bot's reads done
            per["reads phase span (tick start -> last read)"] = max(reads) - t0
        for k, v in per.items():
            rows[k].append(v * 1000)
    out = ["phase per tick, wall summed over threads (ms): p50 / max"]
    for k, v in sorted(rows.items(), key=lambda kv: -np.median(kv[1])):
        out.append(f"  {k:<44} {np.median(v):8.1f} / {max(v):8.1f}")
    return out


def heap() -> list[str]:
    """What a full collection would walk now: the tracked objects not frozen, by type."""
    objs = gc.get_objects()
    kinds = defaultdict(int)
    for o in objs:
        kinds[f"{type(o).__module__}.{type(o).__qualname__}"] += 1
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:10]
    slow = sorted(GCS, key=lambda g: g[1] - g[2])[:5]
    yield_ = ["slowest GC pauses: " + "; ".join(
        f"gen{g[3]} {(g[2] - g[1]) * 1000:.1f} ms wall, {g[5] * 1000:.1f} ms CPU, "
        f"{g[4]} collected ({g[0]})" for g in slow)]
    return yield_ + [f"GC-tracked objects: {len(objs)} unfrozen, {gc.get_freeze_count()} frozen; "
            "most: " + ", ".join(f"{k} {v}" for k, v in top)]


def report(ticks: list[tuple]) -> list[str]:
    """`ticks`: (start, end, results, prefetched) of the timed ticks; the prefetched ones
    (the exchange's latency out) are told."""
    timed = [(a, b, r) for a, b, r, pre in ticks if pre]
    out = summary(timed)
    for a, b, r in sorted(timed, key=lambda x: max(y.decided for y in x[2]) - x[0])[-2:]:
        out += explain_tick(f"slow tick at +{(a - timed[0][0]):.1f} s", a, b, r)
    return out + explain_decisions(since=timed[0][0], until=timed[-1][1]) + heap()
