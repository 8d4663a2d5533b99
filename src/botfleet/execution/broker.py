"""The broker interface: what the executor and reconciliation need of an exchange, in one shape
for all three clocks (backtest `SimBroker`, paper `PaperBroker`, live `CcxtBroker`).

Everything crossing it is exact: amounts, prices, fees and balances are `Decimal`, statuses are
`orders.OrderStatus`, an order is sent as an `orders.Order` whose `client_id` is the ledger's
deterministic client order id — the one handle that survives a crash, a timeout and a restart.

The error taxonomy is the other half of the contract. What the executor may do after a failed
request depends on one question only: *could the exchange have booked it?*

- `Rejected` (`AuthFailed`): not booked and never will be -> the order is marked rejected
  (an auth failure also stops the bot);
- `NotSent`: not booked (throttled, refused before processing) -> marked unknown, resolved by
  look-up later;
- `OutcomeUnknown` (`DuplicateClientId`): maybe booked -> marked unknown, looked up by client
  id, never re-sent blindly;
- `NotFound`: the exchange says it has no such order (a look-up's or a cancel's answer);
- `Unavailable`: a read failed -> asked again later.

`classify` maps ccxt's exceptions onto these in one place. Order matters there: ccxt's
`OrderNotFound` and `DuplicateOrderId` are `InvalidOrder`s, and `DDoSProtection`,
`RequestTimeout`, `InvalidNonce` and `ExchangeNotAvailable` are all `NetworkError`s, so the most
specific classes are tested first. Anything not recognised during a write is `OutcomeUnknown`:
being wrong that way costs a look-up, being wrong the other way costs a duplicate order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol, runtime_checkable

from botfleet.execution.records import Balance
from botfleet.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side

ZERO = Decimal(0)
WRITE_OPS = ("submit", "cancel")


# -- what a broker returns ---------------------------------------------------------------------

@dataclass(frozen=True)
class Market:
    """A market's precision and limits as Decimals: `tick` and `step` are the price and amount
    grids (0: none), `min_amount` / `min_notional` the smallest order the exchange accepts."""

    symbol: str
    base: str
    quote: str
    tick: Decimal = ZERO
    step: Decimal = ZERO
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO

    def amount(self, amount: Decimal) -> Decimal:
        """Down to the step (never more than asked, as ccxt's amount_to_precision)."""
        if self.step <= 0:
            return amount
        return (amount / self.step).to_integral_value(rounding=ROUND_DOWN) * self.step

    def price(self, price: Decimal) -> Decimal:
        """To the nearest tick."""
        if self.tick <= 0:
            return price
        return (price / self.tick).quantize(Decimal(1)) * self.tick

    def rules(self):
        """The backtest's float `MarketRules` of this market (for the fill rules)."""
        from botfleet.sim.fillmodel import MarketRules

        return MarketRules(float(self.tick), float(self.step), float(self.min_amount),
                           float(self.min_notional))


@dataclass(frozen=True)
class ExchangeTrade:
    """One execution of an order as the exchange reports it; the fee is in `fee_currency`."""

    trade_id: str
    order_id: str | None  # the exchange's order id
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str | None
    liquidity: Liquidity
    ts_ms: int
    client_id: str | None = None

    def as_fill(self, order_type: OrderType = OrderType.MARKET) -> Fill:
        return Fill(self.symbol, self.side, self.amount, self.price, self.fee, self.ts_ms,
                    self.liquidity, order_type, client_id=self.client_id or "")


@dataclass(frozen=True)
class ExchangeOrder:
    """An order as the exchange reports it: cumulative `filled`, its `average` price and (when
    the answer carried them) its `trades` and their summed `fee`."""

    exchange_id: str
    client_id: str | None
    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    amount: Decimal
    filled: Decimal = ZERO
    price: Decimal | None = None
    stop_price: Decimal | None = None
    average: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    created_ms: int | None = None
    updated_ms: int | None = None
    trades: tuple[ExchangeTrade, ...] = ()

    @property
    def live(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)

    def as_order(self) -> Order:
        return Order(self.client_id or "", self.symbol, self.side, self.type, self.amount,
                     self.price, self.stop_price, created_ms=self.created_ms or 0)


# -- the interface -----------------------------------------------------------------------------

@runtime_checkable
class Broker(Protocol):
    """An exchange account. `settle_ms`: how long after a request was signed the exchange can
    still book it (Binance: the request's `recvWindow`); only after that may "not found by
    client id" be taken as "never booked"."""

    name: str
    settle_ms: int

    def now_ms(self) -> int: ...
    def market(self, symbol: str) -> Market: ...
    def amount_to_precision(self, symbol: str, amount: Decimal) -> Decimal: ...
    def price_to_precision(self, symbol: str, price: Decimal) -> Decimal: ...
    def submit(self, order: Order) -> ExchangeOrder: ...
    def cancel(self, symbol: str, client_id: str) -> ExchangeOrder: ...
    def lookup(self, symbol: str, client_id: str | None = None, *,
               exchange_id: str | None = None) -> ExchangeOrder | None: ...
    def order_trades(self, order: ExchangeOrder) -> list[ExchangeTrade]: ...
    def open_orders(self, symbol: str) -> list[ExchangeOrder]: ...
    def trades(self, symbol: str, since_ms: int | None = None) -> list[ExchangeTrade]: ...
    def balances(self) -> dict[str, Balance]: ...


# -- the error taxonomy ------------------------------------------------------------------------

class BrokerError(Exception):
    """A failed request; `cause` names the exchange library's exception class."""

    def __init__(self, message: str, cause: str = "", retry_after_s: float | None = None):
        super().__init__(message)
        self.cause = cause
        self.retry_after_s = retry_after_s


class Rejected(BrokerError):
    """The exchange refused the order: it is not booked and never will be."""


class AuthFailed(Rejected):
    """Keys, permissions or the account: nothing will work until a human fixes it."""


class NotSent(BrokerError):
    """Refused before processing (rate limit, ban, timestamp): not booked; may be sent again,
    with the same client id, once the look-up agrees."""


class OutcomeUnknown(BrokerError):
    """The request may or may not have been booked (timeout, dropped connection, 5xx)."""


class DuplicateClientId(OutcomeUnknown):
    """The exchange already has an order with this client id: it was booked before."""


class NotFound(BrokerError):
    """The exchange has no such order (or, for a cancel, no such open order)."""


class Unavailable(BrokerError):
    """A read failed (network, outage, throttling): ask again later."""


_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')
_SIGNATURE = re.compile(r"(signature=)[0-9a-fA-F]+")
_DUPLICATE = ("duplicate order", "duplicate client", "clientorderid is duplicated")
NOT_SENT_CODES = {-1003, -1015, -1021}  # Binance: weight, order rate, timestamp outside window


def redact(text: str, *secrets: str | None) -> str:
    """`text` without request signatures and without any of `secrets` (API key, secret)."""
    text = _SIGNATURE.sub(r"\1***", text)
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def exchange_code(text: str) -> int | None:
    m = _CODE.search(text)
    return int(m.group(1)) if m else None


def classify(exc: BaseException, op: str, *secrets: str | None) -> BrokerError:
    """The `BrokerError` a ccxt exception means for operation `op` ("submit", "cancel", or a
    read such as "lookup"); its message has no credentials or signatures."""
    import ccxt

    name = type(exc).__name__
    message = redact(f"{name}: {exc}", *secrets)
    write = op in WRITE_OPS
    code = exchange_code(str(exc))
    retry = _retry_after(exc)
    if isinstance(exc, ccxt.OrderNotFound):
        return NotFound(message, name)
    if op == "cancel" and (code == -2011 or isinstance(exc, ccxt.OperationRejected)):
        return NotFound(message, name)  # "Unknown order sent.": not open (unknown or done)
    if isinstance(exc, ccxt.DuplicateOrderId) or any(d in str(exc).lower() for d in _DUPLICATE):
        return DuplicateClientId(message, name)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded | ccxt.InvalidNonce) or \
            code in NOT_SENT_CODES:
        return (NotSent if write else Unavailable)(message, name, retry)
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthFailed(message, name)
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):
        # timeouts, dropped connections, 5xx: a write may have been processed
        return (OutcomeUnknown if write else Unavailable)(message, name, retry)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.InsufficientFunds | ccxt.BadRequest
                  | ccxt.OperationRejected | ccxt.NotSupported | ccxt.ArgumentsRequired):
        return Rejected(message, name) if write else BrokerError(message, name)
    if write:
        return OutcomeUnknown(message, name)  # not recognised: assume it may have been booked
    return BrokerError(message, name)


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if isinstance(headers, dict) else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
