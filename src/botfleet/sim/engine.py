"""From a strategy and candles to a `BacktestResult`: signals computed vectorised per pair, aligned
on one timeline, stops and sizing turned into arrays, then the kernel trades them bar by bar.

Signals are computed on each pair's full history (warm-up included) and only then cut to the
requested window, so the first bar of a backtest already has warmed-up indicators — as a live bot
that loads `warmup` candles before its first decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from botfleet.data.candles import timeframe_ms
from botfleet.sim import arrays, kernel
from botfleet.sim import kernel_pack as kp
from botfleet.sim.arrays import AssetParams, Detail, Market, Signals
from botfleet.sim.fillmodel import FillModel, MarketRules
from botfleet.sim.result import BacktestResult, Coverage
from botfleet.sim.unpack import unpack_candles
from botfleet.strategy.spec import Sizing, Stops

SIZE_CODES = {"percent_equity": arrays.EQUITY_FRACTION,
              "volatility_target": arrays.EQUITY_FRACTION, "fixed_quote": arrays.QUOTE,
              "fixed_base": arrays.BASE, "risk_per_trade": arrays.RISK, "kelly": arrays.KELLY}


@dataclass
class PairData:
    symbol: str
    candles: np.ndarray  # CANDLE_DTYPE on the backtest's timeframe, history before start included
    rules: MarketRules = field(default_factory=MarketRules)
    detail: np.ndarray | None = None  # CANDLE_DTYPE on fills.detail_timeframe
    higher: dict[str, np.ndarray] | None = None  # stored higher-timeframe candles, if any
    source: str = ""


@dataclass
class Prepared:
    """Everything the kernel needs, kept so that optimisers can re-run with new signals."""

    ts: np.ndarray
    market: Market
    signals: Signals
    params: AssetParams
    detail: Detail | None
    series: dict[str, np.ndarray]
    coverage: list[Coverage]
    notes: list[str]


def _window(ts: np.ndarray, start_ms: int | None, end_ms: int | None) -> slice:
    lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, "left"))
    hi = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms, "right"))
    return slice(lo, hi)


def _union(times: list[np.ndarray]) -> np.ndarray:
    """The sorted union of sorted arrays: np.unique's result, where numpy 2 hashes every value
    (15 ms for five years of five hourly pairs); a stable sort merges the sorted runs instead."""
    ts = np.concatenate(times)
    ts.sort(kind="stable")
    keep = np.empty(len(ts), dtype=bool)
    keep[:1] = True
    np.not_equal(ts[1:], ts[:-1], out=keep[1:])
    return ts[keep]


def _length(win: slice) -> int:
    return max(win.stop - win.start, 0)


def _coverage(symbol: str, ts: np.ndarray, tf_ms: int, source: str) -> Coverage:
    if len(ts) == 0:
        return Coverage(symbol, 0, 0, 0, 0, source)
    span = int((ts[-1] - ts[0]) // tf_ms) + 1
    return Coverage(symbol, int(ts[0]), int(ts[-1]), len(ts), span - len(ts), source)


def _distance(dist, atr: np.ndarray | None) -> tuple[np.ndarray | float, bool]:
    """Per-bar stop distance; a constant one is a scalar (broadcast when written)."""
    if dist is None:
        return np.nan, True
    if dist.percent is not None:
        return float(dist.percent), True
    return float(dist.atr_multiple) * atr, False


def _atr(candles: np.ndarray, period: int) -> np.ndarray:
    import talib

    return talib.ATR(candles["high"], candles["low"], candles["close"], timeperiod=period)


def _size_value(sizing: Sizing, candles: np.ndarray, tf: str, win: slice
                ) -> np.ndarray | float:
    """Per-bar size parameter over the window; a constant one is a scalar."""
    value = sizing.value.fraction if hasattr(sizing.value, "fraction") else sizing.value
    if sizing.method != "volatility_target":
        return float(value)
    base = float(value)
    import talib

    from botfleet.sim.metrics import periods_per_year

    r = np.diff(np.log(candles["close"]), prepend=np.nan)
    vol = talib.STDDEV(np.nan_to_num(r), timeperiod=int(sizing.lookback), nbdev=1.0)
    vol = vol * np.sqrt(periods_per_year(tf))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = base * float(sizing.target) / vol
    frac = np.where(np.isfinite(frac), frac, 0.0)
    frac = np.minimum(frac, float(sizing.cap)) if sizing.cap is not None else frac
    return frac[win]


def prepare(strategy, pairs: list[PairData], timeframe: str, fills: FillModel, *,
            sizing: Sizing | None = None, start_ms: int | None = None,
            end_ms: int | None = None) -> Prepared:
    """Signals and arrays for the kernel over the union of the pairs' bars in [start, end]."""
    if not pairs:
        raise ValueError("a backtest needs at least one pair with candles")
    tf_ms = timeframe_ms(timeframe)
    stops: Stops = strategy.stops
    sizing = sizing or strategy.sizing
    per_pair, notes = [], []
    for pair in pairs:
        sig = strategy.signals(pair.candles, pair.higher)
        win = _window(pair.candles["ts"], start_ms, end_ms)
        per_pair.append((pair, sig, win))
    single = len(per_pair) == 1
    if single:  # stored candles are sorted and unique: no union to build (unpacked below)
        ts = np.empty(_length(per_pair[0][2]), dtype=np.int64)
    else:
        ts = _union([p.candles["ts"][w] for p, _, w in per_pair])
    if len(ts) == 0:
        raise ValueError("no candles inside the requested period for "
                         + ", ".join(p.symbol for p in pairs))
    t_n, a_n = len(ts), len(pairs)
    shape = (t_n, a_n)
    # the arrays are written straight into the kernel's packed layout (no copy later); a pair
    # whose window holds every bar of the timeline (ts is the union) fills its column whole
    full = [_length(w) == t_n for _, _, w in per_pair]
    bars, sig_buf = kp.bar_layers(shape), kp.signal_layers(shape)
    if not all(full):
        bars[:] = np.nan
    cols = {k: bars[i] for k, i in (("open", kp.B_OPEN), ("high", kp.B_HIGH),
                                   ("low", kp.B_LOW), ("close", kp.B_CLOSE),
                                   ("volume", kp.B_VOL))}
    flags = {k: sig_buf[i] for k, i in (("entry_long", kp.X_EL), ("exit_long", kp.X_XL),
                                       ("entry_short", kp.X_ES),
                                       ("exit_short", kp.X_XS))}
    sl_pct = trail_pct = True
    series: dict[str, np.ndarray] = {}
    coverage, per_bar, rows_of = [], [], []
    shorts = bool(fills.shorts)
    slip_c, sigma_c = fills.slip_constant(), fills.sigma_constant()
    for a, (pair, sig, win) in enumerate(per_pair):
        c = pair.candles[win]
        rows = None if full[a] else np.searchsorted(ts, c["ts"])
        unpack_candles(c, rows, a, bars, ts if single else None)
        at = slice(None) if rows is None else rows
        for k, arr in flags.items():
            arr[at, a] = getattr(sig, k)[win]
        atrs = {p: _atr(pair.candles, p)[win] for p in stops.atr_periods()}
        sl, sl_pct = _distance(stops.stop_loss, atrs.get(getattr(stops.stop_loss, "atr_period",
                                                                  None)))
        tdist = stops.trailing.distance if stops.trailing else None
        trail, trail_pct = _distance(tdist, atrs.get(getattr(tdist, "atr_period", None)))
        slip = slip_c if slip_c is not None else fills.slip_frac(c["high"], c["low"], c["close"])
        sigma = sigma_c if sigma_c is not None else fills.sigma(c["close"])
        per_bar.append((slip, sigma, sl, trail, _size_value(sizing, pair.candles, timeframe, win)))
        rows_of.append(at)
        prefix = f"{pair.symbol} " if a_n > 1 else ""
        for name, values in sig.series.items():
            if full[a]:
                series[prefix + name] = values[win]
                continue
            whole = np.full(t_n, np.nan)
            whole[rows] = values[win]
            series[prefix + name] = whole
        coverage.append(_coverage(pair.symbol, c["ts"], tf_ms, pair.source))
    if not shorts and flags["entry_short"].any():
        notes.append(f"{int(flags['entry_short'].sum())} short entry signals ignored: shorts "
                     "are not allowed on this market (fills.shorts)")
        flags["entry_short"][:] = False
        flags["exit_short"][:] = False
    market = Market(**cols)
    signals = Signals(**flags)
    vbar = _per_bar_layers(per_bar, rows_of, shape, all(full))
    slip, sigma, sl, trail, size_value = (
        vbar[k] if vbar.shape[1] == t_n else _every_bar(vbar[k, 0], t_n)
        for k in (kp.V_SLIP, kp.V_SIGMA, kp.V_SL, kp.V_TRAIL, kp.V_SIZE))
    params = _asset_params(strategy, pairs, fills, stops, sizing, tf_ms, shape,
                           sl, sl_pct, trail, trail_pct, slip, sigma, size_value)
    detail = _detail(pairs, ts, tf_ms, fills) if fills.detail_timeframe else None
    return Prepared(ts, market, signals, params, detail, series, coverage, notes)


