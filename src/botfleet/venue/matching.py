"""What one order does at one bar event: the backtest's fill rules applied to a venue order.

The backtest decides fills bar by bar with the scalar rules of `botfleet.sim.fills`; a paper
broker replaying the same strategy on this venue must get the same fills, so this module calls
those rules and never re-derives their arithmetic (see docs/backtesting.md for each assumption).

Every bar has two events for an order that is eligible for it (the bar opened at or after the
order was booked): its OPEN (the open price is known) and its CLOSE (its range is known). At most
one fill per order and bar, as in the backtest:

- market (MARKET, a triggered stop): at the open, + slippage, taker.
- limit (LIMIT, LIMIT_MAKER): at the limit, maker, when the open is through it or the bar
  trades through it (a touch is not a fill; an open through it does not give the better open).
- stop (STOP_LOSS): when the open is at/beyond the stop, at the open; when the bar reaches it,
  at the stop; + slippage, taker; a remainder continues as a market order.
- stop-limit (STOP_LOSS_LIMIT): triggers as a stop; fills at the stop reference if that is
  within the limit (taker, no slippage), else rests as a limit from the next bar.
- take-profit (TAKE_PROFIT): a stop with the trigger on the other side (a sell when the price
  rises to it), taker + slippage.
- take-profit-limit (TAKE_PROFIT_LIMIT): the backtest's take-profit: armed when the open is
  at/beyond stopPrice or the bar trades through it; fills at its limit price, maker, if the bar
  reached the limit too, else rests as a limit from the next bar.

A fill's amount is the order's remainder capped by the fill model's volume cap (and by an
injected partial-fill fraction); what is left fills at later bars: a market remainder (and a
triggered stop's) at the next opens, a limit's when the price trades through again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from botfleet.orders import OrderType
from botfleet.sim import fills as F
from botfleet.venue.book import CLOSE_PHASE, OPEN_PHASE, VenueOrder
from botfleet.venue.filters import Filters, as_price, on_grid
from botfleet.venue.tape import Tape

MARKET, LIMIT, STOP, STOP_LIMIT = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                                   OrderType.STOP_LIMIT)


@dataclass(frozen=True)
class Action:
    """The outcome of one event: an optional fill at `ref` (slipped when `slips`), and the
    kind the order works as afterwards (a trigger turns a stop into a market or limit order)."""

    triggered: bool = False
    becomes: OrderType | None = None
    fill: bool = False
    ref: float = np.nan
    maker: bool = False
    slips: bool = False


NOTHING = Action()


def range_test(order: VenueOrder):
    """A test on a bar's (low, high) that holds whenever the order could act in that bar (at
    its open or inside it); used to skip quiet bars."""
    side, kind = int(order.side), order.kind
    if kind == MARKET:
        return lambda lo, hi: True
    if kind == LIMIT:
        lim = float(order.price)
        return lambda lo, hi: F.limit_through(side, lim, lo, hi)
    stop = float(order.stop_price)
    trig = side if order.trigger == "stop" else -side
    return lambda lo, hi: F.stop_triggered(trig, stop, lo, hi)


def act(order: VenueOrder, tape: Tape, i: int, phase: int) -> Action:
    """The order at bar i's open (OPEN_PHASE) or inside bar i (CLOSE_PHASE)."""
    side, kind = int(order.side), order.kind
    o, lo, hi = float(tape.open[i]), float(tape.low[i]), float(tape.high[i])
    at_open = phase == OPEN_PHASE
    if kind == MARKET:
        return Action(fill=True, ref=o, slips=True) if at_open else NOTHING
    if kind == LIMIT:
        lim = float(order.price)
        hit = F.limit_through(side, lim, o, o) if at_open else F.limit_through(side, lim, lo, hi)
        return Action(fill=True, ref=lim, maker=True) if hit else NOTHING
    stop = float(order.stop_price)
    if order.trigger == "stop":
        hit = F.stop_gapped(side, stop, o) if at_open else F.stop_triggered(side, stop, lo, hi)
        if not hit:
            return NOTHING
        if kind == STOP:
            return Action(True, MARKET, fill=True, ref=F.stop_ref(side, o, stop), slips=True)
        p = F.stop_limit_price(side, o, stop, float(order.price))
        if np.isnan(p):
            return Action(True, LIMIT)
        return Action(True, LIMIT, fill=True, ref=p)
    if kind == STOP:  # TAKE_PROFIT: a stop triggering the other way
        hit = F.stop_gapped(-side, stop, o) if at_open else F.stop_triggered(-side, stop, lo, hi)
        if not hit:
            return NOTHING
        return Action(True, MARKET, fill=True, ref=F.stop_ref(-side, o, stop), slips=True)
    lim = float(order.price)  # TAKE_PROFIT_LIMIT: the backtest's take-profit
    if at_open:
        if not F.stop_gapped(-side, stop, o):
            return NOTHING
        if F.stop_gapped(-side, lim, o):
            return Action(True, LIMIT, fill=True, ref=lim, maker=True)
        return Action(True, LIMIT)
    if not F.limit_through(side, stop, lo, hi):
        return NOTHING
    if F.limit_through(side, lim, lo, hi):
        return Action(True, LIMIT, fill=True, ref=lim, maker=True)
    return Action(True, LIMIT)


