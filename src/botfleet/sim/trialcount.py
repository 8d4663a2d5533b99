"""Counting an optimisation's trials as they finish, for a progress bar.

An optimisation runs its trials in this thread (Optuna with one worker), in forked worker
processes (Optuna with several, the grid's full path), or as one vectorised pass (the grid's
fast path). Passing a callback down through `optimize`, `walk_forward` and the workers would
touch every signature and would not cross a fork anyway, so the count lives in a shared
integer (`multiprocessing.Value`, inherited by forked workers) found through a context
variable: the code that evaluates a trial calls `tick()`, which does nothing when nobody
counts. The caller's `counting(...)` block polls the integer from a thread and reports each
change, so a caller hears about trials finished in any process.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_COUNTER: ContextVar = ContextVar("botfleet_trial_counter", default=None)
POLL_S = 0.2


def tick(n: int = 1) -> None:
    """`n` more trials finished (a no-op outside a `counting` block)."""
    value = _COUNTER.get()
    if value is not None and n:
        with value.get_lock():
            value.value += n


def counted(run: Callable) -> Callable:
    """`run` (one trial) that ticks when it ends, however it ends (pruned, failed)."""
    def wrapper(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        finally:
            tick()

    return wrapper


@contextlib.contextmanager
def counting(report: Callable[[int], None], poll_s: float = POLL_S) -> Iterator[None]:
    """Call `report(trials finished so far)` from a helper thread whenever the count changes
    while the block runs, and once more at its end."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp
    value = ctx.Value("q", 0)
    token = _COUNTER.set(value)
    stop = threading.Event()
    seen = [0]

    def poll() -> None:
        while not stop.wait(poll_s):
            now = value.value
            if now != seen[0]:
                seen[0] = now
                report(now)

    watcher = threading.Thread(target=poll, name="trial-counter", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        _COUNTER.reset(token)
        if value.value != seen[0]:
            report(value.value)
