"""The fill rules: how a price and an amount become a fill, one small scalar function per rule.

They are numba-compiled so the backtest kernel inlines them, and they stay plain callables
(numba dispatchers run from Python; `.py_func` is the uncompiled source) so the paper broker
uses the very same rules: one fill model for backtest and paper, never two that drift apart.

Conventions shared by every function here:
- `side` is +1 for a buy and -1 for a sell (`orders.Side`). A protective stop of a long position
  is a *sell* stop, so the same trigger test serves entries and stop-losses.
- Slippage is always adverse (a buy pays more, a sell receives less) and only takers slip: a
  limit order fills at its own price or not at all, which is what a resting order does.
- A tick or step of 0 means the market has no such precision: values pass through unchanged.
- NaN compares false, so a NaN level never triggers and a NaN volume never caps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
_EPS = 1e-9  # tolerance in units of a tick/step, so that 100.0 / 0.1 lands on 1000, not 999


@njit(**_JIT)
def _grid(n: float, unit: float) -> float:
    """n units as a float; divides by 1/unit when that is a whole number, because 1013 / 10
    is the nearest double to 101.3 while 1013 * 0.1 is not."""
    inv = 1.0 / unit
    r = np.floor(inv + 0.5)
    if r >= 1.0 and abs(inv - r) < 1e-9 * r:
        return n / r
    return n * unit


@njit(**_JIT)
def round_price(price: float, tick: float) -> float:
    """Nearest tick: for levels the kernel sets itself (limit, stop, take-profit prices)."""
    if not tick > 0.0:
        return price
    return _grid(np.floor(price / tick + 0.5), tick)


@njit(**_JIT)
def round_price_adverse(price: float, tick: float, side: int) -> float:
    """A taker's fill price on the tick grid, rounded against the taker (buy up, sell down):
    the book only has prices on the grid, and the one reached is the worse one."""
    if not tick > 0.0:
        return price
    q = price / tick
    if side > 0:
        return _grid(np.ceil(q - _EPS), tick)
    return _grid(np.floor(q + _EPS), tick)


@njit(**_JIT)
def round_amount(amount: float, step: float) -> float:
    """Amount DOWN to the step, as ccxt's amount_to_precision truncates: never more than asked."""
    if not step > 0.0:
        return amount
    return _grid(np.floor(amount / step + _EPS), step)


@njit(**_JIT)
def slip_price(ref: float, side: int, frac: float) -> float:
    """The reference price moved against the taker by `frac` of itself."""
    return ref * (1.0 + side * frac)


@njit(**_JIT)
def impact_frac(coef: float, sigma: float, amount: float, volume: float) -> float:
    """Square-root market impact, coef * sigma * sqrt(amount / volume), as a price fraction.

    Large orders move the price more than proportionally little ones do; the square root is
    the empirical law. Without a positive volume (missing data) there is nothing to scale
    against, so no impact is charged rather than an infinite one."""
    if coef > 0.0 and sigma > 0.0 and volume > 0.0 and amount > 0.0:
        return coef * sigma * np.sqrt(amount / volume)
    return 0.0


@njit(**_JIT)
def taker_price(ref: float, side: int, frac: float, tick: float) -> float:
    """A market/stop fill: slipped adversely by `frac`, then onto the tick adversely."""
    return round_price_adverse(slip_price(ref, side, frac), tick, side)


@njit(**_JIT)
def fee(amount: float, price: float, rate: float) -> float:
    """Fee in quote currency: a fraction of the notional."""
    return amount * price * rate


@njit(**_JIT)
def limit_through(side: int, limit: float, low: float, high: float) -> bool:
    """A resting limit fills only when the price trades THROUGH it (strictly): touching the
    level proves nothing about queue position, so a touch is not a fill."""
    if side > 0:
        return low < limit
    return high > limit


@njit(**_JIT)
def stop_triggered(side: int, stop: float, low: float, high: float) -> bool:
    """A stop triggers when the price trades AT the stop (a buy stop above, a sell stop below)."""
    if side > 0:
        return high >= stop
    return low <= stop


@njit(**_JIT)
def stop_gapped(side: int, stop: float, open_: float) -> bool:
    """The bar opened beyond the stop: it fills at the open, not at the stop (the gap is lost)."""
    if side > 0:
        return open_ >= stop
    return open_ <= stop


@njit(**_JIT)
def stop_ref(side: int, open_: float, stop: float) -> float:
    """Reference price of a triggered stop: the stop, or the open if the bar gapped past it."""
    if side > 0:
        return max(open_, stop)
    return min(open_, stop)


@njit(**_JIT)
def stop_limit_price(side: int, open_: float, stop: float, limit: float) -> float:
    """Fill price of a stop-limit at its trigger: the stop reference if that is within the
    limit, else NaN (the order rests as a plain limit)."""
    p = stop_ref(side, open_, stop)
    if side * (limit - p) >= 0.0:
        return p
    return np.nan


@njit(**_JIT)
def volume_capped(amount: float, volume: float, cap: float) -> float:
    """The part of `amount` one order may take from a bar: at most cap * volume (cap 0 = none;
    a NaN volume is missing data, not an empty market, so it does not cap)."""
    if cap > 0.0 and volume >= 0.0:
        return min(amount, cap * volume)
    return amount


@njit(**_JIT)
def affordable(cash: float, price: float, fee_rate: float) -> float:
    """Largest amount whose notional plus fee the cash covers (0 when there is no cash)."""
    if cash <= 0.0 or not price > 0.0:
        return 0.0
    return cash / (price * (1.0 + fee_rate))


@njit(**_JIT)
def kelly(rets: np.ndarray, fraction: float, cap: float) -> float:
    """Fractional Kelly bet, clip(fraction * (W - (1 - W) / R), 0, cap), from trade returns.

    W is the win rate and R the payoff ratio (mean win / mean loss). With no losing trade the
    edge is W (R infinite); with no winning trade it is 0."""
    n = rets.size
    if n == 0:
        return 0.0
    wins = 0
    win_sum = 0.0
    loss_sum = 0.0
    for r in rets:
        if r > 0.0:
            wins += 1
            win_sum += r
        else:
            loss_sum -= r
    w = wins / n
    if wins == 0:
        f = 0.0
    elif loss_sum <= 0.0:
        f = fraction * w
    else:
        ratio = (win_sum / wins) / (loss_sum / (n - wins))
        f = fraction * (w - (1.0 - w) / ratio)
    return min(max(f, 0.0), cap)
