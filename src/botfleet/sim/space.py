"""The search space of an optimisation: which strategy parameters vary, over which values.

Built from the parameters a strategy declares (`range` + `step`, or `choices`, as in YAML),
narrowed to the bot's `optimize.parameters` and overridden from the command line. The same
space serves the grid (every combination, in a fixed order) and Optuna (one distribution per
parameter), so a grid and a TPE study of one bot search exactly the same values.

Why values are computed in Decimal: `0.1 + 0.1 + 0.1` is not `0.3` in floats, and a grid that
offers 0.30000000000000004 would neither match the YAML nor round-trip through storage.
Integer ranges with integer steps stay ints: a period of 20.0 is not a period TA-Lib accepts.

Constraints between parameters (fast < slow) are not declared anywhere, so they are not known
here: the optimiser compiles each combination and skips, and counts, those that fail.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_GRID = 20_000  # combinations a grid may have before we ask for a sampler instead


class SpaceError(ValueError):
    """The search space cannot be built as asked (the message says what to change)."""


def _num(value: Any) -> Any:
    """YAML numbers arrive as int, float or Decimal; Decimal becomes int when whole."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Dimension:
    """One varying parameter: an int or float range with an optional step, or choices."""

    name: str
    kind: str  # "int", "float" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: tuple = ()

    def values(self) -> list:
        """The grid's values of this parameter, low to high (choices in declared order)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.step is None:
            raise SpaceError(f"parameter '{self.name}': a float range needs a `step` for a "
                             "grid (or use --method tpe, which samples it continuously)")
        lo, hi, step = (Decimal(str(x)) for x in (self.low, self.high, self.step))
        count = int((hi - lo) / step) + 1
        out = [lo + i * step for i in range(count)]
        return [int(v) for v in out] if self.kind == "int" else [float(v) for v in out]

    def distribution(self):
        """Optuna's distribution for this parameter (the grid's top value as its high, so a
        sampler never proposes a value the grid would not)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            vals = self.values()
            return IntDistribution(vals[0], vals[-1], step=int(self.step))
        if self.step is None:
            return FloatDistribution(float(self.low), float(self.high))
        vals = self.values()
        return FloatDistribution(vals[0], vals[-1], step=float(self.step))

    @property
    def size(self) -> int:
        return len(self.values()) if (self.kind != "float" or self.step is not None) \
            else math.inf


@dataclass
class Space:
    """The varying dimensions plus the parameters held fixed (their bot/default values)."""

    dims: list[Dimension]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    @property
    def size(self) -> float:
        return math.prod(d.size for d in self.dims) if self.dims else 1

    def grid(self, max_size: int = MAX_GRID) -> list[dict[str, Any]]:
        """Every combination, the first parameter varying slowest."""
        for d in self.dims:
            if d.kind == "float" and d.step is None:
                d.values()  # raises: a continuous range has no grid
        size = self.size
        if size > max_size:
            shape = " x ".join(f"{d.size} {d.name}" for d in self.dims)
            raise SpaceError(f"the grid has {size:,} combinations ({shape}), more than "
                             f"{max_size:,}: use --method tpe with --trials, coarser steps "
                             "(--param-range name=lo:hi:step) or fewer parameters")
        return [dict(zip(self.names, combo, strict=True))
                for combo in itertools.product(*(d.values() for d in self.dims))]

    def distributions(self) -> dict:
        return {d.name: d.distribution() for d in self.dims}

    def describe(self) -> list[str]:
        out = []
        for d in self.dims:
            if d.kind == "choice":
                out.append(f"{d.name} in {list(d.choices)}")
            else:
                step = f" step {d.step}" if d.step is not None else " (continuous)"
                out.append(f"{d.name} {d.low}..{d.high}{step}")
        return out


