"""The kernel's state layout and its accounting: every fill goes through `apply_fill`.

numba functions cannot share Python objects, so the kernel's whole state lives in numpy record
arrays: `S` (one ASSET_STATE record per asset), `P` (one PARAMS record per asset, read-only),
`G` (one RUN_STATE record), and `ring`, the recent trade returns for Kelly sizing. Keeping ALL
state in arrays is what makes a run resumable: when the record buffers are nearly full the loop
returns the bar it stopped at, the wrapper grows the buffers, and the loop continues where it
left off, so no record is ever dropped and no bound has to be guessed up front.

Speed: records, not 2-D arrays, because numba passes a record (`S[a]`, `G[0]`) to a call as
one pointer, while an array travels as 7 to 11 machine words (data, shape, strides, ...). The
order code makes a few calls per fill; with the state as arrays grouped in tuples each call
pushed some 130 words, most of the cost of a fill. The bar loop still calls into the order code
only when something can happen: a working order, a signal, or a bar whose range reaches the
position's nearest trigger (`trig_stop` / `trig_tp`, refreshed whenever a level changes).

One accounting path (`apply_fill`) for entries, exits, stops and take-profits is what keeps
the invariants true by construction: cash moves by exactly -side * amount * price - fee,
equity = cash + sum(position * close), and a round trip's pnl is the cash it moved.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from botfleet.orders import Liquidity, OrderType, Reason
from botfleet.sim import fills as F

# numba's reference counting (NRT) would incref/decref every array a call hands on, a few ns
# each; these functions never allocate, so they run without NRT (numba's `_nrt` option); only
# `new_state` and the grid driver, which allocate, keep it.
_JIT = {"cache": True, "nogil": True, "error_model": "numpy", "_nrt": False}
_ALLOC = {"cache": True, "nogil": True, "error_model": "numpy"}
# Small helpers on every fill or bar are inlined by numba itself: numba optimises each function
# on its own first (a loop is unrolled eightfold), after which LLVM judges most of them too big
# to inline, and a call costs ~5 ns plus its arguments.
_INLINE = {**_JIT, "inline": "always"}

_F, _I = np.float64, np.int64

# per asset, mutable
ASSET_STATE = np.dtype([
    # the position and its round trip so far (sums over its fills)
    ("pos", _F), ("last_close", _F), ("eval", _F), ("eamt", _F), ("xval", _F), ("xamt", _F),
    ("fees", _F), ("slip", _F), ("maxpos", _F),
    # its protection: distances, levels, the trail's extreme, the nearest levels (bar filter)
    ("sl_dist", _F), ("sl_level", _F), ("trail_dist", _F), ("peak", _F), ("trail_level", _F),
    ("trig_stop", _F), ("trig_tp", _F),
    # the working entry order
    ("en_amt", _F), ("en_notional", _F), ("en_price", _F), ("en_stop", _F), ("en_sl", _F),
    ("en_trail", _F),
    ("dir", _I), ("entry_bar", _I), ("entry_reason", _I), ("n_entries", _I), ("tp_done", _I),
    ("armed", _I), ("n_closed", _I), ("last_exit", _I),
    ("ex", _I), ("ex_reason", _I),  # a working market exit
    ("en", _I), ("en_dir", _I), ("en_kind", _I), ("en_order_kind", _I), ("en_sized", _I),
    ("en_expiry", _I), ("en_reason", _I), ("en_filled", _I),
], align=True)

# per asset, read-only: arrays.AssetParams without the per-bar and take-profit fields
PARAMS = np.dtype([
    ("taker", _F), ("maker", _F), ("step", _F), ("tick", _F), ("min_amount", _F),
    ("min_notional", _F), ("impact", _F), ("volume_cap", _F), ("entry_offset", _F),
    ("stop_limit_offset", _F), ("trail_activate", _F), ("kelly_fraction", _F),
    ("kelly_cap", _F),
    ("allow_short", _I), ("entry_kind", _I), ("entry_expiry", _I), ("sl_is_pct", _I),
    ("trail_is_pct", _I), ("time_limit", _I), ("cooldown", _I), ("max_entries", _I),
    ("size_kind", _I), ("kelly_lookback", _I),
], align=True)

# the run: cash, the streamed statistics, the record counts
RUN_STATE = np.dtype([
    ("cash", _F), ("equity", _F), ("peak", _F), ("maxdd", _F), ("prev", _F), ("rsum", _F),
    ("rsq", _F), ("rneg", _F), ("fees", _F), ("gp", _F), ("gl", _F),
    ("nf", _I), ("nt", _I), ("nr", _I), ("store", _I), ("rcount", _I), ("nwins", _I),
    ("bim", _I),
], align=True)

# ---- candles bars[B_*, t, a]
B_OPEN, B_HIGH, B_LOW, B_CLOSE, B_VOL = range(5)
N_BARS = 5
# ---- per-bar parameters vbar[V_*, t, a]; a single row serves every bar when none of them
# varies over time (the usual case), so that an order touches no per-bar memory for them
V_SLIP, V_SIGMA, V_SL, V_TRAIL, V_SIZE = range(5)
N_VBAR = 5
# ---- signals sig[X_*, t, a]
X_EL, X_XL, X_ES, X_XS = range(4)

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


@njit(**_INLINE)
def vrow(vbar, t):
    """The row of `vbar` that holds bar t's parameters."""
    return t if vbar.shape[1] > 1 else 0


