"""Tickers and an order book for a market that is only candles.

Bots and dashboards ask for a last price, a 24-hour summary and a depth snapshot; a market
replayed from candles has no trades or book, so these are derived, and documented as derived:

- last price: the reference price (the open of the bar forming now; in a data gap the last
  close), the price market orders are judged against.
- 24 hours: the matching bars that closed in the 24 h before now; quote volume is approximated
  as the sum of volume x close; there are no trade ids (first/last -1, count 0).
- the book: SYNTHETIC. Levels on the tick grid around the reference price, the best bid and ask
  `SPREAD_BPS`/2 away from it, then every further half-spread; sizes grow linearly from
  `DEPTH_SHARE` of the last closed bar's volume (never below the minimum quantity). Orders do
  not rest in it and it does not move fills: fills come from the candles (see `matching`).
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np

from botfleet.venue.filters import Filters, on_grid
from botfleet.venue.tape import Tape

SPREAD_BPS = 2.0
DEPTH_SHARE = 0.001
DAY_MS = 86_400_000


def book(tape: Tape, filters: Filters, now: int, limit: int):
    """(bids, asks) as lists of (price, qty) Decimals, best first; empty before the data."""
    ref = tape.ref(now)
    if ref is None:
        return [], []
    i, price = ref
    tick = filters.tick if filters.tick > 0 else Decimal(repr(price)) * Decimal("0.0001")
    mid = on_grid(price, tick)
    half = max(1, math.ceil(price * SPREAD_BPS / 20_000.0 / float(tick)))
    last = i if now >= tape.close_time(i) else i - 1
    vol = float(tape.volume[last]) if last >= 0 else 0.0
    size = _down(Decimal(repr(vol * DEPTH_SHARE)) if np.isfinite(vol) else Decimal(0),
                 filters.step)
    size = max(size, filters.min_qty)
    bids, asks = [], []
    for k in range(limit):
        offset = tick * half * (k + 1)
        qty = size * (k + 1)
        if mid - offset >= filters.min_price and mid - offset > 0:
            bids.append((mid - offset, qty))
        asks.append((mid + offset, qty))
    return bids, asks


def day_stats(tape: Tape, now: int) -> dict | None:
    """The 24-hour window's open, high, low, volume, quote volume and previous close."""
    ref = tape.ref(now)
    if ref is None:
        return None
    lo, hi = tape.first_at_or_after(now - DAY_MS), tape.opened_by(now - tape.tf_ms)
    last = ref[1]
    if hi > lo:
        open_ = float(tape.open[lo])
        high = max(float(tape.high[lo:hi].max()), last)
        low = min(float(tape.low[lo:hi].min()), last)
        volume = float(tape.volume[lo:hi].sum())
        quote_volume = float((tape.volume[lo:hi] * tape.close[lo:hi]).sum())
    else:
        open_ = high = low = last
        volume = quote_volume = 0.0
    prev_close = float(tape.close[lo - 1]) if lo > 0 else open_
    return {"open": open_, "high": high, "low": low, "last": last, "volume": volume,
            "quote_volume": quote_volume, "prev_close": prev_close}


def _down(x: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return x.quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
    return (x / step).to_integral_value(rounding=ROUND_DOWN) * step
