"""Indicators: TA-Lib's functions and botfleet's own kernels, behind one registry.

`REGISTRY` is the process-wide registry; its built-ins load on first lookup.
"""

from __future__ import annotations

from botfleet.indicators.registry import (
    INPUTS,
    Indicator,
    Param,
    Registry,
    UnknownIndicator,
)


def _load_talib(registry: Registry) -> None:
    from botfleet.indicators import talib_funcs

    talib_funcs.load(registry)


def _load_custom(registry: Registry) -> None:
    from botfleet.indicators import custom

    custom.load(registry)


REGISTRY = Registry([_load_talib, _load_custom])

__all__ = ["INPUTS", "REGISTRY", "Indicator", "Param", "Registry", "UnknownIndicator"]
