"""`regime(m)` in the expression language, and the names of its classes.

A regime model (label `type: regime`, `botfleet.ml.regime`) predicts one of three classes per
bar; a strategy compares the series with a class name: `regime('market-regime') == TREND`.
The names are constants (RANGE = 0, TREND = 1, HIGH_VOL = 2), resolved by the compiler after
the strategy's own parameters, indicators and candle fields, so a strategy that already calls
something `TREND` keeps its meaning. The series is served like `proba()`
(`botfleet.strategy.models`): point in time in backtests, the promoted version live, NaN where
no model may answer (NaN == TREND is false, so nothing fires).
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


def check_model_function(what: str, name: str, spec, n: S.Call) -> None:
    """Refuse a model function that does not suit the model's label, naming the right one."""
    multi = spec.label.multiclass
    if what == "regime" and not multi:
        use = "proba" if spec.label.classifier else "predict"
        raise ExprError(f"model {name!r} is not a regime model (its label is "
                        f"'{spec.label.type}')", n.start, n.name_end,
                        f"use {use}({name!r}), or declare a model with label type: regime")
    if what == "proba" and multi:
        raise ExprError(f"model {name!r} is a regime model: it predicts one of three classes, "
                        "not one probability", n.start, n.name_end,
                        f"use regime({name!r}) == TREND (classes: {CLASSES})")
    if what == "proba" and not spec.label.classifier:
        raise ExprError(f"model {name!r} predicts a return (label 'return'), not a "
                        "probability", n.start, n.name_end, f"use predict({name!r})")
