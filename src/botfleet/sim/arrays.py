"""The kernel's inputs: plain dataclasses of numpy arrays, shaped (T bars, A assets).

The driver turns strategies, candles and the YAML fill model into these; the kernel takes them
as flat arrays because numba cannot see Python objects. `validate()` exists so a wrong shape or
dtype is a ValueError naming the field, at the boundary, and never a segfault or a numba typing
error deep inside the compiled loop.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from botfleet.orders import OrderType

# size_kind codes: how an entry's size is derived (see kernel docstring for the formulas).
EQUITY_FRACTION = 0
QUOTE = 1
BASE = 2
RISK = 3
KELLY = 4
SIZE_KINDS = (EQUITY_FRACTION, QUOTE, BASE, RISK, KELLY)


_KINDS = {"f": "f", "b": "b", "i": "iu"}
_USUAL = {"f": np.dtype(np.float64), "b": np.dtype(np.bool_), "i": np.dtype(np.int64)}


def _check(name: str, arr: object, shape: tuple[int, ...], kind: str) -> None:
    """kind: 'f' float64, 'b' bool, 'i' any integer."""
    if type(arr) is np.ndarray and arr.dtype is _USUAL[kind] and arr.shape == shape:
        return  # the usual case, checked without the attribute lookups below (39 per run)
    # ValueError, not TypeError: callers catch one error type for every bad input
    if not isinstance(arr, np.ndarray):
        raise ValueError(  # noqa: TRY004
            f"{name}: expected a numpy array of shape {shape}, got {type(arr).__name__}")
    if arr.shape != shape:
        raise ValueError(f"{name}: shape {arr.shape}, expected {shape}")
    ok = arr.dtype.kind in _KINDS[kind] and (kind != "f" or arr.dtype.itemsize == 8)
    if not ok:
        want = {"f": "float64", "b": "bool", "i": "an integer dtype"}[kind]
        raise ValueError(f"{name}: dtype {arr.dtype}, expected {want} (shape {arr.shape})")


@dataclass
class Market:
    """OHLCV per bar and pair; NaN where a pair has no bar (not listed yet, halted, gap)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.close.shape if self.close.ndim == 2 else (0, 0)

    def validate(self) -> None:
        if not isinstance(self.close, np.ndarray) or self.close.ndim != 2:
            raise ValueError(f"close: expected a (T, A) array, got shape "
                             f"{getattr(self.close, 'shape', None)}")
        for f in fields(self):
            _check(f.name, getattr(self, f.name), self.shape, "f")


@dataclass
class Signals:
    """What the strategy said at each bar's close; orders act from the next bar."""

    entry_long: np.ndarray
    exit_long: np.ndarray
    entry_short: np.ndarray
    exit_short: np.ndarray

    @classmethod
    def longs(cls, entry: np.ndarray, exit_: np.ndarray) -> Signals:
        """Long-only signals (no short side)."""
        z = np.zeros_like(entry, dtype=bool)
        return cls(entry.astype(bool), exit_.astype(bool), z, z.copy())

    def validate(self, shape: tuple[int, int]) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name), shape, "b")


# name -> (shape code, kind, default). Shape codes: "A" per asset, "TA" per bar and asset,
# "AK" take-profit ladder.
_PARAM_SPEC: dict[str, tuple[str, str, object]] = {
    "taker_fee": ("A", "f", 0.0),
    "maker_fee": ("A", "f", 0.0),
    "amount_step": ("A", "f", 0.0),
    "price_tick": ("A", "f", 0.0),
    "min_amount": ("A", "f", 0.0),
    "min_notional": ("A", "f", 0.0),
    "allow_short": ("A", "b", False),
    "slip_frac": ("TA", "f", 0.0),
    "impact_coef": ("A", "f", 0.0),
    "sigma": ("TA", "f", 0.0),
    "volume_cap": ("A", "f", 0.0),
    "entry_kind": ("A", "i", int(OrderType.MARKET)),
    "entry_offset": ("A", "f", 0.0),
    "stop_limit_offset": ("A", "f", 0.0),
    "entry_expiry": ("A", "i", 0),
    "sl": ("TA", "f", np.nan),
    "sl_is_pct": ("A", "b", True),
    "trail": ("TA", "f", np.nan),
    "trail_is_pct": ("A", "b", True),
    "trail_activate": ("A", "f", np.nan),
    "tp_at": ("AK", "f", np.nan),
    "tp_close": ("AK", "f", np.nan),
    "time_limit": ("A", "i", 0),
    "cooldown": ("A", "i", 0),
    "max_entries": ("A", "i", 1),
    "size_kind": ("A", "i", EQUITY_FRACTION),
    "size_value": ("TA", "f", 1.0),
    "kelly_fraction": ("A", "f", 0.5),
    "kelly_lookback": ("A", "i", 0),
    "kelly_cap": ("A", "f", 1.0),
}
_DTYPE = {"f": np.float64, "b": np.bool_, "i": np.int64}
_SIZE_LO, _SIZE_HI = min(SIZE_KINDS), max(SIZE_KINDS)
_ORDER_LO, _ORDER_HI = min(OrderType), max(OrderType)
_NON_NEGATIVE = ("taker_fee", "maker_fee", "amount_step", "price_tick", "min_amount",
                 "min_notional", "volume_cap")


