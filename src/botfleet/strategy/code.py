"""Strategies written in Python: a small class taking arrays and returning signals.

Why a class with one method, not a framework: a user who outgrows YAML wants numpy and the
same registry, not a lifecycle to learn. The runner gives the code the same things a YAML
strategy gets: typed parameters with ranges, the indicator registry (with warm-up tracked
per call), higher timeframes joined on close, signals suppressed during warm-up, and the same
stops, sizing and filters shapes. What Python cannot get by construction is the no-look-ahead
proof, so `lookahead_bars` checks it empirically (prefix runs must agree with the full run);
`botfleet strategy check` and the plugin tests run it.

    class RsiBounce(CodeStrategy):
        name = "rsi_bounce"
        parameters = {"period": Parameter(14, range=(5, 30))}
        def signals(self, bars, p):
            rsi = bars.indicator("rsi", bars.close, timeperiod=p.period)
            return {"entry": fn.crosses_above(rsi, 30), "exit": rsi > 70}
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms
from botfleet.indicators import REGISTRY, Registry
from botfleet.strategy.builtins import BUILTINS, field
from botfleet.strategy.declarative import Signals, live_window, newest, resolve_params
from botfleet.strategy.program import BASE, Program, join, tf_ratio
from botfleet.strategy.spec import (
    cooldown_bars,
    parse_filters,
    parse_sizing,
    parse_stops,
)


@dataclass(frozen=True)
class Parameter:
    default: Any
    range: tuple[float, float] | None = None
    step: float | None = None
    choices: tuple | None = None


class Bars:
    """The candles of one timeframe, the registry, and the warm-up the code has used."""

    def __init__(self, data: dict[str, np.ndarray], tf: str, base_tf: str, registry: Registry,
                 warm: list[int]):
        self._data, self._tf, self._base_tf = data, tf, base_tf
        self._registry, self._warm = registry, warm
        c = data[tf]
        self.ts = c["ts"]
        self.open, self.high, self.low = c["open"], c["high"], c["low"]
        self.close, self.volume = c["close"], c["volume"]

    def __len__(self) -> int:
        return len(self.ts)

    def field(self, name: str) -> np.ndarray:
        return field(self._data[self._tf], name)

    def indicator(self, name: str, *series: np.ndarray, **params) -> Any:
        """A registry indicator: one array, or a namespace of its outputs."""
        ind = self._registry.get(name)
        inputs = series or tuple(field(self._data[self._tf], i) for i in ind.inputs)
        if len(inputs) != len(ind.inputs):
            raise TypeError(f"{name}() takes {len(ind.inputs)} series ({', '.join(ind.inputs)})")
        values = ind.defaults()
        for key, value in params.items():
            p = ind.param(key)
            if p is None or p.check(value):
                raise ValueError(f"{name}(): " + (p.check(value) if p else f"no parameter {key}"))
            values[key] = p.coerce(value)
        self._note(ind.warmup(values))
        out = ind.compute(*(np.ascontiguousarray(x, dtype=np.float64) for x in inputs), **values)
        if len(ind.outputs) == 1:
            return out[0]
        return SimpleNamespace(**dict(zip(ind.outputs, out, strict=True)))

    def warmup(self, bars: int) -> None:
        """Declare warm-up for work done without `indicator` (bars of this timeframe)."""
        self._note(bars)

    def _note(self, bars: int) -> None:
        if self._tf == BASE:
            self._warm.append(bars)
        else:
            self._warm.append((bars + 2) * tf_ratio(self._tf, self._base_tf) - 1)

    def at(self, tf: str) -> Bars:
        """A higher timeframe; bring its results back with `join`."""
        if tf not in self._data:
            raise KeyError(f"timeframe {tf} is not declared in the strategy's `timeframes`")
        return Bars(self._data, tf, self._base_tf, self._registry, self._warm)

    def join(self, values: np.ndarray) -> np.ndarray:
        """Values of this (higher) timeframe on the base bars, each from its candle's close."""
        if self._tf == BASE:
            raise ValueError("join() belongs to a higher timeframe's bars: "
                             "daily = bars.at('1d'); daily.join(values)")
        return join(np.asarray(values), self._data[self._tf], self._tf, self._data[BASE],
                    self._base_tf)


class CodeStrategy:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    parameters: ClassVar[dict[str, Parameter]] = {}
    timeframes: ClassVar[tuple[str, ...]] = ()
    stops: ClassVar[dict] = {}
    sizing: ClassVar[dict | None] = None
    filters: ClassVar[dict] = {}
    cooldown: ClassVar[int | str | None] = None

    def signals(self, bars: Bars, p: SimpleNamespace) -> dict[str, np.ndarray]:
        """Return bool arrays as long as `bars` under `entry`, `exit` and optionally
        `entry_short`, `exit_short`."""
        raise NotImplementedError


class _Where:
    def __init__(self, source: str):
        self.source = source

    def __call__(self, path, message, hint=None):
        return f"{self.source}: {'.'.join(map(str, path))}: {message}" + (
            f" ({hint})" if hint else "")


