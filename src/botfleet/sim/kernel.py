"""The backtest kernel: an event-driven loop over bars t = 0..T-1 and assets a = 0..A-1 with one
shared cash balance, compiled by numba.

Assumptions (each chosen so a backtest cannot look better than the exchange would allow):

Timing. Signals at bar t are computed on t's close, so the orders they cause act from t + 1;
nothing fills in the bar that produced its signal.

Inside bar t:
1. At the open, all assets: working exits (signal, time limit, reversal, remainders of a
   volume-capped exit) and stop gaps (an open beyond the stop fills at the open, slipped; an
   open beyond a take-profit fills that TP at its level) -- then working market entries.
   Exits go first so the cash they free can be spent; assets in index order. A position
   with a working exit order has its stops and TPs suspended: it is already being closed.
2. Intrabar, per asset: the position's stop (the tighter of stop-loss and the trail as it
   stood after the previous close) and take-profits; when both are inside the bar the
   `detail` candles decide the order, without them the stop wins and the TP does not fill
   (the worse path). Then working limit/stop entries (see `kernel_orders`). A position entered
   intrabar is checked against its stop in the same bar (a low after the fill cannot be ruled
   out) but earns no TP in that bar (a high after the fill cannot be proven). Unfilled
   limit/stop entries past `entry_expiry` bars are cancelled (Reject EXPIRED); 0 = good till
   cancelled.
3. At the close: equity = cash + sum(position * close) (a NaN close keeps the last close);
   the trail's extreme takes this bar's high (low for shorts) and the trail arms once the
   extreme reached entry * (1 + activate); both are used from t + 1. Then bar t's signals:
   exit beats an entry of the same direction; an opposite entry while in a position exits
   (REVERSE) and enters at the next open (a reversal ignores cooldown: it is one decision);
   same-direction entries pyramid while entries < max_entries; a time limit exits after
   `time_limit` bars held counting the entry bar; `cooldown` blocks entry signals at bars
   t < last exit bar + cooldown; long and short entries in the same flat bar cancel out.
   A pair without a bar (NaN open/close) neither fills nor reads signals.
4. After the last bar, with close_at_end, every position closes at its last close, slipped,
   taker fee, END_OF_DATA; equity[T-1] shows it. Working entries are dropped.

Sizing (arrays.*): EQUITY_FRACTION notional = size_value * equity at the signal close; QUOTE
notional = size_value; BASE amount = size_value; RISK notional = equity * size_value / stop
distance as a fraction of price; KELLY notional = fractional Kelly of the asset's last
kelly_lookback trades * equity (size_value as the fraction until there are that many). A
notional becomes an amount at the fill bar's open for market orders, at the order's price
for limit/stop ones; it is then volume-capped, capped so free cash covers notional + fee, and
truncated to the amount step. Minimum amount/notional are checked on the whole order (not on
the pieces of a partial fill). Exits are never rejected: the kernel must always be able to
flatten. Free cash = cash - current notional of open shorts (1x collateral; no borrow cost).

Statistics are streamed per bar (returns from bar 1 on: eq[t] / eq[t-1] - 1; drawdown from
the running peak starting at `capital`) so `simulate_grid` can report them without curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from botfleet.sim.arrays import AssetParams, Detail, Market, Signals, validate_inputs
from botfleet.sim.kernel_orders import (
    can_add,
    exit_taker,
    expire_entry,
    fill_entry,
    place_entry,
    place_exit,
    protect_bar,
    protect_gap,
    refresh_triggers,
    work_entry_intrabar,
)
from botfleet.sim.kernel_state import (
    _JIT,
    B_CLOSE,
    B_HIGH,
    B_LOW,
    B_OPEN,
    B_VOL,
    G_CASH,
    G_EQUITY,
    G_FEES,
    G_GL,
    G_GP,
    G_MAXDD,
    G_PEAK,
    G_PREV,
    G_RNEG,
    G_RSQ,
    G_RSUM,
    H_BIM,
    H_NF,
    H_NR,
    H_NT,
    H_NWINS,
    H_RCOUNT,
    H_STORE,
    I_ARMED,
    I_DIR,
    I_EN,
    I_EN_DIR,
    I_EN_KIND,
    I_ENTRY_BAR,
    I_EX,
    I_EX_REASON,
    I_LAST_EXIT,
    MARKET,
    N_BARS,
    N_PF,
    N_PI,
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
    P_TRAIL_ACT,
    P_VOLCAP,
    Q_COOLDOWN,
    Q_EN_KIND,
    Q_EXPIRY,
    Q_KELLY_LB,
    Q_MAX_ENTRIES,
    Q_SHORT,
    Q_SIZE_KIND,
    Q_SL_PCT,
    Q_TIME_LIMIT,
    Q_TRAIL_PCT,
    R_END,
    R_REVERSE,
    R_SIGNAL,
    R_TIME_LIMIT,
    S_EAMT,
    S_EVAL,
    S_LAST_CLOSE,
    S_PEAK,
    S_POS,
    S_TRAIL_DIST,
    S_TRIG_STOP,
    S_TRIG_TP,
    V_SIGMA,
    V_SIZE,
    V_SL,
    V_SLIP,
    V_TRAIL,
    X_EL,
    X_ES,
    X_XL,
    X_XS,
    new_state,
    update_trail,
)
from botfleet.sim.records import FILL_DTYPE, REJECT_DTYPE, TRADE_DTYPE

STAT_KEYS = ("final_equity", "n_trades", "n_wins", "gross_profit", "gross_loss", "max_drawdown",
             "bars_in_market", "fees", "ret_count", "ret_sum", "ret_sumsq", "ret_negsq")


# ---------------------------------------------------------------- the bar step
#
# The hot helpers take scalars only: a numba call that receives arrays reference-counts each of
# them (a few ns apiece, even when inlined), which alone would cost more than a whole bar. So
# the loop reads the flat arrays itself and calls the order code only on events.


@njit(**_JIT)
def _gap_hit(d, op, trig_stop, trig_tp) -> bool:
    """The open reached the position's stop or nearest take-profit (False for a NaN open)."""
    if d > 0:
        return op <= trig_stop or op >= trig_tp
    return op >= trig_stop or op <= trig_tp


