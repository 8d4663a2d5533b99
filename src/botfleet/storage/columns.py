"""Column types with the conventions of the state database.

`Money`: a `Decimal` at 12 decimal places, the precision `sim.records._dec` rounds kernel floats
to. PostgreSQL keeps it exactly in NUMERIC(38, 12). SQLite has no decimal type (a NUMERIC column
holds a double), so on SQLite a value is read back as `Decimal(repr(double))`: exact for every
value `_dec` produces (at most 17 significant digits, the shortest repr of its double), where
SQLAlchemy's default `'%.12f'` formatting would invent or drop digits of large amounts.

`Document`: a JSON value that also takes what params and metrics really contain. JSON has no
NaN, infinities or decimals, and PostgreSQL refuses the non-standard `NaN` that Python writes, so
these are stored as one-key objects and turned back on read:

    float('inf') -> {"$float": "inf"}   (also "-inf", "nan")
    Decimal('0.1') -> {"$decimal": "0.1"}

numpy scalars and arrays become Python numbers and lists, tuples lists, datetimes ISO strings (those
three one way); anything else is refused with the path of the value. The column type is JSON, not
JSONB, on PostgreSQL: JSONB re-prints numbers (1e300 comes back as a 301-digit integer), which
would break the exact round trip.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import JSON, Numeric
from sqlalchemy.types import TypeDecorator

from botfleet.sim.records import _dec

MONEY_PLACES = 12
_TAGS = ("$float", "$decimal")


class Money(TypeDecorator):
    impl = Numeric(38, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        asdecimal = dialect.name != "sqlite"  # on SQLite: the raw double, converted below
        return dialect.type_descriptor(Numeric(38, MONEY_PLACES, asdecimal=asdecimal))

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, Decimal):
            return value
        return _dec(value, MONEY_PLACES)

    def process_result_value(self, value, dialect):
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def to_json(value: Any, path: str = "$") -> Any:
    """`value` as plain JSON data under the conventions above."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isfinite(x):
            return x
        return {"$float": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key in _TAGS:
                raise TypeError(f"{path}: key {key!r} cannot be stored (keys are strings, and "
                                f"{' and '.join(_TAGS)} are reserved)")
            out[key] = to_json(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple | np.ndarray):
        return [to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{path}: a {type(value).__name__} cannot be stored as JSON")


def from_json(value: Any) -> Any:
    """The inverse of `to_json` (tagged floats and decimals come back as such)."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, item), = value.items()
            if key == "$float":
                return float(item)
            if key == "$decimal":
                return Decimal(item)
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


class Document(TypeDecorator):
    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return to_json(value)

    def process_result_value(self, value, dialect):
        return from_json(value)
