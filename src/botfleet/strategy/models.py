"""Model series in the expression language: `proba(m)`, `predict(m)` and `regime(m)`.

Why a source object rather than a call into `ml/` at compile time: the same compiled strategy
must read a model differently by clock. A backtest needs point-in-time values (each bar served
by a model trained only on earlier data, walk-forward); a live or paper bot needs the promoted
version of the registry, reloaded when promotion changes. The compiler only checks the call
(the model exists in the fleet, reads the bot's timeframe, the function suits its label) and
records a `ModelUse`; which source answers is the caller's choice:

- `CompiledStrategy.use_models(source)` pins one (the runtime pins the promoted source);
- else `with model_source(source):` around the run;
- else the point-in-time source of `botfleet.ml.strategy_source` (backtests), trained on the
  candles the strategy is run on (or on the fleet's candle store when the fleet compiled it).

A source returns one float per candle, NaN where no model may answer (before the first trained
walk-forward window; no promoted version): a comparison with NaN is false, so no entry fires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from botfleet.config.problems import did_you_mean
from botfleet.strategy import syntax as S
from botfleet.strategy.builtins import FIELDS
from botfleet.strategy.errors import ExprError
from botfleet.strategy.model_tails import read_series
from botfleet.strategy.program import BASE

# function name -> what it returns
MODEL_FUNCS = {
    "proba": "the probability of the model's positive class (a direction or triple-barrier "
             "label) at each bar; proba(m, 'TREND') a regime model's probability of that class "
             "(RANGE, TREND or HIGH_VOL)",
    "predict": "the model's prediction at each bar: P(up) for a classifier, the predicted log "
               "return for a `return` label",
    "regime": "the regime a `regime` model predicts at each bar: RANGE (0), TREND (1) or "
              "HIGH_VOL (2), compared as regime(m) == TREND (strategy.regime)",
}


@dataclass(frozen=True)
class ModelUse:
    name: str  # the model's name in the fleet
    what: str  # "proba", "predict", "regime", or "proba:TREND" (a regime class's probability)
    spec: Any  # botfleet.config.ml.ModelSpec
    warmup: int  # bars before the model's features are all valid (and settled)

    @property
    def klass(self) -> int | None:
        """The regime class whose probability the series is (its column in the model's class
        probabilities), None for the model's one-number output."""
        from botfleet.config.ml import REGIME_CLASSES

        _, _, name = self.what.partition(":")
        return REGIME_CLASSES[name] if name else None


class ModelSource(Protocol):
    def series(self, use: ModelUse, candles: np.ndarray, newest: int | None = None
               ) -> np.ndarray:
        """One float per candle; NaN where no model may answer. `newest`: only that many
        newest bars are read (`strategy.model_tails`); a source may fill the others freely."""

    def notes(self) -> list[str]:
        """What the source had to say since last asked (e.g. "no promoted version")."""


_SOURCE: ContextVar[ModelSource | None] = ContextVar("botfleet_model_source", default=None)
_DEFAULT: list[ModelSource] = []


@contextmanager
def model_source(source: ModelSource) -> Iterator[ModelSource]:
    """Answer model calls of every strategy run inside the block from `source` (unless a
    strategy pinned its own)."""
    token = _SOURCE.set(source)
    try:
        yield source
    finally:
        _SOURCE.reset(token)


def resolve(pinned: ModelSource | None) -> ModelSource:
    if pinned is not None:
        return pinned
    ctx = _SOURCE.get()
    if ctx is not None:
        return ctx
    if not _DEFAULT:
        from botfleet.ml.strategy_source import PitModels  # heavy: only when a model is read

        _DEFAULT.append(PitModels())
    return _DEFAULT[0]


def model_warmup(spec) -> int:
    """Bars a model's newest prediction needs behind it: the inference tail of `ml.predict`
    (indicators on twice their warm-up), so a live window of the strategy's warm-up is long
    enough for the promoted model to see settled features."""
    from botfleet.ml.features import latest_plan
    from botfleet.ml.predict import SETTLE

    return max(need for need, _ in latest_plan(spec, settle=SETTLE))


def text_argument(c, arg: S.Node) -> str | None:
    """What a model's name or a regime class may be written as: a bare name that is not a
    parameter, a source or a field (`proba(eth-direction)` reads naturally), or a text
    constant; None for anything else."""
    if isinstance(arg, S.Name) and not (arg.name in c.params or arg.name in c.sources
                                        or arg.name in FIELDS):
        return arg.name
    v = c.node(arg)
    return v.const if v.kind == "const" and v.dtype == "str" else None


def compile_model_call(c, n: S.Call):
    """`proba(m)` / `predict(m)` / `regime(m)` / `proba(m, 'TREND')` for the compiler `c`:
    checked here against the fleet's models; the values come from the program's model source
    at run time."""
    what = n.name
    if what == "proba" and len(n.args) == 2 and not n.kwargs:
        from botfleet.strategy.regime import class_argument

        klass = class_argument(c, n.args[1])
    elif len(n.args) != 1 or n.kwargs:
        raise ExprError(f"{what}() takes one argument: a model's name", n.start, n.end,
                        f"e.g. {what}('eth-direction')" + (
                            ", or proba('market-regime', 'TREND') for a regime class"
                            if what == "proba" else ""))
    else:
        klass = None
    arg = n.args[0]
    name = text_argument(c, arg)
    if name is None:
        raise ExprError(f"{what}() needs a model's name (text), not a series or number",
                        arg.start, arg.end, f"e.g. {what}('eth-direction')")
    if c.tf != BASE:
        raise ExprError(f"{what}() reads the model on the bot's own timeframe; it cannot be "
                        "computed '@' another one", n.start, n.end,
                        "declare a model on that timeframe instead")
    if c.models is None:
        raise ExprError(f"{what}({name!r}) reads a model declared in a fleet, and this "
                        "strategy was compiled without one", n.start, n.end,
                        "check it through the fleet: botfleet validate")
    spec = c.models.get(name)
    if spec is None:
        known = ", ".join(sorted(c.models)) or "none (add 'models: [models.d/*.yaml]' " \
            "to the fleet)"
        hint = did_you_mean(name, c.models)
        raise ExprError(f"no model named {name!r} in the fleet", arg.start, arg.end,
                        f"{hint + ' ' if hint else ''}models: {known}")
    base_tf = c.program.base_tf
    if spec.timeframe != base_tf and not c.standalone:
        raise ExprError(f"model {name!r} predicts on {spec.timeframe} candles and this bot "
                        f"runs on {base_tf}", arg.start, arg.end,
                        f"run the bot on {spec.timeframe}, or declare a model on {base_tf}")
    from botfleet.strategy.regime import check_model_function

    check_model_function(what, name, spec, n, klass)
    if klass is not None:
        what = f"proba:{klass}"
    use = c.model_uses.get((name, what))
    if use is None:
        use = ModelUse(name, what, spec, model_warmup(spec))
        c.model_uses[(name, what)] = use
    program = c.program
    return c.step(("model", what, name, spec.spec_hash), "float", use.warmup,
                  lambda s, d, u=use: read_series(resolve(program.model_source), u,
                                                  d[BASE]))