@njit(**_JIT)
def _range_hit(d, hi, lo, trig_stop, trig_tp) -> bool:
    """The bar's range reached the stop or the nearest take-profit (False for a NaN bar)."""
    if d > 0:
        return lo <= trig_stop or hi >= trig_tp
    return hi >= trig_stop or lo <= trig_tp


@njit(**_JIT)
def _trail_due(d, hi, lo, peak, armed, avg, activate) -> bool:
    """This bar moves the trail: a new extreme, or the gain that arms it was reached."""
    if d * ((hi if d > 0 else lo) - peak) > 0.0:
        return True
    return not armed and d * (peak - avg * (1.0 + d * activate)) >= 0.0


@njit(**_JIT)
def _wants_signal(el, xl, es, xs, working, d, held, time_limit) -> bool:
    """Bar t's signals (or the time limit) can change something for this asset."""
    if el or es:
        return True
    if working and (xl or xs):
        return True
    if d == 0:
        return False
    return xl or xs or (0 < time_limit <= held)


@njit(**_JIT)
def _stream(eq, prev, peak, maxdd, count, rsum, rsq, rneg):
    """One bar of the streamed statistics: return moments from bar 1 on, running drawdown."""
    if not np.isnan(prev):
        r = eq / prev - 1.0 if prev != 0.0 else 0.0
        count += 1
        rsum += r
        rsq += r * r
        if r < 0.0:
            rneg += r * r
    if eq > peak:
        peak = eq
    elif peak > 0.0:
        maxdd = max(maxdd, 1.0 - eq / peak)
    return peak, maxdd, count, rsum, rsq, rneg


@njit(**_JIT)
def _open_exit(ctx, st, rec, t, a, op):
    """Step 1 for a position: its working exit order, else the stop/TP gap test."""
    si = st[1]
    if si[a, I_EX]:
        exit_taker(ctx, st, rec, t, a, op, MARKET, si[a, I_EX_REASON], True)
    else:
        protect_gap(ctx, st, rec, t, a, op)


