"""Limit, stop and stop-limit entries on the live path, priced and expired as the backtest
does (`sim.kernel_orders.place_entry` / `expire_entry`, docs/backtesting.md "Entry orders").

The backtest places such an entry after the signal bar's close at a price set from that close
and lets it work for `expire` bars; live sends the same order, GTC, right after the close and
cancels it itself once `expire` bars have closed without it filling. The prices are computed
in Decimal from the close as it prints, rounded to the nearest tick as the kernel rounds its
own levels (half up), so the order on the exchange carries the backtest's price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from botfleet.data.candles import next_open
from botfleet.orders import Order, OrderType
from botfleet.runtime.timing import last_closed_open

ZERO = Decimal(0)


@dataclass(frozen=True)
class EntryPrice:
    """What an entry order carries: its type, limit and stop prices, and the price its size
    is computed at (the limit for limit and stop-limit orders, the stop for a stop order, the
    forming bar's open for a market order)."""

    type: OrderType
    price: Decimal | None
    stop: Decimal | None
    ref: Decimal


def on_tick(price: Decimal, tick: Decimal) -> Decimal:
    """The nearest tick, a half tick rounding up (`sim.fills.round_price`: floor(x + 0.5))."""
    if tick <= 0:
        return price
    return (price / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick


def _fraction(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def entry_price(fills, close: Decimal, market_price: Decimal, direction: int,
                tick: Decimal) -> EntryPrice:
    """The entry order the fill model asks for, for a signal bar closing at `close`: a limit
    `offset` below the close for a long (above for a short), a stop `offset` beyond it, a
    stop-limit's limit `limit_offset` beyond its stop."""
    kind = fills.entry_type
    if kind == OrderType.MARKET:
        return EntryPrice(kind, None, None, market_price)
    d = Decimal(direction)
    off = _fraction(fills.entry_offset)
    if kind == OrderType.LIMIT:
        price = on_tick(close * (1 - d * off), tick)
        return EntryPrice(kind, price, None, price)
    stop = on_tick(close * (1 + d * off), tick)
    if kind == OrderType.STOP:
        return EntryPrice(kind, None, stop, stop)
    if kind == OrderType.STOP_LIMIT:
        price = on_tick(stop * (1 + d * _fraction(fills.limit_offset)), tick)
        return EntryPrice(kind, price, stop, price)
    raise ValueError(f"entry order type {kind.name.lower()}: not one of market, limit, stop, "
                     "stop_limit")


def is_entry(order: Order) -> bool:
    """A working order that opens or adds to a position (protective stops and exits are
    reduce-only)."""
    return not order.reduce_only


def resting_entries(working: list[Order]) -> list[Order]:
    """The working entries that rest on the book (limit, stop, stop-limit): the ones the bot
    cancels itself, on expiry or an exit signal."""
    return [o for o in working if is_entry(o) and o.type != OrderType.MARKET]


def signal_bar_ms(cycle_key: str, created_ms: int, timeframe: str) -> int:
    """The open time of the bar whose close decided the order: its cycle's key (the candle the
    cycle acted on), else the last bar closed when it was written."""
    try:
        return int(cycle_key)
    except (TypeError, ValueError):
        return last_closed_open(created_ms, timeframe)


def is_expired(signal_ms: int, candle_ms: int, expire: int, timeframe: str) -> bool:
    """True once `expire` bars after the signal bar have closed (the kernel cancels at the
    end of bar signal + expire, after that bar's fill attempt); `expire` <= 0: never."""
    if expire <= 0:
        return False
    last = signal_ms
    for _ in range(expire):
        last = next_open(last, timeframe)
    return candle_ms >= last


def expire_working(plan, executor, ledger, working: list[Order], candle_ms: int) -> list[str]:
    """Cancel the resting entries whose `expire` bars are over, each recorded as expired with
    the reason; returns what was done, one line per order."""
    expire = int(plan.fills.entry_expire)
    notes = []
    for order in resting_entries(working):
        rec = ledger.get(order.client_id)
        if rec is None:
            continue
        signal = signal_bar_ms(rec.cycle_key, order.created_ms, plan.timeframe)
        if not is_expired(signal, candle_ms, expire, plan.timeframe):
            continue
        why = (f"entry unfilled after {expire} bar(s) (fills.entry_order.expire); "
               f"{rec.filled} of {rec.amount} filled")
        done = executor.cancel(order.client_id, expire=why)
        notes.append(f"{order.symbol}: {order.type.name.lower()} entry {order.client_id} "
                     f"{done.status.name.lower()}: {why}")
    return notes
