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

Statistics are streamed per bar (returns eq[t] / eq[t-1] - 1, the first against `capital`;
drawdown from the running peak starting at `capital`) so `simulate_grid` can report them
without curves.
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
from botfleet.sim.kernel_pack import make_ctx, pack_signals, per_bar_bounds
from botfleet.sim.kernel_state import (
    _INLINE,
    _JIT,
    B_CLOSE,
    B_HIGH,
    B_LOW,
    B_OPEN,
    MARKET,
    R_END,
    R_REVERSE,
    R_SIGNAL,
    R_TIME_LIMIT,
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
# The loop reads the flat arrays itself and calls the order code only on events. A bar where no
# asset has a working order or a reachable stop or take-profit (`busy` false) skips the open and
# intrabar steps; while that holds and no trail moves, `_coast` runs the bars in a short loop
# that only marks to market, up to a bar whose signals or time limit need the full step. The
# statistics and the exposure follow in passes of their own over the equity curve.


@njit(**_INLINE)
def _ix(t):
    """Bar t as an index numba need not wrap around: a signed index costs each access a test
    and a correction for negative values (counted from the end), a third of a quiet bar."""
    return np.uint64(t)


@njit(**_INLINE)
def _gap_hit(d, op, trig_stop, trig_tp) -> bool:
    """The open reached the position's stop or nearest take-profit (False for a NaN open)."""
    if d > 0:
        return op <= trig_stop or op >= trig_tp
    return op >= trig_stop or op <= trig_tp


@njit(**_INLINE)
def _range_hit(d, hi, lo, trig_stop, trig_tp) -> bool:
    """The bar's range reached the stop or the nearest take-profit (False for a NaN bar)."""
    if d > 0:
        return lo <= trig_stop or hi >= trig_tp
    return hi >= trig_stop or lo <= trig_tp


@njit(**_INLINE)
def _armed(s) -> bool:
    """The asset holds a position whose stop or take-profit a finite price can reach (the
    triggers are -inf/+inf when unset): only then are the bar's high and low worth reading."""
    d = s.dir
    return d != 0 and (d * s.trig_stop > -np.inf or d * s.trig_tp < np.inf)


@njit(**_INLINE)
def _busy(s) -> bool:
    """The asset may act at the next open or intrabar: a working order or an armed position."""
    return s.ex or s.en or _armed(s)


@njit(**_INLINE)
def _trail_due(d, hi, lo, peak, armed, avg, activate) -> bool:
    """This bar moves the trail: a new extreme, or the gain that arms it was reached."""
    if d * ((hi if d > 0 else lo) - peak) > 0.0:
        return True
    return not armed and d * (peak - avg * (1.0 + d * activate)) >= 0.0


@njit(**_INLINE)
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
def _stream(eq_c, t0, t1, g):
    """The statistics of bars t0..t1-1 from their equity: return moments (the first bar against
    the capital) and the drawdown from the running peak.

    A pass of its own after the bar loop, whose many live values would push these sums out of
    registers. Per bar the same operations as a running update (a flat bar adds exactly zero,
    so it only counts); only the drawdown division
    waits for the trough: with the peak fixed, 1 - eq / peak is largest at the lowest equity
    (division and subtraction round monotonically), so one division per trough is exact.
    Where an outcome is a coin flip (a negative return, a new low) `min` keeps the loop free
    of branches: numba turns it into a select, and a mispredicted branch costs more than the
    rest of a bar here."""
    peak, maxdd, prev = g.peak, g.maxdd, g.prev
    count, rsum, rsq, rneg = g.rcount, g.rsum, g.rsq, g.rneg
    trough = np.inf
    for t in range(t0, t1):
        eq = eq_c[_ix(t)]
        if eq == prev and abs(eq) < np.inf:
            count += 1  # a flat bar: a return of exactly 0 and no new peak or low
            continue
        if not np.isnan(prev):
            r = eq / prev - 1.0 if prev != 0.0 else 0.0
            count += 1
            rsum += r
            rsq += r * r
            neg = min(0.0, r)  # r if r < 0 else 0 (also for NaN): no branch to mispredict
            rneg += neg * neg
        if eq > peak:
            if peak > 0.0 and trough < np.inf:
                maxdd = max(maxdd, 1.0 - trough / peak)
            peak = eq
            trough = np.inf
        else:
            trough = min(trough, eq)
        prev = eq
    if peak > 0.0 and trough < np.inf:
        maxdd = max(maxdd, 1.0 - trough / peak)
    g.peak, g.maxdd, g.prev = peak, maxdd, prev
    g.rcount, g.rsum, g.rsq, g.rneg = count, rsum, rsq, rneg


@njit(**_JIT)
def _exposure(eq_c, expo_c, t0, t1):
    """Gross exposure over equity (NaN when the equity is not positive), in a pass of its own:
    in the bar loop the division held up every bar in the market; here it vectorises."""
    for t in range(t0, t1):
        u = _ix(t)
        e = eq_c[u]
        expo_c[u] = expo_c[u] / e if e > 0.0 else np.nan


@njit(**_INLINE)
def _open_exit(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, op):
    """Step 1 for a position: its working exit order, else the stop/TP gap test."""
    if s.ex:
        exit_taker(s, p, g, bars, vbar, fl, tr, ring, t, a, op, MARKET, s.ex_reason, True)
    else:
        protect_gap(s, p, g, bars, vbar, tp, fl, tr, ring, t, a, op)


@njit(**_JIT)
def _intrabar_entry(S, p, g, bars, vbar, tp, det, ds, fl, tr, rj, ring, t, a, op, hi, lo):
    """Step 2 for a working limit/stop entry: fill (then the new position's stop, no TP
    credit), or expire."""
    s = S[a]
    if s.dir == 0 or s.dir == s.en_dir:
        filled = work_entry_intrabar(S, p, g, bars, vbar, tp, fl, tr, rj, ring, t, a, op, hi,
                                     lo)
        if filled and s.pos != 0.0 and not s.ex:
            protect_bar(s, p, g, bars, vbar, tp, det, ds, fl, tr, ring, t, a, hi, lo, False)
    if s.en:
        expire_entry(s, g, rj, t, a)


@njit(**_INLINE)
def _asset_signals(s, p, g, bars, vbar, rj, ring, t, a, el, xl, es, xs):
    """Bar t's signals for one asset with a bar: see the module docstring, step 3."""
    el = el and not xl
    es = es and not xs
    d = s.dir
    if d != 0:
        exiting = s.ex == 1
        if xl if d > 0 else xs:
            place_exit(s, R_SIGNAL)
            exiting = True
        elif not exiting and p.time_limit > 0 and t - s.entry_bar + 1 >= p.time_limit:
            place_exit(s, R_TIME_LIMIT)
            exiting = True
        if es if d > 0 else el:
            if d > 0 and not p.allow_short:
                place_entry(s, p, g, bars, vbar, rj, ring, t, a, -d, R_SIGNAL)  # a SHORT_NOT_ALLOWED
                return
            if not exiting:
                place_exit(s, R_REVERSE)
            place_entry(s, p, g, bars, vbar, rj, ring, t, a, -d, R_SIGNAL)
        elif (el if d > 0 else es) and not exiting and not s.en and can_add(s, p):
            place_entry(s, p, g, bars, vbar, rj, ring, t, a, d, R_SIGNAL)
        return
    if s.en and (xl if s.en_dir > 0 else xs):
        s.en = 0  # an exit signal cancels a working entry
    if el == es:
        return
    nd = 1 if el else -1
    if s.en and s.en_dir == nd:
        return
    if t < s.last_exit + p.cooldown:
        return
    place_entry(s, p, g, bars, vbar, rj, ring, t, a, nd, R_SIGNAL)


@njit(**_INLINE)
def _equity(S, g, c, t):
    """Equity and gross exposure at bar t's close (a NaN close keeps the last one)."""
    eq = g.cash
    gross = 0.0
    for a in range(S.shape[0]):
        s = S[a]
        cl = c[t, a]
        if not np.isnan(cl):
            s.last_close = cl
        pos = s.pos
        if pos != 0.0:
            eq += pos * s.last_close
            gross += abs(pos) * s.last_close
    return eq, gross


@njit(**_INLINE)
def _coast(S, P, g, c, el, xl, es, xs, curves, t, stop, store, bim):
    """Bars t..stop-1 while nothing can happen (the caller checked: no working order, no
    reachable stop or take-profit, no trail to move): each bar only marks the portfolio, as
    step 3 does, until a bar whose signals or time limit want the order code. Returns that bar
    (or stop) and the bars-in-market count. Most bars of a backtest pass here, in a loop far
    shorter than the full bar step: one walk over the assets checks and marks (a bar cut short
    by a signal is marked again by the full step, to the same values), and the cash is fixed."""
    eq_c, cash_c, expo_c = curves
    n_assets = S.shape[0]
    cash = g.cash
    eq = g.equity
    while t < stop:
        u = _ix(t)
        eq = cash
        gross = 0.0
        for a in range(n_assets):
            s = S[a]
            cl = c[u, a]
            if not np.isnan(cl):
                if el[u, a] or es[u, a] or (s.dir != 0 and (
                        xl[u, a] or xs[u, a] or 0 < P[a].time_limit <= t - s.entry_bar + 1)):
                    return t, bim
                s.last_close = cl
            pos = s.pos
            if pos != 0.0:  # as _equity
                eq += pos * s.last_close
                gross += abs(pos) * s.last_close
        if gross > 0.0:
            bim += 1
        eq_c[u] = eq
        if store:
            cash_c[u] = cash
            expo_c[u] = gross  # divided by the equity in `_exposure`
        t += 1
    g.equity = eq
    return t, bim


@njit(**_JIT)
def run(t0, ctx, st, rec, curves, close_at_end, per_bar):
    """Bars t0..T-1. Returns T when done, or the bar it stopped at because a record buffer
    might not hold another bar (per_bar = most fills, trades, rejects one bar can write);
    the caller grows the buffers and calls again from there. curves = (equity, cash,
    exposure): the equity always has a slot per bar (the statistics are read from it), cash
    and exposure only when records are stored."""
    bars, vbar, sig, P, tp, det, ds = ctx
    S, ring, G = st
    fl, tr, rj = rec
    g = G[0]
    o, h, lo, c = bars[B_OPEN], bars[B_HIGH], bars[B_LOW], bars[B_CLOSE]
    el, xl, es, xs = sig[X_EL], sig[X_XL], sig[X_ES], sig[X_XS]
    eq_c, cash_c, expo_c = curves
    # room check per bar: the counts must stay at or below these (buffer size minus one bar)
    lim_f, lim_t, lim_r = fl.size - per_bar[0], tr.size - per_bar[1], rj.size - per_bar[2]
    store = g.store != 0
    n_bars, n_assets = c.shape
    bim = g.bim
    busy = True  # from the previous close; unknown when resuming
    last = n_bars - 1 if close_at_end else n_bars  # the end-of-data close needs the full step
    t = t0
    while t < n_bars:
        if store and (g.nf > lim_f or g.nt > lim_t or g.nr > lim_r):
            break
        u = _ix(t)
        if busy:
            # 1. the open: exits and gaps on every asset, then market entries
            for a in range(n_assets):
                s = S[a]
                d = s.dir
                op = o[u, a]
                if d != 0 and not np.isnan(op) and (
                        s.ex or _gap_hit(d, op, s.trig_stop, s.trig_tp)):
                    _open_exit(s, P[a], g, bars, vbar, tp, fl, tr, ring, t, a, op)
            for a in range(n_assets):
                s = S[a]
                op = o[u, a]
                if (s.en and s.en_kind == MARKET and not np.isnan(op)
                        and (s.dir == 0 or s.dir == s.en_dir)):
                    fill_entry(S, P[a], g, bars, vbar, tp, fl, tr, rj, ring, t, a, op, True,
                               True)
            # 2. intrabar
            for a in range(n_assets):
                s = S[a]
                d = s.dir
                if not s.ex and _armed(s) and _range_hit(d, h[u, a], lo[u, a], s.trig_stop,
                                                         s.trig_tp):
                    protect_bar(s, P[a], g, bars, vbar, tp, det, ds, fl, tr, ring, t, a,
                                h[u, a], lo[u, a], True)
                if s.en and s.en_kind != MARKET and not np.isnan(o[u, a]):
                    _intrabar_entry(S, P[a], g, bars, vbar, tp, det, ds, fl, tr, rj, ring, t,
                                    a, o[u, a], h[u, a], lo[u, a])
        # 3. the close: mark, trail, signals
        eq, gross = _equity(S, g, c, u)
        g.equity = eq
        busy = False
        trailing = False
        for a in range(n_assets):
            s = S[a]
            if not np.isnan(c[u, a]):
                d = s.dir
                if d != 0 and s.trail_dist > 0.0 and _trail_due(
                        d, h[u, a], lo[u, a], s.peak, s.armed, s.eval / s.eamt,
                        P[a].trail_activate):
                    update_trail(s, P[a], h[u, a], lo[u, a])
                    refresh_triggers(s, P[a], tp, a)
                if _wants_signal(el[u, a], xl[u, a], es[u, a], xs[u, a], s.en, d,
                                 t - s.entry_bar + 1, P[a].time_limit):
                    _asset_signals(s, P[a], g, bars, vbar, rj, ring, t, a, el[u, a],
                                   xl[u, a], es[u, a], xs[u, a])
            busy = busy or _busy(s)
            trailing = trailing or (s.dir != 0 and s.trail_dist > 0.0)
        # 4. end of data
        if close_at_end and t == n_bars - 1:
            for a in range(n_assets):
                s = S[a]
                if s.pos != 0.0:
                    exit_taker(s, P[a], g, bars, vbar, fl, tr, ring, t, a, s.last_close,
                               MARKET, R_END, False)
            eq, gross = _equity(S, g, c, u)
            g.equity = eq
        if gross > 0.0:
            bim += 1
        eq_c[u] = eq
        if store:
            cash_c[u] = g.cash
            expo_c[u] = gross  # divided by the equity in `_exposure`
        t += 1
        if not busy and not trailing:
            t, bim = _coast(S, P, g, c, el, xl, es, xs, curves, t, last, store, bim)
    g.bim = bim
    _stream(eq_c, t0, t, g)
    if store:
        _exposure(eq_c, expo_c, t0, t)
    return t


@njit(**_JIT)
def stats_row(st, out):
    """The per-run summary (grid columns, KernelOut.stats) in STAT_KEYS order."""
    g = st[2][0]
    out[0] = g.equity
    out[1] = g.nt
    out[2] = g.nwins
    out[3] = g.gp
    out[4] = g.gl
    out[5] = g.maxdd
    out[6] = g.bim
    out[7] = g.fees
    out[8] = g.rcount
    out[9] = g.rsum
    out[10] = g.rsq
    out[11] = g.rneg


# ---------------------------------------------------------------- Python side


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
             initial_records: int | None = None) -> KernelOut:
    """Run the kernel over all bars and assets; see the module docstring for the semantics.

    The record buffers start at `initial_records` each, by default two per signal: an order
    per signal and the exit it may lead to, so that a run seldom stops to grow them (stops,
    take-profit ladders and volume caps can need more; the buffers then grow)."""
    validate_inputs(market, signals, params, detail)
    n_bars, n_assets = market.shape
    sig = pack_signals(signals)
    ctx = make_ctx(market, sig, params, detail)
    per_bar = per_bar_bounds(n_assets, params.tp_at.shape[1])
    st = new_state(n_assets, float(capital), int(params.kelly_lookback.max(initial=1)), True)
    if initial_records is None:
        initial_records = 2 * int(np.count_nonzero(sig)) + 64
    rec = tuple(np.zeros(max(initial_records, 2 * int(n)), dtype=dt)
                for n, dt in zip(per_bar, (FILL_DTYPE, TRADE_DTYPE, REJECT_DTYPE), strict=True))
    curves = (np.empty(n_bars), np.empty(n_bars), np.empty(n_bars))  # run writes every bar
    g = st[2]
    t = 0
    while True:
        t = run(t, ctx, st, rec, curves, close_at_end, per_bar)
        if t >= n_bars:
            break
        rec = tuple(_grown(buf, int(g[k][0] + per_bar[i]))
                    for i, (buf, k) in enumerate(zip(rec, ("nf", "nt", "nr"), strict=True)))
    row = np.zeros(len(STAT_KEYS))
    stats_row(st, row)
    nf, nt, nr = int(g["nf"][0]), int(g["nt"][0]), int(g["nr"][0])
    return KernelOut(equity=curves[0], cash=curves[1], exposure=curves[2],
                     fills=rec[0][:nf], trades=rec[1][:nt], rejects=rec[2][:nr],
                     position=st[0]["pos"].copy(),
                     stats={k: float(v) for k, v in zip(STAT_KEYS, row, strict=True)})
