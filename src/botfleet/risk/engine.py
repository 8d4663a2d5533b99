"""`RiskEngine.for_bot(fleet, bot)`: one bot's three levels of limits, resolved once.

The runtime builds an engine per bot when the fleet loads and calls `check(ctx)` before every
order. Levels: the bot's own limits (`BotConfig.risk`: fleet defaults, profiles, exchange
defaults and the bot's file, merged), its exchange's `risk:` (bounding all bots on that
exchange together) and the fleet's `risk:` (all bots). Levels with no limit are dropped here,
so they cost nothing per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from botfleet.risk.book import Book, RiskContext, quote_of
from botfleet.risk.breaker import BreakerConfig
from botfleet.risk.checks import breaches, check
from botfleet.risk.decision import Decision, RiskConfigError
from botfleet.risk.kill import MODES, RELEASES
from botfleet.risk.limits import LevelLimits, resolve

if TYPE_CHECKING:
    from botfleet.config.model import BotConfig, Fleet, RiskLimits


def exchange_capital(fleet: Fleet, exchange: str) -> Decimal | None:
    """What an exchange's percentages are shares of: the allocations of its enabled bots."""
    allocations = [b.allocation for b in fleet.enabled_bots()
                   if b.exchange == exchange and b.allocation is not None]
    return sum(allocations, Decimal(0)) if allocations else None


@dataclass(frozen=True)
class KillSettings:
    """`kill_switch:` of one level: the mode an engagement without one uses, and whether it
    lifts itself at 00:00 UTC (`next_day`) or waits for `botfleet release` (`manual`)."""

    on_trigger: str = "cancel_orders"
    release: str = "manual"

    @classmethod
    def from_yaml(cls, data: dict | None) -> KillSettings:
        d = data or {}
        mode, release = d.get("on_trigger", "cancel_orders"), d.get("release", "manual")
        if mode not in MODES or release not in RELEASES:
            raise RiskConfigError(f"kill_switch {d!r}: on_trigger is one of {', '.join(MODES)}; "
                                  f"release one of {', '.join(RELEASES)}")
        return cls(mode, release)


@dataclass(frozen=True)
class RiskEngine:
    bot: str
    exchange: str
    levels: tuple[LevelLimits, ...]
    spot: bool = True
    breakers: dict[str, BreakerConfig] = field(default_factory=dict)  # level -> config
    kill: dict[str, KillSettings] = field(default_factory=dict)  # level -> settings

    @classmethod
    def for_bot(cls, fleet: Fleet, bot: BotConfig | str) -> RiskEngine:
        if isinstance(bot, str):
            if bot not in fleet.bots:
                raise RiskConfigError(f"no bot {bot!r} in fleet {fleet.name} (bots: "
                                      f"{', '.join(sorted(fleet.bots))})")
            bot = fleet.bots[bot]
        exchange = fleet.exchanges.get(bot.exchange)
        if exchange is None:
            raise RiskConfigError(f"bot {bot.name}: exchange {bot.exchange!r} is not in the "
                                  "fleet")
        ccy = fleet.capital_currency or (quote_of(bot.pairs[0]) if bot.pairs else None)
        declared: list[tuple[str, str, RiskLimits, Decimal | None]] = [
            ("bot", bot.name, bot.risk, bot.allocation),
            ("exchange", exchange.name, exchange.risk, exchange_capital(fleet, exchange.name)),
            ("fleet", fleet.name, fleet.risk, fleet.capital_total)]
        levels = []
        breakers = {}
        kill = {}
        for level, target, limits, capital in declared:
            resolved = resolve(limits, level, target, capital, ccy)
            if not resolved.empty:
                levels.append(resolved)
            if limits.circuit_breaker:
                breakers[level] = BreakerConfig.from_yaml(limits.circuit_breaker)
            kill[level] = KillSettings.from_yaml(limits.kill_switch)
        return cls(bot.name, exchange.name, tuple(levels), exchange.market_type == "spot",
                   breakers, kill)

    def check(self, ctx: RiskContext) -> Decision:
        """Judge one order intent; see `risk.checks` for the rules and their edges."""
        return check(self.levels, self.bot, self.spot, ctx)

    def breaches(self, books: dict[str, Book], now_ms: int) -> list:
        """Loss limits breached now at any level (`checks.breaches`): trip the breaker."""
        return breaches(self.levels, books, now_ms)

    def level(self, name: str) -> LevelLimits | None:
        return next((lv for lv in self.levels if lv.level == name), None)

    @property
    def needs(self) -> frozenset[str]:
        """The levels whose book the context must carry (`RiskContext.exchange`/`fleet`)."""
        return frozenset(lv.level for lv in self.levels if lv.needs_book)
