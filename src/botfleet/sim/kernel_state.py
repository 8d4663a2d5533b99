"""The kernel's state layout and its accounting: every fill goes through `apply_fill`.

numba functions cannot share Python objects, so the kernel's whole state lives in a few flat
arrays indexed by the constants below (per asset: `fs` floats, `si` ints; global: `g` floats,
`gi` ints; `ring` the recent trade returns for Kelly sizing). Keeping ALL state in arrays is
what makes a run resumable: when the record buffers are nearly full the loop returns the bar
it stopped at, the wrapper grows the buffers, and the loop continues where it left off, so no
record is ever dropped and no bound has to be guessed up front.

Speed: a numba call that passes these arrays on costs a few hundred nanoseconds (reference
counting of every array it may hand down), so the bar loop only calls into the order code
when something can happen: a working order, a signal, or a bar whose range reaches the
position's nearest trigger (S_TRIG_STOP / S_TRIG_TP, refreshed whenever a level changes).

One accounting path (`apply_fill`) for entries, exits, stops and take-profits is what keeps
the invariants true by construction: cash moves by exactly -side * amount * price - fee,
equity = cash + sum(position * close), and a round trip's pnl is the cash it moved.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from botfleet.orders import Liquidity, OrderType, Reason
from botfleet.sim import fills as F

# numba's reference counting (NRT) would incref/decref every array a call hands on, and the
# kernel's helpers pass ~15 arrays: that alone cost ~0.5 us per event, 10x the bar budget.
# These functions never allocate, so they run without NRT (numba's `_nrt` option); only
# `new_state` and the grid driver, which allocate, keep it.
_JIT = {"cache": True, "nogil": True, "error_model": "numpy", "_nrt": False}
_ALLOC = {"cache": True, "nogil": True, "error_model": "numpy"}

# ---- per-asset float parameters pa[a, P_*]
P_TAKER, P_MAKER, P_STEP, P_TICK, P_MIN_AMT, P_MIN_NOT, P_IMPACT, P_VOLCAP = range(8)
P_EN_OFF, P_SL_OFF, P_TRAIL_ACT, P_KELLY_FRAC, P_KELLY_CAP = range(8, 13)
N_PF = 13
# ---- per-asset int parameters pi[a, Q_*]
Q_SHORT, Q_EN_KIND, Q_EXPIRY, Q_SL_PCT, Q_TRAIL_PCT, Q_TIME_LIMIT = range(6)
Q_COOLDOWN, Q_MAX_ENTRIES, Q_SIZE_KIND, Q_KELLY_LB = range(6, 10)
N_PI = 10
# ---- per-bar-and-asset inputs bars[B_* / V_*, t, a]: candles and time-varying parameters in
# one array, because every array a numba call hands on costs reference counting
B_OPEN, B_HIGH, B_LOW, B_CLOSE, B_VOL = range(5)
V_SLIP, V_SIGMA, V_SL, V_TRAIL, V_SIZE = range(5, 10)
N_BARS = 10
# ---- signals sig[X_*, t, a]
X_EL, X_XL, X_ES, X_XS = range(4)

# ---- per-asset float state fs[a, S_*]
S_POS, S_LAST_CLOSE, S_EVAL, S_EAMT, S_XVAL, S_XAMT, S_FEES, S_SLIP, S_MAXPOS = range(9)
S_SL_DIST, S_SL_LEVEL, S_TRAIL_DIST, S_PEAK, S_TRAIL_LEVEL = range(9, 14)
S_EN_AMT, S_EN_NOTIONAL, S_EN_PRICE, S_EN_STOP, S_EN_SL, S_EN_TRAIL = range(14, 20)
S_TRIG_STOP, S_TRIG_TP = range(20, 22)  # nearest stop / take-profit level: the bar filter
N_FS = 22
# ---- per-asset int state si[a, I_*]
I_DIR, I_EX, I_EX_REASON, I_EN, I_EN_DIR, I_EN_KIND, I_EN_ORDER_KIND = range(7)
I_EN_SIZED, I_EN_EXPIRY, I_EN_REASON, I_EN_FILLED, I_ENTRY_BAR, I_N_ENTRIES = range(7, 13)
I_LAST_EXIT, I_TP_DONE, I_ENTRY_REASON, I_ARMED, I_N_CLOSED = range(13, 18)
N_IS = 18
# ---- global floats g[G_*]
G_CASH, G_EQUITY, G_PEAK, G_MAXDD, G_PREV, G_RSUM, G_RSQ, G_RNEG = range(8)
G_FEES, G_GP, G_GL, G_GROSS = range(8, 12)
N_G = 12
# ---- global ints gi[H_*]
H_NF, H_NT, H_NR, H_STORE, H_RCOUNT, H_NWINS, H_BIM = range(7)
N_GI = 7

NO_BAR = -(2 ** 40)  # "never" for bar indices (last exit), far enough that t - NO_BAR is huge

MARKET = int(OrderType.MARKET)
LIMIT = int(OrderType.LIMIT)
STOP = int(OrderType.STOP)
STOP_LIMIT = int(OrderType.STOP_LIMIT)
TAKER = int(Liquidity.TAKER)
MAKER = int(Liquidity.MAKER)
R_SIGNAL = int(Reason.SIGNAL)
R_STOP_LOSS = int(Reason.STOP_LOSS)
R_TAKE_PROFIT = int(Reason.TAKE_PROFIT)
R_TRAILING = int(Reason.TRAILING_STOP)
R_TIME_LIMIT = int(Reason.TIME_LIMIT)
R_END = int(Reason.END_OF_DATA)
R_REVERSE = int(Reason.REVERSE)


@njit(**_ALLOC)
def new_state(n_assets: int, capital: float, ring_len: int, store: bool):
    """Fresh state for a run: flat, all cash, no orders, stats empty."""
    fs = np.zeros((n_assets, N_FS))
    fs[:, S_LAST_CLOSE] = np.nan
    fs[:, S_SL_LEVEL] = np.nan
    fs[:, S_TRAIL_LEVEL] = np.nan
    si = np.zeros((n_assets, N_IS), dtype=np.int64)
    si[:, I_LAST_EXIT] = NO_BAR
    ring = np.zeros((n_assets, max(ring_len, 1)))
    g = np.zeros(N_G)
    g[G_CASH] = capital
    g[G_EQUITY] = capital
    g[G_PEAK] = capital
    g[G_PREV] = capital  # the first bar's return is measured from the capital (sim.metrics)
    gi = np.zeros(N_GI, dtype=np.int64)
    gi[H_STORE] = 1 if store else 0
    return fs, si, ring, g, gi


@njit(**_JIT)
def reject(rec, gi, t, a, side, code, amount, price):
    """An order the exchange would have refused: recorded, never silently dropped."""
    n = gi[H_NR]
    if gi[H_STORE]:
        rj = rec[2]
        if n >= rj.size:
            raise RuntimeError("reject buffer full (capacity check bypassed)")
        rj[n].bar = t
        rj[n].asset = a
        rj[n].side = side
        rj[n].reason = code
        rj[n].amount = amount
        rj[n].price = price
    gi[H_NR] = n + 1


@njit(**_JIT)
def _write_fill(rec, gi, t, a, side, kind, reason, liq, amount, price, fee, slip):
    n = gi[H_NF]
    if gi[H_STORE]:
        fl = rec[0]
        if n >= fl.size:
            raise RuntimeError("fill buffer full (capacity check bypassed)")
        fl[n].bar = t
        fl[n].asset = a
        fl[n].side = side
        fl[n].kind = kind
        fl[n].reason = reason
        fl[n].liquidity = liq
        fl[n].amount = amount
        fl[n].price = price
        fl[n].fee = fee
        fl[n].slippage = slip
    gi[H_NF] = n + 1


@njit(**_JIT)
def _close_trade(st, rec, pi, t, a, reason):
    """The fill that flattened: write the round trip, feed the stats and the Kelly ring."""
    fs, si, ring, g, gi = st
    d = si[a, I_DIR]
    entry_px = fs[a, S_EVAL] / fs[a, S_EAMT]
    exit_px = fs[a, S_XVAL] / fs[a, S_XAMT]
    pnl = d * (fs[a, S_XVAL] - fs[a, S_EVAL]) - fs[a, S_FEES]
    size = fs[a, S_MAXPOS]
    ret = pnl / (entry_px * size)
    n = gi[H_NT]
    if gi[H_STORE]:
        tr = rec[1]
        if n >= tr.size:
            raise RuntimeError("trade buffer full (capacity check bypassed)")
        tr[n].asset = a
        tr[n].direction = d
        tr[n].entry_bar = si[a, I_ENTRY_BAR]
        tr[n].exit_bar = t
        tr[n].amount = size
        tr[n].entry_price = entry_px
        tr[n].exit_price = exit_px
        tr[n].pnl = pnl
        tr[n].ret = ret
        tr[n].fees = fs[a, S_FEES]
        tr[n].slippage = fs[a, S_SLIP]
        tr[n].entry_reason = si[a, I_ENTRY_REASON]
        tr[n].exit_reason = reason
    gi[H_NT] = n + 1
    if pnl > 0.0:
        gi[H_NWINS] += 1
        g[G_GP] += pnl
    else:
        g[G_GL] -= pnl
    lb = pi[a, Q_KELLY_LB]
    if lb > 0:
        ring[a, si[a, I_N_CLOSED] % lb] = ret
    si[a, I_N_CLOSED] += 1
    si[a, I_DIR] = 0
    si[a, I_LAST_EXIT] = t
    si[a, I_EX] = 0
    if si[a, I_EN] and si[a, I_EN_DIR] == d:
        si[a, I_EN] = 0  # a remainder of the entry that built this position is void now
    fs[a, S_SL_LEVEL] = np.nan
    fs[a, S_TRAIL_LEVEL] = np.nan


@njit(**_JIT)
def apply_fill(st, rec, pi, t, a, side, kind, reason, liq, amount, price, ref, rate):
    """Book one fill: cash, position, the round trip's running sums, the record."""
    fs, si, g, gi = st[0], st[1], st[3], st[4]
    fee = F.fee(amount, price, rate)
    slip = abs(price - ref) * amount
    g[G_CASH] -= side * amount * price + fee
    g[G_FEES] += fee
    pos0 = fs[a, S_POS]
    if pos0 == 0.0:
        si[a, I_DIR] = side
        si[a, I_ENTRY_BAR] = t
        si[a, I_ENTRY_REASON] = reason
        si[a, I_N_ENTRIES] = 0
        si[a, I_TP_DONE] = 0
        si[a, I_ARMED] = 0
        fs[a, S_EVAL] = 0.0
        fs[a, S_EAMT] = 0.0
        fs[a, S_XVAL] = 0.0
        fs[a, S_XAMT] = 0.0
        fs[a, S_FEES] = 0.0
        fs[a, S_SLIP] = 0.0
        fs[a, S_MAXPOS] = 0.0
        fs[a, S_PEAK] = price
    if side == si[a, I_DIR]:
        fs[a, S_EVAL] += amount * price
        fs[a, S_EAMT] += amount
        pos = pos0 + side * amount
    else:
        fs[a, S_XVAL] += amount * price
        fs[a, S_XAMT] += amount
        pos = 0.0 if amount >= abs(pos0) else pos0 + side * amount
    fs[a, S_FEES] += fee
    fs[a, S_SLIP] += slip
    fs[a, S_POS] = pos
    fs[a, S_MAXPOS] = max(fs[a, S_MAXPOS], abs(pos))
    _write_fill(rec, gi, t, a, side, kind, reason, liq, amount, price, fee, slip)
    if pos == 0.0:
        _close_trade(st, rec, pi, t, a, reason)


