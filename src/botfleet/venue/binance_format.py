"""Binance spot REST payloads and errors, byte-compatible enough that the real ccxt parses them.

Kept apart from the HTTP layer so the same shapes can be reused by a WebSocket stream later, and
so the wire format can be checked without a server (trading payloads: `trading_format`). Shapes
follow the real recordings in the shared data (`exchange_responses/binance/spot/`), updated to
the current schema (`NOTIONAL` filter, `permissionSets`).

Kline fields 8-11 (quote volume, trade count, taker-buy volumes) are not in the recorded data;
they are sent as zeros rather than invented. ccxt reads only the first six.
"""

from __future__ import annotations

import numpy as np

from botfleet.venue.market import close_times, market_id
from botfleet.venue.rules import SymbolRules

INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
             "1d", "3d", "1w", "1M")
MAX_KLINES = 1000
DEFAULT_KLINES = 500
MAX_NUM_ORDERS = 200  # open orders per account and symbol (the MAX_NUM_ORDERS filter)
MAX_NUM_ALGO_ORDERS = 5  # ... of them with a stopPrice (MAX_NUM_ALGO_ORDERS)


class BinanceError(Exception):
    """An API error as Binance reports it: HTTP status + `{"code": ..., "msg": ...}`."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict | None = None):
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def invalid_interval() -> BinanceError:
    return BinanceError(-1120, "Invalid interval.")


def missing_param(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                               "or malformed.")


def illegal_chars(name: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                               "'^[0-9]{1,20}$'.")


def invalid_value(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def too_many_orders(limit: int, retry_after: int) -> BinanceError:
    return BinanceError(-1015, f"Too many new orders; current limit is {limit} orders per "
                               "10 SECOND.", status=429,
                        headers={"Retry-After": str(retry_after)})


def too_much_weight(limit: int, retry_after: int) -> BinanceError:
    return BinanceError(
        -1003, f"Too much request weight used; current limit is {limit} request weight per "
               "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        status=429, headers={"Retry-After": str(retry_after)})


def decimal(x: float) -> str:
    """Binance's 8-decimal string when it is exact, else the shortest exact positional form,
    so that `float(s) == x` always holds (tests compare served candles to the file bit for bit)."""
    s = f"{x:.8f}"
    if float(s) == x:
        return s
    return np.format_float_positional(x, unique=True, trim="-")


def kline_rows(candles: np.ndarray, timeframe: str) -> list[list]:
    close = close_times(candles["ts"], timeframe)
    return [[int(c["ts"]), decimal(c["open"]), decimal(c["high"]), decimal(c["low"]),
             decimal(c["close"]), decimal(c["volume"]), int(ct), "0", 0, "0", "0", "0"]
            for c, ct in zip(candles, close, strict=True)]


def symbol_info(symbol: str, rules: SymbolRules, status: str = "TRADING") -> dict:
    base, quote = symbol.split("/")
    return {
        "symbol": market_id(symbol),
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": rules.base_precision,
        "quoteAsset": quote,
        "quotePrecision": rules.quote_precision,
        "quoteAssetPrecision": rules.quote_precision,
        "baseCommissionPrecision": rules.base_precision,
        "quoteCommissionPrecision": rules.quote_precision,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": rules.min_price,
             "maxPrice": rules.max_price, "tickSize": rules.tick_size},
            {"filterType": "LOT_SIZE", "minQty": rules.min_qty, "maxQty": rules.max_qty,
             "stepSize": rules.step_size},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": rules.max_qty,
             "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": rules.min_notional,
             "applyMinToMarket": True, "maxNotional": rules.max_notional,
             "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": MAX_NUM_ORDERS},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": MAX_NUM_ALGO_ORDERS},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(symbols: list[tuple[str, SymbolRules]], server_time: int,
                  weight_limit: int, status: dict[str, str] | None = None,
                  order_limit: int = 100) -> dict:
    """`status`: symbol -> 'TRADING' (default) or 'BREAK' (the venue cannot match it)."""
    status = status or {}
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": weight_limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": order_limit},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
             "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(s, r, status.get(s, "TRADING")) for s, r in symbols],
    }
