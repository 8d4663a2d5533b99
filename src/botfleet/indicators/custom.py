"""botfleet's own indicators, registered with `load(registry)`: session VWAP, SuperTrend,
Ichimoku, Keltner, Donchian, Heikin-Ashi, z-score, realised volatility.

TA-Lib 0.6 has DONCHIAN, SUPERTREND and a VWAP too; `talib_funcs` leaves those names to these
(same Donchian and SuperTrend values, plus the bands and `direction`; TA-Lib's VWAP runs from
the first bar instead of restarting each session). Heikin-Ashi equals TA-Lib's HA (`ha`);
`keltner` is StockCharts' EMA(close) channel, TA-Lib's KC (`kc`) centres on the typical price.

Every compute function is causal (the value at bar t reads bars <= t only) and returns float64
arrays as long as its inputs. Two numbers describe their start:

* lookback (`lookback(name, params)`): the leading bars that are NaN, the same for every output
  of an indicator (TA-Lib's rule for multi-output functions).
* warm-up (`Indicator.warmup`): the lookback plus, for recursive indicators, a convergence
  allowance, after which a run started at any bar agrees with the full-history run to 1e-6
  relative. An exponential smoother with factor alpha needs the k with (1-alpha)**k <= 1e-12
  (`kernels.decay_bars`, the same rule as the TA-Lib entries'); SuperTrend's ratcheting bands
  add `band_allowance`. Rules (defaults in brackets):
    vwap          0 (calendar-anchored: see below)
    supertrend    period + decay(1/period) + 60 + 20*multiplier^2               [513]
    ichimoku      max(tenkan, kijun, senkou) - 1 + kijun                        [77]
    keltner       max(period - 1 + decay(2/(period+1)), atr_period + decay(1/atr_period)) [296]
    donchian      period - 1                                                    [19]
    heikin_ashi   decay(1/2)                                                    [40]
    zscore        period - 1                                                    [19]
    realized_vol  period                                                        [20]
  Values inside the allowance are present (as TA-Lib's are inside its unstable period), only
  not yet independent of where the data started.

Session VWAP is calendar-anchored, not bar-anchored: its first value needs the bars since the
current session began, which no bar count can state without the timeframe (see
`kernels_session.session_bars`). Its bar warm-up is 0 and its `calendar_warmup` (params,
timeframe) gives the session's bars, which the compiler adds. The first, possibly partial
session is NaN unless the data starts exactly on the session boundary, so a value is never a
partial session's: a window's values are NaN or equal to the full history's.

Groups follow TA-Lib's names so the UI shows one set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from botfleet.indicators.registry import Indicator, Param, Registry

NO_OUTPUT = np.empty(0)  # pass for an output a kernel should not write


class _Lazy:
    """The kernel modules, imported on first use: importing numba costs ~0.7 s, which
    `botfleet validate` (it compiles strategies but computes nothing) should not pay."""

    def __getattr__(self, name: str):
        from botfleet.indicators import kernels, kernels_session, kernels_stateful

        for module in (kernels, kernels_session, kernels_stateful):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


_k = _Lazy()


def decay_bars(alpha: float, tol: float = 1e-12) -> int:
    """Bars until a seed weighted (1 - alpha) per bar falls below `tol` (the same rule as the
    TA-Lib entries' convergence allowance)."""
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(tol) / math.log1p(-alpha))


def session_bars(anchor: str, timeframe_ms: int) -> int:
    """Most bars one `anchor` session can hold (a month counts 31 days)."""
    days = {"day": 1, "week": 7, "month": 31}[anchor]
    return math.ceil(days * 86_400_000 / timeframe_ms)

MAX_PERIOD = 10_000


