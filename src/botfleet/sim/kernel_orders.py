"""Orders inside the kernel: sizing and placing entries, filling them, exits, stops and
take-profits. Each function acts on one asset at one bar and books through `apply_fill`.

Arguments, in this order, are only those a function needs (each array costs a call several
machine words, a record one; see kernel_state): `S` all assets' state, or `s` = S[a] and
`p` = P[a] the asset's state and parameters; `g` the run's state; `bars` (N_BARS, T, A) the
candles; `vbar` (N_VBAR, T or 1, A) the per-bar parameters (see `vrow`); `tp` (2, A, K)
take-profit levels and shares; `fl`, `tr`, `rj` the fill, trade and reject buffers; `ring`
the Kelly returns; then t (bar), a (asset).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from botfleet.orders import Reject
from botfleet.sim import fills as F
from botfleet.sim.arrays import BASE, KELLY, QUOTE, RISK
from botfleet.sim.kernel_state import (
    _INLINE,
    _JIT,
    B_CLOSE,
    B_VOL,
    LIMIT,
    MAKER,
    MARKET,
    R_TAKE_PROFIT,
    STOP,
    STOP_LIMIT,
    TAKER,
    V_SIGMA,
    V_SIZE,
    V_SL,
    V_SLIP,
    V_TRAIL,
    apply_fill,
    effective_stop,
    free_cash,
    reject,
    set_levels,
    vrow,
)

J_MIN_NOTIONAL = int(Reject.MIN_NOTIONAL)
J_MIN_AMOUNT = int(Reject.MIN_AMOUNT)
J_CASH = int(Reject.INSUFFICIENT_CASH)
J_SHORT = int(Reject.SHORT_NOT_ALLOWED)
J_EXPIRED = int(Reject.EXPIRED)


@njit(**_INLINE)
def _slip(p, bars, vbar, t, a, amount) -> float:
    """Adverse price fraction of a taker fill: the driver's model plus square-root impact.
    (Each layer of `bars` read at an event is a cache miss on long series, hence the test
    before reading sigma and volume.)"""
    v = vrow(vbar, t)
    s = vbar[V_SLIP, v, a]
    if not s >= 0.0:
        s = 0.0
    impact = 0.0
    if p.impact > 0.0:
        impact = F.impact_frac(p.impact, vbar[V_SIGMA, v, a], amount, bars[B_VOL, t, a])
    return s + impact


@njit(**_INLINE)
def _cap(p, bars, t, a, amount) -> float:
    """The share of this bar's volume one order may take, on the amount step."""
    if not p.volume_cap > 0.0:
        return amount
    got = F.volume_capped(amount, bars[B_VOL, t, a], p.volume_cap)
    if got < amount:
        got = F.round_amount(got, p.step)
    return got


@njit(**_INLINE)
def _min_reject(p, amount, price) -> int:
    """The exchange's minimums: 0 when the order passes, else the Reject code."""
    if not amount > 0.0 or amount < p.min_amount:
        return J_MIN_AMOUNT
    if amount * price < p.min_notional:
        return J_MIN_NOTIONAL
    return 0


# ---------------------------------------------------------------- exits


@njit(**_JIT)
def exit_taker(s, p, g, bars, vbar, fl, tr, ring, t, a, ref, kind, reason, capped):
    """Close the position (or as much as the volume cap allows; the rest keeps working as a
    market exit at the next opens) at `ref` slipped against us."""
    d = s.dir
    whole = abs(s.pos)
    amt = _cap(p, bars, t, a, whole) if capped else whole
    if amt > 0.0:
        price = F.taker_price(ref, -d, _slip(p, bars, vbar, t, a, amt), p.tick)
        apply_fill(s, p, g, fl, tr, ring, t, a, -d, kind, reason, TAKER, amt, price, ref,
                   p.taker)
    if s.pos != 0.0 and not s.ex:
        s.ex = 1
        s.ex_reason = reason


@njit(**_INLINE)
def _tp_level(s, p, tp, a, k) -> float:
    avg = s.eval / s.eamt
    return F.round_price(avg * (1.0 + s.dir * tp[0, a, k]), p.tick)


