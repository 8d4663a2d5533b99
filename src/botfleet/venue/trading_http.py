"""The trading endpoints of the local Binance: account, orders, trades, tickers and depth.

Handlers only translate between HTTP parameters and `SimExchange`: parameters are checked by
`order_request`, state lives in the exchange, payload shapes in `trading_format`. Each route
carries Binance's request weight (a function of its parameters where Binance's is) and whether
it is SIGNED (HMAC, `auth`), as the real API does. Every handler takes `(server, params,
account)`; `account` is None for public routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from botfleet.venue import binance_format as fmt
from botfleet.venue import quotes
from botfleet.venue import trading_format as tf
from botfleet.venue.order_request import parse_lookup, parse_order

MAX_LIMIT = 1000
DEPTH_LIMITS = ((100, 5), (500, 25), (1000, 50), (5000, 250))


@dataclass(frozen=True)
class Route:
    handler: Callable[..., Awaitable[object]]
    weight: Callable[[dict], int]
    signed: bool = False
    counts_order: bool = False  # charged against the account's ORDERS rate limit


def fixed(n: int) -> Callable[[dict], int]:
    return lambda params: n


# --- helpers ---------------------------------------------------------------------------------

def _symbol(server, params: dict, *, required: bool = True) -> str | None:
    raw = params.get("symbol")
    if not raw:
        if required:
            raise fmt.missing_param("symbol")
        return None
    symbol = server.market.symbol_for_id(raw)
    if symbol is None:
        raise fmt.invalid_symbol()
    return symbol


def _int(params: dict, name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 20:
        raise fmt.illegal_chars(name)
    return int(raw)


def _limit(params: dict, default: int = 500, most: int = MAX_LIMIT) -> int:
    limit = _int(params, "limit", default)
    if not 1 <= limit <= most:
        raise fmt.invalid_value("limit")
    return limit


def _symbols(server, params: dict) -> list[str]:
    """`symbol`, or the JSON list `symbols`, or every tradable symbol."""
    if params.get("symbol"):
        return [_symbol(server, params)]
    if params.get("symbols"):
        try:
            wanted = json.loads(params["symbols"])
        except ValueError:
            raise fmt.invalid_value("symbols") from None
        if not isinstance(wanted, list):
            raise fmt.invalid_value("symbols")
        out = []
        for w in wanted:
            symbol = server.market.symbol_for_id(w) if isinstance(w, str) else None
            if symbol is None:
                raise fmt.invalid_symbol()
            out.append(symbol)
        return out
    return [s for s in server.market.symbols() if server.exchange.tradable(s)]


def _many(params: dict, one: int, few: int, all_: int) -> int:
    if params.get("symbol"):
        return one
    return few if params.get("symbols") else all_


# --- account and orders (SIGNED) -------------------------------------------------------------

async def account_info(server, params: dict, account) -> dict:
    ex = server.exchange
    with ex.lock:
        ex.settle()
        return tf.account(account, ex.maker_rate, ex.taker_rate, ex.clock.now_ms(),
                          params.get("omitZeroBalances") == "true")


async def new_order(server, params: dict, account) -> dict:
    ex = server.exchange
    req = parse_order(params, server.market.symbol_for_id, ex.filters)
    with ex.lock:
        order = ex.submit(account, req)
        return tf.new_order(order, req.resp_type, ex.book.trades_of(order))


async def test_order(server, params: dict, account) -> dict:
    """POST /api/v3/order/test: validated like an order, nothing is booked."""
    parse_order(params, server.market.symbol_for_id, server.exchange.filters)
    return {}


async def get_order(server, params: dict, account) -> dict:
    symbol = _symbol(server, params)
    order_id, client_id = parse_lookup(params)
    order = server.exchange.query(account, symbol, order_id=order_id, client_id=client_id)
    with server.exchange.lock:
        return tf.order_status(order)


async def cancel_order(server, params: dict, account) -> dict:
    ex = server.exchange
    symbol = _symbol(server, params)
    order_id, client_id = parse_lookup(params)
    with ex.lock:
        order = ex.cancel(account, symbol, order_id=order_id, client_id=client_id)
        new_id = params.get("newClientOrderId") or f"sim-cancel-{order.id}"
        return tf.canceled(order, new_id, ex.clock.now_ms())


async def cancel_all(server, params: dict, account) -> list:
    """DELETE /api/v3/openOrders: every open order of the symbol."""
    ex = server.exchange
    symbol = _symbol(server, params)
    with ex.lock:
        ex.settle()
        out = []
        for order in ex.book.open_orders(account, symbol):
            ex.cancel(account, symbol, order_id=order.id)
            out.append(tf.canceled(order, f"sim-cancel-{order.id}", ex.clock.now_ms()))
        if not out:
            raise fmt.BinanceError(-2011, "Unknown order sent.")
        return out


async def open_orders(server, params: dict, account) -> list:
    ex = server.exchange
    symbol = _symbol(server, params, required=False)
    with ex.lock:
        ex.settle()
        return [tf.order_status(o) for o in ex.book.open_orders(account, symbol)]


async def all_orders(server, params: dict, account) -> list:
    ex = server.exchange
    symbol = _symbol(server, params)
    limit = _limit(params)
    from_id = _int(params, "orderId")
    start, end = _int(params, "startTime"), _int(params, "endTime")
    with ex.lock:
        ex.settle()
        rows = ex.book.all_orders(account, symbol, from_id=from_id, start=start, end=end,
                                  limit=limit)
        return [tf.order_status(o) for o in rows]


async def my_trades(server, params: dict, account) -> list:
    ex = server.exchange
    symbol = _symbol(server, params)
    limit = _limit(params)
    order_id, from_id = _int(params, "orderId"), _int(params, "fromId")
    start, end = _int(params, "startTime"), _int(params, "endTime")
    if from_id is not None and (start is not None or end is not None):
        raise fmt.BinanceError(-1128, "Combination of optional parameters invalid.")
    with ex.lock:
        ex.settle()
        rows = ex.book.trades(account, symbol, order_id=order_id, from_id=from_id, start=start,
                              end=end, limit=limit)
        return [tf.my_trade(t) for t in rows]


# --- market views (public) -------------------------------------------------------------------

def _quote_of(server, symbol: str, now: int, levels: int = 1):
    ex = server.exchange
    tape = ex.tape(symbol)
    if tape is None:
        return None, [], []
    bids, asks = quotes.book(tape, ex.filters(symbol), now, levels)
    return tape, bids, asks


async def ticker_24hr(server, params: dict, account) -> dict | list:
    now = server.exchange.clock.now_ms()
    out = []
    for symbol in _symbols(server, params):
        tape, bids, asks = _quote_of(server, symbol, now)
        stats = quotes.day_stats(tape, now) if tape is not None else None
        if stats is not None:
            out.append(tf.ticker_24h(symbol, stats, bids[:1] and bids[0], asks[:1] and asks[0],
                                     now))
    return out[0] if params.get("symbol") and out else out


async def ticker_price(server, params: dict, account) -> dict | list:
    now = server.exchange.clock.now_ms()
    out = []
    for symbol in _symbols(server, params):
        price = server.exchange.ref_price(symbol, now)
        if price is not None:
            out.append({"symbol": symbol.replace("/", ""), "price": tf.num(price)})
    return out[0] if params.get("symbol") and out else out


async def book_ticker(server, params: dict, account) -> dict | list:
    now = server.exchange.clock.now_ms()
    out = []
    for symbol in _symbols(server, params):
        tape, bids, asks = _quote_of(server, symbol, now)
        if tape is not None:
            out.append(tf.book_ticker(symbol, bids[0] if bids else None,
                                      asks[0] if asks else None))
    return out[0] if params.get("symbol") and out else out


async def depth(server, params: dict, account) -> dict:
    symbol = _symbol(server, params)
    limit = _limit(params, 100, 5000)
    now = server.exchange.clock.now_ms()
    _, bids, asks = _quote_of(server, symbol, now, limit)
    return tf.depth(now, bids, asks)


def depth_weight(params: dict) -> int:
    raw = params.get("limit") or "100"
    limit = int(raw) if raw.isdigit() else 100
    return next((w for top, w in DEPTH_LIMITS if limit <= top), 250)


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v3/account"): Route(account_info, fixed(20), signed=True),
    ("POST", "/api/v3/order"): Route(new_order, fixed(1), signed=True, counts_order=True),
    ("POST", "/api/v3/order/test"): Route(test_order, fixed(1), signed=True),
    ("GET", "/api/v3/order"): Route(get_order, fixed(4), signed=True),
    ("DELETE", "/api/v3/order"): Route(cancel_order, fixed(1), signed=True),
    ("GET", "/api/v3/openOrders"): Route(
        open_orders, lambda p: 6 if p.get("symbol") else 80, signed=True),
    ("DELETE", "/api/v3/openOrders"): Route(cancel_all, fixed(1), signed=True),
    ("GET", "/api/v3/allOrders"): Route(all_orders, fixed(20), signed=True),
    ("GET", "/api/v3/myTrades"): Route(my_trades, fixed(20), signed=True),
    ("GET", "/api/v3/ticker/24hr"): Route(ticker_24hr, lambda p: _many(p, 2, 40, 80)),
    ("GET", "/api/v3/ticker/price"): Route(ticker_price, lambda p: _many(p, 2, 4, 4)),
    ("GET", "/api/v3/ticker/bookTicker"): Route(book_ticker, lambda p: _many(p, 2, 4, 4)),
    ("GET", "/api/v3/depth"): Route(depth, depth_weight),
}