@njit(**_ALLOC)
def new_state(n_assets: int, capital: float, ring_len: int, store: bool):
    """Fresh state for a run, (S, ring, G): flat, all cash, no orders, stats empty."""
    S = np.zeros(n_assets, ASSET_STATE)
    for a in range(n_assets):
        s = S[a]
        s.last_close = np.nan
        s.sl_level = np.nan
        s.trail_level = np.nan
        s.last_exit = NO_BAR
    ring = np.zeros((n_assets, max(ring_len, 1)))
    G = np.zeros(1, RUN_STATE)
    g = G[0]
    g.cash = capital
    g.equity = capital
    g.peak = capital
    g.prev = capital  # the first bar's return is measured from the capital (sim.metrics)
    g.store = 1 if store else 0
    return S, ring, G


@njit(**_JIT)
def reject(rj, g, t, a, side, code, amount, price):
    """An order the exchange would have refused: recorded, never silently dropped."""
    n = g.nr
    if g.store:
        if n >= rj.size:
            raise RuntimeError("reject buffer full (capacity check bypassed)")
        rj[n].bar = t
        rj[n].asset = a
        rj[n].side = side
        rj[n].reason = code
        rj[n].amount = amount
        rj[n].price = price
    g.nr = n + 1


@njit(**_INLINE)
def _write_fill(fl, g, t, a, side, kind, reason, liq, amount, price, fee, slip):
    n = g.nf
    if g.store:
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
    g.nf = n + 1


@njit(**_INLINE)
def _close_trade(s, p, g, tr, ring, t, a, reason):
    """The fill that flattened: write the round trip, feed the stats and the Kelly ring."""
    d = s.dir
    entry_px = s.eval / s.eamt
    exit_px = s.xval / s.xamt
    pnl = d * (s.xval - s.eval) - s.fees
    size = s.maxpos
    ret = pnl / (entry_px * size)
    n = g.nt
    if g.store:
        if n >= tr.size:
            raise RuntimeError("trade buffer full (capacity check bypassed)")
        tr[n].asset = a
        tr[n].direction = d
        tr[n].entry_bar = s.entry_bar
        tr[n].exit_bar = t
        tr[n].amount = size
        tr[n].entry_price = entry_px
        tr[n].exit_price = exit_px
        tr[n].pnl = pnl
        tr[n].ret = ret
        tr[n].fees = s.fees
        tr[n].slippage = s.slip
        tr[n].entry_reason = s.entry_reason
        tr[n].exit_reason = reason
    g.nt = n + 1
    if pnl > 0.0:
        g.nwins += 1
        g.gp += pnl
    else:
        g.gl -= pnl
    lb = p.kelly_lookback
    if lb > 0:
        ring[a, s.n_closed % lb] = ret
    s.n_closed += 1
    s.dir = 0
    s.last_exit = t
    s.ex = 0
    if s.en and s.en_dir == d:
        s.en = 0  # a remainder of the entry that built this position is void now
    s.sl_level = np.nan
    s.trail_level = np.nan


