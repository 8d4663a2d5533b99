"""A symbol's Binance filters in Decimal (for checking orders) and float (for the fill rules).

Binance checks every order against PRICE_FILTER, LOT_SIZE and NOTIONAL and refuses it with -1013
"Filter failure: NAME" — it never rounds for the client (ccxt does that, with
`amount_to_precision`). The venue does the same, exactly, in Decimal: (quantity - minQty) must be
a whole number of steps, (price - minPrice) a whole number of ticks. The float copies feed the
numba fill rules, whose results come back to the grid through `on_grid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from botfleet.venue import binance_format as fmt
from botfleet.venue.rules import SymbolRules


@dataclass(frozen=True)
class Filters:
    tick: Decimal
    min_price: Decimal
    max_price: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    base_precision: int
    quote_precision: int

    @classmethod
    def of(cls, rules: SymbolRules) -> Filters:
        d = Decimal
        return cls(d(rules.tick_size), d(rules.min_price), d(rules.max_price),
                   d(rules.step_size), d(rules.min_qty), d(rules.max_qty),
                   d(rules.min_notional), d(rules.max_notional),
                   rules.base_precision, rules.quote_precision)

    @property
    def tick_f(self) -> float:
        return float(self.tick)

    @property
    def step_f(self) -> float:
        return float(self.step)

    @property
    def quote_unit(self) -> Decimal:
        """The smallest quote amount the venue books (fees are rounded to it)."""
        return Decimal(1).scaleb(-self.quote_precision)

    # --- checks (Binance's order of tests and words) ---------------------------------------

    def check_price(self, price: Decimal) -> None:
        if price < self.min_price or price > self.max_price or (
                self.tick > 0 and (price - self.min_price) % self.tick != 0):
            raise filter_failure("PRICE_FILTER")

    def check_qty(self, qty: Decimal) -> None:
        if qty < self.min_qty or qty > self.max_qty or (
                self.step > 0 and (qty - self.min_qty) % self.step != 0):
            raise filter_failure("LOT_SIZE")

    def check_notional(self, notional: Decimal, *, market: bool) -> None:
        """NOTIONAL with applyMinToMarket true and applyMaxToMarket false, as published."""
        if notional < self.min_notional or (not market and notional > self.max_notional):
            raise filter_failure("NOTIONAL")


def filter_failure(name: str) -> fmt.BinanceError:
    return fmt.BinanceError(-1013, f"Filter failure: {name}")


def on_grid(x: float, unit: Decimal) -> Decimal:
    """A float result of the fill rules (already on the grid up to float error) as the exact
    Decimal multiple of `unit` it stands for; unit 0 means no grid."""
    d = Decimal(repr(float(x)))
    if unit <= 0:
        return d
    n = (d / unit).to_integral_value(rounding=ROUND_HALF_EVEN)
    return (n * unit).quantize(unit)


def as_price(x: float, known: tuple[Decimal | None, ...], tick: Decimal) -> Decimal:
    """A fill price: one of the order's own levels when the rule returned it, else on the tick."""
    for level in known:
        if level is not None and float(level) == x:
            return level
    return on_grid(x, tick)
