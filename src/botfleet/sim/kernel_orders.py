"""Orders inside the kernel: sizing and placing entries, filling them, exits, stops and
take-profits. Each function acts on one asset at one bar and books through `apply_fill`.

Arguments come grouped so every helper has the same short signature:
`ctx` = (bars (N_BARS, T, A), signals (4, T, A), pa, pi, tp (2, A, K): levels and shares,
detail (3, N, A): open/high/low, detail_start) is read-only input; `st` = (fs, si, ring, g, gi) is the mutable state;
`rec` = (fills, trades, rejects) are the record buffers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from botfleet.orders import Reject
from botfleet.sim import fills as F
from botfleet.sim.arrays import BASE, KELLY, QUOTE, RISK
from botfleet.sim.kernel_state import (
    _JIT,
    B_CLOSE,
    B_VOL,
    G_EQUITY,
    I_DIR,
    I_EN,
    I_EN_DIR,
    I_EN_EXPIRY,
    I_EN_FILLED,
    I_EN_KIND,
    I_EN_ORDER_KIND,
    I_EN_REASON,
    I_EN_SIZED,
    I_EX,
    I_EX_REASON,
    I_N_CLOSED,
    I_N_ENTRIES,
    I_TP_DONE,
    LIMIT,
    MAKER,
    MARKET,
    P_EN_OFF,
    P_IMPACT,
    P_KELLY_CAP,
    P_KELLY_FRAC,
    P_MAKER,
    P_MIN_AMT,
    P_MIN_NOT,
    P_SL_OFF,
    P_STEP,
    P_TAKER,
    P_TICK,
    P_VOLCAP,
    Q_EN_KIND,
    Q_EXPIRY,
    Q_KELLY_LB,
    Q_MAX_ENTRIES,
    Q_SHORT,
    Q_SIZE_KIND,
    Q_SL_PCT,
    R_TAKE_PROFIT,
    S_EAMT,
    S_EN_AMT,
    S_EN_NOTIONAL,
    S_EN_PRICE,
    S_EN_SL,
    S_EN_STOP,
    S_EN_TRAIL,
    S_EVAL,
    S_MAXPOS,
    S_POS,
    S_SL_DIST,
    S_TRAIL_DIST,
    S_TRIG_STOP,
    S_TRIG_TP,
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
)

J_MIN_NOTIONAL = int(Reject.MIN_NOTIONAL)
J_MIN_AMOUNT = int(Reject.MIN_AMOUNT)
J_CASH = int(Reject.INSUFFICIENT_CASH)
J_SHORT = int(Reject.SHORT_NOT_ALLOWED)
J_EXPIRED = int(Reject.EXPIRED)


@njit(**_JIT)
def _slip(ctx, t, a, amount) -> float:
    """Adverse price fraction of a taker fill: the driver's model plus square-root impact."""
    s = ctx[0][V_SLIP, t, a]
    if not s >= 0.0:
        s = 0.0
    return s + F.impact_frac(ctx[2][a, P_IMPACT], ctx[0][V_SIGMA, t, a], amount, ctx[0][B_VOL, t, a])


@njit(**_JIT)
def _cap(ctx, t, a, amount) -> float:
    """The share of this bar's volume one order may take, on the amount step."""
    pa = ctx[2]
    got = F.volume_capped(amount, ctx[0][B_VOL, t, a], pa[a, P_VOLCAP])
    if got < amount:
        got = F.round_amount(got, pa[a, P_STEP])
    return got


@njit(**_JIT)
def _min_reject(pa, a, amount, price) -> int:
    """The exchange's minimums: 0 when the order passes, else the Reject code."""
    if not amount > 0.0 or amount < pa[a, P_MIN_AMT]:
        return J_MIN_AMOUNT
    if amount * price < pa[a, P_MIN_NOT]:
        return J_MIN_NOTIONAL
    return 0


# ---------------------------------------------------------------- exits