def dimension(name: str, spec: dict) -> Dimension:
    """A declared parameter (`{default, range: [lo, hi], step, choices}`) as a dimension."""
    choices = spec.get("choices")
    if choices:
        return Dimension(name, "choice", choices=tuple(_num(c) for c in choices))
    rng = spec.get("range")
    if not rng:
        raise SpaceError(f"parameter '{name}' has neither a range nor choices, so it cannot "
                         f"vary; declare `range: [lo, hi]` (and `step`) or `choices`, or "
                         f"give --param-range {name}=lo:hi:step")
    lo, hi = _num(rng[0]), _num(rng[1])
    step = _num(spec.get("step")) if spec.get("step") is not None else None
    if lo > hi:
        raise SpaceError(f"parameter '{name}': range [{lo}, {hi}] is empty (low > high)")
    if step is not None and step <= 0:
        raise SpaceError(f"parameter '{name}': step must be positive, not {step}")
    whole = _is_int(lo) and _is_int(hi) and (step is None or _is_int(step))
    if whole and isinstance(_num(spec.get("default", lo)), float):
        whole = False  # a float default says the parameter is a float
    if whole:
        return Dimension(name, "int", lo, hi, step or 1)
    return Dimension(name, "float", float(lo), float(hi),
                     float(step) if step is not None else None)


def parse_range(text: str) -> tuple[str, dict]:
    """`name=lo:hi[:step]` or `name=a,b,c` (choices) from --param-range."""
    import yaml

    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise SpaceError(f"--param-range {text!r}: write name=lo:hi:step or name=a,b,c")

    def value(s: str) -> Any:
        v = yaml.safe_load(s.strip())
        if v is None:
            raise SpaceError(f"--param-range {text!r}: empty value")
        return v

    if "," in rest:
        return name, {"choices": [value(s) for s in rest.split(",")]}
    parts = rest.split(":")
    if len(parts) not in (2, 3):
        raise SpaceError(f"--param-range {text!r}: write name=lo:hi or name=lo:hi:step")
    nums = [value(p) for p in parts]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in nums):
        raise SpaceError(f"--param-range {text!r}: lo, hi and step must be numbers")
    spec = {"range": nums[:2]}
    if len(nums) == 3:
        spec["step"] = nums[2]
    return name, spec


def build_space(declared: dict[str, dict], *, only: list[str] | None = None,
                overrides: dict[str, dict] | None = None,
                values: dict[str, Any] | None = None) -> Space:
    """The space: parameters named in `only` (default: every parameter with a range or
    choices, plus those given a range in `overrides`), each overridden spec replacing the
    declared one; `values` (the bot's parameters) fix the others."""
    declared = {k: dict(v or {}) for k, v in (declared or {}).items()}
    overrides = overrides or {}
    unknown = [n for n in [*(only or []), *overrides] if n not in declared]
    if unknown:
        known = ", ".join(declared) or "none"
        raise SpaceError(f"unknown parameter(s) {', '.join(sorted(set(unknown)))}; the "
                         f"strategy declares: {known}")
    specs = {}
    for name, spec in declared.items():
        ov = overrides.get(name, {})
        if "range" in ov:
            spec = {k: v for k, v in spec.items() if k not in ("choices", "step")}
        if "choices" in ov:
            spec = {k: v for k, v in spec.items() if k not in ("range", "step")}
        specs[name] = {**spec, **ov}
    if only is None:
        names = [n for n, s in specs.items() if s.get("range") or s.get("choices")]
    else:
        names = list(dict.fromkeys([*only, *overrides]))
    if not names:
        raise SpaceError("no parameter can vary: the strategy declares no `range` or "
                         "`choices`; give --param-range name=lo:hi:step")
    dims = [dimension(n, specs[n]) for n in names]
    base = {n: _num(s.get("default")) for n, s in declared.items()}
    base.update({k: _num(v) for k, v in (values or {}).items() if k in declared})
    fixed = {n: v for n, v in base.items() if n not in names}
    return Space(dims, fixed)