class CodeStrategyRunner:
    """A CodeStrategy bound to parameters and a timeframe: the interface of CompiledStrategy."""

    def __init__(self, cls: type[CodeStrategy], base_tf: str, overrides: dict | None = None,
                 registry: Registry = REGISTRY):
        self.cls, self.base_tf, self.registry = cls, base_tf, registry
        self.name = cls.name or cls.__name__
        where = _Where(f"{cls.__module__}.{cls.__name__}")
        declared = {k: {"default": v.default, "range": v.range, "choices": v.choices}
                    for k, v in cls.parameters.items()}
        self.params, problems = resolve_params({"parameters": declared}, overrides, where)
        self.stops, found = parse_stops(cls.stops, where)
        problems += found
        self.sizing, found = parse_sizing(cls.sizing, self.stops, where)
        problems += found
        for tf in cls.timeframes:
            if timeframe_ms(tf) <= timeframe_ms(base_tf) or timeframe_ms(tf) % \
                    timeframe_ms(base_tf):
                problems.append(where(("timeframes",), f"{tf} is not a higher multiple of "
                                      f"{base_tf}"))
        if problems:
            raise ValueError("\n".join(problems))
        self.filters = parse_filters(cls.filters)
        self.cooldown = cooldown_bars(cls.cooldown, base_tf)
        self._program = Program(base_tf, extra_timeframes=tuple(cls.timeframes))
        self.timeframes = list(cls.timeframes)
        self.warmup = self._measure_warmup()

    def _run(self, candles, higher=None) -> tuple[dict, dict, int]:
        data = self._program.frames(candles, higher)
        warm: list[int] = []
        out = self.cls().signals(Bars(data, BASE, self.base_tf, self.registry, warm),
                                 SimpleNamespace(**self.params))
        return data, out, max(warm, default=0)

    def _measure_warmup(self) -> int:
        """Run once on a short random walk: the indicator calls declare the warm-up."""
        with np.errstate(all="ignore"):
            return self._run(random_walk(64, self.base_tf))[2]

    def signals(self, candles, higher=None) -> Signals:
        with np.errstate(all="ignore"):
            data, out, warm = self._run(candles, higher)
        n = len(data[BASE])
        unknown = set(out) - {"entry", "exit", "entry_short", "exit_short"}
        if unknown or "entry" not in out or "exit" not in out:
            raise ValueError(f"{self.name}.signals() must return 'entry' and 'exit' (and "
                             f"optionally 'entry_short', 'exit_short'), got {sorted(out)}")
        live = np.arange(n) >= max(warm, self.warmup)
        rules = {}
        for key in ("entry", "exit", "entry_short", "exit_short"):
            arr = np.asarray(out.get(key, np.zeros(n, dtype=bool)))
            if arr.shape != (n,):
                raise ValueError(f"{self.name}: '{key}' has shape {arr.shape}, expected ({n},)")
            rules[key] = arr.astype(bool) & live
        return Signals(data[BASE]["ts"], rules["entry"], rules["exit"], rules["entry_short"],
                       rules["exit_short"], max(warm, self.warmup))

    def window(self) -> dict[str, int]:
        return live_window(self.base_tf, self.warmup, self.timeframes)

    def latest(self, window, higher=None) -> dict:
        return newest(self.signals(window, higher))


def random_walk(n: int, timeframe: str, seed: int = 1) -> np.ndarray:
    """Synthetic candles: enough to measure warm-up and to run the look-ahead check without
    market data."""
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=CANDLE_DTYPE)
    out["ts"] = 1_600_000_000_000 // 86_400_000 * 86_400_000 + \
        np.arange(n, dtype=np.int64) * timeframe_ms(timeframe)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    out["open"] = np.roll(close, 1)
    out["open"][0] = close[0]
    out["close"] = close
    out["high"] = np.maximum(out["open"], close) * (1 + rng.uniform(0, 0.005, n))
    out["low"] = np.minimum(out["open"], close) * (1 - rng.uniform(0, 0.005, n))
    out["volume"] = rng.uniform(1, 100, n)
    return out


def lookahead_bars(strategy, candles: np.ndarray, checks: int = 20) -> list[int]:
    """Bars whose signals change when later candles are removed: each one reads the future.
    Checked at `checks` bars spread over the second half of the data (and every signal bar
    among them)."""
    full = strategy.signals(candles)
    n = len(candles)
    picks = set(np.linspace(max(full.warmup, n // 2), n - 1, checks).astype(int).tolist())
    fired = np.flatnonzero(full.entry_long | full.exit_long | full.entry_short | full.exit_short)
    picks |= set(fired[fired >= n // 2][-checks:].tolist())
    bad = []
    for t in sorted(picks):
        part = strategy.signals(candles[: t + 1])
        for key in ("entry_long", "exit_long", "entry_short", "exit_short"):
            if bool(getattr(part, key)[-1]) != bool(getattr(full, key)[t]):
                bad.append(int(t))
                break
    return bad


# The language's functions for Python code: fn.crosses_above(a, b), fn.shift(x, 2), …
fn = SimpleNamespace(**{name: b.run for name, b in BUILTINS.items()})

__all__ = ["Bars", "CodeStrategy", "CodeStrategyRunner", "Parameter", "fn", "lookahead_bars"]
