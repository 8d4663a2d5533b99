"""Shared builders for the risk tests (no tests here; the name keeps it with them): engines
from declared limits, books, orders, contexts.

Engines are built the way `RiskEngine.for_bot` builds them (the config's own `RiskLimits.
from_data` and the engine's `resolve`), from the YAML-shaped dicts a user writes, so a test
reads like the file it stands for.
"""

from __future__ import annotations

from decimal import Decimal

from botfleet.config.model import RiskLimits
from botfleet.orders import Order, OrderType, Side
from botfleet.risk import Book, Performance, RiskContext, RiskEngine
from botfleet.risk.limits import resolve

D = Decimal
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
HOUR = 3_600_000
MINUTE = 60_000


def engine(bot: dict | None = None, exchange: dict | None = None, fleet: dict | None = None,
           *, allocation=D(10000), exchange_capital=D(20000), fleet_capital=D(50000),
           spot: bool = True) -> RiskEngine:
    levels = []
    for level, target, data, capital in (("bot", "b1", bot, allocation),
                                         ("exchange", "binance", exchange, exchange_capital),
                                         ("fleet", "main", fleet, fleet_capital)):
        resolved = resolve(RiskLimits.from_data(data), level, target, capital, "USDT")
        if not resolved.empty:
            levels.append(resolved)
    return RiskEngine("b1", "binance", tuple(levels), spot)


def order(side: str, amount, price=None, symbol: str = "BTC/USDT", *, stop=None,
          reduce_only: bool = False, kind: OrderType | None = None) -> Order:
    if kind is None:
        kind = OrderType.LIMIT if price is not None else (
            OrderType.STOP if stop is not None else OrderType.MARKET)
    return Order("c1", symbol, Side.BUY if side == "buy" else Side.SELL, kind, D(str(amount)),
                 price=None if price is None else D(str(price)),
                 stop_price=None if stop is None else D(str(stop)), reduce_only=reduce_only)


def book(positions: dict | None = None, prices: dict | None = None, open_orders=(),
         order_times=(), perf: Performance | None = None) -> Book:
    positions = {k: D(str(v)) for k, v in (positions or {}).items()}
    prices = {k: D(str(v)) for k, v in (prices or {}).items()}
    for sym in list(positions) + [o.symbol for o in open_orders]:
        prices.setdefault(sym, D(100))
    return Book.build(positions, prices, open_orders, order_times, perf)


FLAT = Performance(D(10000), D(10000), D(10000), 0, {})


def ctx(o: Order, bot: Book | None = None, *, last=D(100), free: dict | None = None,
        exchange: Book | None = None, fleet: Book | None = None, now: int = T0 + 12 * HOUR,
        kill=None, breakers=(), fee=D(0)) -> RiskContext:
    bot = bot if bot is not None else book(perf=FLAT)
    balances = {"USDT": D(10**9), "BTC": D(10**6), "ETH": D(10**6), "SOL": D(10**6)}
    balances.update({k: D(str(v)) for k, v in (free or {}).items()})
    return RiskContext(o, now, None if last is None else D(str(last)), bot, balances,
                       exchange if exchange is not None else bot,
                       fleet if fleet is not None else bot, kill, tuple(breakers), fee)