def _every_bar(row: np.ndarray, n_bars: int) -> np.ndarray:
    """`row` (A,) as a read-only (T, A) array with the same values at every bar (stride 0):
    what np.broadcast_to gives, built directly at a tenth of its cost."""
    view = np.ndarray((n_bars, row.shape[0]), row.dtype, row, 0, (0, row.strides[0]))
    view.flags.writeable = False
    return view


def _per_bar_layers(per_bar: list[tuple], rows_of: list, shape: tuple[int, int],
                    all_full: bool) -> np.ndarray:
    """The per-bar parameters (slip, sigma, stop, trail, size of each pair; a float when
    constant) in the kernel's layout: one row when every one is constant and every pair has
    every bar (no per-bar memory, see kernel_state), else (N_VBAR, T, A) layers, where a bar a
    pair lacks has no stop, no slippage and no size."""
    order = (kp.V_SLIP, kp.V_SIGMA, kp.V_SL, kp.V_TRAIL, kp.V_SIZE)
    constant = all_full and all(np.ndim(v) == 0 for values in per_bar for v in values)
    vbar = kp.vbar_layers((1, shape[1]) if constant else shape)
    if not all_full:
        vbar[[kp.V_SL, kp.V_TRAIL]] = np.nan
        vbar[[kp.V_SLIP, kp.V_SIGMA, kp.V_SIZE]] = 0.0
    for a, (values, rows) in enumerate(zip(per_bar, rows_of, strict=True)):
        for k, v in zip(order, values, strict=True):
            vbar[k, rows, a] = v
    return vbar


