"""`CcxtBroker`: the broker interface over any ccxt exchange (spot first).

ccxt hands numbers back as floats; everything here leaves as `Decimal`. Where the exchange's raw
answer (`info`) has the decimal string, that is used (Binance: `origQty`, `executedQty`,
`cummulativeQuoteQty`, `qty`, `commission`, balances); otherwise the float is read back through
`repr`, which is exact for the at most 15 significant digits exchanges send.

The client order id is sent as ccxt's unified `clientOrderId` (Binance: `newClientOrderId`).
Looking an order up by it uses the exchange's own query where there is one (Binance's
`origClientOrderId`, answered "Order does not exist." when it was never booked); elsewhere the
open orders and the most recent closed ones are scanned, which can only say "not among the last
`scan_limit`", so `settle_ms` should then be generous.

Credentials never appear in messages: errors are redacted of the key, the secret and request
signatures (`broker.redact`), and `repr()` shows the exchange id only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from botfleet.execution.broker import (
    ZERO,
    ExchangeOrder,
    ExchangeTrade,
    Market,
    NotFound,
    classify,
)
from botfleet.execution.records import Balance, plain
from botfleet.obs.instrument import timed_request
from botfleet.orders import Liquidity, Order, OrderStatus, OrderType, Side

CCXT_TYPES = {OrderType.MARKET: "market", OrderType.LIMIT: "limit",
              OrderType.STOP: "market", OrderType.STOP_LIMIT: "limit"}
_WIRE_STATUS = {"NEW": OrderStatus.OPEN, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
                "FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELED,
                "PENDING_CANCEL": OrderStatus.OPEN, "REJECTED": OrderStatus.REJECTED,
                "EXPIRED": OrderStatus.EXPIRED, "EXPIRED_IN_MATCH": OrderStatus.EXPIRED}
_CCXT_STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.FILLED,
                "canceled": OrderStatus.CANCELED, "cancelled": OrderStatus.CANCELED,
                "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED}
_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "limit_maker": OrderType.LIMIT,
          "stop_loss": OrderType.STOP, "take_profit": OrderType.STOP,
          "stop_market": OrderType.STOP, "stop": OrderType.STOP,
          "stop_loss_limit": OrderType.STOP_LIMIT, "take_profit_limit": OrderType.STOP_LIMIT,
          "stop_limit": OrderType.STOP_LIMIT}
SETTLE_MARGIN_MS = 2_000  # clock skew and client-side throttling between the ledger and signing


def dec(value) -> Decimal | None:
    """An exchange number as a Decimal (a float through its shortest repr), without trailing
    zeros (Binance's "0.01000000" is 0.01)."""
    if value is None or value == "":
        return None
    return plain(Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value)))


def _q12(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("1e-12")).normalize()