@njit(**_JIT)
def exit_taker(ctx, st, rec, t, a, ref, kind, reason, capped):
    """Close the position (or as much as the volume cap allows; the rest keeps working as a
    market exit at the next opens) at `ref` slipped against us."""
    fs, si = st[0], st[1]
    pa = ctx[2]
    d = si[a, I_DIR]
    whole = abs(fs[a, S_POS])
    amt = _cap(ctx, t, a, whole) if capped else whole
    if amt > 0.0:
        price = F.taker_price(ref, -d, _slip(ctx, t, a, amt), pa[a, P_TICK])
        apply_fill(st, rec, ctx[3], t, a, -d, kind, reason, TAKER, amt, price, ref, pa[a, P_TAKER])
    if fs[a, S_POS] != 0.0 and not si[a, I_EX]:
        si[a, I_EX] = 1
        si[a, I_EX_REASON] = reason


@njit(**_JIT)
def _tp_level(ctx, st, a, k) -> float:
    fs, si = st[0], st[1]
    d = si[a, I_DIR]
    avg = fs[a, S_EVAL] / fs[a, S_EAMT]
    return F.round_price(avg * (1.0 + d * ctx[4][0, a, k]), ctx[2][a, P_TICK])


@njit(**_JIT)
def _tp_fill(ctx, st, rec, t, a, k, level):
    """Take-profit k at its level (a resting limit: maker, no slippage). Its size is tp_close
    of the largest position this trade held; the level whose cumulative share reaches 1 closes
    what is left. A volume-capped remainder is not chased: it stays in the position."""
    fs, si = st[0], st[1]
    pa = ctx[2]
    si[a, I_TP_DONE] |= 1 << k
    whole = abs(fs[a, S_POS])
    cum = 0.0
    for j in range(k + 1):
        share = ctx[4][1, a, j]
        if not np.isnan(ctx[4][0, a, j]) and share > 0.0:
            cum += share
    amt = whole
    if cum < 1.0 - 1e-9:
        amt = min(whole, F.round_amount(ctx[4][1, a, k] * fs[a, S_MAXPOS], pa[a, P_STEP]))
        if whole - amt <= 1e-12 * whole:
            amt = whole
    amt = _cap(ctx, t, a, amt)
    if amt > 0.0:
        d = si[a, I_DIR]
        apply_fill(st, rec, ctx[3], t, a, -d, LIMIT, R_TAKE_PROFIT, MAKER, amt, level, level,
                   pa[a, P_MAKER])
    if fs[a, S_POS] != 0.0:
        refresh_triggers(ctx, st, a)


@njit(**_JIT)
def refresh_triggers(ctx, st, a):
    """Recompute the position's nearest stop and take-profit levels, which let the bar loop
    skip a bar that reaches neither without calling into this module."""
    fs, si = st[0], st[1]
    d = si[a, I_DIR]
    stop, _ = effective_stop(fs, si, a)
    fs[a, S_TRIG_STOP] = -d * np.inf if np.isnan(stop) else stop
    best = d * np.inf
    for k in range(ctx[4].shape[2]):
        if not (si[a, I_TP_DONE] >> k) & 1 and ctx[4][1, a, k] > 0.0:
            lvl = _tp_level(ctx, st, a, k)
            if d * (lvl - best) < 0.0:
                best = lvl
    fs[a, S_TRIG_TP] = best


@njit(**_JIT)
def _tp_any_inside(ctx, st, a, low, high) -> bool:
    si = st[1]
    d = si[a, I_DIR]
    for k in range(ctx[4].shape[2]):
        if not (si[a, I_TP_DONE] >> k) & 1 and ctx[4][1, a, k] > 0.0:
            lvl = _tp_level(ctx, st, a, k)
            if F.limit_through(-d, lvl, low, high):
                return True
    return False


@njit(**_JIT)
def _tps(ctx, st, rec, t, a, o, low, high, at_open):
    """Fill the take-profits this candle reached, nearest first (ladders are in order)."""
    fs, si = st[0], st[1]
    for k in range(ctx[4].shape[2]):
        if fs[a, S_POS] == 0.0:
            return
        if (si[a, I_TP_DONE] >> k) & 1 or not ctx[4][1, a, k] > 0.0:
            continue
        d = si[a, I_DIR]
        lvl = _tp_level(ctx, st, a, k)
        if np.isnan(lvl):
            continue
        hit = d * (o - lvl) >= 0.0 if at_open else F.limit_through(-d, lvl, low, high)
        if hit:
            _tp_fill(ctx, st, rec, t, a, k, lvl)


