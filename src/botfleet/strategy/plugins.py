"""Find Python plugins: files in a plugins folder and packages exposing the `botfleet.plugins`
entry point. A plugin module may define `CodeStrategy` subclasses and an `INDICATORS` list of
`Indicator`s; indicators join the one registry (so YAML, code and the UI see them).

A module may also define `OBJECTIVES = {"name": fn}`: custom optimisation objectives, used as
`plugin:name` in `optimize.objectives` or `--objective`. `fn(metrics: dict) -> float` reads a
backtest's metrics (`sim.metrics` names); it is maximised unless it has an attribute
`direction = "minimize"`. Objectives live in a plain dict rather than a registry because only
the optimiser reads them, and it is given the dict explicitly (no hidden global state).

A plugin that fails to import is reported with its file and the exception, and the others
still load: one broken file must not take the fleet down.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from botfleet.indicators import REGISTRY, Indicator, Registry
from botfleet.strategy.code import CodeStrategy

ENTRY_POINT_GROUP = "botfleet.plugins"


@dataclass
class Plugins:
    strategies: dict[str, type[CodeStrategy]] = field(default_factory=dict)
    indicators: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    objectives: dict[str, Callable[[dict], float]] = field(default_factory=dict)


def _import_file(path: Path) -> ModuleType:
    name = f"botfleet_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _collect(module: ModuleType, source: str, registry: Registry, found: Plugins) -> None:
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, CodeStrategy) and obj is not CodeStrategy and \
                obj.__module__ == module.__name__:
            name = obj.name or obj.__name__
            if name in found.strategies and found.strategies[name] is not obj:
                found.errors.append(f"{source}: strategy name '{name}' is already taken by "
                                    f"{found.strategies[name].__module__}")
                continue
            found.strategies[name] = obj
    for ind in getattr(module, "INDICATORS", []):
        if not isinstance(ind, Indicator):
            found.errors.append(f"{source}: INDICATORS holds {ind!r}, not an Indicator")
            continue
        ind = replace(ind, source=f"plugin:{source}")
        try:
            existing = registry.get(ind.name) if ind.name in registry else None
            registry.register(ind, replace=existing is not None and existing.source == ind.source)
        except ValueError as exc:
            found.errors.append(f"{source}: {exc}")
            continue
        found.indicators.append(ind.name)
    objectives = getattr(module, "OBJECTIVES", {})
    if not isinstance(objectives, dict):
        found.errors.append(f"{source}: OBJECTIVES must be a dict of name -> function")
        objectives = {}
    for name, fn in objectives.items():
        if not callable(fn) or getattr(fn, "direction", "maximize") not in ("maximize",
                                                                            "minimize"):
            found.errors.append(f"{source}: objective {name!r} must be a function with "
                                "direction 'maximize' (default) or 'minimize'")
        elif name in found.objectives and found.objectives[name] is not fn:
            found.errors.append(f"{source}: objective name '{name}' is already taken")
        else:
            found.objectives[name] = fn


def discover(folders=(Path("plugins"),), *, registry: Registry = REGISTRY,
             use_entry_points: bool = True) -> Plugins:
    found = Plugins()
    for folder in folders:
        for path in sorted(Path(folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                module = _import_file(path)
            except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; report it
                where = traceback.extract_tb(exc.__traceback__)[-1]
                line = where.lineno if where.filename == str(path) else 1
                found.errors.append(f"{path}:{line}: cannot load plugin: "
                                    f"{type(exc).__name__}: {exc}")
                continue
            _collect(module, path.stem, registry, found)
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001
                found.errors.append(f"entry point {ep.name} ({ep.value}): cannot load: "
                                    f"{type(exc).__name__}: {exc}")
                continue
            if isinstance(module, ModuleType):
                _collect(module, ep.name, registry, found)
    return found