@njit(**_JIT)
def _intrabar_entry(ctx, st, rec, t, a, op, hi, lo):
    """Step 2 for a working limit/stop entry: fill (then the new position's stop, no TP
    credit), or expire."""
    fs, si = st[0], st[1]
    if si[a, I_DIR] == 0 or si[a, I_DIR] == si[a, I_EN_DIR]:
        filled = work_entry_intrabar(ctx, st, rec, t, a, op, hi, lo)
        if filled and fs[a, S_POS] != 0.0 and not si[a, I_EX]:
            protect_bar(ctx, st, rec, t, a, hi, lo, False)
    if si[a, I_EN]:
        expire_entry(ctx, st, rec, t, a)


@njit(**_JIT)
def _trail_step(ctx, st, a, hi, lo):
    update_trail(st, ctx[2], ctx[3], a, hi, lo)
    refresh_triggers(ctx, st, a)


@njit(**_JIT)
def _asset_signals(ctx, st, rec, t, a, el, xl, es, xs):
    """Bar t's signals for one asset with a bar: see the module docstring, step 3."""
    si, pi = st[1], ctx[3]
    el = el and not xl
    es = es and not xs
    d = si[a, I_DIR]
    if d != 0:
        exiting = si[a, I_EX] == 1
        if xl if d > 0 else xs:
            place_exit(st, a, R_SIGNAL)
            exiting = True
        elif (not exiting and pi[a, Q_TIME_LIMIT] > 0
              and t - si[a, I_ENTRY_BAR] + 1 >= pi[a, Q_TIME_LIMIT]):
            place_exit(st, a, R_TIME_LIMIT)
            exiting = True
        if es if d > 0 else el:
            if d > 0 and not pi[a, Q_SHORT]:
                place_entry(ctx, st, rec, t, a, -d, R_SIGNAL)  # records SHORT_NOT_ALLOWED
                return
            if not exiting:
                place_exit(st, a, R_REVERSE)
            place_entry(ctx, st, rec, t, a, -d, R_SIGNAL)
        elif (el if d > 0 else es) and not exiting and not si[a, I_EN] and can_add(ctx, st, a):
            place_entry(ctx, st, rec, t, a, d, R_SIGNAL)
        return
    if si[a, I_EN] and (xl if si[a, I_EN_DIR] > 0 else xs):
        si[a, I_EN] = 0  # an exit signal cancels a working entry
    if el == es:
        return
    nd = 1 if el else -1
    if si[a, I_EN] and si[a, I_EN_DIR] == nd:
        return
    if t < si[a, I_LAST_EXIT] + pi[a, Q_COOLDOWN]:
        return
    place_entry(ctx, st, rec, t, a, nd, R_SIGNAL)


@njit(**_JIT)
def _end_close(ctx, st, rec, t):
    fs = st[0]
    for a in range(fs.shape[0]):
        if fs[a, S_POS] != 0.0:
            exit_taker(ctx, st, rec, t, a, fs[a, S_LAST_CLOSE], MARKET, R_END, False)


@njit(**_JIT)
def _equity(st, c, t):
    """Equity and gross exposure at bar t's close (a NaN close keeps the last one)."""
    fs = st[0]
    eq = st[3][G_CASH]
    gross = 0.0
    for a in range(fs.shape[0]):
        cl = c[t, a]
        if not np.isnan(cl):
            fs[a, S_LAST_CLOSE] = cl
        pos = fs[a, S_POS]
        if pos != 0.0:
            eq += pos * fs[a, S_LAST_CLOSE]
            gross += abs(pos) * fs[a, S_LAST_CLOSE]
    return eq, gross


