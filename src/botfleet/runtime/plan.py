"""A bot ready to cycle: its configuration turned, once, into the objects a cycle uses.

Built per bot and separately, so one bot whose configuration cannot be turned into a running
bot (a risk limit that needs a capital the fleet does not declare, a sizing its strategy
cannot give) is reported and left out while the others start. A hot reload
builds new plans the same way and swaps them in at each bot's next cycle; `fingerprint`
says whether anything a cycle reads changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from botfleet.config.model import BotConfig, ExchangeConfig, Fleet
from botfleet.data.candles import timeframe_ms
from botfleet.risk.breaker import BreakerConfig
from botfleet.risk.engine import RiskEngine
from botfleet.sim.bots import bot_capital, fill_model_for
from botfleet.sim.fillmodel import FillModel
from botfleet.strategy.program import tf_ratio
from botfleet.strategy.spec import Sizing, parse_sizing


class PlanError(ValueError):
    """This bot cannot run as configured; the message says why and where."""


@dataclass(frozen=True)
class BotPlan:
    config: BotConfig
    exchange: ExchangeConfig
    fleet_name: str
    strategy: object  # CompiledStrategy or CodeStrategyRunner: signals(), latest(), window()
    sizing: Sizing
    fills: FillModel
    engine: RiskEngine
    capital: Decimal
    window: int  # base candles a decision reads
    fingerprint: str

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def timeframe(self) -> str:
        return self.config.timeframe

    @property
    def taker_fee(self) -> Decimal:
        return Decimal(repr(self.fills.fees[1]))

    @property
    def rate_window_ms(self) -> int:
        """How far back order times matter (the longest `max_order_rate` period)."""
        periods = [int(lv.max_order_rate[1]) for lv in self.engine.levels
                   if getattr(lv, "max_order_rate", None)]
        return max(periods, default=60_000)

    def breaker_configs(self) -> dict[str, tuple[str, BreakerConfig]]:
        """level -> (target, config) of the breakers that cover this bot."""
        targets = {"bot": self.name, "exchange": self.exchange.name, "fleet": self.fleet_name}
        return {level: (targets[level], cfg) for level, cfg in self.engine.breakers.items()}


def window_size(strategy, bot: BotConfig, sizing: Sizing) -> int:
    """Base candles for a decision: the strategy's warm-up (higher timeframes built from the
    base candles need whole buckets), the bot's `warmup`, and what sizing and stops read."""
    need = strategy.window()
    base = bot.timeframe
    bars = need.get(base, 1)
    for tf, count in need.items():
        if tf != base:
            ratio = tf_ratio(tf, base)
            bars = max(bars, (count + 1) * ratio)
    extra = [int(sizing.lookback or 0) + 2]
    stops = strategy.stops
    extra += [period + 2 for period in stops.atr_periods()]
    if stops.time_limit_ms:
        extra.append(-(-stops.time_limit_ms // timeframe_ms(base)) + 2)
    return max(bars, bot.warmup or 0, *extra) + 1


def _fingerprint(bot: BotConfig, exchange: ExchangeConfig, fleet: Fleet) -> str:
    strat = fleet.strategies.get(bot.strategy)
    data = {"bot": repr(bot), "exchange": repr(exchange), "strategy": repr(strat),
            "fleet_risk": repr(fleet.risk), "capital": str(fleet.capital_total)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def build_plan(fleet: Fleet, bot: BotConfig, strategy) -> BotPlan:
    exchange = fleet.exchanges.get(bot.exchange)
    if exchange is None:
        raise PlanError(f"bot {bot.name} ({bot.source}): exchange {bot.exchange!r} is not in "
                        "the fleet")
    sizing = strategy.sizing
    if bot.sizing:
        sizing, problems = parse_sizing(bot.sizing, strategy.stops,
                                        lambda path, msg, hint=None: msg)
        if problems:
            raise PlanError(f"bot {bot.name} ({bot.source}): sizing: {'; '.join(problems)}")
    fills = fill_model_for(fleet, bot)
    try:
        engine = RiskEngine.for_bot(fleet, bot)
    except ValueError as exc:
        raise PlanError(f"bot {bot.name} ({bot.source}): risk: {exc}") from None
    return BotPlan(bot, exchange, fleet.name, strategy, sizing, fills, engine,
                   bot_capital(fleet, bot), window_size(strategy, bot, sizing),
                   _fingerprint(bot, exchange, fleet))


def build_plans(load, names: list[str] | None = None
                ) -> tuple[dict[str, BotPlan], dict[str, str]]:
    """(plans, problems) for the enabled bots of a valid load (or the named ones)."""
    from botfleet.strategy.fleet import compiled_for_bots

    fleet: Fleet = load.fleet
    wanted = names if names else [b.name for b in fleet.enabled_bots()]
    strategies = compiled_for_bots(load)
    plans, problems = {}, {}
    for name in wanted:
        bot = fleet.bots[name]
        try:
            strategy = strategies[name] if name in strategies else _compile(load, bot)
            plans[name] = build_plan(fleet, bot, strategy)
        except (PlanError, ValueError) as exc:
            problems[name] = str(exc)
    return plans, problems


def _compile(load, bot: BotConfig):
    """A disabled bot named explicitly still compiles (compiled_for_bots skips it)."""
    from botfleet.strategy.declarative import compile_entry

    entry = load.by_name("strategy")[bot.strategy]
    return compile_entry(entry, bot.timeframe, dict(bot.parameters), models=load.fleet.models)
