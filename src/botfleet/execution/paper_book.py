"""An in-memory exchange account for the brokers that fill by themselves (`SimBroker`, the
internal `PaperBroker`): orders, trades and Decimal balances, matched bar by bar with the
backtest's fill rules (`botfleet.sim.fills`, called, never re-derived).

One bar of one symbol is offered to the working orders in two events, as the venue and the
backtest do: its OPEN (market orders fill at the open plus slippage; a stop the open gapped
through fills at the open; a limit the open is through fills at its limit) and then INSIDE it
(limits the bar trades through, stops it reaches). Sells go before buys (exits before entries).
A fill takes at most the fill model's volume cap of the bar, then the step; a buy that cash
cannot pay shrinks to what it can (`fills.affordable`) or expires. Fees are in the quote
currency, rounded half-up to `FEE_PLACES`, taker for market/stop fills, maker for limit fills.
An order locks what it may spend (a buy: amount x level x (1 + fee); a sell: the amount).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal

from botfleet.execution.broker import (
    DuplicateClientId,
    ExchangeOrder,
    ExchangeTrade,
    Market,
    NotFound,
    Rejected,
)
from botfleet.execution.records import Balance
from botfleet.orders import Liquidity, Order, OrderStatus, OrderType, Side
from botfleet.sim import fills as F
from botfleet.sim.fillmodel import DEFAULT_FEE, FillModel

ZERO = Decimal(0)
FEE_UNIT = Decimal("1e-8")
S = OrderStatus
OPEN_PHASE, INSIDE = 0, 1


def _d(x: float, unit: Decimal) -> Decimal:
    """A float result of a fill rule as the exact multiple of `unit` it stands for."""
    d = Decimal(repr(float(x)))
    return d if unit <= 0 else (d / unit).quantize(Decimal(1)) * unit


@dataclass
class BookOrder:
    order: Order
    exchange_id: str
    created_ms: int
    kind: OrderType  # how it works now (a triggered stop works as a market or limit order)
    lock_asset: str
    locked: Decimal
    status: OrderStatus = S.OPEN
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    updated_ms: int = 0
    trades: list[ExchangeTrade] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.status in (S.OPEN, S.PARTIALLY_FILLED)

    def view(self) -> ExchangeOrder:
        o = self.order
        return ExchangeOrder(self.exchange_id, o.client_id, o.symbol, o.side, o.type,
                             self.status, o.amount, self.filled, o.price, o.stop_price,
                             (self.cost / self.filled).quantize(Decimal("1e-12")).normalize()
                             if self.filled else None, self.fee, self.order.symbol.split("/")[1],
                             self.created_ms, self.updated_ms, tuple(self.trades))


class PaperBook:
    def __init__(self, markets: dict[str, Market], fills: FillModel,
                 balances: dict[str, Decimal]):
        self.markets, self.fills = markets, fills
        self.maker = fills.maker_fee if fills.maker_fee is not None else DEFAULT_FEE
        self.taker = fills.taker_fee if fills.taker_fee is not None else DEFAULT_FEE
        self.free: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[str, BookOrder] = {}  # by exchange id, in booking order
        self.trades: list[ExchangeTrade] = []
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)

    # -- account -----------------------------------------------------------------------------
    def balances(self) -> dict[str, Balance]:
        assets = set(self.free) | set(self.locked)
        return {a: Balance(self.free.get(a, ZERO), self.locked.get(a, ZERO),
                           self.free.get(a, ZERO) + self.locked.get(a, ZERO))
                for a in sorted(assets)}

    def _move(self, asset: str, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + free
        self.locked[asset] = self.locked.get(asset, ZERO) + locked

    # -- orders ------------------------------------------------------------------------------
    def submit(self, order: Order, now_ms: int, ref: Decimal | None) -> BookOrder:
        m = self.markets.get(order.symbol)
        if m is None:
            raise Rejected(f"unknown symbol {order.symbol}")
        if self.find(order.client_id, live_only=True) is not None:
            raise DuplicateClientId(f"an open order has client id {order.client_id}")
        if m.step > 0 and order.amount % m.step or order.amount < max(m.min_amount, m.step):
            raise Rejected(f"{order.symbol}: amount {order.amount} is off the step {m.step} "
                           f"or under the minimum {m.min_amount}")
        level = order.price if order.price is not None else (
            order.stop_price if order.stop_price is not None else ref)
        if level is None:
            raise Rejected(f"{order.symbol}: no price to value a market order at")
        for p in (order.price, order.stop_price):
            if p is not None and m.tick > 0 and p % m.tick:
                raise Rejected(f"{order.symbol}: price {p} is off the tick {m.tick}")
        if order.amount * level < m.min_notional:
            raise Rejected(f"{order.symbol}: notional {order.amount * level} under the "
                           f"minimum {m.min_notional}")
        if order.side == Side.BUY:
            asset = m.quote
            need = (order.amount * level * (1 + max(self.maker, self.taker))).quantize(
                FEE_UNIT, rounding=ROUND_UP)
        else:
            asset, need = m.base, order.amount
        if need > self.free.get(asset, ZERO):
            raise Rejected(f"insufficient balance: {need} {asset} needed, "
                           f"{self.free.get(asset, ZERO)} free")
        self._move(asset, -need, need)
        bo = BookOrder(order, str(next(self._ids)), now_ms, order.type, asset, need,
                       updated_ms=now_ms)
        self.orders[bo.exchange_id] = bo
        return bo

    def find(self, client_id: str | None = None, exchange_id: str | None = None,
             live_only: bool = False) -> BookOrder | None:
        if exchange_id is not None:
            bo = self.orders.get(exchange_id)
            return bo if bo is not None and (not live_only or bo.live) else None
        for bo in reversed(list(self.orders.values())):
            if bo.order.client_id == client_id and (not live_only or bo.live):
                return bo
        return None

    def cancel(self, client_id: str, now_ms: int) -> BookOrder:
        bo = self.find(client_id, live_only=True)
        if bo is None:
            raise NotFound(f"no open order with client id {client_id}")
        self._finish(bo, S.CANCELED, now_ms)
        return bo

    def _finish(self, bo: BookOrder, status: OrderStatus, ts: int) -> None:
        bo.status = status
        bo.updated_ms = max(bo.updated_ms, ts)
        if bo.locked:
            self._move(bo.lock_asset, bo.locked, -bo.locked)
            bo.locked = ZERO

    def working(self, symbol: str) -> list[BookOrder]:
        live = [bo for bo in self.orders.values() if bo.live and bo.order.symbol == symbol]
        return sorted(live, key=lambda bo: (int(bo.order.side), int(bo.exchange_id)))

    # -- matching ----------------------------------------------------------------------------
    def bar(self, symbol: str, ts: int, close_ms: int, o: float, h: float, lo: float,
            volume: float, slip: float, phase: int, only: BookOrder | None = None) -> None:
        """Offer bar `ts` (its open, or its inside) to the working orders of `symbol` booked
        at or before `ts` (or to `only`)."""
        when = ts if phase == OPEN_PHASE else close_ms - 1
        for bo in [only] if only is not None else self.working(symbol):
            if bo.created_ms > ts or not bo.live:
                continue
            side, kind = int(bo.order.side), bo.kind
            if kind == OrderType.MARKET:
                if phase == OPEN_PHASE:
                    self._fill(bo, o, True, volume, slip, when)
            elif kind == OrderType.LIMIT:
                lim = float(bo.order.price)
                hit = F.limit_through(side, lim, o, o) if phase == OPEN_PHASE \
                    else F.limit_through(side, lim, lo, h)
                if hit:
                    self._fill(bo, lim, False, volume, 0.0, when, maker=True)
            else:
                stop = float(bo.order.stop_price)
                hit = F.stop_gapped(side, stop, o) if phase == OPEN_PHASE \
                    else F.stop_triggered(side, stop, lo, h)
                if not hit:
                    continue
                if kind == OrderType.STOP:
                    bo.kind = OrderType.MARKET
                    self._fill(bo, F.stop_ref(side, o, stop), True, volume, slip, when)
                else:
                    bo.kind = OrderType.LIMIT
                    p = F.stop_limit_price(side, o, stop, float(bo.order.price))
                    if not math.isnan(p):  # fills at the trigger, taker, no slippage
                        self._fill(bo, p, False, volume, 0.0, when)

    def _fill(self, bo: BookOrder, ref: float, slips: bool, volume: float, slip: float,
              ts: int, maker: bool = False) -> None:
        m = self.markets[bo.order.symbol]
        side = int(bo.order.side)
        step, tick = float(m.step), float(m.tick)
        want = bo.order.amount - bo.filled
        got = F.volume_capped(float(want), volume, self.fills.volume_cap)
        amount = want if got >= float(want) else min(want, _d(F.round_amount(got, step),
                                                              m.step))
        rate = self.maker if maker else self.taker

        def price_of() -> Decimal:
            if slips:
                return _d(F.taker_price(ref, side, slip, tick), m.tick)
            return bo.order.price if bo.order.price is not None and \
                float(bo.order.price) == ref else _d(ref, m.tick)

        price = price_of()
        if bo.order.side == Side.BUY:
            cash = bo.locked + self.free.get(m.quote, ZERO)
            if amount * price + self._fee(amount, price, rate) > cash:
                amount = min(amount, _d(F.round_amount(
                    F.affordable(float(cash), float(price), float(rate)), step), m.step))
                while amount > 0 and amount * price + self._fee(amount, price, rate) > cash:
                    amount -= m.step if m.step > 0 else FEE_UNIT
        if amount <= 0:
            self._finish(bo, S.EXPIRED, ts)
            return
        fee = self._fee(amount, price, rate)
        notional = amount * price
        if bo.order.side == Side.BUY:
            pay = notional + fee
            from_lock = min(bo.locked, pay)
            bo.locked -= from_lock
            self._move(m.quote, -(pay - from_lock), -from_lock)
            self._move(m.base, amount)
        else:
            bo.locked -= amount
            self._move(m.base, ZERO, -amount)
            self._move(m.quote, notional - fee)
        trade = ExchangeTrade(str(next(self._trade_ids)), bo.exchange_id, bo.order.symbol,
                              bo.order.side, amount, price, fee, m.quote,
                              Liquidity.MAKER if maker else Liquidity.TAKER, ts,
                              bo.order.client_id)
        bo.trades.append(trade)
        self.trades.append(trade)
        bo.filled += amount
        bo.cost += notional
        bo.fee += fee
        bo.updated_ms = ts
        if bo.filled >= bo.order.amount:
            self._finish(bo, S.FILLED, ts)
        else:
            bo.status = S.PARTIALLY_FILLED

    @staticmethod
    def _fee(amount: Decimal, price: Decimal, rate: Decimal) -> Decimal:
        return (amount * price * rate).quantize(FEE_UNIT, rounding=ROUND_HALF_UP)
