"""Per-symbol trading rules (Binance "filters") of the simulated venue.

They live apart from the candles because they are what an order simulator will enforce later
(tick size, lot size, minimum notional), and because ccxt derives `market['precision']` and
`market['limits']` from them: a client that rounds prices or amounts must see realistic values,
not the 1e-8 that a naive fake would advertise.

Values are decimal strings, as Binance sends them, so no float rounding creeps into the filters.
The table holds Binance's published spot filters for the pairs in the shared data set; a test that
needs other values passes its own `rules=` to `MarketData`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SymbolRules:
    tick_size: str = "0.00000001"
    min_price: str = "0.00000001"
    max_price: str = "1000000.00000000"
    step_size: str = "0.00000001"
    min_qty: str = "0.00000001"
    max_qty: str = "9000000.00000000"
    min_notional: str = "5.00000000"
    max_notional: str = "9000000.00000000"
    base_precision: int = 8
    quote_precision: int = 8


KNOWN_RULES: dict[str, SymbolRules] = {
    "BTC/USDT": SymbolRules(tick_size="0.01000000", min_price="0.01000000",
                            step_size="0.00001000", min_qty="0.00001000",
                            max_qty="9000.00000000"),
    "ETH/USDT": SymbolRules(tick_size="0.01000000", min_price="0.01000000",
                            step_size="0.00010000", min_qty="0.00010000",
                            max_qty="9000.00000000"),
    "BNB/USDT": SymbolRules(tick_size="0.01000000", min_price="0.01000000",
                            step_size="0.00100000", min_qty="0.00100000",
                            max_qty="9000.00000000"),
    "SOL/USDT": SymbolRules(tick_size="0.01000000", min_price="0.01000000",
                            step_size="0.00100000", min_qty="0.00100000",
                            max_qty="9000.00000000"),
    "XRP/USDT": SymbolRules(tick_size="0.00010000", min_price="0.00010000",
                            step_size="0.10000000", min_qty="0.10000000",
                            max_qty="9222449.00000000"),
}

DEFAULT_RULES = SymbolRules()


def rules_for(symbol: str, overrides: dict[str, SymbolRules] | None = None) -> SymbolRules:
    if overrides and symbol in overrides:
        return overrides[symbol]
    return KNOWN_RULES.get(symbol, DEFAULT_RULES)
