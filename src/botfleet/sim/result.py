"""What a backtest produces: the arrays the kernel wrote plus what is needed to explain them
(parameters, fill-model assumptions, data coverage). Metrics, reports, storage and the UI read
only this type, so each can be tested on a hand-built result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Coverage:
    """The candles a pair's backtest actually used."""

    symbol: str
    first_ms: int
    last_ms: int
    bars: int
    missing: int  # bars absent inside [first, last] (gaps), each a bar without trading
    source: str = ""  # where the candles came from (store URL or file)


@dataclass
class BacktestResult:
    name: str  # the bot's or the strategy's name
    strategy: str
    timeframe: str  # the bars the kernel stepped over; annualisation follows it
    symbols: list[str]
    params: dict[str, Any]
    capital: Decimal
    ts: np.ndarray  # (T,) int64 open times, ms UTC
    close: np.ndarray  # (T, A) float64, NaN where a pair has no bar
    equity: np.ndarray  # (T,) float64 quote currency, marked at each bar's close
    cash: np.ndarray  # (T,) float64
    exposure: np.ndarray  # (T,) float64, gross position value / equity
    fills: np.ndarray  # records.FILL_DTYPE
    trades: np.ndarray  # records.TRADE_DTYPE
    rejects: np.ndarray  # records.REJECT_DTYPE
    fill_model: dict[str, Any] = field(default_factory=dict)  # assumptions, for the report
    coverage: list[Coverage] = field(default_factory=list)
    series: dict[str, np.ndarray] = field(default_factory=dict)  # named indicators, for charts
    metrics: dict[str, Any] = field(default_factory=dict)  # filled by sim.metrics.compute
    meta: dict[str, Any] = field(default_factory=dict)  # run id, command line, versions

    @property
    def start_ms(self) -> int:
        return int(self.ts[0]) if len(self.ts) else 0

    @property
    def end_ms(self) -> int:
        return int(self.ts[-1]) if len(self.ts) else 0

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else float(self.capital)
