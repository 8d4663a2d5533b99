"""A new-order request's parameters checked the way Binance checks them, before any state is read.

A broker's bugs show up as the exchange's refusals, so each malformed order must get Binance's
code and words: a missing parameter -1102, one sent that the type does not take -1106 (price) or
-1114 (timeInForce), illegal characters -1100, too many decimals -1111, an unknown side, type or
time in force -1117/-1116/-1115, and the filters -1013. Checks that need the account or the
market (balance, duplicate client id, LIMIT_MAKER crossing) are the exchange's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from botfleet.orders import Side
from botfleet.venue import binance_format as fmt
from botfleet.venue.book import BINANCE_TYPES
from botfleet.venue.filters import Filters

NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
_NEEDS_TIF = {"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
_NEEDS_PRICE = {"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
_NEEDS_STOP = {"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}


@dataclass(frozen=True)
class OrderRequest:
    symbol: str  # ccxt symbol, 'BTC/USDT'
    side: Side
    type: str  # Binance's order type
    quantity: Decimal | None
    quote_qty: Decimal | None  # MARKET only: spend (buy) or receive (sell) this much quote
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str
    client_id: str | None
    resp_type: str


def parse_order(params: dict[str, str], symbol_for_id, filters_for) -> OrderRequest:
    """`symbol_for_id('BTCUSDT') -> 'BTC/USDT' | None`, `filters_for(symbol) -> Filters`."""
    market_id = _required(params, "symbol")
    symbol = symbol_for_id(market_id)
    if symbol is None:
        raise fmt.invalid_symbol()
    side_s = _required(params, "side")
    if side_s not in ("BUY", "SELL"):
        raise fmt.BinanceError(-1117, "Invalid side.")
    type_ = _required(params, "type")
    if type_ not in BINANCE_TYPES:
        raise fmt.BinanceError(-1116, "Invalid orderType.")
    filters: Filters = filters_for(symbol)
    tif = params.get("timeInForce") or None
    if type_ in _NEEDS_TIF:
        if tif is None:
            raise fmt.missing_param("timeInForce")
        if tif not in TIME_IN_FORCE:
            raise fmt.BinanceError(-1115, "Invalid timeInForce.")
    elif tif is not None:
        raise fmt.BinanceError(-1114, "TimeInForce parameter sent when not required.")
    qty = _number(params, "quantity", filters.base_precision)
    quote = _number(params, "quoteOrderQty", filters.quote_precision)
    if type_ == "MARKET":
        if qty is None and quote is None:
            raise fmt.BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                          "but both were empty/null!")
        if qty is not None and quote is not None:
            raise not_required("quoteOrderQty")
    else:
        if quote is not None:
            raise not_required("quoteOrderQty")
        if qty is None:
            raise fmt.missing_param("quantity")
    price = _number(params, "price", filters.quote_precision)
    if type_ in _NEEDS_PRICE and price is None:
        raise fmt.missing_param("price")
    if type_ not in _NEEDS_PRICE and price is not None:
        raise not_required("price")
    stop = _number(params, "stopPrice", filters.quote_precision)
    if type_ in _NEEDS_STOP and stop is None:
        raise fmt.missing_param("stopPrice")
    if type_ not in _NEEDS_STOP and stop is not None:
        raise not_required("stopPrice")
    client_id = params.get("newClientOrderId") or None
    if client_id is not None and not CLIENT_ID.match(client_id):
        raise fmt.BinanceError(-1100, "Illegal characters found in parameter "
                                      "'newClientOrderId'; legal range is "
                                      "'^[a-zA-Z0-9-_]{1,36}$'.")
    resp = params.get("newOrderRespType") or ("FULL" if type_ in ("MARKET", "LIMIT") else "ACK")
    if resp not in RESP_TYPES:
        raise fmt.invalid_value("newOrderRespType")
    # the filters, in Binance's order
    for level in (price, stop):
        if level is not None:
            filters.check_price(level)
    if qty is not None:
        filters.check_qty(qty)
    if price is not None and qty is not None:
        filters.check_notional(price * qty, market=False)
    return OrderRequest(symbol, Side.BUY if side_s == "BUY" else Side.SELL, type_, qty, quote,
                        price, stop, tif or "GTC", client_id, resp)


def parse_lookup(params: dict[str, str]) -> tuple[int | None, str | None]:
    """(orderId, origClientOrderId) of a query or cancel; at least one is required."""
    raw_id = params.get("orderId") or None
    client = params.get("origClientOrderId") or None
    if raw_id is None and client is None:
        raise fmt.BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                      "but both were empty/null!")
    order_id = None
    if raw_id is not None:
        if not raw_id.isdigit() or len(raw_id) > 20:
            raise fmt.illegal_chars("orderId")
        order_id = int(raw_id)
    return order_id, client


def not_required(name: str) -> fmt.BinanceError:
    return fmt.BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise fmt.missing_param(name)
    return value


def _number(params: dict[str, str], name: str, precision: int) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not NUMBER.match(raw):
        raise fmt.BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal "
                                      "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    value = Decimal(raw)
    if -value.normalize().as_tuple().exponent > precision:
        raise fmt.BinanceError(-1111, f"Parameter '{name}' has too much precision.")
    return value