@njit(**_JIT)
def _tp_fill(s, p, g, bars, tp, fl, tr, ring, t, a, k, level):
    """Take-profit k at its level (a resting limit: maker, no slippage). Its size is tp_close
    of the largest position this trade held; the level whose cumulative share reaches 1 closes
    what is left. A volume-capped remainder is not chased: it stays in the position."""
    s.tp_done |= 1 << k
    whole = abs(s.pos)
    cum = 0.0
    for j in range(k + 1):
        share = tp[1, a, j]
        if not np.isnan(tp[0, a, j]) and share > 0.0:
            cum += share
    amt = whole
    if cum < 1.0 - 1e-9:
        amt = min(whole, F.round_amount(tp[1, a, k] * s.maxpos, p.step))
        if whole - amt <= 1e-12 * whole:
            amt = whole
    amt = _cap(p, bars, t, a, amt)
    if amt > 0.0:
        apply_fill(s, p, g, fl, tr, ring, t, a, -s.dir, LIMIT, R_TAKE_PROFIT, MAKER, amt, level,
                   level, p.maker)
    if s.pos != 0.0:
        refresh_triggers(s, p, tp, a)


@njit(**_INLINE)
def refresh_triggers(s, p, tp, a):
    """Recompute the position's nearest stop and take-profit levels, which let the bar loop
    skip a bar that reaches neither without calling into this module."""
    d = s.dir
    stop, _ = effective_stop(s)
    s.trig_stop = -d * np.inf if np.isnan(stop) else stop
    best = d * np.inf
    for k in range(tp.shape[2]):
        if not (s.tp_done >> k) & 1 and tp[1, a, k] > 0.0:
            lvl = _tp_level(s, p, tp, a, k)
            if d * (lvl - best) < 0.0:
                best = lvl
    s.trig_tp = best


@njit(**_JIT)
def _tp_any_inside(s, p, tp, a, low, high) -> bool:
    d = s.dir
    for k in range(tp.shape[2]):
        if not (s.tp_done >> k) & 1 and tp[1, a, k] > 0.0:
            lvl = _tp_level(s, p, tp, a, k)
            if F.limit_through(-d, lvl, low, high):
                return True
    return False


@njit(**_JIT)
def _tps(s, p, g, bars, tp, fl, tr, ring, t, a, o, low, high, at_open):
    """Fill the take-profits this candle reached, nearest first (ladders are in order)."""
    for k in range(tp.shape[2]):
        if s.pos == 0.0:
            return
        if (s.tp_done >> k) & 1 or not tp[1, a, k] > 0.0:
            continue
        d = s.dir
        lvl = _tp_level(s, p, tp, a, k)
        if np.isnan(lvl):
            continue
        hit = d * (o - lvl) >= 0.0 if at_open else F.limit_through(-d, lvl, low, high)
        if hit:
            _tp_fill(s, p, g, bars, tp, fl, tr, ring, t, a, k, lvl)


@njit(**_JIT)
def protect_gap(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, o):
    """At an open: a stop the open gapped through fills at the open (slipped); a take-profit
    the open jumped over fills at its level (a resting limit would have been hit first)."""
    stop, why = effective_stop(s)
    if F.stop_gapped(-s.dir, stop, o):
        exit_taker(s, p, g, bars, vbar, fl, tr, ring, t, a, o, STOP, why, True)
        return
    _tps(s, p, g, bars, tp, fl, tr, ring, t, a, o, o, o, True)


@njit(**_JIT)
def _protect_inside(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, low, high, allow_tp):
    """Within one candle (after its open was handled): the stop first, TPs only if it held."""
    stop, why = effective_stop(s)
    if F.stop_triggered(-s.dir, stop, low, high):
        exit_taker(s, p, g, bars, vbar, fl, tr, ring, t, a, stop, STOP, why, True)
        return
    if allow_tp:
        _tps(s, p, g, bars, tp, fl, tr, ring, t, a, 0.0, low, high, False)