@dataclass
class AssetParams:
    """Per-pair fill model, exits and sizing. 0/NaN switch a feature off where the kernel
    docstring says so; `AssetParams.default(T, A, ...)` builds a valid set with everything off."""

    taker_fee: np.ndarray
    maker_fee: np.ndarray
    amount_step: np.ndarray
    price_tick: np.ndarray
    min_amount: np.ndarray
    min_notional: np.ndarray
    allow_short: np.ndarray
    slip_frac: np.ndarray
    impact_coef: np.ndarray
    sigma: np.ndarray
    volume_cap: np.ndarray
    entry_kind: np.ndarray
    entry_offset: np.ndarray
    stop_limit_offset: np.ndarray
    entry_expiry: np.ndarray
    sl: np.ndarray
    sl_is_pct: np.ndarray
    trail: np.ndarray
    trail_is_pct: np.ndarray
    trail_activate: np.ndarray
    tp_at: np.ndarray
    tp_close: np.ndarray
    time_limit: np.ndarray
    cooldown: np.ndarray
    max_entries: np.ndarray
    size_kind: np.ndarray
    size_value: np.ndarray
    kelly_fraction: np.ndarray
    kelly_lookback: np.ndarray
    kelly_cap: np.ndarray

    @classmethod
    def default(cls, n_bars: int, n_assets: int, k: int = 1, **overrides: object) -> AssetParams:
        """Everything off, all-in market entries; overrides are scalars or arrays broadcast to
        each field's shape (k = take-profit ladder length, taken from tp_at when given)."""
        if "tp_at" in overrides:
            k = np.atleast_2d(np.asarray(overrides["tp_at"])).shape[-1]
        shapes = {"A": (n_assets,), "TA": (n_bars, n_assets), "AK": (n_assets, k)}
        unknown = set(overrides) - set(_PARAM_SPEC)
        if unknown:
            raise ValueError(f"unknown AssetParams fields: {sorted(unknown)}")
        values = {}
        for name, (code, kind, dflt) in _PARAM_SPEC.items():
            v = np.asarray(overrides.get(name, dflt), dtype=_DTYPE[kind])
            values[name] = np.ascontiguousarray(np.broadcast_to(v, shapes[code]))
        return cls(**values)

    def with_(self, **changes: object) -> AssetParams:
        """A copy with some fields replaced (arrays broadcast like `default`)."""
        out = replace(self, **changes)
        n_bars, n_assets = self.slip_frac.shape
        for name in changes:
            code, kind, _ = _PARAM_SPEC[name]
            k = np.atleast_2d(np.asarray(changes.get("tp_at", self.tp_at))).shape[-1]
            shape = {"A": (n_assets,), "TA": (n_bars, n_assets), "AK": (n_assets, k)}[code]
            v = np.asarray(getattr(out, name), dtype=_DTYPE[kind])
            setattr(out, name, np.ascontiguousarray(np.broadcast_to(v, shape)))
        return out

    def validate(self, shape: tuple[int, int]) -> None:
        n_bars, n_assets = shape
        k = self.tp_at.shape[-1] if isinstance(self.tp_at, np.ndarray) and self.tp_at.ndim == 2 \
            else 0
        shapes = {"A": (n_assets,), "TA": (n_bars, n_assets), "AK": (n_assets, k)}
        for name, (code, kind, _) in _PARAM_SPEC.items():
            _check(name, getattr(self, name), shapes[code], kind)
        # a backtest validates its inputs on every run: one reduction per check, not one per
        # field, and the offender is looked for only once there is one
        for name, lo, hi in (("size_kind", _SIZE_LO, _SIZE_HI), ("entry_kind", _ORDER_LO,
                                                                   _ORDER_HI)):
            codes = getattr(self, name)
            if codes.size and (codes.min() < lo or codes.max() > hi):
                bad = (codes < lo) | (codes > hi)
                hint = f"; use {SIZE_KINDS}" if name == "size_kind" else ""
                raise ValueError(f"{name}: unknown code {codes[bad][0]} "
                                 f"(shape {codes.shape}){hint}")
        if np.fmin.reduce(np.concatenate([getattr(self, n) for n in _NON_NEGATIVE]),
                          initial=0.0) < 0:
            name = next(n for n in _NON_NEGATIVE if (getattr(self, n) < 0).any())
            raise ValueError(f"{name}: negative value (shape {getattr(self, name).shape})")


@dataclass
class Detail:
    """Lower-timeframe candles to resolve a bar where both a stop and a take-profit were inside
    it. Row i belongs to bar b when start[b] <= i < start[b + 1]; rows are in time order."""

    open: np.ndarray  # (N, A)
    high: np.ndarray
    low: np.ndarray
    start: np.ndarray  # (T + 1,) int, start[0] = 0, start[T] = N, non-decreasing

    def validate(self, shape: tuple[int, int]) -> None:
        n_bars, n_assets = shape
        _check("start", self.start, (n_bars + 1,), "i")
        n = int(self.start[-1]) if n_bars >= 0 else 0
        for name in ("open", "high", "low"):
            _check(name, getattr(self, name), (n, n_assets), "f")
        if self.start[0] != 0 or (np.diff(self.start) < 0).any():
            raise ValueError(f"start: must start at 0 and not decrease (shape {self.start.shape})")


def validate_inputs(market: Market, signals: Signals, params: AssetParams,
                    detail: Detail | None = None) -> None:
    """All inputs agree on (T, A); risk sizing has a stop wherever it may enter."""
    market.validate()
    shape = market.shape
    signals.validate(shape)
    params.validate(shape)
    if detail is not None:
        detail.validate(shape)
    risk = params.size_kind == RISK
    if risk.any():
        wants = (signals.entry_long | signals.entry_short)[:, risk]
        no_stop = ~(params.sl[:, risk] > 0)
        if (wants & no_stop).any():
            raise ValueError(f"sl: size_kind RISK needs a positive stop distance at every entry "
                             f"signal (shape {params.sl.shape})")
