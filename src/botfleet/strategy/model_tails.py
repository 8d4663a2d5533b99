"""How many of a model series' newest bars a strategy's newest signals read.

Why: the live path (`CompiledStrategy.latest`) acts on the last bar only, yet runs the whole
program on a window of warm-up length. Computing the model's prediction on every bar of that
window (hundreds of feature rows per bot) is what made a `proba()` strategy cost ~8 ms a bot.
`proba(m) > x` reads one bar of the model series, `crosses_above(proba(m), x)` two,
`mean(proba(m), 5)` five; only those need a prediction. The count is derived from the compiled
expression tree (`Val.key`, the compiler's structural identity of each step): element-wise
operations keep the count, lags and crossings add to it, rolling windows add their length.
Anything else that reads a model (an indicator over it, a join across timeframes, a built-in
this table does not know) reads the whole series: `None`, every bar after the model's warm-up,
which is always correct.

Inside `newest_reads(strategy)` a model step asks its source for just those bars
(`series(use, candles, newest=k)`); the bars before may hold any value (the sources repeat the
oldest computed one), since by construction nothing the newest signals read depends on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from botfleet.strategy.builtins import BUILTINS

_ELEMENTWISE = {"not", "neg", "pick", "and", "or", "<", "<=", ">", ">=", "==", "!=",
                "+", "-", "*", "/"}
_SAME = {"maximum", "minimum", "abs", "if_else", "nz"}
_PLUS_N = {"shift", "change", "pct_change", "rising", "falling", "bars_since"}
_PLUS_N_MINUS_1 = {"highest", "lowest", "mean", "std"}
_PLUS_1 = {"crosses_above", "crosses_below"}
ALL = None  # every bar after the model's warm-up

_NEWEST: ContextVar[dict | None] = ContextVar("botfleet_newest_model_bars", default=None)


def _is_model(key) -> bool:
    return isinstance(key, tuple) and len(key) == 5 and key[1] == "model"


def _is_const(item) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and item[0] == "c"


def _models_in(key) -> set[tuple[str, str]]:
    """Every (model, function) anywhere under `key`."""
    if _is_model(key):
        return {(key[3], key[2])}
    if not isinstance(key, tuple):
        return set()
    out: set = set()
    for item in key:
        out |= _models_in(item)
    return out


def _merge(into: dict, other: dict, add: int = 0) -> None:
    for use, k in other.items():
        k = ALL if k is ALL else k + add
        have = into.get(use, 0)
        into[use] = ALL if (k is ALL or have is ALL) else max(have, k)


def _builtin(key: tuple, memo: dict) -> dict | None:
    """Needs of a built-in's series arguments, shifted by what the built-in looks back; None
    when its key cannot be read back into arguments (then: the whole series)."""
    fn = BUILTINS[key[1]]
    items = key[2:]
    if len(items) > len(fn.args) or any(a not in fn.defaults for a, _ in fn.args[len(items):]):
        return None
    consts = dict(fn.defaults)
    inner: dict = {}
    for (name, kind), item in zip(fn.args, items, strict=False):
        if kind in ("period", "lag", "number"):
            if not _is_const(item):
                return None
            consts[name] = item[1]
        elif not _is_const(item):
            _merge(inner, needs(item, memo))
    op = key[1]
    if op in _SAME:
        add = 0
    elif op in _PLUS_1:
        add = 1
    elif op in _PLUS_N:
        add = int(consts["n"])
    elif op in _PLUS_N_MINUS_1:
        add = int(consts["n"]) - 1
    else:
        return None
    out: dict = {}
    _merge(out, inner, add)
    return out


def needs(key, memo: dict | None = None) -> dict:
    """(model, function) -> newest bars of its series the newest value of `key` reads
    (`ALL`: the whole series); models it does not read are absent."""
    memo = {} if memo is None else memo
    if not isinstance(key, tuple) or _is_const(key) or len(key) < 2:
        return {}
    if key in memo:
        return memo[key]
    if _is_model(key):
        out = {(key[3], key[2]): 1}
    elif key[1] == "field":
        out = {}
    elif key[1] in _ELEMENTWISE:
        out = {}
        for child in key[2:]:
            _merge(out, needs(child, memo))
    else:
        got = _builtin(key, memo) if key[1] in BUILTINS else None
        out = got if got is not None else dict.fromkeys(_models_in(key), ALL)
    memo[key] = out
    return out


def model_tails(strategy) -> dict[tuple[str, str], int | None]:
    """(model, function) -> bars of its series that the strategy's newest signals read (its
    rules and filters; the stop series read candles only); computed once per strategy."""
    have = strategy.__dict__.get("_model_tails")
    if have is not None:
        return have
    out: dict = {}
    memo: dict = {}
    vals = [*strategy.rules.values(), *strategy.filter_vals, *strategy.stop_series.values()]
    for v in vals:
        if v is not None:
            _merge(out, needs(v.key, memo))
    strategy.__dict__["_model_tails"] = out
    return out


@contextmanager
def newest_reads(strategy) -> Iterator[None]:
    """Model reads inside the block compute only the bars `strategy`'s newest signals read."""
    tails = model_tails(strategy) if getattr(strategy, "model_uses", None) else None
    token = _NEWEST.set(tails)
    try:
        yield
    finally:
        _NEWEST.reset(token)


def read_series(source, use, candles):
    """A model step's values from `source`: only the newest bars inside `newest_reads`."""
    tails = _NEWEST.get()
    if tails is not None and (use.name, use.what) not in tails:  # a chart series only
        return np.full(len(candles), np.nan)
    k = tails.get((use.name, use.what), ALL) if tails is not None else ALL
    if k is ALL:
        return source.series(use, candles)
    return source.series(use, candles, newest=k)