@njit(**_JIT)
def protect_bar(s, p, g, bars, vbar, tp, det, ds, fl, tr, ring, t, a, high, low, allow_tp):
    """Intrabar stops and take-profits of an open position (no working exit order).

    The bar's path is unknown; when a stop and a take-profit are both inside it the detail
    candles (`det` (3, N, A) open/high/low, rows ds[t]..ds[t+1]), if given, tell which came
    first (each: gap at its open, then stop before TP); without them the worse outcome is
    assumed, the stop, and the TP does not fill."""
    if allow_tp:
        stop, _ = effective_stop(s)
        if (ds.size > 0 and ds[t + 1] > ds[t] and F.stop_triggered(-s.dir, stop, low, high)
                and _tp_any_inside(s, p, tp, a, low, high)):
            for i in range(ds[t], ds[t + 1]):
                o = det[0, i, a]
                if np.isnan(o):
                    continue
                protect_gap(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, o)
                if s.pos == 0.0 or s.ex:
                    return
                _protect_inside(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, det[2, i, a],
                                det[1, i, a], True)
                if s.pos == 0.0 or s.ex:
                    return
            return
    _protect_inside(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, low, high, allow_tp)


# ---------------------------------------------------------------- entries


@njit(**_JIT)
def _size(s, p, g, bars, vbar, ring, t, a):
    """(notional, base amount) of a new entry at the signal bar's close; one of them is NaN.
    Kelly sizes from the asset's last kelly_lookback closed trades, size_value until it has
    them."""
    kind = p.size_kind
    row = vrow(vbar, t)
    v = vbar[V_SIZE, row, a]
    eq = g.equity
    if kind == BASE:
        return np.nan, v
    if kind == QUOTE:
        return v, np.nan
    if kind == RISK:
        dist = vbar[V_SL, row, a]
        frac = dist if p.sl_is_pct else dist / bars[B_CLOSE, t, a]
        return eq * v / frac, np.nan
    if kind == KELLY:
        lb = p.kelly_lookback
        if lb > 0 and s.n_closed >= lb:
            v = F.kelly(ring[a, :lb], p.kelly_fraction, p.kelly_cap)
        return v * eq, np.nan
    return v * eq, np.nan  # EQUITY_FRACTION


@njit(**_INLINE)
def _amount_at(s, p, ref) -> float:
    """Order amount for reference price `ref`, on the amount step (truncated)."""
    amt = s.en_amt
    if np.isnan(amt):
        amt = s.en_notional / ref
    return F.round_amount(amt, p.step)


@njit(**_JIT)
def place_entry(s, p, g, bars, vbar, rj, ring, t, a, d, reason):
    """After bar t's close: a new entry order (market, limit, stop or stop-limit) in direction
    d. Limit/stop orders are sized and checked against the minimums now, at their own price;
    market orders at the fill bar's open, the price they will be sized against."""
    close = bars[B_CLOSE, t, a]
    if d < 0 and not p.allow_short:
        reject(rj, g, t, a, d, J_SHORT, np.nan, close)
        return
    notional, base = _size(s, p, g, bars, vbar, ring, t, a)
    kind = p.entry_kind
    s.en = 1
    s.en_dir = d
    s.en_kind = kind
    s.en_order_kind = kind
    s.en_reason = reason
    s.en_filled = 0
    s.en_sized = 0
    s.en_expiry = -1
    s.en_notional = notional
    s.en_amt = base
    row = vrow(vbar, t)
    s.en_sl = vbar[V_SL, row, a]
    s.en_trail = vbar[V_TRAIL, row, a]
    if kind == MARKET:
        return
    tick = p.tick
    off = p.entry_offset
    if kind == LIMIT:
        s.en_price = F.round_price(close * (1.0 - d * off), tick)
        ref = s.en_price
    else:
        s.en_stop = F.round_price(close * (1.0 + d * off), tick)
        ref = s.en_stop
        if kind == STOP_LIMIT:
            s.en_price = F.round_price(ref * (1.0 + d * p.stop_limit_offset), tick)
            ref = s.en_price
    amt = _amount_at(s, p, ref)
    code = _min_reject(p, amt, ref)
    if code:
        s.en = 0
        reject(rj, g, t, a, d, code, amt, ref)
        return
    s.en_amt = amt
    s.en_sized = 1
    if p.entry_expiry > 0:
        s.en_expiry = t + p.entry_expiry


@njit(**_INLINE)
def _cancel_entry(s, g, rj, t, a, code, price):
    reject(rj, g, t, a, s.en_dir, code, s.en_amt, price)
    s.en = 0