def _asset_params(strategy, pairs, fills, stops, sizing, tf_ms, shape, sl, sl_pct, trail,
                  trail_pct, slip, sigma, size_value) -> AssetParams:
    a_n = shape[1]
    maker, taker = fills.fees
    k = max(1, len(stops.take_profit))
    tp_at, tp_close = np.full((a_n, k), np.nan), np.full((a_n, k), np.nan)
    for i, step in enumerate(stops.take_profit):
        tp_at[:, i], tp_close[:, i] = float(step.at), float(step.close)

    def each(value, dtype=np.float64):
        return np.array([value] * a_n, dtype=dtype)  # np.full, at a third of its cost

    rules = [p.rules if fills.precision else MarketRules() for p in pairs]
    min_notional = [fills.min_notional if fills.min_notional is not None else r.min_notional
                    for r in rules]
    time_limit = -(-stops.time_limit_ms // tf_ms) if stops.time_limit_ms else 0
    activate = stops.trailing.activate if stops.trailing else None
    return AssetParams(
        taker_fee=each(taker), maker_fee=each(maker),
        amount_step=np.array([r.step_size for r in rules], dtype=np.float64),
        price_tick=np.array([r.tick_size for r in rules], dtype=np.float64),
        min_amount=np.array([r.min_amount for r in rules], dtype=np.float64),
        min_notional=np.array(min_notional, dtype=np.float64),
        allow_short=each(bool(fills.shorts), np.bool_),
        slip_frac=slip, impact_coef=each(fills.impact if fills.slippage == "volume" else 0.0),
        sigma=sigma, volume_cap=each(fills.volume_cap),
        entry_kind=each(int(fills.entry_type), np.int64), entry_offset=each(fills.entry_offset),
        stop_limit_offset=each(fills.limit_offset),
        entry_expiry=each(fills.entry_expire, np.int64),
        sl=sl, sl_is_pct=each(sl_pct, np.bool_), trail=trail,
        trail_is_pct=each(trail_pct, np.bool_),
        trail_activate=each(float(activate) if activate is not None else np.nan),
        tp_at=tp_at, tp_close=tp_close, time_limit=each(time_limit, np.int64),
        cooldown=each(int(strategy.cooldown), np.int64),
        max_entries=each(int(sizing.max_entries), np.int64),
        size_kind=each(SIZE_CODES[sizing.method], np.int64), size_value=size_value,
        kelly_fraction=each(float(sizing.fraction or 0)),
        kelly_lookback=each(int(sizing.lookback or 0), np.int64),
        kelly_cap=each(float(sizing.cap) if sizing.cap is not None else 1.0))


def _detail(pairs: list[PairData], ts: np.ndarray, tf_ms: int, fills: FillModel) -> Detail:
    """Lower-timeframe candles grouped by the bar they fall in (`start` offsets per bar);
    candles outside every bar (inside a gap of the main timeframe) are left out."""
    missing = [p.symbol for p in pairs if p.detail is None or len(p.detail) == 0]
    if missing:
        raise ValueError(f"fills.detail_timeframe {fills.detail_timeframe}: no candles for "
                         + ", ".join(missing))
    dts = np.unique(np.concatenate([p.detail["ts"] for p in pairs]))
    bar = np.searchsorted(ts, dts, "right") - 1
    inside = (bar >= 0) & (dts < ts[np.maximum(bar, 0)] + tf_ms)
    dts, bar = dts[inside], bar[inside]
    cols = {k: np.full((len(dts), len(pairs)), np.nan) for k in ("open", "high", "low")}
    for a, p in enumerate(pairs):
        pos = np.searchsorted(dts, p.detail["ts"])
        ok = (pos < len(dts)) & (dts[np.minimum(pos, len(dts) - 1)] == p.detail["ts"])
        for k, arr in cols.items():
            arr[pos[ok], a] = p.detail[k][ok]
    start = np.searchsorted(bar, np.arange(len(ts) + 1), "left").astype(np.int64)
    return Detail(cols["open"], cols["high"], cols["low"], start)


def run(prepared: Prepared, capital: Decimal | float, fills: FillModel) -> kernel.KernelOut:
    return kernel.simulate(prepared.market, prepared.signals, prepared.params, float(capital),
                           detail=prepared.detail, close_at_end=fills.close_at_end)


def backtest(strategy, pairs: list[PairData], timeframe: str, capital: Decimal, fills: FillModel,
             *, name: str | None = None, sizing: Sizing | None = None,
             start_ms: int | None = None, end_ms: int | None = None,
             meta: dict[str, Any] | None = None) -> BacktestResult:
    """One backtest of `strategy` over `pairs` sharing `capital`, with metrics computed."""
    from botfleet.sim import metrics

    prepared = prepare(strategy, pairs, timeframe, fills, sizing=sizing, start_ms=start_ms,
                       end_ms=end_ms)
    out = run(prepared, capital, fills)
    model = FillModel(**{**fills.__dict__, "notes": tuple(prepared.notes)})
    result = BacktestResult(
        name=name or strategy.name, strategy=strategy.name, timeframe=timeframe,
        symbols=[p.symbol for p in pairs], params=dict(strategy.params),
        capital=Decimal(capital), ts=prepared.ts, close=prepared.market.close,
        equity=out.equity, cash=out.cash, exposure=out.exposure, fills=out.fills,
        trades=out.trades, rejects=out.rejects, fill_model=model.describe(),
        coverage=prepared.coverage, series=prepared.series, meta=dict(meta or {}))
    metrics.compute(result)
    return result

