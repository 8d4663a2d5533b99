"""Display formatting: money as strings from Decimal (never through float), times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

# Cell colours, not emoji: a browser without an emoji font (headless Chromium) shows boxes.
STATE_COLOURS = {"killed": "#f5c2c7", "paused": "#ffe69c", "circuit open": "#fecba1",
                 "error": "#f5c2c7", "running": "#a3cfbb"}


def money(value: Decimal | None, places: int = 2, sign: bool = False) -> str:
    if value is None:
        return "-"
    q = Decimal(value).quantize(Decimal(1).scaleb(-places))
    return f"{q:+,}" if sign else f"{q:,}"


def when(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def state_label(state: str) -> str:
    return state


def colour_states(frame, column: str = "status"):
    """A pandas Styler colouring each bot's status cell by how much it needs attention."""
    return frame.style.apply(lambda col: [f"background-color: {STATE_COLOURS[v]}"
                                          if v in STATE_COLOURS else "" for v in col],
                             subset=[column])


def duration_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def metric(key: str, value) -> str:
    """A backtest metric as the reports print it (`sim.metrics.format_metric`)."""
    from botfleet.sim.metrics import METRIC_INFO, format_metric

    if key not in METRIC_INFO:
        return str(value)
    try:
        return format_metric(key, value)
    except (TypeError, ValueError):
        return str(value)
