"""A kill switch acted on the moment it arrives, between closes.

The runner hears of a switch through the bus (`KillSwitch.on_change`) and runs this for each
bot it covers: the working orders are cancelled and, under `flatten`, the positions closed at
market, in a cycle of its own whose key names the switch (`kill<id>`), so a runner that dies
half-way and comes back sends the same client ids again, and a switch already acted on is not
acted on twice. The bot's next regular cycle checks again (`work.BotCycle`).
"""

from __future__ import annotations

import logging

from botfleet.runtime.cycle import Aggregates, CycleResult
from botfleet.runtime.events import Emitter
from botfleet.runtime.logctx import cycle_context
from botfleet.runtime.work import BotCycle

log = logging.getLogger("botfleet.runtime.cycle")


def kill_cycle(plan, svc, kill, now_ms: int) -> CycleResult:
    key = f"kill{kill.id}"
    result = CycleResult(plan.name, now_ms, "done")
    if svc.cycle_done(plan.name, key):
        return result
    cycle = svc.ledger.begin_cycle(plan.name, key=key, run_id=svc.run_ids.get(plan.name))
    result.correlation_id = cycle.correlation_id
    emit = Emitter(svc.bus, plan.name, plan.exchange.name, cycle.correlation_id)
    with cycle_context(plan.name, cycle.correlation_id):
        try:
            work = BotCycle(plan, svc, cycle, now_ms, agg=Aggregates(), stop=None, emit=emit,
                            guards=None, result=result)
            work.kill = kill
            work.send_kill()
            result.outcome = "ok"
        except Exception as exc:
            result.outcome, result.error = "error", f"{type(exc).__name__}: {exc}"
            log.exception("acting on kill switch %s failed", kill.label)
        finally:
            svc.ledger.end_cycle(cycle, result.outcome, result.error)
            emit.flush()
    return result