@njit(**_INLINE)
def apply_fill(s, p, g, fl, tr, ring, t, a, side, kind, reason, liq, amount, price, ref, rate):
    """Book one fill: cash, position, the round trip's running sums, the record."""
    fee = F.fee(amount, price, rate)
    slip = abs(price - ref) * amount
    g.cash -= side * amount * price + fee
    g.fees += fee
    pos0 = s.pos
    if pos0 == 0.0:
        s.dir = side
        s.entry_bar = t
        s.entry_reason = reason
        s.n_entries = 0
        s.tp_done = 0
        s.armed = 0
        s.eval = 0.0
        s.eamt = 0.0
        s.xval = 0.0
        s.xamt = 0.0
        s.fees = 0.0
        s.slip = 0.0
        s.maxpos = 0.0
        s.peak = price
    if side == s.dir:
        s.eval += amount * price
        s.eamt += amount
        pos = pos0 + side * amount
    else:
        s.xval += amount * price
        s.xamt += amount
        pos = 0.0 if amount >= abs(pos0) else pos0 + side * amount
    s.fees += fee
    s.slip += slip
    s.pos = pos
    s.maxpos = max(s.maxpos, abs(pos))
    _write_fill(fl, g, t, a, side, kind, reason, liq, amount, price, fee, slip)
    if pos == 0.0:
        _close_trade(s, p, g, tr, ring, t, a, reason)


@njit(**_INLINE)
def free_cash(S, g) -> float:
    """Cash an entry may spend: 1x collateral, so open shorts (valued at their last close; the
    kernel keeps no intrabar marks) lock their current notional."""
    cash = g.cash
    for a in range(S.shape[0]):
        if S[a].pos < 0.0:
            cash += S[a].pos * S[a].last_close
    return cash


@njit(**_INLINE)
def trail_level(s, p, d) -> float:
    """Trailing stop from the extreme since entry: a fraction of it, or an absolute distance."""
    dist = s.trail_dist
    peak = s.peak
    lvl = peak * (1.0 - d * dist) if p.trail_is_pct else peak - d * dist
    return F.round_price(lvl, p.tick)


@njit(**_INLINE)
def set_levels(s, p):
    """Stop-loss (and an unconditional trail) after an entry fill, from the average entry: a
    pyramided position is protected as one position."""
    d = s.dir
    avg = s.eval / s.eamt
    dist = s.sl_dist
    if dist > 0.0:
        lvl = avg * (1.0 - d * dist) if p.sl_is_pct else avg - d * dist
        s.sl_level = F.round_price(lvl, p.tick)
    else:
        s.sl_level = np.nan
    if s.trail_dist > 0.0:
        if not p.trail_activate >= 0.0:  # NaN activation: armed from entry
            s.armed = 1
        if s.armed:
            s.trail_level = trail_level(s, p, d)
    else:
        s.armed = 0
        s.trail_level = np.nan


@njit(**_JIT)
def update_trail(s, p, high, low):
    """At the close: extend the extreme with this bar, arm the trail once the gain reached the
    activation, and move the level (used from the next bar: no intrabar path is assumed)."""
    d = s.dir
    if d > 0:
        s.peak = max(s.peak, high)
    elif low < s.peak:
        s.peak = low
    if not s.armed:
        avg = s.eval / s.eamt
        if d * (s.peak - avg * (1.0 + d * p.trail_activate)) >= 0.0:
            s.armed = 1
    if s.armed:
        s.trail_level = trail_level(s, p, d)


@njit(**_INLINE)
def effective_stop(s):
    """The tighter of stop-loss and armed trail, and which one it is (for the exit reason)."""
    d = s.dir
    sl = s.sl_level
    tr = s.trail_level if s.armed else np.nan
    if not np.isnan(tr) and (np.isnan(sl) or d * (tr - sl) > 0.0):
        return tr, R_TRAILING
    return sl, R_STOP_LOSS