@njit(**_JIT)
def free_cash(st) -> float:
    """Cash an entry may spend: 1x collateral, so open shorts (valued at their last close; the
    kernel keeps no intrabar marks) lock their current notional."""
    fs = st[0]
    cash = st[3][G_CASH]
    for a in range(fs.shape[0]):
        if fs[a, S_POS] < 0.0:
            cash += fs[a, S_POS] * fs[a, S_LAST_CLOSE]
    return cash


@njit(**_JIT)
def trail_level(fs, pa, pi, a, d) -> float:
    """Trailing stop from the extreme since entry: a fraction of it, or an absolute distance."""
    dist = fs[a, S_TRAIL_DIST]
    peak = fs[a, S_PEAK]
    lvl = peak * (1.0 - d * dist) if pi[a, Q_TRAIL_PCT] else peak - d * dist
    return F.round_price(lvl, pa[a, P_TICK])


@njit(**_JIT)
def set_levels(st, pa, pi, a):
    """Stop-loss (and an unconditional trail) after an entry fill, from the average entry: a
    pyramided position is protected as one position."""
    fs, si = st[0], st[1]
    d = si[a, I_DIR]
    avg = fs[a, S_EVAL] / fs[a, S_EAMT]
    dist = fs[a, S_SL_DIST]
    if dist > 0.0:
        lvl = avg * (1.0 - d * dist) if pi[a, Q_SL_PCT] else avg - d * dist
        fs[a, S_SL_LEVEL] = F.round_price(lvl, pa[a, P_TICK])
    else:
        fs[a, S_SL_LEVEL] = np.nan
    if fs[a, S_TRAIL_DIST] > 0.0:
        if not pa[a, P_TRAIL_ACT] >= 0.0:  # NaN activation: armed from entry
            si[a, I_ARMED] = 1
        if si[a, I_ARMED]:
            fs[a, S_TRAIL_LEVEL] = trail_level(fs, pa, pi, a, d)
    else:
        si[a, I_ARMED] = 0
        fs[a, S_TRAIL_LEVEL] = np.nan


