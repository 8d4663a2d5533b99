"""The immutable snapshot a pre-trade check reads: the order intent and, per level, a `Book`.

The runtime builds it once per cycle (positions, open orders, prices, recent order times,
performance) and the engine only compares numbers, which is what keeps a check in the tens of
microseconds. Working orders count as if they filled (worst case): a bot with a 2,000 USDT
buy working and a new 2,000 USDT buy is judged on 4,000, because both may fill.

Exposure is the gross value of what is held in each base asset, in the quote currency, at the
worst case of the working orders; at exchange and fleet level books add up the bots' books
(positions per pair are summed across bots, and at fleet level across exchanges).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from botfleet.orders import Order, Position, Side
from botfleet.risk.breaker import BreakerState
from botfleet.risk.decision import RiskInputError
from botfleet.risk.kill import KillState

ZERO = Decimal(0)


def base_of(symbol: str) -> str:
    """`BTC/USDT` and `BTC/USDT:USDT` -> `BTC`."""
    return symbol.partition("/")[0]


def quote_of(symbol: str) -> str:
    """`BTC/USDT` -> `USDT`; a contract's settle currency (`:USDT`) is not the quote."""
    return symbol.partition("/")[2].partition(":")[0]


@dataclass(frozen=True, slots=True)
class Leg:
    """One pair in one book: the signed position in base units and what working orders would
    add (buys) or take away (sells) if they filled."""

    position: Decimal = ZERO
    pending_buy: Decimal = ZERO
    pending_sell: Decimal = ZERO

    @property
    def worst(self) -> Decimal:
        """The largest |position| the working orders can lead to."""
        return max(abs(self.position + self.pending_buy), abs(self.position - self.pending_sell))


@dataclass(frozen=True, slots=True)
class Performance:
    """The state the limits over time read (see `risk.history.performance`): equity at the
    start of the UTC day, now and at its peak, the current losing streak, and when each pair
    was last stopped out (ms)."""

    equity: Decimal | None = None
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    losing_streak: int = 0
    last_stop_ms: Mapping[str, int] = field(default_factory=dict)

    @property
    def daily_loss(self) -> Decimal:
        if self.equity is None or self.day_start_equity is None:
            return ZERO
        return max(self.day_start_equity - self.equity, ZERO)

    @property
    def drawdown(self) -> Decimal:
        """A fraction of the peak (0.1 is 10%)."""
        if self.equity is None or not self.peak_equity or self.peak_equity <= 0:
            return ZERO
        return max((self.peak_equity - self.equity) / self.peak_equity, ZERO)


@dataclass(frozen=True, slots=True)
class Book:
    """What one level (a bot, an exchange's bots, the fleet) holds and did."""

    legs: Mapping[str, Leg] = field(default_factory=dict)
    exposure: Mapping[str, Decimal] = field(default_factory=dict)  # base asset -> quote value
    total_exposure: Decimal = ZERO
    open_positions: int = 0
    order_times: Sequence[int] = ()  # ms of orders sent recently, ascending
    performance: Performance | None = None

    @classmethod
    def build(cls, positions: Iterable[Position] | Mapping[str, Decimal],
              prices: Mapping[str, Decimal], open_orders: Iterable[Order] = (),
              order_times: Iterable[int] = (), performance: Performance | None = None) -> Book:
        """A book from positions (`Position`s or symbol -> signed amount), working orders
        (their `amount` is what remains to fill) and the last price of every pair held."""
        amounts = dict(positions) if isinstance(positions, Mapping) else {
            p.symbol: p.amount for p in positions}
        buys: dict[str, Decimal] = {}
        sells: dict[str, Decimal] = {}
        for o in open_orders:
            if o.amount <= 0:
                raise RiskInputError(f"open order {o.client_id or '?'} on {o.symbol}: remaining "
                                     f"amount must be > 0, got {o.amount}")
            into = buys if o.side == Side.BUY else sells
            into[o.symbol] = into.get(o.symbol, ZERO) + o.amount
        legs: dict[str, Leg] = {}
        for sym in {*amounts, *buys, *sells}:
            leg = Leg(Decimal(amounts.get(sym, ZERO)), buys.get(sym, ZERO), sells.get(sym, ZERO))
            if leg.position or leg.pending_buy or leg.pending_sell:
                legs[sym] = leg
        exposure: dict[str, Decimal] = {}
        count = 0
        for sym, leg in legs.items():
            worst = leg.worst
            if not worst:
                continue
            price = prices.get(sym)
            if price is None or price <= 0:
                raise RiskInputError(f"no last price for {sym}: its position or working orders "
                                     "cannot be valued (prices must hold every pair held)")
            asset = base_of(sym)
            exposure[asset] = exposure.get(asset, ZERO) + worst * price
            count += 1
        times = tuple(sorted(order_times))
        return cls(legs, exposure, sum(exposure.values(), ZERO), count, times, performance)

    @classmethod
    def combine(cls, books: Iterable[Book], performance: Performance | None = None) -> Book:
        """An exchange's or the fleet's book from its bots' books: legs summed per pair,
        exposures and position counts added (gross), order times merged. Performance of the
        aggregate is computed from the summed equity by the caller."""
        legs: dict[str, Leg] = {}
        exposure: dict[str, Decimal] = {}
        count = 0
        times: list[int] = []
        for b in books:
            for sym, leg in b.legs.items():
                old = legs.get(sym)
                legs[sym] = leg if old is None else Leg(
                    old.position + leg.position, old.pending_buy + leg.pending_buy,
                    old.pending_sell + leg.pending_sell)
            for asset, value in b.exposure.items():
                exposure[asset] = exposure.get(asset, ZERO) + value
            count += b.open_positions
            times.extend(b.order_times)
        times.sort()
        return cls(legs, exposure, sum(exposure.values(), ZERO), count, tuple(times),
                   performance)


@dataclass(frozen=True, slots=True)
class RiskContext:
    """One order intent and everything a pre-trade check needs to judge it.

    `last_price`: the pair's last trade price (values market orders, anchors the price band).
    `free`: the bot's free balances by currency on its exchange. `exchange`/`fleet`: the
    aggregate books, needed only where limits are declared at those levels. `kill`: the
    kill switch in force for the bot (`KillSwitch.active_for`); `breakers`: the states of the
    circuit breakers that cover the bot (an open one halts new entries). `fee_rate`: the
    taker fee as a fraction, added to a buy's cost in the balance check.
    """

    order: Order
    now_ms: int
    last_price: Decimal | None
    bot: Book
    free: Mapping[str, Decimal]
    exchange: Book | None = None
    fleet: Book | None = None
    kill: KillState | None = None
    breakers: Sequence[BreakerState] = ()
    fee_rate: Decimal = ZERO
