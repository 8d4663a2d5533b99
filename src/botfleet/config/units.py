"""Values with units as written in YAML: percentages, amounts, durations, timeframes, rates.

Written as text with the unit (`2.5%`, `5m`, `10/1m`) so that a file never leaves a reader
guessing whether 0.02 means two percent or two hundredths of a coin. Percentages and amounts
are Decimal: they end up in orders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_UNIT_SECONDS = {"ms": Decimal("0.001"), "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h|d|w)$")
_TIMEFRAME = re.compile(r"^([0-9]+)(m|h|d|w|M)$")
_RATE = re.compile(r"^([0-9]+)/([0-9]*)(s|m|h|d)$")


@dataclass(frozen=True)
class Percent:
    """A fraction written as a percentage: `Percent(Decimal('0.025'))` is `2.5%`."""

    fraction: Decimal

    def of(self, amount: Decimal) -> Decimal:
        return amount * self.fraction

    def __str__(self) -> str:
        return f"{(self.fraction * 100).normalize():f}%"


def fmt_amount(value: Decimal | int) -> str:
    """An amount as people write it: `1200`, `0.5`, never `1.2E+3` or `1200.0`."""
    return f"{Decimal(value).normalize():f}"


def parse_percent(text: str) -> Percent:
    if not isinstance(text, str) or not text.endswith("%"):
        raise ValueError(f"expected a percentage such as '2.5%', found {text!r}")
    return Percent(Decimal(text[:-1]) / 100)


def parse_amount_or_percent(value) -> Decimal | Percent:
    """A number is an amount in the quote currency; `'5%'` is a share of some capital."""
    if isinstance(value, str):
        return parse_percent(value)
    return Decimal(value)


def resolve_amount(value, capital: Decimal | None) -> Decimal | None:
    """An amount in quote currency; a percentage needs the capital it is a share of."""
    parsed = parse_amount_or_percent(value)
    if isinstance(parsed, Percent):
        return None if capital is None else parsed.of(capital)
    return parsed


def duration_seconds(text: str) -> Decimal:
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"expected a duration such as '5m', found {text!r}")
    return int(m.group(1)) * Decimal(_UNIT_SECONDS[m.group(2)])


def timeframe_seconds(text: str) -> int:
    """Length of a candle; a month (`1M`) counts as 30 days, for ordering only."""
    m = _TIMEFRAME.match(text)
    if not m:
        raise ValueError(f"expected a timeframe such as '1h', found {text!r}")
    unit = {"m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000}[m.group(2)]
    return int(m.group(1)) * unit


def parse_rate(text: str) -> tuple[int, Decimal]:
    """`10/1m` -> (10, 60): a count per period in seconds; `100/h` means per one hour."""
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"expected a rate such as '10/1m', found {text!r}")
    count, n, unit = m.groups()
    return int(count), int(n or 1) * Decimal(_UNIT_SECONDS[unit])