@njit(**_JIT)
def protect_gap(ctx, st, rec, t, a, o):
    """At an open: a stop the open gapped through fills at the open (slipped); a take-profit
    the open jumped over fills at its level (a resting limit would have been hit first)."""
    fs, si = st[0], st[1]
    d = si[a, I_DIR]
    stop, why = effective_stop(fs, si, a)
    if F.stop_gapped(-d, stop, o):
        exit_taker(ctx, st, rec, t, a, o, STOP, why, True)
        return
    _tps(ctx, st, rec, t, a, o, o, o, True)


@njit(**_JIT)
def _protect_inside(ctx, st, rec, t, a, low, high, allow_tp):
    """Within one candle (after its open was handled): the stop first, TPs only if it held."""
    fs, si = st[0], st[1]
    d = si[a, I_DIR]
    stop, why = effective_stop(fs, si, a)
    if F.stop_triggered(-d, stop, low, high):
        exit_taker(ctx, st, rec, t, a, stop, STOP, why, True)
        return
    if allow_tp:
        _tps(ctx, st, rec, t, a, 0.0, low, high, False)


@njit(**_JIT)
def protect_bar(ctx, st, rec, t, a, high, low, allow_tp):
    """Intrabar stops and take-profits of an open position (no working exit order).

    The bar's path is unknown; when a stop and a take-profit are both inside it the detail
    candles, if given, tell which came first (each: gap at its open, then stop before TP);
    without them the worse outcome is assumed, the stop, and the TP does not fill."""
    fs, si = st[0], st[1]
    if allow_tp:
        d = si[a, I_DIR]
        stop, _ = effective_stop(fs, si, a)
        ds = ctx[6]
        if (ds.size > 0 and ds[t + 1] > ds[t] and F.stop_triggered(-d, stop, low, high)
                and _tp_any_inside(ctx, st, a, low, high)):
            det = ctx[5]
            for i in range(ds[t], ds[t + 1]):
                o = det[0, i, a]
                if np.isnan(o):
                    continue
                protect_gap(ctx, st, rec, t, a, o)
                if fs[a, S_POS] == 0.0 or si[a, I_EX]:
                    return
                _protect_inside(ctx, st, rec, t, a, det[2, i, a], det[1, i, a], True)
                if fs[a, S_POS] == 0.0 or si[a, I_EX]:
                    return
            return
    _protect_inside(ctx, st, rec, t, a, low, high, allow_tp)


# ---------------------------------------------------------------- entries


@njit(**_JIT)
def _kelly_fraction(ctx, st, t, a) -> float:
    """Kelly from the asset's last kelly_lookback closed trades; size_value until it has them."""
    si, ring = st[1], st[2]
    pa, pi = ctx[2], ctx[3]
    lb = pi[a, Q_KELLY_LB]
    if lb > 0 and si[a, I_N_CLOSED] >= lb:
        return F.kelly(ring[a, :lb], pa[a, P_KELLY_FRAC], pa[a, P_KELLY_CAP])
    return ctx[0][V_SIZE, t, a]


@njit(**_JIT)
def _size(ctx, st, t, a):
    """(notional, base amount) of a new entry at the signal bar's close; one of them is NaN."""
    pi = ctx[3]
    kind = pi[a, Q_SIZE_KIND]
    v = ctx[0][V_SIZE, t, a]
    eq = st[3][G_EQUITY]
    if kind == BASE:
        return np.nan, v
    if kind == QUOTE:
        return v, np.nan
    if kind == RISK:
        dist = ctx[0][V_SL, t, a]
        frac = dist if pi[a, Q_SL_PCT] else dist / ctx[0][B_CLOSE, t, a]
        return eq * v / frac, np.nan
    if kind == KELLY:
        return _kelly_fraction(ctx, st, t, a) * eq, np.nan
    return v * eq, np.nan  # EQUITY_FRACTION


