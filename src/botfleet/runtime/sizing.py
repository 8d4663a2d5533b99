"""An entry's size, the way the backtest sizes it (docs/backtesting.md, `sim.kernel_orders._size`).

Same methods and formulas, in Decimal at the edges: a notional from the bot's equity at the
signal bar's close (`percent_equity`, `volatility_target`, `risk_per_trade`, `kelly`), a fixed
quote amount, or a fixed base amount; the notional becomes an amount at the reference price
the order will be valued at (the forming bar's open for a market order, as the backtest
converts at the fill bar's open; a limit or stop entry's own price), shrunk to what the bot's cash covers with the taker fee,
truncated to the lot step, and refused below the exchange's minimum amount or notional.
Backtest and live differ only where they must: the backtest knows the fill bar's open when it
sizes, the live path knows the open of the bar forming as it sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from botfleet.execution.broker import Market
from botfleet.strategy.spec import Sizing

ZERO = Decimal(0)


@dataclass(frozen=True)
class Size:
    """The entry amount, or why there is none (`refused` says it in words)."""

    amount: Decimal
    notional: Decimal
    refused: str = ""


def _fraction(value) -> Decimal:
    return value.fraction if hasattr(value, "fraction") else Decimal(value)


def volatility_fraction(sizing: Sizing, closes: np.ndarray, per_year: float) -> Decimal:
    """`value * target / annualised volatility` over the last `lookback` returns, capped."""
    import talib

    look = int(sizing.lookback)
    if len(closes) < look + 1:
        return ZERO
    r = np.diff(np.log(closes[-(look + 1):].astype(np.float64)))
    vol = float(talib.STDDEV(np.nan_to_num(r), timeperiod=look, nbdev=1.0)[-1])
    vol *= float(np.sqrt(per_year))
    if not vol > 0 or not np.isfinite(vol):
        return ZERO
    frac = float(_fraction(sizing.value)) * float(sizing.target) / vol
    if sizing.cap is not None:
        frac = min(frac, float(sizing.cap))
    return Decimal(repr(frac))


def kelly_fraction(sizing: Sizing, returns: list[float]) -> Decimal:
    """Fractional Kelly from the last `lookback` closed trades; `value` until there are that
    many (the kernel's rule, through the same compiled function)."""
    from botfleet.sim import fills

    look = int(sizing.lookback or 0)
    if look <= 0 or len(returns) < look:
        return _fraction(sizing.value)
    rets = np.asarray(returns[-look:], dtype=np.float64)
    return Decimal(repr(float(fills.kelly(rets, float(sizing.fraction or 0),
                                          float(sizing.cap if sizing.cap is not None
                                                else 1)))))


def entry_notional(sizing: Sizing, equity: Decimal, *, stop_fraction: Decimal | None = None,
                   vol_fraction: Decimal | None = None, kelly: Decimal | None = None
                   ) -> tuple[Decimal | None, Decimal | None]:
    """(notional, base amount): one of them None, as the kernel's `_size`."""
    method = sizing.method
    if method == "fixed_base":
        return None, Decimal(sizing.value)
    if method == "fixed_quote":
        return Decimal(sizing.value), None
    if method == "risk_per_trade":
        if not stop_fraction or stop_fraction <= 0:
            raise ValueError("risk_per_trade needs a positive stop distance")
        return equity * _fraction(sizing.value) / stop_fraction, None
    if method == "kelly":
        return (kelly if kelly is not None else _fraction(sizing.value)) * equity, None
    if method == "volatility_target":
        return (vol_fraction or ZERO) * equity, None
    return _fraction(sizing.value) * equity, None  # percent_equity


def size_entry(notional: Decimal | None, base: Decimal | None, price: Decimal, cash: Decimal,
               fee_rate: Decimal, rules: Market) -> Size:
    """The order amount at `price`: shrunk to the cash (fee included), on the lot step, and
    checked against the minimums."""
    if price <= 0:
        return Size(ZERO, ZERO, f"no price to size at ({price})")
    amount = base if base is not None else (notional or ZERO) / price
    if amount <= 0:
        return Size(ZERO, ZERO, "the sizing gives nothing to buy (zero or negative equity, "
                    "or no volatility estimate yet)")
    afford = cash / (price * (1 + fee_rate)) if cash > 0 else ZERO
    amount = min(amount, afford)
    amount = rules.amount(amount)
    value = amount * price
    if amount <= 0 or amount < rules.min_amount:
        return Size(amount, value, f"amount {amount} is below the market's minimum "
                    f"{rules.min_amount} (cash {cash:.2f})")
    if value < rules.min_notional:
        return Size(amount, value, f"order value {value:.8f} is below the market's minimum "
                    f"notional {rules.min_notional}")
    return Size(amount, value)
