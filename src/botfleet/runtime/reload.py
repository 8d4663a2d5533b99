"""Hot reload: a bot's YAML changed while the fleet runs.

The runner polls the modification times of every file the fleet was loaded from (and the
files its globs match now, so a new `bots.d/x.yaml` is seen). On a change the whole fleet is
loaded and checked again, strategies compiled as their bots use them — exactly what
`botfleet validate` does:

- invalid: the change is refused. Every problem is logged as `file:line:col: path: message`,
  sent as one `config_refused` event (topic `notifications`, severity error) and written to
  the audit log; every bot keeps the configuration it runs with. The same files are not
  reported again until they change again.
- valid: each bot whose configuration changed gets its new plan at its *next* cycle (never
  half-way through one); a bot added to the fleet starts (after its reconciliation), one
  removed or disabled stops after its cycle in flight. A bot whose new configuration cannot
  run (`PlanError`) keeps its old one and is reported. Storage settings (state database,
  cache) cannot change under a running process: they are reported as needing a restart.
"""

from __future__ import annotations

import asyncio
import glob
import logging
from pathlib import Path

from botfleet.config.loader import LISTS
from botfleet.runtime.events import Emitter
from botfleet.strategy.fleet import load_checked

log = logging.getLogger("botfleet.runtime.reload")


class FleetWatcher:
    def __init__(self, load):
        self.root = Path(load.root)
        if self.root.is_dir():
            self.root = self.root / "fleet.yaml"
        self.seen = self.signature(load)

    def files(self, load) -> set[Path]:
        out = {Path(d.path).resolve() for d in load.documents}
        data = load.fleet_doc.data if load.fleet_doc is not None else None
        base = self.root.parent
        if isinstance(data, dict):
            for key in LISTS:
                for item in data.get(key) or []:
                    if isinstance(item, str):
                        out |= {Path(p).resolve() for p in glob.glob(str(base / item))}
        out.add(self.root.resolve())
        return out

    def signature(self, load) -> dict[Path, float | None]:
        out = {}
        for path in self.files(load):
            try:
                out[path] = path.stat().st_mtime_ns
            except OSError:
                out[path] = None
        return out

    def poll(self, load):
        """The new load if any watched file changed since the last poll, else None."""
        now = self.signature(load)
        if now == self.seen:
            return None
        fresh = load_checked(self.root)
        self.seen = {**self.signature(fresh), **{p: m for p, m in now.items()}}
        return fresh


def apply(runner, fresh) -> dict[str, list[str]]:
    """Take `fresh` into the running runner; returns what happened, by kind."""
    from botfleet.runtime.plan import build_plans

    outcome: dict[str, list[str]] = {"changed": [], "added": [], "removed": [], "refused": []}
    emit = Emitter(runner.svc.bus)
    where = str(runner.fleet.path)
    if not fresh.ok:
        lines = [str(p) for p in fresh.errors]
        for line in lines:
            log.error("configuration change refused: %s", line)
        log.error("configuration change refused (%d problem(s)); every bot keeps its "
                  "configuration", len(lines))
        emit.notify("configuration change refused", "\n".join(lines), "error")
        emit.flush()
        runner.svc.ledger.audit("runner", "config.refused", where, {"problems": lines})
        outcome["refused"] = lines
        return outcome
    fleet = fresh.fleet
    if fleet.storage != runner.fleet.storage:
        log.warning("storage settings changed in %s: they take effect at the next start",
                    where)
    wanted = runner.wanted or [b.name for b in fleet.enabled_bots()]
    wanted = [n for n in wanted if n in fleet.bots and fleet.bots[n].enabled
              and fleet.bots[n].mode == runner.mode]
    plans, problems = build_plans(fresh, wanted)
    for name, problem in problems.items():
        log.error("bot %s keeps its configuration: the new one cannot run: %s", name, problem)
        outcome["refused"].append(f"{name}: {problem}")
    now = runner.clock.now_ms()
    runner.conn.fleet = fleet
    for name, plan in plans.items():
        slot = runner.slots.get(name)
        if slot is None:
            try:
                runner._add_slot(plan)
                runner.slots[name].next_ms = runner._due(runner.slots[name], now)
                outcome["added"].append(name)
            except Exception as exc:  # noqa: BLE001 - reported; the others run on
                outcome["refused"].append(f"{name}: cannot start: {exc}")
            continue
        slot.retired = False
        if plan.fingerprint != slot.plan.fingerprint:
            slot.pending = plan
            slot.next_ms = runner._due(slot, now)
            outcome["changed"].append(name)
    for name, slot in runner.slots.items():
        if name not in plans and name not in problems and not slot.retired:
            slot.retired = True
            outcome["removed"].append(name)
    runner.load, runner.fleet, runner.conn.fleet = fresh, fleet, fleet
    summary = "; ".join(f"{k}: {', '.join(v)}" for k, v in outcome.items() if v and
                        k != "refused") or "no bot changed"
    log.info("configuration reloaded: %s", summary)
    emit.notify("configuration reloaded", summary, "info")
    emit.flush()
    runner.svc.ledger.audit("runner", "config.reloaded", where,
                            {k: v for k, v in outcome.items() if v})
    return outcome


async def watch(runner, every_s: float) -> None:
    """Poll every `every_s` seconds (wall time) while the runner runs; changes since the
    runner's load (`runner.watcher`, taken then) count."""
    watcher = runner.watcher
    while True:
        await asyncio.sleep(every_s)
        try:
            fresh = await asyncio.to_thread(watcher.poll, runner.load)
            if fresh is not None:
                await asyncio.to_thread(apply, runner, fresh)
                if runner._wake is not None:
                    runner._wake.set()
        except Exception:  # a reload must never stop the fleet
            log.exception("hot reload failed; the fleet runs on unchanged")