@njit(**_JIT)
def _amount_at(ctx, st, a, ref) -> float:
    """Order amount for reference price `ref`, on the amount step (truncated)."""
    fs = st[0]
    amt = fs[a, S_EN_AMT]
    if np.isnan(amt):
        amt = fs[a, S_EN_NOTIONAL] / ref
    return F.round_amount(amt, ctx[2][a, P_STEP])


@njit(**_JIT)
def place_entry(ctx, st, rec, t, a, d, reason):
    """After bar t's close: a new entry order (market, limit, stop or stop-limit) in direction
    d. Limit/stop orders are sized and checked against the minimums now, at their own price;
    market orders at the fill bar's open, the price they will be sized against."""
    fs, si, gi = st[0], st[1], st[4]
    pa, pi = ctx[2], ctx[3]
    close = ctx[0][B_CLOSE, t, a]
    if d < 0 and not pi[a, Q_SHORT]:
        reject(rec, gi, t, a, d, J_SHORT, np.nan, close)
        return
    notional, base = _size(ctx, st, t, a)
    kind = pi[a, Q_EN_KIND]
    si[a, I_EN] = 1
    si[a, I_EN_DIR] = d
    si[a, I_EN_KIND] = kind
    si[a, I_EN_ORDER_KIND] = kind
    si[a, I_EN_REASON] = reason
    si[a, I_EN_FILLED] = 0
    si[a, I_EN_SIZED] = 0
    si[a, I_EN_EXPIRY] = -1
    fs[a, S_EN_NOTIONAL] = notional
    fs[a, S_EN_AMT] = base
    fs[a, S_EN_SL] = ctx[0][V_SL, t, a]
    fs[a, S_EN_TRAIL] = ctx[0][V_TRAIL, t, a]
    if kind == MARKET:
        return
    tick = pa[a, P_TICK]
    off = pa[a, P_EN_OFF]
    if kind == LIMIT:
        fs[a, S_EN_PRICE] = F.round_price(close * (1.0 - d * off), tick)
        ref = fs[a, S_EN_PRICE]
    else:
        fs[a, S_EN_STOP] = F.round_price(close * (1.0 + d * off), tick)
        ref = fs[a, S_EN_STOP]
        if kind == STOP_LIMIT:
            fs[a, S_EN_PRICE] = F.round_price(ref * (1.0 + d * pa[a, P_SL_OFF]), tick)
            ref = fs[a, S_EN_PRICE]
    amt = _amount_at(ctx, st, a, ref)
    code = _min_reject(pa, a, amt, ref)
    if code:
        si[a, I_EN] = 0
        reject(rec, gi, t, a, d, code, amt, ref)
        return
    fs[a, S_EN_AMT] = amt
    si[a, I_EN_SIZED] = 1
    if pi[a, Q_EXPIRY] > 0:
        si[a, I_EN_EXPIRY] = t + pi[a, Q_EXPIRY]


@njit(**_JIT)
def _cancel_entry(st, rec, t, a, code, price):
    fs, si = st[0], st[1]
    reject(rec, st[4], t, a, si[a, I_EN_DIR], code, fs[a, S_EN_AMT], price)
    si[a, I_EN] = 0


