"""`regime(m)` in the expression language, and the names of its classes.

A regime model (label `type: regime`, `botfleet.ml.regime`) predicts one of three classes per
bar; a strategy compares the series with a class name: `regime('market-regime') == TREND`.
The names are constants (RANGE = 0, TREND = 1, HIGH_VOL = 2), resolved by the compiler after
the strategy's own parameters, indicators and candle fields, so a strategy that already calls
something `TREND` keeps its meaning. The series is served like `proba()`
(`botfleet.strategy.models`): point in time in backtests, the promoted version live, NaN where
no model may answer (NaN == TREND is false, so nothing fires).

`proba('market-regime', 'TREND')` is the model's probability of one class, a series served the
same way; the class is named (quoted, or bare as in `regime(m) == TREND`) and checked when the
strategy compiles, so a typo is an error listing the classes rather than a silent NaN.
"""

from __future__ import annotations

from botfleet.config.ml import REGIME_CLASSES
from botfleet.strategy import syntax as S
from botfleet.strategy.errors import ExprError

CLASSES = ", ".join(f"{k} ({v})" for k, v in REGIME_CLASSES.items())


def class_code(name: str) -> float | None:
    """The code of a regime class name (`TREND` -> 1.0), None for any other name."""
    code = REGIME_CLASSES.get(name)
    return None if code is None else float(code)


def class_argument(c, arg: S.Node) -> str:
    """The regime class named by `proba(m, <class>)`'s second argument (compiler `c`)."""
    from botfleet.config.problems import did_you_mean
    from botfleet.strategy.models import text_argument

    name = text_argument(c, arg)
    if name is None:
        raise ExprError("proba()'s second argument names a regime class, not a series or "
                        "number", arg.start, arg.end, f"classes: {CLASSES}")
    if name not in REGIME_CLASSES:
        hint = did_you_mean(name, REGIME_CLASSES)
        raise ExprError(f"{name!r} is not a regime class", arg.start, arg.end,
                        f"{hint + ' ' if hint else ''}classes: {CLASSES}")
    return name


def check_model_function(what: str, name: str, spec, n: S.Call,
                         klass: str | None = None) -> None:
    """Refuse a model function that does not suit the model's label, naming the right one."""
    multi = spec.label.multiclass
    if klass is not None and not multi:
        use = "proba" if spec.label.classifier else "predict"
        raise ExprError(f"model {name!r} is not a regime model (its label is "
                        f"'{spec.label.type}'): it has no class {klass!r}", n.start, n.end,
                        f"use {use}({name!r}), or a model with label type: regime")
    if what == "regime" and not multi:
        use = "proba" if spec.label.classifier else "predict"
        raise ExprError(f"model {name!r} is not a regime model (its label is "
                        f"'{spec.label.type}')", n.start, n.name_end,
                        f"use {use}({name!r}), or declare a model with label type: regime")
    if what == "proba" and multi and klass is None:
        raise ExprError(f"model {name!r} is a regime model: it predicts one of three classes, "
                        "not one probability", n.start, n.name_end,
                        f"use regime({name!r}) == TREND, or a class's probability: "
                        f"proba({name!r}, 'TREND') (classes: {CLASSES})")
    if what == "proba" and not spec.label.classifier:
        raise ExprError(f"model {name!r} predicts a return (label 'return'), not a "
                        "probability", n.start, n.name_end, f"use predict({name!r})")
