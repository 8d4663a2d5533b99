"""What the ledger returns and refuses: read-only records of stored rows, its errors, and the
checks on money it is given.

Records are frozen snapshots of a row at the time it was read (not live ORM objects), so a
broker can hold them across transactions and threads without surprises. They convert to the
shared `orders.py` types where one exists (`OrderRecord.as_order`, `FillRecord.as_fill`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botfleet.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Reason, Side

MAX_PLACES = 12  # storage.columns.MONEY_PLACES: more would be rounded away silently
MAX_INTEGER_DIGITS = 26  # NUMERIC(38, 12)


class LedgerError(ValueError):
    """Bad input or a request the stored state cannot honour; the message says what and where."""


class UnknownBot(LedgerError):
    pass


class UnknownOrder(LedgerError):
    pass


class IntentConflict(LedgerError):
    """The client order id is already recorded for a different order: the intent key was
    reused within a cycle for something else."""


class FillConflict(LedgerError):
    """The exchange trade id is already recorded for this order with different numbers."""


def utc(dt: datetime) -> datetime:
    # SQLite gives back naive datetimes; every stored time is UTC
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def plain(value: Decimal | None) -> Decimal | None:
    """A stored amount without the trailing zeros of its column (PostgreSQL gives
    `1.000000000000`, SQLite `1.0`), so records and messages read the same on both backends;
    never in exponent notation (`100`, not `1E+2`)."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def money(value: object, what: str, *, positive: bool = False, signed: bool = False) -> Decimal:
    """`value` checked to be storable money: a finite `Decimal` (or int) with at most 12 decimal
    places, non-negative unless `signed`, above zero if `positive`. Floats are refused: a float
    sent to an exchange is the bug this type discipline exists to prevent."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise LedgerError(f"{what} must be a Decimal, got {type(value).__name__} {value!r}")
    value = Decimal(value)
    if not value.is_finite():
        raise LedgerError(f"{what} must be finite, got {value}")
    if value and value.normalize().as_tuple().exponent < -MAX_PLACES:
        raise LedgerError(f"{what} {value} has more than {MAX_PLACES} decimal places (money is "
                          f"stored with {MAX_PLACES}); round it to the market's precision first")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise LedgerError(f"{what} {value} is too large (at most {MAX_INTEGER_DIGITS} digits "
                          "before the point)")
    if positive and value <= 0:
        raise LedgerError(f"{what} must be above zero, got {value}")
    if not signed and value < 0:
        raise LedgerError(f"{what} must not be negative, got {value}")
    return value


def text(value: object, what: str, limit: int, *, optional: bool = False) -> str | None:
    """A non-empty string of at most `limit` characters (the column's width)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LedgerError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise LedgerError(f"{what} {value[:40]!r}... is {len(value)} characters; at most {limit}")
    return value


@dataclass(frozen=True)
class OrderRecord:
    """An order as stored. `filled`, `average_price` and `fee` are the exchange's cumulative
    report or the sum of the recorded fills, whichever covers more of the amount."""

    id: int
    client_id: str
    bot: str
    cycle_key: str
    intent_key: str
    cycle_id: int | None
    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    reason: Reason
    status: OrderStatus
    filled: Decimal
    average_price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    exchange_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    cancel_requested_at: datetime | None
    exchange_created_ms: int | None
    exchange_updated_ms: int | None

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def done(self) -> bool:
        return self.status.done

    def as_order(self) -> Order:
        return Order(self.client_id, self.symbol, self.side, self.type, self.amount, self.price,
                     self.stop_price, self.reduce_only, self.reason,
                     int(self.created_at.timestamp() * 1000))


@dataclass(frozen=True)
class OrderEvent:
    id: int
    client_id: str
    from_status: OrderStatus | None  # None: the intent was recorded
    to_status: OrderStatus
    ts: datetime
    source: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class FillRecord:
    id: int
    client_id: str
    trade_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    liquidity: Liquidity
    ts_ms: int

    def as_fill(self, order_type: OrderType = OrderType.MARKET,
                reason: Reason = Reason.SIGNAL) -> Fill:
        return Fill(self.symbol, self.side, self.amount, self.price, self.fee, self.ts_ms,
                    self.liquidity, order_type, reason, client_id=self.client_id)


@dataclass(frozen=True)
class FillOutcome:
    """What `record_fill` did: `new` is False when the trade id was already recorded (then
    nothing changed and `order` is as it was)."""

    order: OrderRecord
    fill: FillRecord
    new: bool


@dataclass(frozen=True)
class CycleRecord:
    id: int
    bot: str
    key: str
    correlation_id: str
    candle_ms: int | None
    run_id: int | None
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Balance:
    """One asset of an account; ccxt's `free`/`used`/`total`, as Decimals."""

    free: Decimal
    used: Decimal
    total: Decimal
