"""Text formatting shared by the report sections: escaping, times, money and metric values.

Every value that reaches the page passes through here, so escaping and the "what does a missing
number look like" rules live in one place. The metric definitions themselves belong to
`botfleet.sim.metrics`; this module only reads its `METRIC_INFO` table (lazily, so a report can
still be drawn from a result whose metrics were filled elsewhere) and falls back to a generic
rendering for any key the table does not know.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

MISSING = "—"


def esc(value: Any) -> str:
    """HTML-escape anything shown on the page; strategy names and params are user text."""
    return html.escape(str(value), quote=True)


def load_metrics() -> ModuleType | None:
    """`botfleet.sim.metrics`, or None while it does not exist (reports degrade, not fail)."""
    try:
        from botfleet.sim import metrics
    except ImportError:
        return None
    return metrics


def ts_text(ms: float, with_time: bool = True) -> str:
    """A bar's open time as UTC text; bars are UTC everywhere in botfleet."""
    if ms is None or (isinstance(ms, float) and not math.isfinite(ms)):
        return MISSING
    dt = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M") if with_time else dt.strftime("%Y-%m-%d")


def span_text(ms: float) -> str:
    """A length of time in the units a trader reads: '3d 4h', '45m', '2y 10d'."""
    if ms is None or not math.isfinite(ms):
        return MISSING
    minutes = round(abs(ms) / 60_000)
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    years, days = divmod(days, 365)
    parts = [f"{v}{u}" for v, u in ((years, "y"), (days, "d"), (hours, "h"), (mins, "m")) if v]
    return ("-" if ms < 0 else "") + (" ".join(parts[:2]) or "0m")


def quote_currency(symbols: list[str]) -> str:
    """The common quote currency of the pairs ('USDT' for BTC/USDT and ETH/USDT), else ''."""
    quotes = {s.split("/", 1)[1].split(":", 1)[0] for s in symbols if "/" in s}
    return quotes.pop() if len(quotes) == 1 else ""


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _special(value: Any) -> str | None:
    """The text for values that are not a plain finite number, or None when they are."""
    if value is None:
        return MISSING
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", "nan"):
        value = float(value)  # sim.metrics.json_safe stores non-finite numbers as text
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating | Decimal):
        f = float(value)
        if math.isnan(f):
            return MISSING
        if math.isinf(f):
            return "∞" if f > 0 else "−∞"
    return None


def money(value: Any, ccy: str = "", signed: bool = False) -> str:
    special = _special(value)
    if special is not None:
        return special
    f = _finite(value)
    if f is None:
        return esc(value)
    text = f"{f:+,.2f}" if signed else f"{f:,.2f}"
    return f"{text} {esc(ccy)}".strip()


def pct(value: Any, signed: bool = False, places: int = 2) -> str:
    """A fraction (0.123) as a percentage ('12.30%')."""
    special = _special(value)
    if special is not None:
        return special
    f = _finite(value)
    if f is None:
        return esc(value)
    return f"{f * 100:+.{places}f}%" if signed else f"{f * 100:.{places}f}%"


def number(value: Any) -> str:
    """Any number without a known unit: integers with separators, floats to 4 significant
    digits (or 2 decimals when large)."""
    special = _special(value)
    if special is not None:
        return special
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    f = _finite(value)
    if f is None:
        return esc(value)
    if f == int(f) and abs(f) < 1e15 and not isinstance(value, float | np.floating):
        return f"{int(f):,}"
    return f"{f:,.2f}" if abs(f) >= 1000 else f"{f:.4g}"


def price(value: Any) -> str:
    """A fill price with enough digits for cheap coins (0.00001234) and readable for BTC."""
    f = _finite(value)
    if f is None:
        return _special(value) or esc(value)
    if f == 0:
        return "0"
    digits = max(2, 5 - math.floor(math.log10(abs(f))))
    return f"{f:,.{min(digits, 10)}f}"


class MetricInfo(NamedTuple):
    label: str
    kind: str  # pct | ratio | money | int | duration (s) | timestamp (ms) | anything else: generic
    definition: str


def _read_info(entry: Any) -> MetricInfo | None:
    """One `METRIC_INFO` entry, whatever its shape: a mapping, an object with attributes or a
    (label, kind, definition) tuple. The table is owned by sim.metrics; reading it leniently
    keeps the report from breaking when its representation changes."""
    if entry is None:
        return None
    if isinstance(entry, dict):
        get = entry.get
    elif isinstance(entry, tuple | list) and not hasattr(entry, "_fields"):
        padded = [*entry, "", "", ""]
        return MetricInfo(str(padded[0]), str(padded[1] or ""), str(padded[2] or ""))
    else:
        def get(name, default=None):
            return getattr(entry, name, default)
    label = get("label") or get("name") or ""
    kind = get("kind") or get("format") or get("fmt") or ""
    definition = get("definition") or get("doc") or get("description") or ""
    return MetricInfo(str(label), str(kind), str(definition))


def metric_table() -> dict[str, MetricInfo]:
    """sim.metrics' `METRIC_INFO` read into MetricInfo, in its order; {} until it exists."""
    mod = load_metrics()
    table = getattr(mod, "METRIC_INFO", None) or {}
    out = {}
    for key, entry in dict(table).items():
        info = _read_info(entry)
        if info is not None:
            out[str(key)] = info
    return out


def metric_info(key: str, table: dict[str, MetricInfo] | None = None) -> MetricInfo:
    table = metric_table() if table is None else table
    if key in table:
        info = table[key]
        return MetricInfo(info.label or key.replace("_", " ").capitalize(), info.kind,
                          info.definition)
    return MetricInfo(key.replace("_", " ").capitalize(), "", "")


def duration(value: Any) -> str:
    """A duration metric: sim.metrics gives durations in seconds (its `*_s` keys); timedeltas
    are accepted too."""
    special = _special(value)
    if special is not None:
        return special
    if isinstance(value, timedelta):
        return span_text(value.total_seconds() * 1000)
    if isinstance(value, np.timedelta64):
        return span_text(float(value / np.timedelta64(1, "ms")))
    if hasattr(value, "total_seconds"):  # pandas.Timedelta
        return span_text(value.total_seconds() * 1000)
    f = _finite(value)
    return span_text(f * 1000) if f is not None else esc(value)


def format_metric(key: str, value: Any, *, info: MetricInfo | None = None, ccy: str = "") -> str:
    """One metric value as escaped text, by its METRIC_INFO kind; unknown keys and kinds
    still render (numbers generically, structures as JSON)."""
    kind = (info or metric_info(key)).kind
    if isinstance(value, dict | list | tuple):
        return esc(json.dumps(value, default=str))
    if isinstance(value, np.ndarray):
        return esc(f"array{value.shape}")
    if kind == "pct":
        return pct(value)
    if kind == "money":
        return money(value, ccy)
    if kind == "ratio":
        special = _special(value)
        f = _finite(value)
        return special or (f"{f:.2f}" if f is not None else esc(value))
    if kind == "int":
        special = _special(value)
        f = _finite(value)
        return special or (f"{round(f):,}" if f is not None else esc(value))
    if kind == "duration":
        return duration(value)
    if kind == "timestamp":
        f = _finite(value)
        return ts_text(f) if f is not None else (_special(value) or esc(value))
    return number(value)


def plain(value: Any) -> str:
    """A parameter or meta value as escaped text: scalars as they are, structures as JSON."""
    if isinstance(value, dict | list | tuple):
        return esc(json.dumps(value, default=str, ensure_ascii=False))
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return _special(value) or MISSING
    return esc(value)
