"""One registry of indicators for YAML strategies, code strategies, plugins and the UI.

Why one: the expression compiler checks a call's name, arguments and outputs against the same
record the UI shows and the optimiser bounds parameters with, so none of them can disagree.

An indicator is a pure function of whole arrays: `compute(*inputs, **params)` returns one
float64 array per output, each as long as the inputs, with NaN where it has no value yet.
It must be causal (the value at bar t reads inputs at bars <= t only): the compiler's
no-look-ahead guarantee rests on that, and the registry tests check every entry for it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# Inputs an indicator may take, all the candle's own columns; `ts` (open time, int64 ms) is
# for calendar-anchored indicators such as a session VWAP.
INPUTS = ("ts", "open", "high", "low", "close", "volume")

ParamType = Literal["int", "float", "choice"]
REAL_LIMIT = 3e37  # TA-Lib's TA_REAL_MAX: its "unbounded" real parameters stop here


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    default: Any
    min: float | None = None  # inclusive bounds for int/float
    max: float | None = None
    choices: tuple[tuple[str, Any], ...] = ()  # (name shown in YAML, value passed) for "choice"
    help: str = ""

    def check(self, value: Any) -> str | None:
        """None when `value` is acceptable, else what is wrong (no position: callers add it)."""
        if self.type == "choice":
            names = [c[0] for c in self.choices]
            if value not in names and value not in [c[1] for c in self.choices]:
                return f"{self.name} must be one of {', '.join(names)}, not {value!r}"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{self.name} must be a number, not {value!r}"
        if not math.isfinite(float(value)) or abs(float(value)) > REAL_LIMIT:
            return f"{self.name} must be a finite number of at most {REAL_LIMIT:g} in size"
        if self.type == "int" and float(value) != int(value):
            return f"{self.name} must be a whole number, not {value}"
        if self.min is not None and value < self.min:
            return f"{self.name} must be at least {_num(self.min)}, not {_num(value)}"
        if self.max is not None and value > self.max:
            return f"{self.name} must be at most {_num(self.max)}, not {_num(value)}"
        return None

    def coerce(self, value: Any) -> Any:
        """The value `compute` receives (after `check` passed)."""
        if self.type == "choice":
            for shown, passed in self.choices:
                if value == shown:
                    return passed
            return value
        return int(value) if self.type == "int" else float(value)


def _num(v: float) -> str:
    return str(int(v)) if float(v) == int(v) else repr(float(v))


@dataclass(frozen=True)
class Indicator:
    name: str  # lower-case, as written in YAML: `sma`, `bbands`, `supertrend`
    inputs: tuple[str, ...]  # from INPUTS, in call order
    params: tuple[Param, ...]
    outputs: tuple[str, ...]  # canonical output names: `bbands(…).upper`
    compute: Callable[..., tuple[np.ndarray, ...]]
    # Bars at the start that are NaN or not yet trustworthy, for the given (coerced) params.
    warmup: Callable[[Mapping[str, Any]], int]
    description: str = ""
    group: str = ""
    source: str = "botfleet"  # "talib", "botfleet" or "plugin:<module>"
    aliases: Mapping[str, str] = field(default_factory=dict)  # other output name -> canonical
    # Calendar-anchored indicators (a session VWAP) need history back to the session start:
    # bars that depend on the timeframe, (params, timeframe ms) -> bars, added to `warmup`.
    calendar_warmup: Callable[[Mapping[str, Any], int], int] | None = None

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def output(self, name: str) -> str | None:
        """The canonical output for `name` (canonical or alias), or None."""
        if name in self.outputs:
            return name
        return self.aliases.get(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.coerce(p.default) for p in self.params}

    def describe(self) -> dict:
        """A plain-data record for the UI and the docs."""
        return {
            "name": self.name, "group": self.group, "source": self.source,
            "description": self.description, "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "params": [{"name": p.name, "type": p.type, "default": p.default, "min": p.min,
                        "max": p.max, "choices": [c[0] for c in p.choices], "help": p.help}
                       for p in self.params],
            "warmup": self.warmup(self.defaults()),
        }


class UnknownIndicator(KeyError):
    pass


class Registry:
    """Name -> Indicator. Built-ins load on first use (TA-Lib and numba are slow to import)."""

    def __init__(self, loaders: Iterable[Callable[[Registry], None]] = ()):
        self._items: dict[str, Indicator] = {}
        self._loaders = list(loaders)
        self._loaded = False
        self._lock = threading.RLock()

    def _ensure(self) -> None:
        if self._loaded:
            return
        with self._lock:  # re-entrant: a loader may look names up while registering
            if not self._loaded:
                self._loaded = True
                before = dict(self._items)
                try:
                    for load in self._loaders:
                        load(self)
                except BaseException:
                    # a failed load must fail every lookup, not leave a silently partial
                    # registry ("unknown indicator 'sma'") for the rest of the process
                    self._loaded, self._items = False, before
                    raise

    def register(self, indicator: Indicator, *, replace: bool = False) -> Indicator:
        """Add an indicator. A plugin may not silently shadow a built-in: pass replace=True."""
        if indicator.name != indicator.name.lower() or not indicator.name.isidentifier():
            raise ValueError(f"indicator name {indicator.name!r} must be a lower-case identifier")
        bad = [i for i in indicator.inputs if i not in INPUTS]
        if bad:
            raise ValueError(f"indicator {indicator.name!r}: unknown inputs {bad} "
                             f"(inputs are {', '.join(INPUTS)})")
        if not indicator.outputs:
            raise ValueError(f"indicator {indicator.name!r} has no outputs")
        with self._lock:
            if indicator.name in self._items and not replace:
                raise ValueError(f"indicator {indicator.name!r} is already registered "
                                 f"({self._items[indicator.name].source})")
            self._items[indicator.name] = indicator
        return indicator

    def get(self, name: str) -> Indicator:
        self._ensure()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownIndicator(name) from None

    def __contains__(self, name: str) -> bool:
        self._ensure()
        return name in self._items

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._items)

    def describe(self) -> list[dict]:
        return [self.get(n).describe() for n in self.names()]
