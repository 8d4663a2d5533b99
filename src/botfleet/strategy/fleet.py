"""The fleet's strategies as its bots use them: compiled with each bot's timeframe and
parameter overrides, so `botfleet validate` reports expression errors and `botfleet run`
shows each bot's latest signal.
"""

from __future__ import annotations

from pathlib import Path

from botfleet.config.loader import FleetLoad
from botfleet.config.problems import Problem
from botfleet.strategy.declarative import CompiledStrategy, compile_entry
from botfleet.strategy.errors import StrategyError

STANDALONE_TF = "1m"  # a strategy no bot uses compiles at the finest timeframe: any '@' fits


def _plugins(load: FleetLoad) -> None:
    """Custom indicators from the fleet's plugins/ folder join the registry first."""
    fleet_docs = [d for d in load.documents if isinstance(d.data, dict)
                  and d.data.get("kind") == "fleet"]
    if fleet_docs:
        folder = Path(fleet_docs[0].path).parent / "plugins"
        if folder.is_dir():
            from botfleet.strategy.plugins import discover

            discover([folder], use_entry_points=False)


def uses(load: FleetLoad) -> dict[str, list[tuple[str, dict]]]:
    """Strategy name -> [(timeframe, parameter overrides)] of the enabled bots using it."""
    out: dict[str, list[tuple[str, dict]]] = {}
    fleet = load.fleet if load.ok else None
    if fleet is None:
        return out
    for bot in fleet.bots.values():
        out.setdefault(bot.strategy, []).append((bot.timeframe, dict(bot.parameters)))
    return out


def strategy_problems(load: FleetLoad) -> list[Problem]:
    _plugins(load)
    found: set[Problem] = set()
    users = uses(load)
    for entry in load.entries.get("strategy", []):
        if not entry.valid or not entry.name:
            continue
        distinct = {(tf, tuple(sorted(o.items()))): o
                    for tf, o in users.get(entry.name) or [(STANDALONE_TF, {})]}
        for (tf, _), overrides in distinct.items():
            try:
                compile_entry(entry, tf, overrides)
            except StrategyError as exc:
                found.update(exc.problems)
    return sorted(found)


def compiled_for_bots(load: FleetLoad) -> dict[str, CompiledStrategy]:
    """Bot name -> its compiled strategy (the fleet must be valid)."""
    _plugins(load)
    entries = {e.name: e for e in load.entries.get("strategy", [])}
    return {bot.name: compile_entry(entries[bot.strategy], bot.timeframe, dict(bot.parameters))
            for bot in load.fleet.bots.values() if bot.enabled}