@njit(**_JIT)
def update_trail(st, pa, pi, a, high, low):
    """At the close: extend the extreme with this bar, arm the trail once the gain reached the
    activation, and move the level (used from the next bar: no intrabar path is assumed)."""
    fs, si = st[0], st[1]
    d = si[a, I_DIR]
    if d > 0:
        fs[a, S_PEAK] = max(fs[a, S_PEAK], high)
    elif low < fs[a, S_PEAK]:
        fs[a, S_PEAK] = low
    if not si[a, I_ARMED]:
        avg = fs[a, S_EVAL] / fs[a, S_EAMT]
        if d * (fs[a, S_PEAK] - avg * (1.0 + d * pa[a, P_TRAIL_ACT])) >= 0.0:
            si[a, I_ARMED] = 1
    if si[a, I_ARMED]:
        fs[a, S_TRAIL_LEVEL] = trail_level(fs, pa, pi, a, d)


@njit(**_JIT)
def effective_stop(fs, si, a):
    """The tighter of stop-loss and armed trail, and which one it is (for the exit reason)."""
    d = si[a, I_DIR]
    sl = fs[a, S_SL_LEVEL]
    tr = fs[a, S_TRAIL_LEVEL] if si[a, I_ARMED] else np.nan
    if not np.isnan(tr) and (np.isnan(sl) or d * (tr - sl) > 0.0):
        return tr, R_TRAILING
    return sl, R_STOP_LOSS
