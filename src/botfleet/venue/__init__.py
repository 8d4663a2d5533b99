"""A local, Binance-compatible venue serving real recorded market data.

Tests and backtests need an exchange that behaves like Binance on the wire — paging, the forming
candle, weights, errors, outages — without the internet and with data whose truth is known. This
package is the seed of that simulator: market data (`market`), exchange rules (`rules`), wire
formats (`binance_format`), the HTTP layer (`binance_http`), throttling (`limits`), scripted
failures (`faults`) and the ccxt wiring (`ccxt_client`).
"""

from botfleet.venue.binance_http import BinanceServer
from botfleet.venue.ccxt_client import binance_client, point_at
from botfleet.venue.faults import Fault, FaultPlan
from botfleet.venue.limits import WeightLimiter
from botfleet.venue.market import Clock, MarketData, market_id
from botfleet.venue.rules import SymbolRules

__all__ = ["BinanceServer", "Clock", "Fault", "FaultPlan", "MarketData", "SymbolRules",
           "WeightLimiter", "binance_client", "market_id", "point_at"]
