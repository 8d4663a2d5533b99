"""Declarative strategies: a `kind: strategy` entry compiled into a program that turns
candles into entry and exit signals, with its stops, sizing, filters and warm-up.

No look-ahead by construction: every step is causal, a higher timeframe joins only once its
candle has closed (program.join), and signals are suppressed until every indicator a rule
reads has warmed up. The same compiled object serves backtests (whole arrays) and the live
path (`latest`, the newest bar of a short window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from botfleet.config.loader import Entry, load_fleet
from botfleet.config.problems import Problem, format_path
from botfleet.data.candles import timeframe_ms
from botfleet.indicators import REGISTRY, Registry
from botfleet.strategy.compiler import Compiler, Failed, Val
from botfleet.strategy.errors import ExprError, StrategyError
from botfleet.strategy.spec import (
    Filters,
    Sizing,
    Stops,
    cooldown_bars,
    parse_filters,
    parse_sizing,
    parse_stops,
)

RULES = ("entry", "exit", "entry_short", "exit_short")


@dataclass
class Signals:
    """Bar-by-bar output on the base candles: `entry_long[t]` means "enter at the next
    opportunity after bar t closed"; series are the named indicators (for charts) and the
    ATRs the stops need (`atr_14`)."""

    ts: np.ndarray
    entry_long: np.ndarray
    exit_long: np.ndarray
    entry_short: np.ndarray
    exit_short: np.ndarray
    warmup: int
    series: dict[str, np.ndarray] = field(default_factory=dict)

    def frame(self):
        """A pandas DataFrame indexed by UTC open time (pandas is imported here: it costs a
        second at start-up that `botfleet validate` need not pay)."""
        import pandas as pd

        out = pd.DataFrame({"ts": self.ts, "entry_long": self.entry_long,
                            "exit_long": self.exit_long, "entry_short": self.entry_short,
                            "exit_short": self.exit_short, **self.series})
        out.index = pd.to_datetime(self.ts, unit="ms", utc=True)
        return out


@dataclass
class CompiledStrategy:
    name: str
    base_tf: str
    params: dict[str, Any]
    compiler: Compiler
    rules: dict[str, Val]
    indicators: dict[str, Val]
    stop_series: dict[str, Val]
    filters: Filters
    filter_vals: list[Val]
    stops: Stops
    sizing: Sizing
    cooldown: int
    warmup: int

    @property
    def shorts(self) -> bool:
        return "entry_short" in self.rules

    @property
    def timeframes(self) -> list[str]:
        return self.compiler.program.timeframes

    def window(self) -> dict[str, int]:
        return live_window(self.base_tf, self.warmup, self.timeframes)

    @property
    def model_uses(self) -> list:
        """The fleet models its rules read (`strategy.models.ModelUse`), in order of use."""
        return list(self.compiler.model_uses.values())

    def use_models(self, source) -> CompiledStrategy:
        """Answer this strategy's `proba()`/`predict()` from `source` (strategy.models): the
        runtime pins the registry's promoted versions; backtests keep the point-in-time
        default."""
        self.compiler.program.model_source = source
        return self

    @property
    def model_source(self):
        return self.compiler.program.model_source

    def signals(self, candles: np.ndarray, higher: dict[str, np.ndarray] | None = None
                ) -> Signals:
        program = self.compiler.program
        data = program.frames(candles, higher)
        slots = program.run(data)
        n = len(data[""])

        def value(v: Val | None) -> np.ndarray:
            if v is None:
                return np.zeros(n, dtype=bool)
            out = slots[v.slot] if v.kind != "const" else np.full(n, v.const)
            return np.broadcast_to(out, (n,))

        ok = np.ones(n, dtype=bool)
        for v in self.filter_vals:
            ok &= value(v).astype(bool)
        ok[: self.warmup] = False
        live = np.ones(n, dtype=bool)
        live[: self.warmup] = False
        rules = {name: value(self.rules.get(name)).astype(bool) for name in RULES}
        series = {name: np.asarray(value(v), dtype=np.float64)
                  for name, v in {**self.indicators, **self.stop_series}.items()}
        return Signals(data[""]["ts"], rules["entry"] & ok, rules["exit"] & live,
                       rules["entry_short"] & ok, rules["exit_short"] & live, self.warmup,
                       series)

    def latest(self, window: np.ndarray, higher: dict[str, np.ndarray] | None = None) -> dict:
        """The newest bar's signals (the live path): same program, last element; model reads
        compute only the bars those signals read (`strategy.model_tails`)."""
        from botfleet.strategy.model_tails import newest_reads

        with newest_reads(self):
            return newest(self.signals(window, higher))


def live_window(base_tf: str, warmup: int, timeframes: list[str]) -> dict[str, int]:
    """Candles the live path needs per timeframe: the base timeframe's warm-up plus one,
    and for each higher timeframe enough closed candles to cover it."""
    need = {base_tf: warmup + 1}
    base_ms = timeframe_ms(base_tf)
    for tf in timeframes:
        length = 31 * 86_400_000 * int(tf[:-1]) if tf.endswith("M") else timeframe_ms(tf)
        need[tf] = -(-(warmup + 1) * base_ms // length) + 1
    return need


def newest(s: Signals) -> dict:
    """The last bar of `s`: what the live path acts on."""
    out = {"ts": int(s.ts[-1]) if len(s.ts) else None, "ready": len(s.ts) > s.warmup}
    for name in ("entry_long", "exit_long", "entry_short", "exit_short"):
        arr = getattr(s, name)
        out[name] = bool(arr[-1]) if len(arr) else False
    return out


def _number(value) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def resolve_params(data: dict, overrides: dict | None, where) -> tuple[dict, list]:
    """Defaults, then overrides; each override checked against the declared range/choices."""
    declared = data.get("parameters") or {}
    params = {name: _number(spec.get("default")) for name, spec in declared.items()}
    problems = []
    for name, value in (overrides or {}).items():
        spec = declared.get(name)
        if spec is None:
            problems.append(where(("parameters",), f"no parameter '{name}' to override", None))
            continue
        value = _number(value)
        rng, choices = spec.get("range"), spec.get("choices")
        if choices is not None and value not in [_number(c) for c in choices]:
            problems.append(where(("parameters", name), f"{name}={value!r} is not one of "
                                  f"{[_number(c) for c in choices]}", None))
        elif rng and not (_number(rng[0]) <= value <= _number(rng[1])):
            problems.append(where(("parameters", name), f"{name}={value} is outside its range "
                                  f"[{_number(rng[0])}, {_number(rng[1])}]", None))
        params[name] = value
    return params, problems


def compile_entry(entry: Entry, base_tf: str, overrides: dict | None = None,
                  registry: Registry = REGISTRY, *, models: dict | None = None,
                  standalone: bool = False) -> CompiledStrategy:
    """Compile a schema-valid strategy entry; raises StrategyError with every problem.
    `models`: the fleet's model specs by name (`Fleet.models`), which `proba()` may read."""
    data, problems = entry.data, []

    def where(path, message, hint=None):
        return entry.problem(path, message, hint)

    def located(path: tuple, exc: ExprError) -> Problem:
        full = entry.prefix + path
        pos = entry.doc.pos_in(full, exc.start)
        return Problem(pos.file, pos.line, pos.col, format_path(full), exc.message, exc.hint)

    params, found = resolve_params(data, overrides, where)
    problems += found
    indicators_src = {k: v for k, v in (data.get("indicators") or {}).items()}
    compiler = Compiler(registry, base_tf, params, indicators_src, models, standalone)

    def compile_at(path: tuple, text: str, want_bool: bool) -> Val | None:
        try:
            val = compiler.compile(text)
        except ExprError as exc:
            problems.append(located(path, exc))
            return None
        except Failed:
            return None
        if want_bool and (val.kind == "multi" or val.dtype != "bool"):
            problems.append(located(path, ExprError(
                f"{path[-1]} must be a condition (true/false), not a number", 0, len(text),
                "compare it, as in x > y")))
            return None
        return val

    indicators = {}
    for name in indicators_src:
        try:
            indicators[name] = compiler.indicator(name)
        except (ExprError, Failed):
            pass
    indicators = {k: v for k, v in indicators.items() if v.kind != "multi"} | {
        f"{k}.{o}": compiler.attr_of(v, o) for k, v in indicators.items() if v.kind == "multi"
        for o in v.indicator.outputs}
    rules = {}
    for name in RULES:
        if data.get(name):
            val = compile_at((name,), data[name], True)
            if val is not None:
                rules[name] = val
    filters = parse_filters(data.get("filters"))
    filter_vals = []
    if filters.min_price is not None:
        filter_vals.append(compile_at(("filters", "min_price"),
                                      f"close >= {filters.min_price}", True))
    if filters.min_volume is not None:
        bars = max(1, 86_400_000 // timeframe_ms(base_tf))
        text = f"quote_volume >= {filters.min_volume}" if bars == 1 else \
            f"mean(quote_volume, {bars}) * {bars} >= {filters.min_volume}"
        filter_vals.append(compile_at(("filters", "min_volume"), text, True))
    if filters.when:
        filter_vals.append(compile_at(("filters", "when"), filters.when, True))
    stops, found = parse_stops(data.get("stops"), where)
    problems += found
    stop_series = {f"atr_{p}": compile_at(("stops",), f"atr({p})", False)
                   for p in sorted(stops.atr_periods())}
    sizing, found = parse_sizing(data.get("sizing"), stops, where)
    problems += found
    for name, exc in compiler.errors.items():  # after the rules: a use may expand one
        problems.append(located(("indicators", name), exc))
    if "exit_short" in data and "entry_short" not in data:
        problems.append(where(("exit_short",), "exit_short without entry_short", None))
    if problems:
        raise StrategyError(problems)
    vals = [*rules.values(), *filter_vals, *stop_series.values()]
    warmup = max((v.warmup for v in vals), default=0)
    return CompiledStrategy(data["name"], base_tf, params, compiler, rules, indicators,
                            stop_series, filters, filter_vals, stops, sizing,
                            cooldown_bars(data.get("cooldown"), base_tf), warmup)


def load_strategy(path: str | Path, base_tf: str, overrides: dict | None = None,
                  registry: Registry = REGISTRY, display_root: str | Path | None = None
                  ) -> CompiledStrategy:
    """Read, validate and compile one strategy file (raises StrategyError)."""
    load = load_fleet(path, display_root=display_root)
    if load.errors:
        raise StrategyError(load.errors)
    entries = load.entries.get("strategy") or []
    if len(entries) != 1:
        raise StrategyError([Problem(str(path), 1, 1, "$", "not a strategy file",
                                     "a strategy file starts with 'kind: strategy'")])
    return compile_entry(entries[0], base_tf, overrides, registry)
