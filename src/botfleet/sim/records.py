"""The kernel's record layouts (numpy structured dtypes) and their conversion to the shared
`orders` types.

The kernel writes fills and trades into preallocated structured arrays because Python objects
cannot live inside numba; these dtypes are the contract between the kernel, metrics, reports and
storage. Codes in `kind`, `reason` and `liquidity` are `orders.OrderType`, `orders.Reason` and
`orders.Liquidity` values.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from botfleet.orders import Fill, Liquidity, OrderType, Reason, Side, Trade

FILL_DTYPE = np.dtype([
    ("bar", np.int64),  # index of the bar the fill happened in
    ("asset", np.int32),
    ("side", np.int8),  # +1 buy, -1 sell
    ("kind", np.int8),  # OrderType
    ("reason", np.int8),  # Reason
    ("liquidity", np.int8),  # Liquidity
    ("amount", np.float64),  # base currency, > 0
    ("price", np.float64),  # fill price after slippage, rounded to the tick
    ("fee", np.float64),  # quote currency
    ("slippage", np.float64),  # quote currency lost against the reference price (>= 0)
])

TRADE_DTYPE = np.dtype([
    ("asset", np.int32),
    ("direction", np.int8),  # +1 long, -1 short
    ("entry_bar", np.int64),  # bar of the first entry fill
    ("exit_bar", np.int64),  # bar of the fill that flattened the position
    ("amount", np.float64),  # largest absolute position held
    ("entry_price", np.float64),  # volume-weighted over entry fills
    ("exit_price", np.float64),  # volume-weighted over exit fills
    ("pnl", np.float64),  # net of all fees of the round trip, quote currency
    ("ret", np.float64),  # pnl / (entry_price * amount)
    ("fees", np.float64),
    ("slippage", np.float64),
    ("entry_reason", np.int8),
    ("exit_reason", np.int8),
])

REJECT_DTYPE = np.dtype([
    ("bar", np.int64),
    ("asset", np.int32),
    ("side", np.int8),
    ("reason", np.int8),  # orders.Reject
    ("amount", np.float64),
    ("price", np.float64),
])


def _dec(x: float, places: int = 12) -> Decimal:
    """A float from the kernel as a Decimal, rounded so that binary noise is not stored."""
    return Decimal(repr(round(float(x), places)))


def fills_to_objects(fills: np.ndarray, ts: np.ndarray, symbols: list[str]) -> list[Fill]:
    return [Fill(symbol=symbols[f["asset"]], side=Side(int(f["side"])),
                 amount=_dec(f["amount"]), price=_dec(f["price"]), fee=_dec(f["fee"]),
                 ts=int(ts[f["bar"]]), liquidity=Liquidity(int(f["liquidity"])),
                 order_type=OrderType(int(f["kind"])), reason=Reason(int(f["reason"])),
                 slippage=_dec(f["slippage"]))
            for f in fills]


def trades_to_objects(trades: np.ndarray, ts: np.ndarray, symbols: list[str]) -> list[Trade]:
    return [Trade(symbol=symbols[t["asset"]], direction=int(t["direction"]),
                  entry_ms=int(ts[t["entry_bar"]]), exit_ms=int(ts[t["exit_bar"]]),
                  amount=_dec(t["amount"]), entry_price=_dec(t["entry_price"]),
                  exit_price=_dec(t["exit_price"]), pnl=_dec(t["pnl"]), fees=_dec(t["fees"]),
                  slippage=_dec(t["slippage"]), entry_reason=Reason(int(t["entry_reason"])),
                  exit_reason=Reason(int(t["exit_reason"])))
            for t in trades]
