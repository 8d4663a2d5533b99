"""Check an expression against the registry and the strategy's names, and compile it into
program steps. Nothing here evaluates user text: names resolve to registry entries, language
built-ins, candle fields, parameters or other named indicators, and nothing else exists.

Named indicators are expanded where they are used, in the timeframe of the use: `fast @ 4h`
computes `fast`'s definition on 4h candles. Identical sub-expressions share one step.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from botfleet.config.problems import did_you_mean
from botfleet.data.candles import TimeframeError, timeframe_ms
from botfleet.indicators import Indicator, Registry, UnknownIndicator
from botfleet.strategy import syntax as S
from botfleet.strategy.builtins import BUILTINS, FIELDS, Builtin, field
from botfleet.strategy.errors import ExprError
from botfleet.strategy.models import MODEL_FUNCS, ModelUse, compile_model_call
from botfleet.strategy.program import BASE, Program, join, tf_ratio
from botfleet.strategy.regime import class_code


@dataclass(frozen=True)
class Val:
    kind: str  # "series", "const" or "multi" (an indicator call with several outputs)
    dtype: str  # "float", "bool" or "str" (constants only)
    slot: int = -1
    const: Any = None
    warmup: int = 0  # bars of its own timeframe before it is valid
    key: tuple = ()  # structural identity, for sharing steps
    indicator: Indicator | None = None


class Failed(Exception):
    """A named indicator this expression uses is broken; that one reports the error."""


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "!=": operator.ne}


class Compiler:
    def __init__(self, registry: Registry, base_tf: str, params: dict[str, Any],
                 indicators: dict[str, str], models: dict | None = None,
                 standalone: bool = False):
        self.registry = registry
        self.models = models  # name -> config.ml.ModelSpec of the fleet; None: no fleet
        self.standalone = standalone  # no bot uses it: its timeframe is a stand-in
        self.model_uses: dict[tuple[str, str], ModelUse] = {}
        self.program = Program(base_tf)
        self.params = params
        self.sources = indicators
        self.parsed: dict[str, S.Node | ExprError] = {}
        self.expanded: dict[tuple[str, str], Val] = {}
        self.stack: list[str] = []
        self.shared: dict[tuple, int] = {}
        self.errors: dict[str, ExprError] = {}  # by indicator name
        self.tf = BASE

    # -- entry points -------------------------------------------------------------------

    def compile(self, text: str) -> Val:
        """Compile a whole expression (raises ExprError located in `text`, or Failed)."""
        try:
            return self.node(S.parse(text))
        except RecursionError:
            raise ExprError("expression is too long a chain of operations", 0, len(text),
                            "split it into named indicators") from None

    def indicator(self, name: str) -> Val:
        """Compile the named indicator at the base timeframe (raises ExprError or Failed)."""
        return self._named(name, None)

    # -- nodes --------------------------------------------------------------------------

    def node(self, n: S.Node) -> Val:
        if isinstance(n, S.Num):
            return Val("const", "float", const=n.value)
        if isinstance(n, S.Bool):
            return Val("const", "bool", const=n.value)
        if isinstance(n, S.Str):
            return Val("const", "str", const=n.value)
        if isinstance(n, S.Name):
            return self.name(n)
        if isinstance(n, S.Call):
            return self.call(n)
        if isinstance(n, S.Attr):
            return self.attr(n)
        if isinstance(n, S.Unary):
            return self.unary(n)
        if isinstance(n, S.Binary):
            return self.binary(n)
        if isinstance(n, S.At):
            return self.at(n)
        raise ExprError("unsupported expression", n.start, n.end)  # pragma: no cover

    def name(self, n: S.Name) -> Val:
        if n.name in self.params:
            value = self.params[n.name]
            dtype = "bool" if isinstance(value, bool) else "str" if isinstance(value, str) \
                else "float"
            return Val("const", dtype, const=value)
        if n.name in self.sources:
            return self._named(n.name, n)
        if n.name in FIELDS:
            return self.field(n.name)
        if (code := class_code(n.name)) is not None:  # regime(m) == TREND: strategy.regime
            return Val("const", "float", const=code)
        if n.name in BUILTINS or n.name in self.registry:
            raise ExprError(f"'{n.name}' is a function: call it, as in {n.name}(…)", n.start,
                            n.end)
        raise self.unknown(n.name, n.start, n.end, "name")

    def _tf_ms(self) -> int:
        tf = self.tf or self.program.base_tf
        return 31 * 86_400_000 * int(tf[:-1]) if tf.endswith("M") else timeframe_ms(tf)

    def field(self, name: str) -> Val:
        return self.step(("field", name), "float", 0,
                         lambda slots, data, f=name, tf=self.tf: field(data[tf], f))

    def unknown(self, word: str, start: int, end: int, what: str) -> ExprError:
        if what == "function" and word in FIELDS:
            return ExprError(f"'{word}' is a candle field, not a function", start, end,
                             f"use it without ( ); shift({word}, n) reads earlier bars")
        if what == "function" and word in self.sources:
            return ExprError(f"'{word}' is a named indicator, not a function: use it without "
                             "( )", start, end)
        if what == "function" and word in self.params:
            return ExprError(f"'{word}' is a parameter, not a function", start, end)
        pool = [*self.params, *self.sources, *FIELDS]
        if what == "function":
            pool = [*BUILTINS, *MODEL_FUNCS, *self.registry.names()]
        hint = did_you_mean(word, pool)
        if hint is None and what == "name":
            hint = "names are parameters, indicators, and " + ", ".join(FIELDS)
        return ExprError(f"unknown {'indicator or function' if what == 'function' else 'name'}"
                         f" '{word}'", start, end, hint)

    def _named(self, name: str, at: S.Name | None) -> Val:
        key = (name, self.tf)
        if key in self.expanded:
            return self.expanded[key]
        if name in self.stack:
            cycle = " -> ".join([*self.stack[self.stack.index(name):], name])
            raise ExprError(f"indicator '{name}' depends on itself ({cycle})",
                            at.start if at else 0, at.end if at else 1)
        if name in self.errors:
            raise Failed(name)
        tree = self.parsed.get(name)
        if tree is None:
            text = self.sources[name]
            try:
                tree = S.parse(text)
            except ExprError as exc:
                tree = exc
            except RecursionError:
                tree = ExprError("expression is too long a chain of operations", 0, len(text),
                                 "split it into named indicators")
            self.parsed[name] = tree
        if isinstance(tree, ExprError):
            self.errors[name] = tree
            raise Failed(name)
        self.stack.append(name)
        try:
            try:
                val = self.node(tree)
            except RecursionError:
                raise ExprError("expression is too long a chain of operations", 0,
                                len(self.sources[name]), "split it into named indicators"
                                ) from None
        except ExprError as exc:
            if self.tf != BASE and at is not None:
                # the indicator is fine on its own; it is this use '@ tf' that cannot work
                raise ExprError(f"'{name}' cannot be computed @ {self.tf}: {exc.message}",
                                at.start, at.end, exc.hint) from None
            self.errors.setdefault(name, exc)  # reported once, at the indicator's own text
            raise Failed(name) from exc
        finally:
            self.stack.pop()
        self.expanded[key] = val
        return val

    def step(self, key: tuple, dtype: str, warmup: int, run, kind: str = "series",
             indicator: Indicator | None = None) -> Val:
        key = (self.tf, *key)
        if key not in self.shared:
            self.shared[key] = self.program.add(run, self.tf, repr(key[:3]), key=key)
        return Val(kind, dtype, self.shared[key], warmup=warmup, key=key, indicator=indicator)

    # -- operators ----------------------------------------------------------------------

    def unary(self, n: S.Unary) -> Val:
        v = self.node(n.operand)
        if n.op == "not":
            self.expect_bool(v, n.operand, "'not'")
            if v.kind == "const":
                return Val("const", "bool", const=not v.const)
            return self.step(("not", v.key), "bool", v.warmup,
                             lambda s, d, i=v.slot: ~s[i])
        self.expect_number(v, n.operand, "'-'")
        if v.kind == "const":
            return Val("const", "float", const=-v.const)
        return self.step(("neg", v.key), "float", v.warmup, lambda s, d, i=v.slot: -s[i])

    def binary(self, n: S.Binary) -> Val:
        a, b = self.node(n.left), self.node(n.right)
        if n.op in ("and", "or"):
            self.expect_bool(a, n.left, f"'{n.op}'")
            self.expect_bool(b, n.right, f"'{n.op}'")
            fn = np.logical_and if n.op == "and" else np.logical_or
            dtype = "bool"
        elif n.op in _CMP:
            if "str" in (a.dtype, b.dtype):
                if a.kind != "const" or b.kind != "const" or n.op not in ("==", "!="):
                    bad = n.left if a.dtype != "str" else n.right
                    raise ExprError("text can only be compared (== or !=) with text", bad.start,
                                    bad.end)
            else:
                self.expect_number(a, n.left, f"'{n.op}'")
                self.expect_number(b, n.right, f"'{n.op}'")
            fn, dtype = _CMP[n.op], "bool"
        else:
            self.expect_number(a, n.left, f"'{n.op}'")
            self.expect_number(b, n.right, f"'{n.op}'")
            fn, dtype = _ARITH[n.op], "float"
        if a.kind == "const" and b.kind == "const":
            if n.op == "/" and b.const == 0:
                raise ExprError("division by zero", n.right.start, n.right.end)
            try:
                value = fn(a.const, b.const)
            except (OverflowError, ValueError, ZeroDivisionError) as exc:
                raise ExprError(f"cannot compute {n.op} on these numbers: {exc}", n.start,
                                n.end) from None
            if isinstance(value, float) and not math.isfinite(value):
                raise ExprError("this arithmetic overflows", n.start, n.end)
            return Val("const", dtype, const=value)
        ia, ib = a.slot, b.slot
        ca, cb = a.const, b.const

        def run(s, d):
            return fn(s[ia] if ia >= 0 else ca, s[ib] if ib >= 0 else cb)
        return self.step((n.op, a.key or ("c", ca), b.key or ("c", cb)), dtype,
                         max(a.warmup, b.warmup), run)

    def expect_bool(self, v: Val, n: S.Node, what: str) -> None:
        if v.kind == "multi":
            raise self.multi(v, n)
        if v.dtype != "bool":
            raise ExprError(f"{what} needs a condition (true/false), not a number", n.start,
                            n.end, "compare it, as in x > 0")

    def expect_number(self, v: Val, n: S.Node, what: str) -> None:
        if v.kind == "multi":
            raise self.multi(v, n)
        if v.dtype != "float":
            word = "a condition" if v.dtype == "bool" else "text"
            raise ExprError(f"{what} needs a number, not {word}", n.start, n.end)

    def multi(self, v: Val, n: S.Node) -> ExprError:
        outs = ", ".join("." + o for o in v.indicator.outputs)
        return ExprError(f"{v.indicator.name} has {len(v.indicator.outputs)} outputs; pick one",
                         n.start, n.end, f"add one of {outs}")

    def at(self, n: S.At) -> Val:
        if self.tf != BASE:
            raise ExprError("'@' inside another '@' expression", n.tf_start, n.end)
        base_tf = self.program.base_tf
        try:
            tf_len = timeframe_ms(n.timeframe) if not n.timeframe.endswith("M") else None
        except TimeframeError:
            raise ExprError(f"'{n.timeframe}' is not a timeframe", n.tf_start, n.end) from None
        count = int(n.timeframe[:-1])
        if count == 0 or (tf_len or count * 31 * 86_400_000) > 10 * 366 * 86_400_000:
            raise ExprError(f"'{n.timeframe}' is not a usable timeframe", n.tf_start, n.end,
                            "from the bot's timeframe up to 10 years, e.g. 4h, 1d, 1w, 1M")
        base_len = timeframe_ms(base_tf)
        if tf_len is not None and (tf_len < base_len or tf_len % base_len):
            rel = "shorter than" if tf_len < base_len else "not a whole multiple of"
            raise ExprError(f"{n.timeframe} is {rel} the bot's timeframe {base_tf}", n.tf_start,
                            n.end, "'@' reads a higher timeframe built from the bot's candles")
        if tf_len == base_len:
            return self.node(n.expr)
        self.tf = n.timeframe
        try:
            inner = self.node(n.expr)
        finally:
            self.tf = BASE
        if inner.kind == "multi":
            raise self.multi(inner, n.expr)
        if inner.kind == "const":
            return inner
        warm = (inner.warmup + 2) * tf_ratio(n.timeframe, base_tf) - 1
        tf, slot = n.timeframe, inner.slot
        return self.step(("at", tf, inner.key), inner.dtype, warm,
                         lambda s, d: join(s[slot], d[tf], tf, d[BASE], base_tf))

    # -- calls --------------------------------------------------------------------------

    def call(self, n: S.Call) -> Val:
        if n.name in MODEL_FUNCS:
            return self.model_call(n)
        if n.name in BUILTINS:
            return self.builtin(BUILTINS[n.name], n)
        try:
            ind = self.registry.get(n.name)
        except UnknownIndicator:
            raise self.unknown(n.name, n.start, n.name_end, "function") from None
        return self.call_indicator(ind, n)

    def attr(self, n: S.Attr) -> Val:
        v = self.node(n.target)
        if v.indicator is None:
            raise ExprError(f"'.{n.attr}': only an indicator's outputs can be picked",
                            n.attr_start - 1, n.end)
        ind = v.indicator
        out = ind.output(n.attr)
        if out is None:
            hint = did_you_mean(n.attr, [*ind.outputs, *ind.aliases]) or \
                f"its outputs are {', '.join(ind.outputs)}"
            raise ExprError(f"{ind.name} has no output '{n.attr}'", n.attr_start, n.end, hint)
        if v.kind != "multi":
            return v  # a single-output indicator named by its output
        return self.attr_of(v, out)

    def attr_of(self, v: Val, output: str) -> Val:
        """One output of a multi-output value, by canonical name."""
        k = v.indicator.outputs.index(output)
        return self.step(("pick", v.key, k), "float", v.warmup,
                         lambda s, d, i=v.slot, k=k: s[i][k])

    def _args(self, n: S.Call, names: list[str]) -> dict[str, tuple[S.Node, Val]]:
        """Bind positional and named arguments to `names` (in order)."""
        if len(n.args) > len(names):
            extra = n.args[len(names)]
            raise ExprError(f"{n.name}() takes at most {len(names)} arguments", extra.start,
                            n.args[-1].end, "arguments: " + ", ".join(names))
        bound = {names[i]: (a, self.node(a)) for i, a in enumerate(n.args)}
        for key, value, start in n.kwargs:
            if key not in names:
                hint = did_you_mean(key, names) or "arguments: " + ", ".join(names)
                raise ExprError(f"{n.name}() has no argument '{key}'", start, start + len(key),
                                hint)
            if key in bound:
                raise ExprError(f"argument '{key}' of {n.name}() given twice", start,
                                start + len(key))
            bound[key] = (value, self.node(value))
        return bound

    def builtin(self, fn: Builtin, n: S.Call) -> Val:
        names = [a for a, _ in fn.args]
        bound = self._args(n, names)
        slots, consts, warms, keys, dtype = [], {}, [], [], fn.result
        for name, kind in fn.args:
            if name not in bound:
                if name in fn.defaults:
                    consts[name] = fn.defaults[name]
                    continue
                raise ExprError(f"{n.name}() needs its argument '{name}'", n.start, n.end,
                                f"{n.name}({', '.join(names)})")
            node, v = bound[name]
            if kind in ("period", "lag", "number"):
                consts[name] = self.constant(v, node, name, kind)
                keys.append(("c", consts[name]))
                continue
            if kind == "cond":
                self.expect_bool(v, node, f"{n.name}()")
            elif kind == "num":
                self.expect_number(v, node, f"{n.name}()")
            elif v.kind == "multi":
                raise self.multi(v, node)
            if kind == "series" and fn.result == "same":
                dtype = v.dtype if v.dtype != "str" else "float"
            slots.append((name, v))
            warms.append(v.warmup)
            keys.append(v.key or ("c", v.const))
        if all(v.kind == "const" for _, v in slots) and slots:
            raise ExprError(f"{n.name}() needs a series, not only constants", n.start, n.end)
        warm = fn.warmup(warms, consts)
        arg_slots = [(name, v.slot) for name, v in slots if v.kind != "const"]
        consts |= {name: v.const for name, v in slots if v.kind == "const"}
        run_fn = fn.run

        def run(s, d):
            return run_fn(**{name: s[i] for name, i in arg_slots}, **consts)
        return self.step((n.name, *keys), dtype, warm, run)

    def constant(self, v: Val, node: S.Node, name: str, kind: str) -> Any:
        if v.kind != "const" or v.dtype != "float":
            raise ExprError(f"'{name}' must be a number known before the run, not a series",
                            node.start, node.end, "use a number or a parameter")
        if not math.isfinite(float(v.const)):
            raise ExprError(f"'{name}' must be a finite number", node.start, node.end)
        if kind == "number":
            return float(v.const)
        if float(v.const) != int(v.const):
            raise ExprError(f"'{name}' must be a whole number, not {v.const}", node.start,
                            node.end)
        low = 1 if kind == "period" else 0
        if int(v.const) < low:
            why = " (a negative shift would read the future)" if kind == "lag" else ""
            raise ExprError(f"'{name}' must be at least {low}, not {int(v.const)}{why}",
                            node.start, node.end)
        return int(v.const)

    def call_indicator(self, ind: Indicator, n: S.Call) -> Val:
        series_args = []
        for a in n.args:
            v = self.node(a)
            if v.kind == "const":
                break
            series_args.append((a, v))
        if series_args and len(series_args) != len(ind.inputs):
            a = series_args[-1][0]
            raise ExprError(f"{ind.name}() takes {len(ind.inputs)} series "
                            f"({', '.join(ind.inputs)}) before its parameters, not "
                            f"{len(series_args)}", n.args[0].start, a.end,
                            "or give no series to use " + ", ".join(ind.inputs))
        inputs = []
        for name, (node, v) in zip(ind.inputs, series_args, strict=False):
            if v.kind == "multi":
                raise self.multi(v, node)
            if v.dtype != "float" and name != "ts":
                raise ExprError(f"{ind.name}() needs numbers as {name}, not a condition",
                                node.start, node.end)
            inputs.append(v)
        if not series_args:
            inputs = [self.field(i) for i in ind.inputs]
        rest = S.Call(n.start, n.end, n.name, n.name_end, n.args[len(series_args):], n.kwargs)
        pnames = [p.name for p in ind.params]
        bound = self._args(rest, pnames) if (rest.args or rest.kwargs) else {}
        params = {}
        for p in ind.params:
            if p.name not in bound:
                params[p.name] = p.coerce(p.default)
                continue
            node, v = bound[p.name]
            if v.kind != "const" or v.dtype == "bool":
                raise ExprError(f"{ind.name}() parameter '{p.name}' must be a value known "
                                "before the run, not a series", node.start, node.end,
                                "use a number or a parameter")
            value = v.const
            problem = p.check(value)
            if problem:
                raise ExprError(f"{ind.name}(): {problem}", node.start, node.end,
                                p.help or None)
            params[p.name] = p.coerce(value)
        warm = max((v.warmup for v in inputs), default=0) + ind.warmup(params)
        if ind.calendar_warmup is not None:
            warm += ind.calendar_warmup(params, self._tf_ms())
        slots = [v.slot for v in inputs]
        compute = ind.compute
        multi = len(ind.outputs) > 1

        def run(s, d):
            out = compute(*(s[i] for i in slots), **params)
            return out if multi else out[0]
        return self.step((ind.name, *(v.key for v in inputs), tuple(sorted(params.items()))),
                         "float", warm, run, kind="multi" if multi else "series", indicator=ind)

    # -- models -------------------------------------------------------------------------

    def model_call(self, n: S.Call) -> Val:
        """`proba(m)` / `predict(m)`: checked against the fleet's models (strategy.models)."""
        return compile_model_call(self, n)