class CcxtBroker:
    """`exchange`: a configured ccxt client (keys, timeout, options). `now`: the clock orders
    are stamped by (default the local wall clock; the simulator's for paper). `lookup`:
    "client_id" (ask the exchange by client id) or "scan"; default by exchange."""

    def __init__(self, exchange, *, sandbox: bool = False, now: Callable[[], int] | None = None,
                 settle_ms: int | None = None, lookup: str | None = None,
                 scan_limit: int = 500, name: str | None = None):
        if sandbox:
            exchange.set_sandbox_mode(True)
        self.exchange = exchange
        self.name = name or exchange.id
        self._now = now
        self._binance = exchange.id.startswith("binance")
        self.lookup_mode = lookup or ("client_id" if self._binance else "scan")
        self.scan_limit = scan_limit
        if settle_ms is None:
            window = int(exchange.options.get("recvWindow", 10_000)) if self._binance \
                else 60_000
            settle_ms = window + SETTLE_MARGIN_MS
        self.settle_ms = settle_ms

    def __repr__(self) -> str:
        return f"CcxtBroker({self.name!r})"

    # -- plumbing --------------------------------------------------------------------------
    def _call(self, op: str, fn, *args, **kwargs):
        try:
            with timed_request(self.name, op):  # latency and errors by ccxt class: metrics
                return fn(*args, **kwargs)
        except Exception as exc:
            import ccxt

            if not isinstance(exc, ccxt.BaseError):
                raise
            raise classify(exc, op, self.exchange.apiKey, self.exchange.secret) from None

    def _markets(self) -> dict:
        if not self.exchange.markets:
            self._call("markets", self.exchange.load_markets)
        return self.exchange.markets

    def now_ms(self) -> int:
        if self._now is None:
            return int(time.time() * 1000)
        return int(self._call("time", self._now))

    # -- markets ---------------------------------------------------------------------------
    def market(self, symbol: str) -> Market:
        import ccxt

        m = self._markets()[symbol]
        prec, limits = m.get("precision") or {}, m.get("limits") or {}

        def grid(value) -> Decimal:
            if value is None:
                return ZERO
            if self.exchange.precisionMode == ccxt.TICK_SIZE:
                return dec(value)
            return Decimal(1).scaleb(-int(value))  # DECIMAL_PLACES

        return Market(symbol, m["base"], m["quote"], grid(prec.get("price")),
                      grid(prec.get("amount")),
                      dec((limits.get("amount") or {}).get("min")) or ZERO,
                      dec((limits.get("cost") or {}).get("min")) or ZERO)

    def amount_to_precision(self, symbol: str, amount: Decimal) -> Decimal:
        import ccxt

        self._markets()
        try:
            return Decimal(self.exchange.amount_to_precision(symbol, str(amount)))
        except ccxt.InvalidOrder:  # rounds to nothing
            return ZERO

    def price_to_precision(self, symbol: str, price: Decimal) -> Decimal:
        self._markets()
        return Decimal(self.exchange.price_to_precision(symbol, str(price)))

    # -- orders ----------------------------------------------------------------------------
    def submit(self, order: Order) -> ExchangeOrder:
        self._markets()
        params: dict = {"clientOrderId": order.client_id}
        if order.stop_price is not None:
            params["triggerPrice"] = str(order.stop_price)
        price = str(order.price) if order.price is not None else None
        raw = self._call("submit", self.exchange.create_order, order.symbol,
                         CCXT_TYPES[order.type], order.side.name.lower(), str(order.amount),
                         price, params)
        return self.parse_order(raw, order)

    def cancel(self, symbol: str, client_id: str) -> ExchangeOrder:
        self._markets()
        if self.lookup_mode == "client_id":
            raw = self._call("cancel", self.exchange.cancel_order, None, symbol,
                             self._by_client_id(client_id))
        else:
            found = self.lookup(symbol, client_id)
            if found is None or not found.live:
                raise NotFound(f"no open order with client id {client_id} on {self.name}")
            raw = self._call("cancel", self.exchange.cancel_order, found.exchange_id, symbol)
        return self.parse_order(raw)

    def lookup(self, symbol: str, client_id: str | None = None, *,
               exchange_id: str | None = None) -> ExchangeOrder | None:
        """The order by client id (or exchange id); None when the exchange says it has none."""
        self._markets()
        try:
            if exchange_id is not None:
                return self.parse_order(self._call("lookup", self.exchange.fetch_order,
                                                   exchange_id, symbol))
            if self.lookup_mode == "client_id":
                return self.parse_order(self._call(
                    "lookup", self.exchange.fetch_order, None, symbol,
                    self._by_client_id(client_id)))
        except NotFound:
            return None
        for raw in self._scan(symbol):
            if raw.get("clientOrderId") == client_id:
                return self.parse_order(raw)
        return None

    def _by_client_id(self, client_id: str) -> dict:
        return {"origClientOrderId" if self._binance else "clientOrderId": client_id}

    def _scan(self, symbol: str) -> list[dict]:
        ex = self.exchange
        rows = list(self._call("lookup", ex.fetch_open_orders, symbol))
        if ex.has.get("fetchClosedOrders"):
            rows += self._call("lookup", ex.fetch_closed_orders, symbol, None, self.scan_limit)
        elif ex.has.get("fetchOrders"):
            rows += self._call("lookup", ex.fetch_orders, symbol, None, self.scan_limit)
        return rows

    def order_trades(self, order: ExchangeOrder) -> list[ExchangeTrade]:
        ex = self.exchange
        if self._binance:
            raw = self._call("trades", ex.fetch_my_trades, order.symbol, None, None,
                             {"orderId": order.exchange_id})
        elif ex.has.get("fetchOrderTrades"):
            raw = self._call("trades", ex.fetch_order_trades, order.exchange_id, order.symbol)
        else:
            raw = [t for t in self._call("trades", ex.fetch_my_trades, order.symbol,
                                         order.created_ms)
                   if str(t.get("order")) == order.exchange_id]
        return [self.parse_trade(t, order.client_id) for t in raw]

    def open_orders(self, symbol: str) -> list[ExchangeOrder]:
        self._markets()
        return [self.parse_order(r) for r in self._call("open_orders",
                                                        self.exchange.fetch_open_orders, symbol)]

    def trades(self, symbol: str, since_ms: int | None = None) -> list[ExchangeTrade]:
        """The account's trades on `symbol` from `since_ms` on, oldest first (paged)."""
        self._markets()
        out: list[ExchangeTrade] = []
        seen: set[str] = set()
        since = since_ms
        while True:
            page = self._call("trades", self.exchange.fetch_my_trades, symbol, since, 1000)
            fresh = [t for t in page if str(t["id"]) not in seen]
            for t in fresh:
                seen.add(str(t["id"]))
                out.append(self.parse_trade(t))
            if len(page) < 1000 or not fresh or since is None:
                return out
            since = max(int(t["timestamp"]) for t in page)

    def balances(self) -> dict[str, Balance]:
        raw = self._call("balances", self.exchange.fetch_balance)
        info = raw.get("info") or {}
        if self._binance and isinstance(info.get("balances"), list):
            out = {}
            for row in info["balances"]:
                free, used = dec(row["free"]), dec(row["locked"])
                out[row["asset"]] = Balance(free, used, free + used)
            return out
        return {asset: Balance(dec(raw["free"].get(asset)) or ZERO,
                               dec(raw["used"].get(asset)) or ZERO, dec(total) or ZERO)
                for asset, total in (raw.get("total") or {}).items()}

    # -- parsing ---------------------------------------------------------------------------
    def parse_order(self, raw: dict, sent: Order | None = None) -> ExchangeOrder:
        info = raw.get("info") or {}
        wire = info.get("status") if self._binance else None
        status = _WIRE_STATUS.get(wire) if wire else _CCXT_STATUS.get(raw.get("status") or "",
                                                                        OrderStatus.OPEN)
        amount = dec(info.get("origQty")) if self._binance and info.get("origQty") else None
        amount = amount or dec(raw.get("amount")) or (sent.amount if sent else ZERO)
        filled = dec(info.get("executedQty")) if self._binance and "executedQty" in info \
            else dec(raw.get("filled"))
        filled = filled or ZERO
        cost = dec(info.get("cummulativeQuoteQty")) if self._binance and \
            "cummulativeQuoteQty" in info else dec(raw.get("cost"))
        average = _q12(cost / filled) if cost and filled else None
        kind = _TYPES.get(str(raw.get("type") or "").lower())
        if kind is None:
            kind = sent.type if sent else OrderType.MARKET
        trades = tuple(self.parse_trade(t, raw.get("clientOrderId"), raw)
                       for t in raw.get("trades") or () if t.get("id") is not None)
        fee = sum((t.fee for t in trades), ZERO) if trades else None
        price = dec(raw.get("price")) if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) \
            else None
        return ExchangeOrder(
            exchange_id=str(raw["id"]), client_id=raw.get("clientOrderId"),
            symbol=raw.get("symbol") or (sent.symbol if sent else ""),
            side=Side[str(raw.get("side") or sent.side.name).upper()], type=kind,
            status=status, amount=amount, filled=filled, price=price,
            stop_price=dec(raw.get("triggerPrice") or raw.get("stopPrice")), average=average,
            fee=fee, fee_currency=trades[0].fee_currency if trades else None,
            created_ms=raw.get("timestamp"),
            updated_ms=raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp")
            or raw.get("timestamp"), trades=trades)

    def parse_trade(self, raw: dict, client_id: str | None = None,
                    order: dict | None = None) -> ExchangeTrade:
        info = raw.get("info") or {}
        fee = raw.get("fee") or {}
        if self._binance and "commission" in info:
            amount, price = dec(info["qty"]), dec(info["price"])
            fee_cost, fee_cur = dec(info["commission"]), info.get("commissionAsset")
        else:
            amount, price = dec(raw["amount"]), dec(raw["price"])
            fee_cost, fee_cur = dec(fee.get("cost")) or ZERO, fee.get("currency")
        order = order or {}
        ts = raw.get("timestamp") or order.get("lastTradeTimestamp") or order.get("timestamp")
        side = raw.get("side") or order.get("side")
        maker = raw.get("takerOrMaker") == "maker"
        return ExchangeTrade(
            trade_id=str(raw["id"]), order_id=str(raw.get("order") or order.get("id") or "")
            or None, symbol=raw.get("symbol") or order.get("symbol"),
            side=Side[str(side).upper()], amount=amount, price=price, fee=fee_cost,
            fee_currency=fee_cur, liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
            ts_ms=int(ts if ts is not None else self.now_ms()), client_id=client_id)
