"""The cycle job: one bot's decision cycle, never overlapping that bot's previous one.

The orchestration's guarantee: a bot's cycle holds the bus lock `cycle-flow:<bot>` while it
runs. With `storage.cache: redis://…` the lock spans every process and host (scale-out: any
worker may run any bot's cycle, because the bot's state lives in the database); with
`memory://` it spans the threads of one process. A cycle that finds the lock taken does not
wait and does not run: it reports "skipped", so a slow cycle is never doubled. The lock's TTL
frees it if its holder dies. (The runtime takes its own `cycle:<bot>` lock inside as well,
which also keeps out runners that do not go through Prefect.)

What a cycle does comes from a *work factory*: `factory(load, bots)` is a context manager
that prepares the bots once per flow run and yields `run(bot, timeout_s) -> dict`. The
default is the trading runtime's (`runtime_work`); `BOTFLEET_CYCLE_WORK=module:factory` names
another with the same contract, which is how the benchmark and the served-deployment test give a cycle a
known cost or an injected failure.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botfleet.jobs.common import JobError

WORK_ENV = "BOTFLEET_CYCLE_WORK"
DEFAULT_WORK = "botfleet.jobs.cycle:runtime_work"
LOCK_MARGIN_S = 30.0

Run = Callable[[str, float], dict]  # (bot, timeout_s) -> row


def resolve_work(spec: str | None = None) -> Callable[..., Any]:
    """The work factory named by `spec`, `$BOTFLEET_CYCLE_WORK`, or the runtime's."""
    spec = spec or os.environ.get(WORK_ENV) or DEFAULT_WORK
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise JobError(f"{WORK_ENV}={spec!r}: write module:function")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"cycle work {spec!r} cannot be loaded: {exc}") from exc
    if not callable(fn):
        raise JobError(f"cycle work {spec!r} is not callable")
    return fn


class CycleFailed(RuntimeError):
    """The runtime reported the cycle as failed (error or timeout); raised so it is retried."""


@contextmanager
def runtime_work(load, bots: list[str]) -> Iterator[Run]:
    """The trading runtime's cycle (`botfleet.runtime.FleetRunner.run_once`): one runner per
    mode, started (and so reconciled) once per flow run, shut down at its end."""
    from botfleet.data.quality import iso
    from botfleet.deployments import cycle_timeout_s, to_spec
    from botfleet.jobs.trading import by_mode, connection_for
    from botfleet.runtime import FleetRunner
    from botfleet.runtime.runner import RunnerOptions

    fleet = load.fleet
    runners: dict[str, FleetRunner] = {}
    try:
        for mode, group in by_mode(fleet, bots).items():
            options = RunnerOptions(
                workers=min(max(len(group), 1), 32), reload_every_s=0, freeze_heap=False,
                cycle_timeout_s=max(cycle_timeout_s(to_spec(b.cycle, b.timeframe))
                                    for b in group))
            runners[mode] = FleetRunner(load, connection_for(fleet, group, mode),
                                        bots=[b.name for b in group], mode=mode,
                                        options=options).start()

        def run(bot: str, timeout_s: float) -> dict:
            runner = runners[fleet.bots[bot].mode]
            if bot in runner.problems:
                raise CycleFailed(f"{bot} could not start: {runner.problems[bot]}")
            result = runner.run_once([bot])[0]
            if result.outcome in ("error", "timeout", "interrupted"):
                raise CycleFailed(f"{bot}: cycle {result.outcome}: {result.error}")
            return {"outcome": result.outcome, "candle": iso(result.candle_ms),
                    "orders": len(result.orders), "refusals": len(result.refusals),
                    "correlation_id": result.correlation_id}

        yield run
    finally:
        for runner in runners.values():
            runner.shutdown()


def cycle_bot(bot: str, *, run: Run, bus, timeout_s: float) -> dict[str, Any]:
    """`run(bot, timeout_s)` under the bot's lock; "skipped" when its last cycle still runs.
    An exception from the work propagates (the caller retries) after the lock is freed."""
    lock = bus.lock(f"cycle-flow:{bot}", ttl_s=timeout_s + LOCK_MARGIN_S)
    if not lock.acquire():
        return {"bot": bot, "outcome": "skipped", "seconds": 0.0,
                "detail": "its previous cycle still runs (lock held)"}
    started = time.perf_counter()
    try:
        out = dict(run(bot, timeout_s) or {})
    finally:
        lock.release()
    return {"bot": bot, "outcome": out.pop("outcome", "ok"),
            "seconds": round(time.perf_counter() - started, 6), **out}
