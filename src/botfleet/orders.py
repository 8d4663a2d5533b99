"""The order, fill and trade types shared by the backtester, the paper broker and the live path.

One vocabulary for all three clocks is what keeps backtest and live from drifting apart: the
backtest kernel works on arrays for speed, but its order kinds, sides and exit reasons are the
integer codes defined here, and its records convert to these dataclasses (`sim.records`) — the
same objects the runtime will write to the state database and send through ccxt.

Money is `Decimal` here (what is stored or sent to an exchange); the kernel's float arrays are
research values and are converted at this boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum


class Side(IntEnum):
    BUY = 1
    SELL = -1


class OrderType(IntEnum):
    """Order kinds; the values are the kernel's codes."""

    MARKET = 0
    LIMIT = 1
    STOP = 2  # stop-market: becomes a market order when the price trades at the stop
    STOP_LIMIT = 3  # becomes a limit order at `price` when the price trades at `stop_price`

    @property
    def ccxt(self) -> str:
        return {0: "market", 1: "limit", 2: "stop_market", 3: "stop_limit"}[self.value]


class Liquidity(IntEnum):
    TAKER = 0
    MAKER = 1


class Reason(IntEnum):
    """Why an order was placed; the trade list reports the entry and the final exit reason."""

    SIGNAL = 0  # the strategy's entry or exit rule
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    TIME_LIMIT = 4
    END_OF_DATA = 5  # a backtest closes what is open at the last bar, so its PnL is realised
    REVERSE = 6  # an opposite entry closed the position
    LIQUIDATION = 7  # reserved for futures
    MANUAL = 8  # the kill switch or an operator

    @property
    def label(self) -> str:
        return self.name.lower()


class Reject(IntEnum):
    """Why an order never reached the book (the exchange would have refused it)."""

    MIN_NOTIONAL = 1
    MIN_AMOUNT = 2
    INSUFFICIENT_CASH = 3
    SHORT_NOT_ALLOWED = 4
    EXPIRED = 5  # a limit/stop entry that did not fill within its validity

    @property
    def label(self) -> str:
        return self.name.lower()


class OrderStatus(IntEnum):
    """An order's life (`execution.order_machine` says which changes are allowed). The values
    0-6 are the kernel's codes and stay as they are; later states are numbered after them."""

    NEW = 0  # written, not yet sent
    OPEN = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELED = 4
    REJECTED = 5
    EXPIRED = 6
    SUBMITTED = 7  # being sent: the request may have reached the exchange
    UNKNOWN = 8  # the send's outcome is not known (timeout, network error): look it up

    @property
    def done(self) -> bool:
        """Terminal: the exchange will not change this order any more."""
        return OrderStatus.FILLED <= self <= OrderStatus.EXPIRED


@dataclass(frozen=True)
class Order:
    client_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None = None  # limit price (LIMIT, STOP_LIMIT)
    stop_price: Decimal | None = None  # trigger (STOP, STOP_LIMIT)
    reduce_only: bool = False
    reason: Reason = Reason.SIGNAL
    created_ms: int = 0


@dataclass(frozen=True)
class Fill:
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal  # in the quote currency
    ts: int  # ms since the epoch, UTC
    liquidity: Liquidity = Liquidity.TAKER
    order_type: OrderType = OrderType.MARKET
    reason: Reason = Reason.SIGNAL
    slippage: Decimal = Decimal(0)  # quote currency lost to slippage against the reference price
    client_id: str = ""

    @property
    def notional(self) -> Decimal:
        return self.amount * self.price


@dataclass(frozen=True)
class Trade:
    """A round trip: from the first entry fill to the fill that flattened the position."""

    symbol: str
    direction: int  # +1 long, -1 short
    entry_ms: int
    exit_ms: int
    amount: Decimal  # the largest position held, in the base currency
    entry_price: Decimal  # average over entry fills
    exit_price: Decimal  # average over exit fills
    pnl: Decimal  # net of fees, quote currency
    fees: Decimal
    slippage: Decimal
    entry_reason: Reason
    exit_reason: Reason

    @property
    def return_pct(self) -> Decimal:
        cost = self.amount * self.entry_price
        return self.pnl / cost if cost else Decimal(0)


@dataclass(frozen=True)
class Position:
    symbol: str
    amount: Decimal  # signed: negative is short
    entry_price: Decimal
    realized_pnl: Decimal = Decimal(0)

    @property
    def direction(self) -> int:
        return (self.amount > 0) - (self.amount < 0)