def quote_sized(order: VenueOrder, ref: float, filters: Filters) -> Decimal:
    """A quoteOrderQty market order's amount at its fill reference price (the backtest turns a
    notional into an amount at the fill bar's open), down to the step."""
    return on_grid(F.round_amount(float(order.quote_qty) / ref, filters.step_f), filters.step)


def amount_for(order: VenueOrder, tape: Tape, i: int, filters: Filters) -> Decimal:
    """The part of the remainder this bar allows: the volume cap, then an injected fraction."""
    want = order.remaining
    want_f = float(want)
    got = tape.capped(i, want_f, filters.step_f)
    if order.fill_fraction > 0.0:
        piece = F.round_amount(float(order.quantity) * order.fill_fraction, filters.step_f)
        got = min(got, max(piece, filters.step_f))
    if got >= want_f:
        return want
    return min(want, on_grid(got, filters.step)) if got > 0.0 else Decimal(0)


def price_for(order: VenueOrder, tape: Tape, i: int, action: Action, amount: Decimal,
              filters: Filters) -> Decimal:
    """The fill price: the reference slipped against a taker (sim.fills.taker_price, onto the
    tick against the order), or the reference itself."""
    if action.slips:
        frac = tape.slip_frac(i, float(amount))
        return on_grid(F.taker_price(action.ref, int(order.side), frac, filters.tick_f),
                       filters.tick)
    return as_price(action.ref, (order.price, order.stop_price), filters.tick)


def affordable(order: VenueOrder, tape: Tape, i: int, action: Action, cash: Decimal,
               rate: Decimal, filters: Filters, upto: Decimal) -> tuple[Decimal, Decimal]:
    """A buy of `upto` that cash (its own lock plus free quote) cannot pay shrinks to what it
    can, fee included (sim.fills.affordable, down to the step), as the backtest shrinks an
    entry. Returns (amount, price)."""
    price = price_for(order, tape, i, action, upto, filters)
    amount = on_grid(F.round_amount(F.affordable(float(cash), float(price), float(rate)),
                                    filters.step_f), filters.step)
    amount = min(amount, upto)
    if amount > 0:
        price = price_for(order, tape, i, action, amount, filters)  # less impact when smaller
    unit = filters.step if filters.step > 0 else Decimal("1e-8")
    while amount > 0 and cost(amount, price, rate, filters) > cash:  # float vs Decimal residue
        amount -= unit
    return max(amount, Decimal(0)), price


def ref_of(order: VenueOrder, action: Action, filters: Filters) -> Decimal:
    """The fill's reference price (before slippage) in Decimal."""
    return as_price(action.ref, (order.price, order.stop_price), filters.tick)


def fee(amount: Decimal, price: Decimal, rate: Decimal, filters: Filters) -> Decimal:
    """Commission in the quote asset: rate x notional, rounded half-up to the quote precision."""
    return (amount * price * rate).quantize(filters.quote_unit, rounding=ROUND_HALF_UP)


def cost(amount: Decimal, price: Decimal, rate: Decimal, filters: Filters) -> Decimal:
    return amount * price + fee(amount, price, rate, filters)


def fill_time(tape: Tape, i: int, phase: int) -> int:
    """A fill at an open is stamped with the open time, one inside the bar with the bar's last
    millisecond (Binance's kline close time): it is known only once the bar is over."""
    return int(tape.ts[i]) if phase == OPEN_PHASE else tape.close_time(i) - 1


def warm_up() -> None:
    """Load every compiled fill rule this module calls (numba loads each from its cache on
    first use, ~0.1 s apiece), so a venue's first order is not slower than its others."""
    for side in (1, -1):
        F.limit_through(side, 1.0, 0.5, 2.0)
        F.stop_triggered(side, 1.0, 0.5, 2.0)
        F.stop_gapped(side, 1.0, 1.5)
        F.stop_ref(side, 1.0, 1.5)
        F.stop_limit_price(side, 1.0, 1.5, 2.0)
        F.taker_price(1.0, side, 0.001, 0.01)
    F.round_amount(1.0, 0.001)
    F.volume_capped(1.0, 10.0, 0.1)
    F.impact_frac(0.1, 0.01, 1.0, 10.0)
    F.affordable(100.0, 1.0, 0.001)


__all__ = ["CLOSE_PHASE", "OPEN_PHASE", "Action", "act", "affordable", "amount_for", "cost",
           "fee", "fill_time", "price_for", "quote_sized", "range_test", "ref_of", "warm_up"]
