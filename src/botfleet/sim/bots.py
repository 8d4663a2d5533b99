"""A bot of the fleet as a backtest: its pairs' candles from the candle store, its effective
fill model and sizing, its allocation as capital.

The exchange's trading rules (tick, lot, minimum notional) come in as a function from the caller:
the backtester must not depend on where they are looked up (the venue's published filters
today, ccxt's loaded markets for a live account).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from botfleet.config.model import BotConfig, Fleet
from botfleet.data.candles import timeframe_ms
from botfleet.data.store import SeriesKey
from botfleet.sim.engine import PairData, backtest
from botfleet.sim.fillmodel import FillModel, MarketRules
from botfleet.sim.result import BacktestResult
from botfleet.strategy.spec import Sizing, parse_sizing

DEFAULT_CAPITAL = Decimal(10_000)


def ccxt_fees(ccxt_id: str) -> tuple[Decimal | None, Decimal | None]:
    """The exchange's published base fee schedule from ccxt's static description (no network)."""
    try:
        import ccxt

        trading = getattr(ccxt, ccxt_id)().describe()["fees"]["trading"]
    except Exception:  # noqa: BLE001 - an exchange ccxt does not describe has no default fee
        return None, None
    pick = [trading.get("maker"), trading.get("taker")]
    return tuple(Decimal(str(v)) if isinstance(v, int | float) else None for v in pick)


def fill_model_for(fleet: Fleet, bot: BotConfig) -> FillModel:
    """The bot's `fills:` with fees from its exchange file, else ccxt's schedule."""
    model = FillModel.from_yaml(bot.fills)
    exchange = fleet.exchanges.get(bot.exchange)
    maker = exchange.maker_fee.fraction if exchange and exchange.maker_fee else None
    taker = exchange.taker_fee.fraction if exchange and exchange.taker_fee else None
    if (maker is None or taker is None) and exchange is not None:
        m2, t2 = ccxt_fees(exchange.ccxt_id)
        maker, taker = maker or m2, taker or t2
    model = model.with_fees(maker, taker)
    if model.shorts is None:
        spot = exchange is None or exchange.market_type == "spot"
        model = FillModel(**{**model.__dict__, "shorts": not spot})
    return model


def bot_capital(fleet: Fleet, bot: BotConfig) -> Decimal:
    return bot.allocation or fleet.capital_total or DEFAULT_CAPITAL


def load_pairs(store, bot: BotConfig, timeframes: list[str], rules: Callable[[str], MarketRules],
               fills: FillModel, warmup: int, start_ms: int | None,
               end_ms: int | None) -> list[PairData]:
    """Each pair's candles from `warmup` bars before start to end, with higher timeframes and
    the detail timeframe when the fill model asks for it."""
    tf_ms = timeframe_ms(bot.timeframe)
    lo = None if start_ms is None else start_ms - (warmup + 1) * tf_ms
    hi = None if end_ms is None else end_ms + tf_ms
    pairs = []
    for symbol in bot.pairs:
        key = SeriesKey(bot.exchange, symbol, bot.timeframe)
        candles = store.read(key, lo, hi)
        if len(candles) == 0:
            raise LookupError(f"bot {bot.name}: no {bot.timeframe} candles of {symbol} on "
                              f"{bot.exchange} in the candle store; run 'botfleet data "
                              "download' or 'botfleet run' first")
        higher = {tf: store.read(SeriesKey(bot.exchange, symbol, tf), lo, hi)
                  for tf in timeframes}
        detail = None
        if fills.detail_timeframe:
            detail = store.read(SeriesKey(bot.exchange, symbol, fills.detail_timeframe), lo, hi)
        pairs.append(PairData(symbol, candles, rules(symbol), detail,
                              source=f"{bot.exchange} {symbol} {bot.timeframe}",
                              higher={tf: h for tf, h in higher.items() if len(h)} or None))
    return pairs


@dataclass
class BotInputs:
    pairs: list[PairData]
    fills: FillModel
    sizing: Sizing
    capital: Decimal


def bot_inputs(fleet: Fleet, bot: BotConfig, strategy, store,
               rules: Callable[[str], MarketRules], *, start_ms: int | None = None,
               end_ms: int | None = None, capital: Decimal | None = None) -> BotInputs:
    """The bot's candles, effective fill model, sizing and capital (`bot.fills` as merged)."""
    fills = fill_model_for(fleet, bot)
    sizing = strategy.sizing
    if bot.sizing:
        sizing, problems = parse_sizing(bot.sizing, strategy.stops,
                                        lambda path, msg, hint=None: f"{bot.name}: {msg}")
        if problems:
            raise ValueError("; ".join(problems))
    warmup = max(strategy.warmup, bot.warmup or 0)
    pairs = load_pairs(store, bot, strategy.timeframes, rules, fills, warmup, start_ms, end_ms)
    return BotInputs(pairs, fills, sizing, capital or bot_capital(fleet, bot))


def backtest_bot(fleet: Fleet, bot: BotConfig, strategy, store,
                 rules: Callable[[str], MarketRules], *, start_ms: int | None = None,
                 end_ms: int | None = None) -> BacktestResult:
    """Backtest one bot as configured (its strategy compiled for its timeframe/parameters)."""
    got = bot_inputs(fleet, bot, strategy, store, rules, start_ms=start_ms, end_ms=end_ms)
    return backtest(strategy, got.pairs, bot.timeframe, got.capital, got.fills,
                    name=bot.name, sizing=got.sizing, start_ms=start_ms, end_ms=end_ms,
                    meta={"bot": bot.name, "exchange": bot.exchange, "source": bot.source})
