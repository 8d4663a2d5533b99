"""`botfleet-cycle`: one decision cycle for each bot due at this tick, concurrently.

A deployment per cycle schedule carries its bots (`bots`); each bot is one task on the flow's
thread pool, under its lock (`botfleet.jobs.cycle`): a bot whose previous cycle still runs is
skipped, not doubled. The deployment's concurrency limit (collisions cancel the newer run)
does the same for whole runs. State lives in the database, so any worker can run any cycle."""

from __future__ import annotations

from botfleet.bus import open_bus
from botfleet.deployments import TRADING_MODES, cycle_timeout_s, to_spec
from botfleet.jobs import load_checked
from botfleet.jobs.common import pick_bots
from botfleet.jobs.cycle import cycle_bot, resolve_work
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque


@job_task("cycle", task_run_name="cycle {bot}")
def bot_cycle(bot: str, run, bus, timeout_s: float) -> dict:
    return cycle_bot(bot, run=run, bus=bus, timeout_s=timeout_s)


@job_flow("cycle")
def cycle(fleet: str, bots: list[str] | None = None) -> dict:
    """One cycle of each of `bots` (default: every enabled paper and live bot)."""
    load = load_checked(fleet)
    f = load.fleet
    chosen = pick_bots(f, bots, TRADING_MODES)
    names = [b.name for b in chosen]
    with open_bus(f.storage.cache) as bus, resolve_work()(load, names) as run:
        calls = []
        for bot in chosen:
            timeout = cycle_timeout_s(to_spec(bot.cycle, bot.timeframe))
            calls.append((bot.name, bot_cycle, (bot.name, opaque(run), opaque(bus), timeout)))
        rows, failed = fan_out(calls)
    skipped = [r["bot"] for r in rows if r["outcome"] == "skipped"]
    return finish("cycle", f.name, rows, failed,
                  f"{len(rows) - len(skipped)}/{len(chosen)} bot(s) cycled"
                  + (f", skipped (previous cycle still running): {', '.join(skipped)}"
                     if skipped else ""))


FLOW = cycle
