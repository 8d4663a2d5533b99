"""`botfleet-reconcile`: periodic reconciliation of every paper and live bot with its exchange
(`botfleet.jobs.reconcile`): a mismatch halts the bot and raises a risk alert on the bus. One
task per bot; a bot whose exchange does not answer is retried, then reported as failed."""

from __future__ import annotations

from botfleet.bus import open_bus
from botfleet.deployments import TRADING_MODES
from botfleet.jobs import load_checked
from botfleet.jobs.common import pick_bots
from botfleet.jobs.reconcile import Session
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque


@job_task("reconcile", task_run_name="reconcile {bot}")
def reconcile_one(session, bot: str, bus) -> dict:
    return session.reconcile_bot(bot, bus=bus)


@job_flow("reconcile")
def reconcile(fleet: str, bots: list[str] | None = None) -> dict:
    """Reconcile `bots` (default: every enabled paper and live bot)."""
    f = load_checked(fleet).fleet
    chosen = pick_bots(f, bots, TRADING_MODES)
    if not chosen:
        return finish("reconcile", f.name, [], [], "no enabled paper or live bot")
    session = Session(f, [b.name for b in chosen])
    with open_bus(f.storage.cache) as bus:
        rows, failed = fan_out([(b.name, reconcile_one, (opaque(session), b.name, opaque(bus)))
                                for b in chosen])
    halted = [r["bot"] for r in rows if r["outcome"] == "halted"]
    return finish("reconcile", f.name, rows, failed,
                  f"{sum(r['outcome'] == 'passed' for r in rows)}/{len(chosen)} bot(s) "
                  "reconciled" + (f", HALTED: {', '.join(halted)}" if halted else ""))


FLOW = reconcile
