"""A real `ccxt.binance` wired to a local venue instead of api.binance.com.

Ingestion code should be handed an ordinary ccxt exchange object and never know it talks to a
simulator; this is the one place that knows how to re-point one. All of ccxt's REST base URLs
(spot, margin, futures, options) are rewritten to the local server, so a call this venue does not
implement fails locally with a 404 instead of reaching the internet. Market loading is restricted
to spot because the venue serves no futures/margin exchangeInfo, and client-side throttling stays
on so paging behaves as in production.
"""

from __future__ import annotations

import ccxt

from botfleet.data.exchange_client import SPOT_OPTIONS, point_at

SPOT_ONLY_OPTIONS = {**SPOT_OPTIONS["binance"], "adjustForTimeDifference": False}


def binance_client(base_url: str, **config) -> ccxt.binance:
    """`ccxt.binance(config)` talking to `base_url` (e.g. `BinanceServer.base_url`).

    `config` is ordinary ccxt configuration (`rateLimit=`, `timeout=`, ...); its `options` are
    merged over the spot-only defaults."""
    options = {**SPOT_ONLY_OPTIONS, **config.pop("options", {})}
    exchange = ccxt.binance({"enableRateLimit": True, **config, "options": options})
    point_at(exchange, base_url)
    return exchange