@njit(**_JIT)
def run(t0, ctx, st, rec, curves, close_at_end, per_bar):
    """Bars t0..T-1. Returns T when done, or the bar it stopped at because a record buffer
    might not hold another bar (per_bar = most fills, trades, rejects one bar can write);
    the caller grows the buffers and calls again from there.

    The body reads flat arrays and calls the order code only when an asset has a working
    order, a signal, or a bar reaching a trigger: the common bar costs a few branches."""
    bars, sig = ctx[0], ctx[1]
    o, h, lo, c = bars[B_OPEN], bars[B_HIGH], bars[B_LOW], bars[B_CLOSE]
    el, xl, es, xs = sig[X_EL], sig[X_XL], sig[X_ES], sig[X_XS]
    pa, pi = ctx[2], ctx[3]
    fs, si, g, gi = st[0], st[1], st[3], st[4]
    eq_c, cash_c, expo_c = curves
    # room check per bar: the counts must stay at or below these (buffer size minus one bar)
    lim_f, lim_t = rec[0].size - per_bar[0], rec[1].size - per_bar[1]
    lim_r = rec[2].size - per_bar[2]
    store = gi[H_STORE] != 0
    n_bars, n_assets = c.shape
    peak, maxdd, prev = g[G_PEAK], g[G_MAXDD], g[G_PREV]
    count, rsum, rsq, rneg = gi[H_RCOUNT], g[G_RSUM], g[G_RSQ], g[G_RNEG]
    bim = gi[H_BIM]
    t = t0
    while t < n_bars:
        if store and (gi[H_NF] > lim_f or gi[H_NT] > lim_t or gi[H_NR] > lim_r):
            break
        # 1. the open: exits and gaps on every asset, then market entries
        for a in range(n_assets):
            d = si[a, I_DIR]
            if d != 0 and not np.isnan(o[t, a]) and (si[a, I_EX] or _gap_hit(
                    d, o[t, a], fs[a, S_TRIG_STOP], fs[a, S_TRIG_TP])):
                _open_exit(ctx, st, rec, t, a, o[t, a])
        for a in range(n_assets):
            if (si[a, I_EN] and si[a, I_EN_KIND] == MARKET and not np.isnan(o[t, a])
                    and (si[a, I_DIR] == 0 or si[a, I_DIR] == si[a, I_EN_DIR])):
                fill_entry(ctx, st, rec, t, a, o[t, a], True, True)
        # 2. intrabar
        for a in range(n_assets):
            d = si[a, I_DIR]
            if d != 0 and not si[a, I_EX] and _range_hit(
                    d, h[t, a], lo[t, a], fs[a, S_TRIG_STOP], fs[a, S_TRIG_TP]):
                protect_bar(ctx, st, rec, t, a, h[t, a], lo[t, a], True)
            if si[a, I_EN] and si[a, I_EN_KIND] != MARKET and not np.isnan(o[t, a]):
                _intrabar_entry(ctx, st, rec, t, a, o[t, a], h[t, a], lo[t, a])
        # 3. the close: mark, trail, signals
        eq, gross = _equity(st, c, t)
        g[G_EQUITY] = eq
        for a in range(n_assets):
            if np.isnan(c[t, a]):
                continue
            d = si[a, I_DIR]
            if d != 0 and fs[a, S_TRAIL_DIST] > 0.0 and _trail_due(
                    d, h[t, a], lo[t, a], fs[a, S_PEAK], si[a, I_ARMED],
                    fs[a, S_EVAL] / fs[a, S_EAMT], pa[a, P_TRAIL_ACT]):
                _trail_step(ctx, st, a, h[t, a], lo[t, a])
            if _wants_signal(el[t, a], xl[t, a], es[t, a], xs[t, a], si[a, I_EN], d,
                             t - si[a, I_ENTRY_BAR] + 1, pi[a, Q_TIME_LIMIT]):
                _asset_signals(ctx, st, rec, t, a, el[t, a], xl[t, a], es[t, a], xs[t, a])
        # 4. end of data
        if close_at_end and t == n_bars - 1:
            _end_close(ctx, st, rec, t)
            eq, gross = _equity(st, c, t)
            g[G_EQUITY] = eq
        if gross > 0.0:
            bim += 1
        if store:
            eq_c[t] = eq
            cash_c[t] = g[G_CASH]
            expo_c[t] = gross  # divided by equity after the loop: a division a bar saved
        peak, maxdd, count, rsum, rsq, rneg = _stream(eq, prev, peak, maxdd, count, rsum,
                                                      rsq, rneg)
        prev = eq
        t += 1
    g[G_PEAK], g[G_MAXDD], g[G_PREV] = peak, maxdd, prev
    gi[H_RCOUNT], g[G_RSUM], g[G_RSQ], g[G_RNEG] = count, rsum, rsq, rneg
    gi[H_BIM] = bim
    return t


@njit(**_JIT)
def stats_row(st, out):
    """The per-run summary (grid columns, KernelOut.stats) in STAT_KEYS order."""
    g, gi = st[3], st[4]
    out[0] = g[G_EQUITY]
    out[1] = gi[H_NT]
    out[2] = gi[H_NWINS]
    out[3] = g[G_GP]
    out[4] = g[G_GL]
    out[5] = g[G_MAXDD]
    out[6] = gi[H_BIM]
    out[7] = g[G_FEES]
    out[8] = gi[H_RCOUNT]
    out[9] = g[G_RSUM]
    out[10] = g[G_RSQ]
    out[11] = g[G_RNEG]


