"""A local, Binance-compatible exchange simulator on recorded (or seeded synthetic) markets.

Brokers, reconciliation and the paper/backtest parity need an exchange that behaves like Binance
on the wire — signing, orders and fills, balances, errors, throttling, outages — without the
internet and on data whose truth is known. See docs/venue.md. Parts: the clock shared with the
bots (`clock`), market data (`market`, `synthetic`), exchange rules (`rules`, `filters`), the
trading core (`exchange`: `accounts`, `book`, `tape`, `matching` on the backtest's fill rules),
wire formats (`binance_format`, `trading_format`), HTTP (`binance_http`, `trading_http`,
`control_http`, `auth`), throttling (`limits`), failures (`faults`, `fault_profile`) and the ccxt
wiring (`ccxt_client`).
"""

from importlib import import_module

# name -> module; imported on first use, so a server process never pays for ccxt or pandas
_EXPORTS = {
    "Account": "accounts", "Accounts": "accounts", "Balance": "accounts",
    "BinanceServer": "binance_http", "VenueOrder": "book", "VenueTrade": "book",
    "SimClock": "ccxt_client", "binance_client": "ccxt_client", "point_at": "ccxt_client",
    "Clock": "clock", "SimExchange": "exchange", "FaultProfile": "fault_profile",
    "Fault": "faults", "FaultPlan": "faults", "WeightLimiter": "limits",
    "MarketData": "market", "market_id": "market", "SymbolRules": "rules",
    "synthetic_market": "synthetic",
}
__all__ = ["Account", "Accounts", "Balance", "BinanceServer", "Clock", "Fault", "FaultPlan",
           "FaultProfile", "MarketData", "SimClock", "SimExchange", "SymbolRules", "VenueOrder",
           "VenueTrade", "WeightLimiter", "binance_client", "market_id", "point_at",
           "synthetic_market"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'botfleet.venue' has no attribute {name!r}")
    value = getattr(import_module(f"botfleet.venue.{module}"), name)
    globals()[name] = value
    return value
