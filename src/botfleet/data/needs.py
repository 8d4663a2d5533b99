"""Which candle series a fleet needs, and from when.

Every enabled bot needs its pairs on its own timeframe and on every higher timeframe its
strategy reads (`ema(close, 200) @ 4h`), from the fleet's `data.since`, or else far enough back
to warm up: the bot's `warmup` or 1000 candles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from botfleet.config.model import Fleet
from botfleet.config.units import duration_seconds
from botfleet.data.candles import now_ms, timeframe_ms

DEFAULT_WARMUP = 1000
_AT_TIMEFRAME = re.compile(r"@\s*([0-9]+[mhdwM])\b")


@dataclass(frozen=True, order=True)
class Need:
    exchange: str  # the fleet's exchange name
    symbol: str
    timeframe: str
    since: int  # ms


def parse_since(text: str, now: int | None = None) -> int:
    """`2024-01-01` (UTC midnight) or a span back from now such as `90d`."""
    now = now_ms() if now is None else now
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        return int(day.timestamp() * 1000)
    return now - int(duration_seconds(text) * 1000)


def strategy_timeframes(indicators: dict[str, str]) -> set[str]:
    return {m.group(1) for expr in indicators.values() for m in _AT_TIMEFRAME.finditer(expr)}


def _span(timeframe: str) -> int:
    return timeframe_ms(timeframe) if not timeframe.endswith("M") else 31 * 86_400_000


def fleet_needs(fleet: Fleet, now: int | None = None) -> list[Need]:
    now = now_ms() if now is None else now
    earliest: dict[tuple[str, str, str], int] = {}
    for bot in fleet.enabled_bots():
        strategy = fleet.strategies.get(bot.strategy)
        timeframes = {bot.timeframe} | (strategy_timeframes(strategy.indicators)
                                        if strategy else set())
        warmup = max(bot.warmup or 0, DEFAULT_WARMUP)
        for tf in timeframes:
            since = (parse_since(fleet.data.since, now) if fleet.data.since
                     else now - warmup * _span(tf))
            for pair in bot.pairs:
                key = (bot.exchange, pair, tf)
                earliest[key] = min(earliest.get(key, since), since)
    return sorted(Need(e, s, t, since) for (e, s, t), since in earliest.items())