# ---------------------------------------------------------------- Python side


def _f(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def pack_params(p: AssetParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AssetParams -> (pa (A, N_PF), pi (A, N_PI), tp (2, A, K)) in the kernel's layout."""
    pa = np.empty((p.taker_fee.shape[0], N_PF))
    for col, arr in ((P_TAKER, p.taker_fee), (P_MAKER, p.maker_fee), (P_STEP, p.amount_step),
                     (P_TICK, p.price_tick), (P_MIN_AMT, p.min_amount),
                     (P_MIN_NOT, p.min_notional), (P_IMPACT, p.impact_coef),
                     (P_VOLCAP, p.volume_cap), (P_EN_OFF, p.entry_offset),
                     (P_SL_OFF, p.stop_limit_offset), (P_TRAIL_ACT, p.trail_activate),
                     (P_KELLY_FRAC, p.kelly_fraction), (P_KELLY_CAP, p.kelly_cap)):
        pa[:, col] = arr
    pi = np.empty((p.taker_fee.shape[0], N_PI), dtype=np.int64)
    for col, arr in ((Q_SHORT, p.allow_short), (Q_EN_KIND, p.entry_kind),
                     (Q_EXPIRY, p.entry_expiry), (Q_SL_PCT, p.sl_is_pct),
                     (Q_TRAIL_PCT, p.trail_is_pct), (Q_TIME_LIMIT, p.time_limit),
                     (Q_COOLDOWN, p.cooldown), (Q_MAX_ENTRIES, p.max_entries),
                     (Q_SIZE_KIND, p.size_kind), (Q_KELLY_LB, p.kelly_lookback)):
        pi[:, col] = arr
    tp = np.ascontiguousarray(np.stack([p.tp_at, p.tp_close]), dtype=np.float64)
    return pa, pi, tp


def bar_layers(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised (N_BARS, T, A) buffer in the kernel's layout. A driver that writes the
    market and per-bar parameters straight into its layers (`bars[B_OPEN]`, … `bars[V_SIZE]`,
    each a C-contiguous (T, A) view) spares `pack_bars` a copy: on a million bars the copy
    costs more than the simulation loop."""
    return np.empty((N_BARS, *shape))


def signal_layers(shape: tuple[int, int]) -> np.ndarray:
    """A zeroed (4, T, A) bool buffer whose layers X_EL..X_XS can back a `Signals`."""
    return np.zeros((4, *shape), dtype=np.bool_)


def _layers_of(layers: tuple, depth: int, dtype) -> np.ndarray | None:
    """The buffer that `layers` ((index, array) pairs) already are the layers of, or None."""
    base = layers[0][1].base
    if (not isinstance(base, np.ndarray) or base.ndim != 3 or base.shape[0] != depth
            or base.dtype != dtype or not base.flags.c_contiguous
            or len(layers) != depth):
        return None
    start, step = base.__array_interface__["data"][0], base.strides[0]
    for k, arr in layers:
        if (arr.base is not base or arr.shape != base.shape[1:]
                or arr.__array_interface__["data"][0] != start + k * step):
            return None
    return base


def pack_bars(market: Market, p: AssetParams) -> np.ndarray:
    """Candles and the per-bar parameters as one (N_BARS, T, A) array (no copy when they are
    already the layers of one, see `bar_layers`)."""
    layers = ((B_OPEN, market.open), (B_HIGH, market.high), (B_LOW, market.low),
              (B_CLOSE, market.close), (B_VOL, market.volume), (V_SLIP, p.slip_frac),
              (V_SIGMA, p.sigma), (V_SL, p.sl), (V_TRAIL, p.trail), (V_SIZE, p.size_value))
    packed = _layers_of(layers, N_BARS, np.float64)
    if packed is not None:
        return packed
    bars = bar_layers(market.shape)
    for k, arr in layers:
        bars[k] = arr
    return bars


def pack_signals(signals: Signals) -> np.ndarray:
    """Entry/exit flags as one (4, T, A) bool array (no copy when already packed)."""
    layers = ((X_EL, signals.entry_long), (X_XL, signals.exit_long),
              (X_ES, signals.entry_short), (X_XS, signals.exit_short))
    packed = _layers_of(layers, 4, np.bool_)
    if packed is not None:
        return packed
    return np.stack([arr for _, arr in layers]).astype(np.bool_)


def pack_detail(detail: Detail | None, n_assets: int) -> tuple[np.ndarray, np.ndarray]:
    """(3, N, A) open/high/low and the (T + 1,) row starts; empty when there is no detail."""
    if detail is None:
        return np.zeros((3, 0, n_assets)), np.zeros(0, dtype=np.int64)
    det = np.ascontiguousarray(np.stack([detail.open, detail.high, detail.low]), dtype=float)
    return det, np.ascontiguousarray(detail.start, dtype=np.int64)


def make_ctx(market: Market, sig: np.ndarray, params: AssetParams,
             detail: Detail | None) -> tuple:
    """The read-only kernel input tuple (see kernel_orders for its order)."""
    pa, pi, tp = pack_params(params)
    det, start = pack_detail(detail, market.shape[1])
    return (pack_bars(market, params), sig, pa, pi, tp, det, start)


def per_bar_bounds(n_assets: int, n_tp: int) -> np.ndarray:
    """Most (fills, trades, rejects) one bar can write: per asset an exit or stop-gap fill,
    TP gap fills, a market entry, an intrabar stop, intrabar TPs, an intrabar entry and its
    stop, the end-of-data close; each fill can end a trade; up to four rejects."""
    return np.array([n_assets * (2 * n_tp + 7), n_assets * 4, n_assets * 4], dtype=np.int64)


@dataclass
class KernelOut:
    equity: np.ndarray  # (T,)
    cash: np.ndarray  # (T,)
    exposure: np.ndarray  # (T,) gross position value / equity (NaN when equity <= 0)
    fills: np.ndarray  # FILL_DTYPE
    trades: np.ndarray  # TRADE_DTYPE
    rejects: np.ndarray  # REJECT_DTYPE
    position: np.ndarray  # (A,) signed amounts after the last bar
    stats: dict[str, float] = field(default_factory=dict)  # STAT_KEYS, as simulate_grid


def _grown(buf: np.ndarray, need: int) -> np.ndarray:
    if need <= buf.size:
        return buf
    out = np.zeros(max(need, 2 * buf.size), dtype=buf.dtype)
    out[: buf.size] = buf
    return out


def simulate(market: Market, signals: Signals, params: AssetParams, capital: float,
             detail: Detail | None = None, close_at_end: bool = True,
             initial_records: int = 4096) -> KernelOut:
    """Run the kernel over all bars and assets; see the module docstring for the semantics."""
    validate_inputs(market, signals, params, detail)
    n_bars, n_assets = market.shape
    ctx = make_ctx(market, pack_signals(signals), params, detail)
    per_bar = per_bar_bounds(n_assets, params.tp_at.shape[1])
    st = new_state(n_assets, float(capital), int(params.kelly_lookback.max(initial=1)), True)
    rec = tuple(np.zeros(max(initial_records, 2 * int(n)), dtype=dt)
                for n, dt in zip(per_bar, (FILL_DTYPE, TRADE_DTYPE, REJECT_DTYPE), strict=True))
    curves = (np.empty(n_bars), np.empty(n_bars), np.empty(n_bars))  # run writes every bar
    t = 0
    while True:
        t = run(t, ctx, st, rec, curves, close_at_end, per_bar)
        if t >= n_bars:
            break
        gi = st[4]
        rec = tuple(_grown(buf, int(gi[k] + per_bar[i]))
                    for i, (buf, k) in enumerate(zip(rec, (H_NF, H_NT, H_NR), strict=True)))
    gi = st[4]
    row = np.zeros(len(STAT_KEYS))
    stats_row(st, row)
    eq = curves[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = np.where(eq > 0.0, curves[2] / eq, np.nan)
    return KernelOut(equity=eq, cash=curves[1], exposure=exposure,
                     fills=rec[0][: gi[H_NF]], trades=rec[1][: gi[H_NT]],
                     rejects=rec[2][: gi[H_NR]], position=st[0][:, S_POS].copy(),
                     stats={k: float(v) for k, v in zip(STAT_KEYS, row, strict=True)})
