"""The venue's record of orders and trades, per account, and the lookups Binance offers on them.

Kept apart from the matching rules so that what an order IS (its parameters, fills, status,
reserved balance) and how it is FOUND (by id, by client id among open orders, open ones, all,
trades by time or id) stay small and testable on their own. Brokers depend on these lookups after
a crash or a timeout: "did my order with client id X get booked?" must have Binance's answer.

Statuses are `botfleet.orders.OrderStatus`; the wire names are Binance's (`OPEN` is "NEW").
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from botfleet.orders import Fill, Liquidity, OrderStatus, OrderType, Side
from botfleet.venue.accounts import Account

ZERO = Decimal(0)
OPEN_PHASE, CLOSE_PHASE = 1, 0  # a bar's two matching events; a close sorts first at one time

WIRE_STATUS = {OrderStatus.OPEN: "NEW", OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
               OrderStatus.FILLED: "FILLED", OrderStatus.CANCELED: "CANCELED",
               OrderStatus.REJECTED: "REJECTED", OrderStatus.EXPIRED: "EXPIRED"}

# Binance's order types as botfleet's order kinds plus which way a conditional one triggers:
# "stop" as a stop-loss (a sell when the price falls to it), "take_profit" the other way.
BINANCE_TYPES: dict[str, tuple[OrderType, str | None]] = {
    "MARKET": (OrderType.MARKET, None),
    "LIMIT": (OrderType.LIMIT, None),
    "LIMIT_MAKER": (OrderType.LIMIT, None),
    "STOP_LOSS": (OrderType.STOP, "stop"),
    "STOP_LOSS_LIMIT": (OrderType.STOP_LIMIT, "stop"),
    "TAKE_PROFIT": (OrderType.STOP, "take_profit"),
    "TAKE_PROFIT_LIMIT": (OrderType.STOP_LIMIT, "take_profit"),
}


@dataclass
class VenueOrder:
    id: int
    account: Account
    symbol: str  # 'BTC/USDT'
    side: Side
    type: str  # Binance's order type, e.g. 'STOP_LOSS_LIMIT'
    quantity: Decimal | None  # None until a quoteOrderQty market order is sized at its fill
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    client_id: str
    time: int  # venue ms when booked: it acts on bars opening at or after this
    quote_qty: Decimal | None = None
    status: OrderStatus = OrderStatus.OPEN
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    working_time: int = -1  # when it started working (a conditional order: its trigger)
    locked_asset: str = ""
    locked: Decimal = ZERO  # what this order still holds locked of the account's balance
    triggered: bool = False
    kind: OrderType = OrderType.MARKET  # how it works now: a triggered stop becomes MARKET/LIMIT
    fill_fraction: float = 0.0  # injected partial fills: at most this share of the order a bar
    bar: int = 0  # the next bar of the matching tape this order has to be checked against
    phase: int = OPEN_PHASE  # ... and which of its events
    first_bar: int = -1  # IOC/FOK: the one bar they may fill in
    version: int = 0  # bumps when the order is rescheduled, so stale wake-ups are ignored
    trade_ids: list[int] = field(default_factory=list)

    @property
    def trigger(self) -> str | None:
        return BINANCE_TYPES[self.type][1]

    @property
    def order_type(self) -> OrderType:
        return BINANCE_TYPES[self.type][0]

    @property
    def remaining(self) -> Decimal:
        return (self.quantity - self.executed) if self.quantity is not None else ZERO

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)

    @property
    def wire_status(self) -> str:
        return WIRE_STATUS[self.status]


@dataclass(frozen=True)
class VenueTrade:
    id: int
    order_id: int
    account: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    maker: bool
    ref_price: Decimal  # the price before slippage (the open, the stop, the limit)
    client_id: str
    order_type: OrderType

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty

    def to_fill(self) -> Fill:
        """The shared `orders.Fill` (fee in quote; slippage in quote, positive = lost)."""
        return Fill(symbol=self.symbol, side=self.side, amount=self.qty, price=self.price,
                    fee=self.commission, ts=self.time,
                    liquidity=Liquidity.MAKER if self.maker else Liquidity.TAKER,
                    order_type=self.order_type,
                    slippage=(self.price - self.ref_price) * self.qty * int(self.side),
                    client_id=self.client_id)


class OrderBook:
    """Orders and trades of every account. Not thread-safe: the exchange holds its lock."""

    def __init__(self):
        self.orders: dict[int, VenueOrder] = {}
        self.working: dict[int, VenueOrder] = {}  # open orders, the matching engine's set
        self._by_account: dict[str, list[VenueOrder]] = {}
        self._open_client: dict[tuple[str, str], VenueOrder] = {}
        self._open_n: Counter[tuple[str, str, bool]] = Counter()  # (account, symbol, algo)
        self._trades: dict[str, list[VenueTrade]] = {}
        self.trade_by_id: dict[int, VenueTrade] = {}
        self._next_order = 1
        self._next_trade = 1

    def new_order_id(self) -> int:
        oid, self._next_order = self._next_order, self._next_order + 1
        return oid

    def new_trade_id(self) -> int:
        tid, self._next_trade = self._next_trade, self._next_trade + 1
        return tid

    def open_counts(self, account: Account, symbol: str) -> tuple[int, int]:
        """(open orders, open orders with a stopPrice) of the account on the symbol."""
        algo = self._open_n[(account.name, symbol, True)]
        return self._open_n[(account.name, symbol, False)] + algo, algo

    def open_with_client_id(self, account: Account, client_id: str) -> VenueOrder | None:
        return self._open_client.get((account.name, client_id))

    def add(self, order: VenueOrder) -> None:
        self.orders[order.id] = order
        self._by_account.setdefault(order.account.name, []).append(order)
        if order.is_open:
            self.working[order.id] = order
            self._open_client[(order.account.name, order.client_id)] = order
            self._open_n[(order.account.name, order.symbol, order.stop_price is not None)] += 1

    def closed(self, order: VenueOrder) -> None:
        """The order reached a final status: it leaves the working set and frees its id."""
        if self.working.pop(order.id, None) is not None:
            self._open_n[(order.account.name, order.symbol, order.stop_price is not None)] -= 1
        key = (order.account.name, order.client_id)
        if self._open_client.get(key) is order:
            del self._open_client[key]

    def add_trade(self, trade: VenueTrade) -> None:
        self._trades.setdefault(trade.account, []).append(trade)
        self.trade_by_id[trade.id] = trade

    def trades_of(self, order: VenueOrder) -> list[VenueTrade]:
        return [self.trade_by_id[t] for t in order.trade_ids]

    # --- Binance's lookups -----------------------------------------------------------------

    def find(self, account: Account, symbol: str, *, order_id: int | None = None,
             client_id: str | None = None) -> VenueOrder | None:
        """By id, else the most recent order of that client id (open or not)."""
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or order.account is not account or order.symbol != symbol:
                return None
            if client_id is not None and order.client_id != client_id:
                return None
            return order
        for order in reversed(self._by_account.get(account.name, [])):
            if order.symbol == symbol and order.client_id == client_id:
                return order
        return None

    def open_orders(self, account: Account, symbol: str | None = None) -> list[VenueOrder]:
        return [o for o in self._by_account.get(account.name, [])
                if o.is_open and (symbol is None or o.symbol == symbol)]

    def all_orders(self, account: Account, symbol: str, *, from_id: int | None = None,
                   start: int | None = None, end: int | None = None,
                   limit: int = 500) -> list[VenueOrder]:
        """Binance: from an order id up, else within [start, end], else the most recent."""
        rows = [o for o in self._by_account.get(account.name, []) if o.symbol == symbol]
        return _window(rows, lambda o: o.id, lambda o: o.time, from_id, start, end, limit)

    def trades(self, account: Account, symbol: str | None = None, *,
               order_id: int | None = None, from_id: int | None = None,
               start: int | None = None, end: int | None = None,
               limit: int = 500) -> list[VenueTrade]:
        rows = [t for t in self._trades.get(account.name, [])
                if (symbol is None or t.symbol == symbol)
                and (order_id is None or t.order_id == order_id)]
        return _window(rows, lambda t: t.id, lambda t: t.time, from_id, start, end, limit)

    def all_trades(self, account: Account) -> list[VenueTrade]:
        return list(self._trades.get(account.name, []))


def _window(rows: list, key, when, from_id, start, end, limit) -> list:
    """The selection rules Binance applies to allOrders and myTrades (rows in id order)."""
    if from_id is not None:
        i = bisect.bisect_left([key(r) for r in rows], from_id)
        return rows[i:i + limit]
    if start is not None or end is not None:
        lo = start if start is not None else -1
        hi = end if end is not None else 2**63
        return [r for r in rows if lo <= when(r) <= hi][:limit]
    return rows[-limit:] if limit else []
