"""Binance spot payloads for orders, trades, the account, tickers and depth.

The shapes are those of Binance's documented examples (`exchange_responses/binance/
spot_docs_examples/` in the shared data): the same keys in the same order, amounts as decimal
strings with 8 places. ccxt parses exactly these, so a field renamed here would silently become
None in a broker. Kept apart from the handlers so they can be checked without a server.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

from botfleet.orders import Side
from botfleet.venue.accounts import Account
from botfleet.venue.book import VenueOrder, VenueTrade
from botfleet.venue.market import market_id

ZERO = Decimal(0)


def dec(x: Decimal | None) -> str:
    """Binance's 8-place string when exact, else every digit (never a rounded amount)."""
    if x is None:
        x = ZERO
    s = f"{x:.8f}"
    return s if Decimal(s) == x else format(x.normalize(), "f")


def num(x: float) -> str:
    """A derived float statistic (tickers), to Binance's 8 places."""
    return f"{float(x):.8f}"


def _conditional(order: VenueOrder) -> bool:
    return order.stop_price is not None


def order_status(order: VenueOrder) -> dict:
    """GET /api/v3/order, openOrders, allOrders."""
    return {
        "symbol": market_id(order.symbol),
        "orderId": order.id,
        "orderListId": -1,
        "clientOrderId": order.client_id,
        "price": dec(order.price),
        "origQty": dec(order.quantity),
        "executedQty": dec(order.executed),
        "cummulativeQuoteQty": dec(order.cum_quote),
        "status": order.wire_status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side.name,
        "stopPrice": dec(order.stop_price),
        "icebergQty": dec(ZERO),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.working_time >= 0,
        "workingTime": order.working_time,
        "origQuoteOrderQty": dec(order.quote_qty),
        "selfTradePreventionMode": "NONE",
    }


def fill_entry(trade: VenueTrade) -> dict:
    return {"price": dec(trade.price), "qty": dec(trade.qty), "commission": dec(trade.commission),
            "commissionAsset": trade.commission_asset, "tradeId": trade.id}


def new_order(order: VenueOrder, resp_type: str, trades: list[VenueTrade]) -> dict:
    """POST /api/v3/order in the requested newOrderRespType (ACK, RESULT or FULL)."""
    out = {"symbol": market_id(order.symbol), "orderId": order.id, "orderListId": -1,
           "clientOrderId": order.client_id, "transactTime": order.time}
    if resp_type == "ACK":
        return out
    out.update({
        "price": dec(order.price), "origQty": dec(order.quantity),
        "executedQty": dec(order.executed), "origQuoteOrderQty": dec(order.quote_qty),
        "cummulativeQuoteQty": dec(order.cum_quote), "status": order.wire_status,
        "timeInForce": order.time_in_force, "type": order.type, "side": order.side.name})
    if _conditional(order):
        out["stopPrice"] = dec(order.stop_price)
    out["workingTime"] = order.working_time
    out["selfTradePreventionMode"] = "NONE"
    if resp_type == "FULL":
        out["fills"] = [fill_entry(t) for t in trades]
    return out


def canceled(order: VenueOrder, new_client_id: str, when: int) -> dict:
    """DELETE /api/v3/order."""
    out = {"symbol": market_id(order.symbol), "origClientOrderId": order.client_id,
           "orderId": order.id, "orderListId": -1, "clientOrderId": new_client_id,
           "transactTime": when, "price": dec(order.price), "origQty": dec(order.quantity),
           "executedQty": dec(order.executed), "origQuoteOrderQty": dec(order.quote_qty),
           "cummulativeQuoteQty": dec(order.cum_quote), "status": order.wire_status,
           "timeInForce": order.time_in_force, "type": order.type, "side": order.side.name}
    if _conditional(order):
        out["stopPrice"] = dec(order.stop_price)
    out["selfTradePreventionMode"] = "NONE"
    return out


def my_trade(trade: VenueTrade) -> dict:
    """GET /api/v3/myTrades."""
    return {"symbol": market_id(trade.symbol), "id": trade.id, "orderId": trade.order_id,
            "orderListId": -1, "price": dec(trade.price), "qty": dec(trade.qty),
            "quoteQty": dec(trade.quote_qty), "commission": dec(trade.commission),
            "commissionAsset": trade.commission_asset, "time": trade.time,
            "isBuyer": trade.side == Side.BUY, "isMaker": trade.maker, "isBestMatch": True}


def account(acct: Account, maker: Decimal, taker: Decimal, update_time: int,
            omit_zero: bool) -> dict:
    """GET /api/v3/account. Commissions in Binance's units of 0.01% and as rates."""
    balances = [{"asset": a, "free": dec(f), "locked": dec(lk)}
                for a, (f, lk) in acct.snapshot().items() if not (omit_zero and f + lk == 0)]
    return {
        "makerCommission": int(maker * 10_000), "takerCommission": int(taker * 10_000),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": dec(maker), "taker": dec(taker), "buyer": dec(ZERO),
                            "seller": dec(ZERO)},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": update_time,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
        "uid": zlib.crc32(acct.name.encode()),
    }


def ticker_24h(symbol: str, stats: dict, bid, ask, now: int) -> dict:
    change = stats["last"] - stats["open"]
    pct = change / stats["open"] * 100.0 if stats["open"] else 0.0
    vwap = stats["quote_volume"] / stats["volume"] if stats["volume"] else stats["last"]
    return {
        "symbol": market_id(symbol), "priceChange": num(change), "priceChangePercent":
        f"{pct:.3f}", "weightedAvgPrice": num(vwap), "prevClosePrice": num(stats["prev_close"]),
        "lastPrice": num(stats["last"]), "lastQty": dec(ZERO),
        "bidPrice": dec(bid[0]) if bid else dec(ZERO), "bidQty": dec(bid[1]) if bid else dec(ZERO),
        "askPrice": dec(ask[0]) if ask else dec(ZERO), "askQty": dec(ask[1]) if ask else dec(ZERO),
        "openPrice": num(stats["open"]), "highPrice": num(stats["high"]),
        "lowPrice": num(stats["low"]), "volume": num(stats["volume"]),
        "quoteVolume": num(stats["quote_volume"]), "openTime": now - 86_400_000,
        "closeTime": now, "firstId": -1, "lastId": -1, "count": 0,
    }


def book_ticker(symbol: str, bid, ask) -> dict:
    return {"symbol": market_id(symbol), "bidPrice": dec(bid[0] if bid else ZERO),
            "bidQty": dec(bid[1] if bid else ZERO), "askPrice": dec(ask[0] if ask else ZERO),
            "askQty": dec(ask[1] if ask else ZERO)}


def depth(update_id: int, bids, asks) -> dict:
    return {"lastUpdateId": update_id, "bids": [[dec(p), dec(q)] for p, q in bids],
            "asks": [[dec(p), dec(q)] for p, q in asks]}