def _f(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _outputs(n: int, k: int) -> tuple[np.ndarray, ...]:
    """k output arrays for a kernel to fill (numpy-allocated: see `kernels`)."""
    return tuple(np.empty(n) for _ in range(k))


# ---------------------------------------------------------------- compute functions


def vwap(ts, high, low, close, volume, anchor="day", k=1.0):
    """Session VWAP of the typical price (h+l+c)/3, restarting at each UTC `anchor` boundary
    (day; ISO week from Monday 00:00; month), with bands `k` volume-weighted population
    deviations of the typical price around it. NaN while the session has no volume, and over
    the first session unless the data starts on its boundary."""
    t = np.ascontiguousarray(ts, dtype=np.int64)
    out = _outputs(len(t), 3)
    _k.session_vwap(t, _f(high), _f(low), _f(close), _f(volume),
                    _k.anchor_code(anchor), float(k), *out)
    return out


def supertrend(high, low, close, period=10, multiplier=3.0):
    """SuperTrend on TA-Lib's ATR(period) (Wilder); see `kernels_stateful.supertrend` for the
    band and flip rules. direction is +1.0 in an up trend (line = lower band), -1.0 in a down
    trend (line = upper band); the first bar with an ATR starts up, as TA-Lib's SUPERTREND
    (whose line and trend this matches exactly)."""
    h, lo, c = _f(high), _f(low), _f(close)
    a = np.empty(len(c))
    _k.atr(h, lo, c, int(period), a)
    out = _outputs(len(c), 4)
    _k.supertrend(h, lo, c, a, float(multiplier), *out)
    return out


def ichimoku(high, low, close, tenkan=9, kijun=26, senkou=52):
    """Ichimoku lines, each the midpoint (highest high + lowest low)/2 over its window:
    tenkan (conversion) and kijun (base) at the bar; senkou_a = (tenkan+kijun)/2 and
    senkou_b = midpoint over `senkou` bars, both displaced forward by `kijun` bars: the value
    at t is the span computed at t - kijun, i.e. the cloud drawn over bar t, known at t.
    All four start on the bar the last one does (max(tenkan, kijun, senkou) - 1 + kijun), as
    TA-Lib's multi-output functions do, so the warm-up is exact for each.

    No chikou span: it is the close displaced *backward* by kijun bars, so its value at t would
    be a future close. To ask what chikou asks, compare `close` with `shift(close, kijun)`.
    `close` is accepted for the usual call shape and not read."""
    h, lo = _f(high), _f(low)
    n, d = len(h), int(kijun)
    t, k, sa, sb = _outputs(n, 4)
    _k.rolling_extremes(h, lo, int(tenkan), 0, NO_OUTPUT, NO_OUTPUT, t)
    _k.rolling_extremes(h, lo, d, 0, NO_OUTPUT, NO_OUTPUT, k)
    _k.rolling_extremes(h, lo, int(senkou), d, NO_OUTPUT, NO_OUTPUT, sb)
    sa[: min(d, n)] = np.nan
    if d < n:
        np.add(t[: n - d], k[: n - d], out=sa[d:])
        sa[d:] *= 0.5
    look = _ichimoku_look({"tenkan": tenkan, "kijun": kijun, "senkou": senkou})
    for out in (t, k, sa):  # every output starts where the last one does (TA-Lib's rule)
        out[:look] = np.nan
    return t, k, sa, sb


def keltner(high, low, close, period=20, atr_period=10, multiplier=2.0):
    """Keltner channel as StockCharts defines it: middle = EMA(close, period), upper/lower =
    middle +/- multiplier * ATR(atr_period), with TA-Lib's EMA (seeded with the mean of the
    first `period` closes) and ATR (Wilder's) exactly; all three start at bar
    max(period - 1, atr_period). TA-Lib's own KC (registered as `kc`) differs: its middle is
    the EMA of the typical price."""
    h, lo, c = _f(high), _f(low), _f(close)
    p = int(period)
    mid, band = np.empty(len(c)), np.empty(len(c))
    _k.smooth(c, p, 2.0 / (p + 1), mid)
    _k.atr(h, lo, c, int(atr_period), band)
    band *= float(multiplier)
    mid[: max(p - 1, int(atr_period))] = np.nan  # the middle starts with the bands
    return mid + band, mid, mid - band


def donchian(high, low, period=20):
    """Donchian channel over the last `period` bars, the current one included."""
    h = _f(high)
    out = _outputs(len(h), 3)
    _k.rolling_extremes(h, _f(low), int(period), 0, *out)
    return out


def heikin_ashi(open_, high, low, close):
    """Heikin-Ashi candles; ha_open starts at (open+close)/2 of the first bar."""
    c = _f(close)
    out = _outputs(len(c), 4)
    _k.heikin_ashi(_f(open_), _f(high), _f(low), c, *out)
    return out


def zscore(close, period=20):
    """(x - rolling mean) / rolling population deviation (ddof=0) over `period` bars; NaN where
    the deviation is 0 (a flat window)."""
    x = _f(close)
    z = np.empty(len(x))
    _k.rolling_stats(x, int(period), 0, NO_OUTPUT, NO_OUTPUT, z)
    return (z,)


def realized_vol(close, period=20, periods_per_year=0.0):
    """Sample deviation (ddof=1) of the last `period` log returns; times sqrt(periods_per_year)
    when that is > 0 (8760 annualises hourly bars of a 24/7 market, 365 daily)."""
    c = _f(close)
    r = np.full(len(c), np.nan)
    if len(c) > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(c[1:], c[:-1], out=r[1:])
            np.log(r[1:], out=r[1:])
    std = np.empty(len(c))
    _k.rolling_stats(r, int(period), 1, NO_OUTPUT, std, NO_OUTPUT)
    if periods_per_year > 0:
        std *= math.sqrt(periods_per_year)
    return (std,)


# ---------------------------------------------------------------- lookback and warm-up


def _g(params: Mapping[str, Any], name: str, default: Any) -> Any:
    return params.get(name, default)


def _keltner_look(p):
    return max(int(_g(p, "period", 20)) - 1, int(_g(p, "atr_period", 10)))


def _keltner_warm(p):
    n, a = int(_g(p, "period", 20)), int(_g(p, "atr_period", 10))
    return max(n - 1 + decay_bars(2.0 / (n + 1)), a + decay_bars(1.0 / a))


def _supertrend_warm(p):
    n, m = int(_g(p, "period", 10)), float(_g(p, "multiplier", 3.0))
    return n + decay_bars(1.0 / n) + band_allowance(m)


def band_allowance(multiplier: float) -> int:
    """Bars for two SuperTrend runs with the same ATR to reach the same band state.

    The bands ratchet (upper = running minimum of the basic band since price last closed above
    it), so two runs started at different bars agree only once price has crossed a band or the
    basic band has moved past both. That memory is unbounded in principle and grows with the
    square of the band width in ATRs (the time a random walk takes to travel it). The rule
    60 + 20*m**2 covers the worst case measured over every 7th start bar on ten real series
    (BTC/ETH/SOL/XRP 1h, ETH 4h, BTC 1d/5m/30m, Coinbase BTC 1h, Bitstamp BTC 1d; ATR periods
    1-50, m 1-10): worst 53, 109, 151, 394, 996 bars for m = 1, 2, 3, 5, 10 (allowance 80, 140,
    240, 560, 2060). With the ATR's allowance added, no run on that data disagreed with the
    full history by more than 1e-6 after the warm-up.
    """
    return math.ceil(60 + 20 * multiplier * multiplier)


def _ichimoku_look(p):
    t, k, s = (int(_g(p, "tenkan", 9)), int(_g(p, "kijun", 26)), int(_g(p, "senkou", 52)))
    return max(t, k, s) - 1 + k


_LOOKBACK = {
    "vwap": lambda p: 0,
    "supertrend": lambda p: int(_g(p, "period", 10)),
    "ichimoku": _ichimoku_look,
    "keltner": _keltner_look,
    "donchian": lambda p: int(_g(p, "period", 20)) - 1,
    "heikin_ashi": lambda p: 0,
    "zscore": lambda p: int(_g(p, "period", 20)) - 1,
    "realized_vol": lambda p: int(_g(p, "period", 20)),
}


def lookback(name: str, params: Mapping[str, Any]) -> int:
    """Leading NaN bars of every output of `name` on candle inputs without NaN."""
    return _LOOKBACK[name](params)


# ---------------------------------------------------------------- registration


def _period(name: str, default: int, lo: int = 1, help: str = "") -> Param:
    return Param(name, "int", default, min=lo, max=MAX_PERIOD, help=help)


HLC = ("high", "low", "close")


def indicators() -> list[Indicator]:
    return [
        Indicator(
            "vwap", ("ts", "high", "low", "close", "volume"),
            (Param("anchor", "choice", "day",
                   choices=(("day", "day"), ("week", "week"), ("month", "month")),
                   help="session that restarts the sums: UTC day, ISO week (Monday), month"),
             Param("k", "float", 1.0, min=0.0, max=10.0,
                   help="band width in volume-weighted deviations")),
            ("vwap", "upper", "lower"), vwap, _LOOKBACK["vwap"],
            "Session VWAP of the typical price, restarting each UTC day, week or month",
            "Volume Indicators",
            calendar_warmup=lambda p, tf_ms: session_bars(p["anchor"], tf_ms)),
        Indicator(
            "supertrend", HLC,
            (_period("period", 10, help="ATR period (Wilder)"),
             Param("multiplier", "float", 3.0, min=0.0, max=100.0,
                   help="band distance from hl2 in ATRs")),
            ("supertrend", "direction", "upper", "lower"), supertrend, _supertrend_warm,
            "SuperTrend: ATR bands around hl2 that ratchet with the trend and flip on a close "
            "beyond them", "Overlap Studies", aliases={"line": "supertrend", "trend": "direction"}),
        Indicator(
            "ichimoku", HLC,
            (_period("tenkan", 9, help="conversion line window"),
             _period("kijun", 26, help="base line window, and the forward displacement"),
             _period("senkou", 52, help="leading span B window")),
            ("tenkan", "kijun", "senkou_a", "senkou_b"), ichimoku, _ichimoku_look,
            "Ichimoku lines with the cloud as known at each bar (no chikou: it reads the "
            "future)", "Overlap Studies",
            aliases={"conversion": "tenkan", "base": "kijun", "span_a": "senkou_a",
                     "span_b": "senkou_b"}),
        Indicator(
            "keltner", HLC,
            (_period("period", 20, help="EMA period of the middle line"),
             _period("atr_period", 10, help="ATR period (Wilder)"),
             Param("multiplier", "float", 2.0, min=0.0, max=100.0,
                   help="band distance from the middle in ATRs")),
            ("upper", "middle", "lower"), keltner, _keltner_warm,
            "Keltner channel: EMA of close +/- a multiple of the ATR", "Overlap Studies",
            aliases={"mid": "middle", "basis": "middle"}),
        Indicator(
            "donchian", ("high", "low"),
            (_period("period", 20, help="bars in the window, the current one included"),),
            ("upper", "lower", "middle"), donchian, _LOOKBACK["donchian"],
            "Donchian channel: highest high and lowest low of the last n bars",
            "Overlap Studies", aliases={"mid": "middle", "basis": "middle"}),
        Indicator(
            "heikin_ashi", ("open", "high", "low", "close"), (),
            ("open", "high", "low", "close"), heikin_ashi, lambda p: decay_bars(0.5),
            "Heikin-Ashi candles", "Price Transform"),
        Indicator(
            "zscore", ("close",),
            (_period("period", 20, lo=2, help="bars in the window, the current one included"),),
            ("zscore",), zscore, _LOOKBACK["zscore"],
            "Distance from the rolling mean in rolling population deviations",
            "Statistic Functions"),
        Indicator(
            "realized_vol", ("close",),
            (_period("period", 20, lo=2, help="number of log returns in the window"),
             Param("periods_per_year", "float", 0.0, min=0.0, max=1e8,
                   help="annualise with sqrt(periods_per_year); 0 = per bar")),
            ("realized_vol",), realized_vol, _LOOKBACK["realized_vol"],
            "Realised volatility: sample deviation of log returns, optionally annualised",
            "Volatility Indicators"),
    ]


def load(registry: Registry) -> None:
    for ind in indicators():
        registry.register(ind)  # source="botfleet" is the Indicator default