@njit(**_JIT)
def fill_entry(S, p, g, bars, vbar, tp, fl, tr, rj, ring, t, a, ref, taker, slips) -> bool:
    """Fill (part of) asset a's working entry at `ref`: volume-capped, then capped so free
    cash covers notional + fee (the order shrinks to what is affordable), truncated to the
    step. Returns True when something filled."""
    s = S[a]
    d = s.en_dir
    step = p.step
    if not s.en_sized:
        amt = _amount_at(s, p, ref)
        code = _min_reject(p, amt, ref)
        if code:
            s.en_amt = amt
            _cancel_entry(s, g, rj, t, a, code, ref)
            return False
        s.en_amt = amt
        s.en_sized = 1
    want = s.en_amt
    amt = _cap(p, bars, t, a, want)
    if not amt > 0.0:
        return False
    rate = p.taker if taker else p.maker
    tick = p.tick
    price = F.taker_price(ref, d, _slip(p, bars, vbar, t, a, amt), tick) if slips else ref
    cash = free_cash(S, g)
    if amt * price * (1.0 + rate) > cash:
        amt = F.round_amount(F.affordable(cash, price, rate), step)
        if slips:
            price = F.taker_price(ref, d, _slip(p, bars, vbar, t, a, amt), tick)
        if not amt > 0.0 or (not s.en_filled and _min_reject(p, amt, ref)):
            _cancel_entry(s, g, rj, t, a, J_CASH, ref)
            return False
        want = amt
    apply_fill(s, p, g, fl, tr, ring, t, a, d, s.en_order_kind, s.en_reason,
               TAKER if taker else MAKER, amt, price, ref, rate)
    left = F.round_amount(want - amt, step) if step > 0.0 else want - amt
    s.en_amt = left
    if not left > 1e-12 * want:
        s.en = 0
    if not s.en_filled:
        s.en_filled = 1
        s.n_entries += 1
    s.sl_dist = s.en_sl
    s.trail_dist = s.en_trail
    set_levels(s, p)
    refresh_triggers(s, p, tp, a)
    return True


@njit(**_JIT)
def work_entry_intrabar(S, p, g, bars, vbar, tp, fl, tr, rj, ring, t, a, o, high, low) -> bool:
    """Asset a's working limit / stop / stop-limit entry against bar t. Returns True if it
    filled.

    Limit: fills when traded through, at its price (maker). Stop: triggers at the stop, fills
    at max(open, stop) slipped (taker); a capped remainder continues as a market order.
    Stop-limit: at the trigger it fills at the stop reference if that is within the limit
    (taker, no slippage: the limit bounds the price), else it rests as a limit from the next
    bar (whether the bar came back to the limit after the trigger is unknown)."""
    s = S[a]
    kind = s.en_kind
    d = s.en_dir
    if kind == LIMIT:
        lim = s.en_price
        if F.limit_through(d, lim, low, high):
            return fill_entry(S, p, g, bars, vbar, tp, fl, tr, rj, ring, t, a, lim, False, False)
        return False
    stop = s.en_stop
    if not F.stop_triggered(d, stop, low, high):
        return False
    if kind == STOP:
        s.en_kind = MARKET
        return fill_entry(S, p, g, bars, vbar, tp, fl, tr, rj, ring, t, a, F.stop_ref(d, o, stop),
                          True, True)
    s.en_kind = LIMIT
    px = F.stop_limit_price(d, o, stop, s.en_price)
    if not np.isnan(px):
        return fill_entry(S, p, g, bars, vbar, tp, fl, tr, rj, ring, t, a, px, True, False)
    return False


@njit(**_JIT)
def expire_entry(s, g, rj, t, a):
    """A limit/stop entry past its validity is cancelled and recorded as EXPIRED."""
    exp = s.en_expiry
    if exp >= 0 and t >= exp and s.en_kind != MARKET:
        px = s.en_price if s.en_kind == LIMIT else s.en_stop
        _cancel_entry(s, g, rj, t, a, J_EXPIRED, px)


@njit(**_INLINE)
def place_exit(s, reason):
    """A market exit for the next open; the first reason placed is the one reported. It voids
    a working remainder of the entry in the same direction (exits win over entries)."""
    if not s.ex:
        s.ex = 1
        s.ex_reason = reason
    if s.en and s.en_dir == s.dir:
        s.en = 0


@njit(**_INLINE)
def can_add(s, p) -> bool:
    """Pyramiding: another entry in the position's direction while entries < max_entries."""
    return s.n_entries < max(p.max_entries, 1)
