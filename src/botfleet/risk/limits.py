"""Declared limits resolved for one level: percentages turned into quote amounts, once.

A percentage is a share of the capital the limit applies to: the bot's allocation at bot
level, the sum of its exchange's bots' allocations at exchange level, the fleet's
`capital.total` at fleet level. Resolving at build time (not per order) keeps the check to
plain Decimal comparisons, and a limit that cannot be resolved (a percentage with no capital)
fails when the engine is built, naming the rule and the level, instead of at the first order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from botfleet.config.model import RiskLimits
from botfleet.config.units import Percent
from botfleet.risk.decision import RiskConfigError, fmt_money

_CAPITAL_OF = {"bot": "the bot's capital.allocation",
               "exchange": "an allocation on any of the exchange's bots",
               "fleet": "the fleet's capital.total"}


@dataclass(frozen=True, slots=True)
class Bound:
    """A resolved amount and how it was declared, for messages: `5,000 USDT (50% of 10,000)`."""

    amount: Decimal
    text: str


@dataclass(frozen=True, slots=True)
class LevelLimits:
    level: str
    target: str
    currency: str
    capital: Decimal | None
    max_order_size: Bound | None = None
    max_position: Bound | None = None
    max_open_positions: int | None = None
    max_exposure_per_asset: Bound | None = None
    max_total_exposure: Bound | None = None
    max_order_rate: tuple[int, int] | None = None  # count, window ms
    price_band: Decimal | None = None  # fraction
    min_notional: Bound | None = None
    max_daily_loss: Bound | None = None
    max_drawdown: Decimal | None = None  # fraction
    max_consecutive_losses: int | None = None
    cooldown_after_stop_ms: int | None = None
    # derived by `resolve`, read on every check: does a rule need the level's book, its
    # performance (limits over time)?
    needs_book: bool = False
    timed: bool = False
    where: str = ""

    @property
    def empty(self) -> bool:
        return not self.needs_book and self.max_order_size is None and \
            self.price_band is None and self.min_notional is None


def _bound(key: str, value: Decimal | Percent | None, level: str, target: str,
           capital: Decimal | None, ccy: str) -> Bound | None:
    if value is None:
        return None
    if isinstance(value, Percent):
        if capital is None:
            raise RiskConfigError(f"{key} {value} ({level} {target}): a percentage needs "
                                  f"{_CAPITAL_OF[level]} to be a share of")
        amount = value.of(capital)
        return Bound(amount, f"{fmt_money(amount)} {ccy} ({value} of {fmt_money(capital)})")
    return Bound(value, f"{fmt_money(value)} {ccy}")


def resolve(limits: RiskLimits, level: str, target: str, capital: Decimal | None,
            currency: str | None) -> LevelLimits:
    ccy = currency or "quote"
    kw = {key: _bound(key, getattr(limits, key), level, target, capital, ccy)
          for key in ("max_order_size", "max_position", "max_exposure_per_asset",
                      "max_total_exposure", "max_daily_loss", "min_notional")}
    rate = limits.max_order_rate
    cooldown = limits.cooldown_after_stop
    timed = (kw["max_daily_loss"] is not None or limits.max_drawdown is not None
             or limits.max_consecutive_losses is not None or cooldown is not None)
    book = timed or any(v is not None for v in (
        kw["max_position"], kw["max_exposure_per_asset"], kw["max_total_exposure"],
        limits.max_open_positions, rate))
    return LevelLimits(
        level, target, ccy, capital, **kw,
        max_open_positions=limits.max_open_positions,
        max_order_rate=(rate[0], int(rate[1] * 1000)) if rate else None,
        price_band=limits.price_band.fraction if limits.price_band else None,
        max_drawdown=limits.max_drawdown.fraction if limits.max_drawdown else None,
        max_consecutive_losses=limits.max_consecutive_losses,
        cooldown_after_stop_ms=int(cooldown * 1000) if cooldown is not None else None,
        needs_book=book, timed=timed, where=f"{level} {target}")
