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


def fleet_models(load: FleetLoad) -> dict:
    """Model specs by name, as `proba()` checks them: the fleet's, or (when the fleet has
    errors elsewhere) every schema-valid model file's, so strategy errors still show."""
    if load.fleet is not None:
        return dict(load.fleet.models)
    from botfleet.config.ml import model_spec

    out = {}
    for e in load.entries.get("model", []):
        if e.valid and e.name and e.name not in out:
            try:
                out[e.name] = model_spec(e.data)
            except (KeyError, ValueError):
                continue
    return out


def model_pair_problems(load: FleetLoad, bot, strategy: CompiledStrategy) -> list[Problem]:
    """A bot whose strategy reads a model must trade pairs that model trains on."""
    out = []
    entry = load.by_name("bot").get(bot.name)
    for use in strategy.model_uses:
        missing = [p for p in bot.pairs if p not in use.spec.pairs]
        if missing and entry is not None:
            out.append(entry.problem(
                ("pairs",), f"strategy {strategy.name} reads model {use.name!r}, which trains "
                f"on {', '.join(use.spec.pairs)}; this bot trades {', '.join(missing)}",
                f"add {', '.join(missing)} to the pairs of model {use.name}"))
    return out


def load_checked(path: str | Path, **options) -> FleetLoad:
    """The fleet at `path` loaded (`options` go to `load_fleet`) and its strategies compiled
    as its bots use them, as `botfleet validate` checks it: a strategy that does not compile
    is a problem of the load (at its file and line) and leaves no fleet to run."""
    from botfleet.config import load_fleet

    load = load_fleet(Path(path), **options)
    found = strategy_problems(load)
    if found:
        load.problems.extend(found)
        load.fleet = None
    return load


def strategy_problems(load: FleetLoad) -> list[Problem]:
    _plugins(load)
    found: set[Problem] = set()
    users = uses(load)
    models = fleet_models(load)
    for entry in load.entries.get("strategy", []):
        if not entry.valid or not entry.name:
            continue
        distinct = {(tf, tuple(sorted(o.items()))): o
                    for tf, o in users.get(entry.name) or [(STANDALONE_TF, {})]}
        for (tf, _), overrides in distinct.items():
            try:
                compile_entry(entry, tf, overrides, models=models,
                              standalone=entry.name not in users)
            except StrategyError as exc:
                found.update(exc.problems)
    if load.fleet is not None:
        entries = load.by_name("strategy")
        for bot in load.fleet.bots.values():
            if bot.strategy not in entries:
                continue
            try:
                compiled = compile_entry(entries[bot.strategy], bot.timeframe,
                                         dict(bot.parameters), models=models)
            except StrategyError:
                continue
            found.update(model_pair_problems(load, bot, compiled))
    return sorted(found)


def compiled_for_bots(load: FleetLoad) -> dict[str, CompiledStrategy]:
    """Bot name -> its compiled strategy (the fleet must be valid)."""
    _plugins(load)
    entries = {e.name: e for e in load.entries.get("strategy", [])}
    models = fleet_models(load)
    return {bot.name: compile_entry(entries[bot.strategy], bot.timeframe, dict(bot.parameters),
                                    models=models)
            for bot in load.fleet.bots.values() if bot.enabled}


def backtest_models(fleet):
    """The point-in-time model source for backtests of `fleet`'s bots: walk-forward models
    trained on the fleet's stored candles of each model's pairs (pooled, as `model train`)."""
    from botfleet.ml.fleet_ops import load_candles
    from botfleet.ml.strategy_source import PitModels

    return PitModels(pool=lambda spec: load_candles(fleet, spec))