@njit(**_JIT)
def fill_entry(ctx, st, rec, t, a, ref, taker, slips) -> bool:
    """Fill (part of) the working entry at `ref`: volume-capped, then capped so free cash
    covers notional + fee (the order shrinks to what is affordable), truncated to the step.
    Returns True when something filled."""
    fs, si = st[0], st[1]
    pa, pi = ctx[2], ctx[3]
    d = si[a, I_EN_DIR]
    step = pa[a, P_STEP]
    if not si[a, I_EN_SIZED]:
        amt = _amount_at(ctx, st, a, ref)
        code = _min_reject(pa, a, amt, ref)
        if code:
            fs[a, S_EN_AMT] = amt
            _cancel_entry(st, rec, t, a, code, ref)
            return False
        fs[a, S_EN_AMT] = amt
        si[a, I_EN_SIZED] = 1
    want = fs[a, S_EN_AMT]
    amt = _cap(ctx, t, a, want)
    if not amt > 0.0:
        return False
    rate = pa[a, P_TAKER] if taker else pa[a, P_MAKER]
    tick = pa[a, P_TICK]
    price = F.taker_price(ref, d, _slip(ctx, t, a, amt), tick) if slips else ref
    cash = free_cash(st)
    if amt * price * (1.0 + rate) > cash:
        amt = F.round_amount(F.affordable(cash, price, rate), step)
        if slips:
            price = F.taker_price(ref, d, _slip(ctx, t, a, amt), tick)
        if not amt > 0.0 or (not si[a, I_EN_FILLED] and _min_reject(pa, a, amt, ref)):
            _cancel_entry(st, rec, t, a, J_CASH, ref)
            return False
        want = amt
    apply_fill(st, rec, pi, t, a, d, si[a, I_EN_ORDER_KIND], si[a, I_EN_REASON],
               TAKER if taker else MAKER, amt, price, ref, rate)
    left = F.round_amount(want - amt, step) if step > 0.0 else want - amt
    fs[a, S_EN_AMT] = left
    if not left > 1e-12 * want:
        si[a, I_EN] = 0
    if not si[a, I_EN_FILLED]:
        si[a, I_EN_FILLED] = 1
        si[a, I_N_ENTRIES] += 1
    fs[a, S_SL_DIST] = fs[a, S_EN_SL]
    fs[a, S_TRAIL_DIST] = fs[a, S_EN_TRAIL]
    set_levels(st, pa, pi, a)
    refresh_triggers(ctx, st, a)
    return True


@njit(**_JIT)
def work_entry_intrabar(ctx, st, rec, t, a, o, high, low) -> bool:
    """A working limit / stop / stop-limit entry against bar t. Returns True if it filled.

    Limit: fills when traded through, at its price (maker). Stop: triggers at the stop, fills
    at max(open, stop) slipped (taker); a capped remainder continues as a market order.
    Stop-limit: at the trigger it fills at the stop reference if that is within the limit
    (taker, no slippage: the limit bounds the price), else it rests as a limit from the next
    bar (whether the bar came back to the limit after the trigger is unknown)."""
    fs, si = st[0], st[1]
    kind = si[a, I_EN_KIND]
    d = si[a, I_EN_DIR]
    if kind == LIMIT:
        lim = fs[a, S_EN_PRICE]
        if F.limit_through(d, lim, low, high):
            return fill_entry(ctx, st, rec, t, a, lim, False, False)
        return False
    stop = fs[a, S_EN_STOP]
    if not F.stop_triggered(d, stop, low, high):
        return False
    if kind == STOP:
        si[a, I_EN_KIND] = MARKET
        return fill_entry(ctx, st, rec, t, a, F.stop_ref(d, o, stop), True, True)
    si[a, I_EN_KIND] = LIMIT
    p = F.stop_limit_price(d, o, stop, fs[a, S_EN_PRICE])
    if not np.isnan(p):
        return fill_entry(ctx, st, rec, t, a, p, True, False)
    return False


@njit(**_JIT)
def expire_entry(ctx, st, rec, t, a):
    """A limit/stop entry past its validity is cancelled and recorded as EXPIRED."""
    si = st[1]
    exp = si[a, I_EN_EXPIRY]
    if exp >= 0 and t >= exp and si[a, I_EN_KIND] != MARKET:
        fs = st[0]
        px = fs[a, S_EN_PRICE] if si[a, I_EN_KIND] == LIMIT else fs[a, S_EN_STOP]
        _cancel_entry(st, rec, t, a, J_EXPIRED, px)


@njit(**_JIT)
def place_exit(st, a, reason):
    """A market exit for the next open; the first reason placed is the one reported. It voids
    a working remainder of the entry in the same direction (exits win over entries)."""
    si = st[1]
    if not si[a, I_EX]:
        si[a, I_EX] = 1
        si[a, I_EX_REASON] = reason
    if si[a, I_EN] and si[a, I_EN_DIR] == si[a, I_DIR]:
        si[a, I_EN] = 0


@njit(**_JIT)
def can_add(ctx, st, a) -> bool:
    """Pyramiding: another entry in the position's direction while entries < max_entries."""
    return st[1][a, I_N_ENTRIES] < max(ctx[3][a, Q_MAX_ENTRIES], 1)

