"""The kernel's inputs in its own layout: the candles as layers of one (N_BARS, T, A) array, the
per-bar parameters as layers of one (N_VBAR, T, A) array or, when none varies over time, a single
row (N_VBAR, 1, A); the signals as one (4, T, A) array; the per-asset parameters as PARAMS
records (see kernel_state for why records).

A driver that writes its arrays straight into the layers of `bar_layers` / `vbar_layers` /
`signal_layers` spares the kernel a copy: on a million bars the copy costs more than the
simulation loop. Per-bar parameters that are constant can be given as broadcast views (stride
0 over the bars, `np.broadcast_to`): they cost no memory and pack into the single row.
"""

from __future__ import annotations

import numpy as np

from botfleet.sim.arrays import AssetParams, Detail, Market, Signals
from botfleet.sim.kernel_state import (
    B_CLOSE,
    B_HIGH,
    B_LOW,
    B_OPEN,
    B_VOL,
    N_BARS,
    N_VBAR,
    PARAMS,
    V_SIGMA,
    V_SIZE,
    V_SL,
    V_SLIP,
    V_TRAIL,
    X_EL,
    X_ES,
    X_XL,
    X_XS,
)

# PARAMS field <- AssetParams field
_PARAM_FIELDS = (
    ("taker", "taker_fee"), ("maker", "maker_fee"), ("step", "amount_step"),
    ("tick", "price_tick"), ("min_amount", "min_amount"), ("min_notional", "min_notional"),
    ("impact", "impact_coef"), ("volume_cap", "volume_cap"), ("entry_offset", "entry_offset"),
    ("stop_limit_offset", "stop_limit_offset"), ("trail_activate", "trail_activate"),
    ("kelly_fraction", "kelly_fraction"), ("kelly_cap", "kelly_cap"),
    ("allow_short", "allow_short"), ("entry_kind", "entry_kind"),
    ("entry_expiry", "entry_expiry"), ("sl_is_pct", "sl_is_pct"),
    ("trail_is_pct", "trail_is_pct"), ("time_limit", "time_limit"), ("cooldown", "cooldown"),
    ("max_entries", "max_entries"), ("size_kind", "size_kind"),
    ("kelly_lookback", "kelly_lookback"),
)


def pack_params(p: AssetParams) -> tuple[np.ndarray, np.ndarray]:
    """AssetParams -> (P (A,) PARAMS records, tp (2, A, K) take-profit levels and shares)."""
    out = np.empty(p.taker_fee.shape[0], PARAMS)
    for name, src in _PARAM_FIELDS:
        out[name] = getattr(p, src)
    tp = np.ascontiguousarray(np.stack([p.tp_at, p.tp_close]), dtype=np.float64)
    return out, tp


def bar_layers(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised (N_BARS, T, A) buffer for the candles; a driver writes them straight
    into its layers (`bars[B_OPEN]`, … `bars[B_VOL]`, each a C-contiguous (T, A) view)."""
    return np.empty((N_BARS, *shape))


def vbar_layers(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised (N_VBAR, T, A) buffer for per-bar parameters that vary (V_SLIP …
    V_SIZE); with T = 1, the single row of constant ones."""
    return np.empty((N_VBAR, *shape))


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


def pack_bars(market: Market) -> np.ndarray:
    """The candles as one (N_BARS, T, A) array (no copy when they are already the layers of
    one, see `bar_layers`)."""
    layers = ((B_OPEN, market.open), (B_HIGH, market.high), (B_LOW, market.low),
              (B_CLOSE, market.close), (B_VOL, market.volume))
    packed = _layers_of(layers, N_BARS, np.float64)
    if packed is not None:
        return packed
    bars = bar_layers(market.shape)
    for k, arr in layers:
        bars[k] = arr
    return bars


def pack_vbar(p: AssetParams) -> np.ndarray:
    """The per-bar parameters as one (N_VBAR, T, A) array, or (N_VBAR, 1, A) when all of them
    are broadcast over the bars (no copy when they are the layers of one)."""
    layers = ((V_SLIP, p.slip_frac), (V_SIGMA, p.sigma), (V_SL, p.sl), (V_TRAIL, p.trail),
              (V_SIZE, p.size_value))
    if all(arr.strides[0] == 0 for _, arr in layers):
        return np.stack([arr[:1] for _, arr in layers]).astype(np.float64)
    packed = _layers_of(layers, N_VBAR, np.float64)
    if packed is not None:
        return packed
    vbar = vbar_layers(p.sl.shape)
    for k, arr in layers:
        vbar[k] = arr
    return vbar


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
    """The kernel's read-only input tuple: (bars, vbar, signals, P, tp, detail,
    detail_start)."""
    P, tp = pack_params(params)
    det, start = pack_detail(detail, market.shape[1])
    return (pack_bars(market), pack_vbar(params), sig, P, tp, det, start)


def per_bar_bounds(n_assets: int, n_tp: int) -> np.ndarray:
    """Most (fills, trades, rejects) one bar can write: per asset an exit or stop-gap fill,
    TP gap fills, a market entry, an intrabar stop, intrabar TPs, an intrabar entry and its
    stop, the end-of-data close; each fill can end a trade; up to four rejects."""
    return np.array([n_assets * (2 * n_tp + 7), n_assets * 4, n_assets * 4], dtype=np.int64)
