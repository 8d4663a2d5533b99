"""The fleet's `observability:` block: where the runner serves `/metrics` and `/health`, and
the thresholds health and `botfleet doctor` judge by.

Kept apart from `model.py` (as `control.py` is) because only the runner, the UI and the
doctor read it. A command-line `--metrics-port` or `BOTFLEET_METRICS_PORT` overrides the port.
"""

from __future__ import annotations

from dataclasses import dataclass

from botfleet.config.units import duration_seconds

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MIN_FREE_MB = 1024


@dataclass(frozen=True)
class ObservabilitySettings:
    metrics_port: int = 0  # 0: no endpoint
    metrics_host: str = DEFAULT_HOST
    data_stale_after_s: float | None = None  # None: two candles of the series' timeframe
    min_free_disk_mb: int = DEFAULT_MIN_FREE_MB


def observability_settings(data: dict | None) -> ObservabilitySettings:
    """From a validated `observability:` mapping (the schema has checked every key)."""
    d = data or {}
    stale = d.get("data_stale_after")
    return ObservabilitySettings(
        int(d.get("metrics_port", 0)), str(d.get("metrics_host", DEFAULT_HOST)),
        float(duration_seconds(stale)) if stale is not None else None,
        int(d.get("min_free_disk_mb", DEFAULT_MIN_FREE_MB)))
