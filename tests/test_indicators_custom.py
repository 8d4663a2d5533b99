"""botfleet's own indicators (indicators/custom.py): each against an independent implementation
on real Binance candles, causality (prefix and window runs), registration, edge cases.

References: TA-Lib, `ta` and `finta` where they compute the same definition; besides those, a
plain pandas/numpy or explicit-loop implementation written here from the textbook definition,
never calling botfleet's kernels.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from botfleet.indicators import custom
from botfleet.indicators.custom import decay_bars
from botfleet.indicators.registry import INPUTS, Registry

from shared_data import load

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import ta
    from finta import TA

REG = Registry([custom.load])
NAMES = ("vwap", "supertrend", "ichimoku", "keltner", "donchian", "heikin_ashi", "zscore",
         "realized_vol")
DATASETS = ("binance_BTC-USDT_1h.csv", "binance_ETH-USDT_4h.csv")


@pytest.fixture(scope="module", params=DATASETS)
def candles(request) -> np.ndarray:
    return load(request.param)


@pytest.fixture(scope="module")
def btc() -> np.ndarray:
    return load("binance_BTC-USDT_1h.csv")


def cols(c: np.ndarray) -> dict[str, np.ndarray]:
    return {f: np.ascontiguousarray(c[f]) for f in INPUTS}


def frame(c: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(cols(c))


def run(name: str, c: np.ndarray, **params) -> tuple[np.ndarray, ...]:
    ind = REG.get(name)
    p = {**ind.defaults(), **params}
    x = cols(c)
    return ind.compute(*(x[i] for i in ind.inputs), **p)


def same(actual, expected, rtol=1e-9, atol=0.0, start=0):
    """Equal NaN positions and values within rtol (atol for values that cross zero)."""
    a = np.asarray(actual, dtype=float)[start:]
    e = np.asarray(expected, dtype=float)[start:]
    assert a.shape == e.shape
    bad = np.isnan(a) != np.isnan(e)
    assert not bad.any(), f"NaN differs at {np.flatnonzero(bad)[:5] + start}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


# ------------------------------------------------------------------- references


def ref_vwap(df: pd.DataFrame, anchor: str, k: float):
    t = pd.to_datetime(df.ts, unit="ms", utc=True)
    day = t.dt.floor("D")
    if anchor == "day":
        start = day
    elif anchor == "week":
        start = day - pd.to_timedelta(t.dt.day_of_week, unit="D")
    else:
        start = day - pd.to_timedelta(t.dt.day - 1, unit="D")
    key = ((start - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()
    x = ((df.high + df.low + df.close) / 3.0).to_numpy()
    v = df.volume.to_numpy()
    vw, sd = np.full(len(x), np.nan), np.full(len(x), np.nan)
    # per session and per bar j, the textbook two-pass form over the session's bars i <= j:
    # vwap_j = sum(v x) / sum(v), var_j = sum(v (x - vwap_j)^2) / sum(v)
    for idx in np.split(np.arange(len(x)), np.flatnonzero(np.diff(key)) + 1):
        xs, vs = x[idx], v[idx]
        cv = np.cumsum(vs)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.cumsum(xs * vs) / np.where(cv > 0, cv, np.nan)
            w = np.tril(np.broadcast_to(vs, (len(idx), len(idx))))
            var = (w * (xs[None, :] - m[:, None]) ** 2).sum(axis=1) / cv
        vw[idx], sd[idx] = m, k * np.sqrt(var)
    if df.ts.iloc[0] != key[0]:  # data start mid-session: no first session
        vw[key == key[0]] = np.nan
    return vw, vw + sd, vw - sd


def ref_supertrend(h, lo, c, period, mult):
    """Textbook SuperTrend on TA-Lib's ATR, tracking the line by which band it equals;
    the first bar with an ATR starts in an up trend."""
    atr = talib.ATR(h, lo, c, timeperiod=period)
    n = len(c)
    st, up, dn, dirn = (np.full(n, np.nan) for _ in range(4))
    for i in range(n):
        if math.isnan(atr[i]):
            continue
        mid = (h[i] + lo[i]) / 2
        basic_up, basic_dn = mid + mult * atr[i], mid - mult * atr[i]
        if i == 0 or math.isnan(atr[i - 1]):
            up[i], dn[i], st[i] = basic_up, basic_dn, basic_dn
        else:
            up[i] = basic_up if basic_up < up[i - 1] or c[i - 1] > up[i - 1] else up[i - 1]
            dn[i] = basic_dn if basic_dn > dn[i - 1] or c[i - 1] < dn[i - 1] else dn[i - 1]
            if st[i - 1] == up[i - 1]:
                st[i] = up[i] if c[i] <= up[i] else dn[i]
            else:
                st[i] = dn[i] if c[i] >= dn[i] else up[i]
        dirn[i] = 1.0 if st[i] == dn[i] else -1.0
    return st, dirn, up, dn


def ref_heikin_ashi(o, h, lo, c):
    n = len(c)
    ho, hh, hl, hc = ([0.0] * n for _ in range(4))
    for i in range(n):
        hc[i] = (o[i] + h[i] + lo[i] + c[i]) / 4
        ho[i] = (o[0] + c[0]) / 2 if i == 0 else (ho[i - 1] + hc[i - 1]) / 2
        hh[i] = max(h[i], ho[i], hc[i])
        hl[i] = min(lo[i], ho[i], hc[i])
    return ho, hh, hl, hc


# ------------------------------------------------------------------- against references


@pytest.mark.parametrize("anchor", ["day", "week", "month"])
def test_vwap_matches_pandas_sessions(candles, anchor):
    df = frame(candles)
    got = run("vwap", candles, anchor=anchor, k=2.0)
    for a, e in zip(got, ref_vwap(df, anchor, 2.0), strict=True):
        same(a, e)
    if anchor != "day":  # data starts on Sunday 2020-09-20: the first week/month is partial
        assert np.isnan(got[0][0])


def test_vwap_matches_finta_per_day(btc):
    part = btc[:24 * 200]  # 200 whole days: finta per group is slow
    df = frame(part)
    days = df.ts // 86_400_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = df.groupby(days, group_keys=False)[
            ["open", "high", "low", "close", "volume"]].apply(TA.VWAP)
    same(run("vwap", part)[0], expected.to_numpy())


@pytest.mark.parametrize(("period", "mult"), [(10, 3.0), (7, 2.0), (22, 4.5)])
def test_supertrend_matches_textbook_loop(candles, period, mult):
    x = cols(candles)
    got = run("supertrend", candles, period=period, multiplier=mult)
    ref = ref_supertrend(x["high"], x["low"], x["close"], period, mult)
    for a, e in zip(got, ref, strict=True):
        same(a, e)
    d = got[1][period:]
    assert set(np.unique(d)) == {-1.0, 1.0}
    assert np.count_nonzero(np.diff(d)) > 20  # it does flip on real data
    if hasattr(talib, "SUPERTREND"):  # TA-Lib >= 0.6: the same line and trend
        line, trend = talib.SUPERTREND(x["high"], x["low"], x["close"], timeperiod=period,
                                       multiplier=mult)
        same(got[0], line)
        np.testing.assert_array_equal(got[1][period:], trend[period:])


@pytest.mark.parametrize(("t", "k", "s"), [(9, 26, 52), (7, 22, 44), (20, 60, 120)])
def test_ichimoku_matches_finta_and_ta(candles, t, k, s):
    df = frame(candles)
    got = run("ichimoku", candles, tenkan=t, kijun=k, senkou=s)
    w = REG.get("ichimoku").warmup({"tenkan": t, "kijun": k, "senkou": s})
    assert w == max(t, k, s) - 1 + k
    for a in got:  # every output starts with the last (finta's tenkan starts earlier)
        assert np.isnan(a[:w]).all()
    fin = TA.ICHIMOKU(df, tenkan_period=t, kijun_period=k, senkou_period=s, chikou_period=k)
    for a, col in zip(got, ("TENKAN", "KIJUN", "senkou_span_a", "SENKOU"), strict=True):
        same(a, fin[col].to_numpy(), start=w)
    ich = ta.trend.IchimokuIndicator(df.high, df.low, t, k, s, visual=True)
    same(got[0], ich.ichimoku_conversion_line().to_numpy(), start=w)
    same(got[1], ich.ichimoku_base_line().to_numpy(), start=w)
    same(got[2], ich.ichimoku_a().to_numpy(), start=w)  # ta fills its warm-up with the mean
    same(got[3], ich.ichimoku_b().to_numpy(), start=w)
    # displaced forward: the span at t is the one computed from bars <= t - kijun
    raw_b = (df.high.rolling(s).max() + df.low.rolling(s).min()) / 2
    same(got[3][k:], raw_b.to_numpy()[:-k], start=w - k)


@pytest.mark.parametrize(("n", "an", "m"), [(20, 10, 2.0), (50, 14, 1.5), (10, 20, 3.0)])
def test_keltner_matches_talib_ema_atr_and_ta(candles, n, an, m):
    df = frame(candles)
    x = cols(candles)
    up, mid, dn = run("keltner", candles, period=n, atr_period=an, multiplier=m)
    ema = talib.EMA(x["close"], timeperiod=n)
    atr = talib.ATR(x["high"], x["low"], x["close"], timeperiod=an)
    look = max(n - 1, an)
    ema[:look] = np.nan  # the middle line starts with the bands
    same(mid, ema)
    same(up, ema + m * atr)
    same(dn, ema - m * atr)
    # ta's variant seeds differently (pandas ewm from the first close; ATR from bar an-1 with
    # high-low as the first true range); past the warm-up the seeds are forgotten.
    kc = ta.volatility.KeltnerChannel(df.high, df.low, df.close, window=n, window_atr=an,
                                      original_version=False, multiplier=m)
    w = REG.get("keltner").warmup({"period": n, "atr_period": an, "multiplier": m})
    same(mid, kc.keltner_channel_mband().to_numpy(), start=w)
    same(up, kc.keltner_channel_hband().to_numpy(), start=w)
    same(dn, kc.keltner_channel_lband().to_numpy(), start=w)


@pytest.mark.parametrize("n", [1, 20, 55])
def test_donchian_matches_ta_and_finta(candles, n):
    df = frame(candles)
    up, dn, mid = run("donchian", candles, period=n)
    dc = ta.volatility.DonchianChannel(df.high, df.low, df.close, window=n)
    same(up, dc.donchian_channel_hband().to_numpy())
    same(dn, dc.donchian_channel_lband().to_numpy())
    same(mid, dc.donchian_channel_mband().to_numpy())
    do = TA.DO(df, upper_period=n, lower_period=n)
    same(up, do["UPPER"].to_numpy())
    same(dn, do["LOWER"].to_numpy())
    same(mid, do["MIDDLE"].to_numpy())
    if hasattr(talib, "DONCHIAN") and n > 1:  # TA-Lib >= 0.6 (its period starts at 2)
        tu, tm, tl = talib.DONCHIAN(df.high.to_numpy(), df.low.to_numpy(), timeperiod=n)
        same(up, tu)
        same(dn, tl)
        same(mid, tm)


def test_heikin_ashi_matches_textbook_loop(candles):
    x = cols(candles)
    got = run("heikin_ashi", candles)
    for a, e in zip(got, ref_heikin_ashi(x["open"], x["high"], x["low"], x["close"]),
                    strict=True):
        same(a, e)
    if hasattr(talib, "HA"):  # TA-Lib >= 0.6, same seed
        for a, e in zip(got, talib.HA(x["open"], x["high"], x["low"], x["close"]), strict=True):
            same(a, e)


def rolling_two_pass(x: np.ndarray, n: int, ddof: int):
    """Window mean and deviation by the two-pass definition, one window at a time."""
    mean, sd, flat = np.full(len(x), np.nan), np.full(len(x), np.nan), np.zeros(len(x), bool)
    if len(x) >= n:
        w = sliding_window_view(x, n)
        mean[n - 1:] = w.mean(axis=1)
        sd[n - 1:] = np.sqrt(((w - mean[n - 1:, None]) ** 2).sum(axis=1) / (n - ddof))
        flat[n - 1:] = w.max(axis=1) == w.min(axis=1)
    return mean, sd, flat


@pytest.mark.parametrize("n", [2, 3, 20, 100])
def test_zscore_matches_two_pass_and_pandas(candles, n):
    s = frame(candles).close
    x = s.to_numpy()
    (z,) = run("zscore", candles, period=n)
    mean, sd, flat = rolling_two_pass(x, n, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(flat, np.nan, (x - mean) / sd)
    # z is O(1) and crosses zero: tolerance 1e-9 relative to that scale
    same(z, expected, atol=1e-9)
    # pandas' rolling deviation drifts (add/remove updates): at BTC prices it reports up to
    # 2e-5 for a flat pair of closes, so it is only a loose cross-check away from tiny spreads
    pd_z = ((s - s.rolling(n).mean()) / s.rolling(n).std(ddof=0)).to_numpy()
    wide = sd > 1e-4 * mean
    np.testing.assert_allclose(z[wide], pd_z[wide], atol=1e-5)
    # and TA-Lib: (x - SMA) / STDDEV (a sum-of-squares deviation, also loose)
    with np.errstate(invalid="ignore", divide="ignore"):
        ta_z = (x - talib.SMA(x, n)) / talib.STDDEV(x, n, 1.0)
    np.testing.assert_allclose(z[wide], ta_z[wide], atol=1e-5)


@pytest.mark.parametrize(("n", "ppy"), [(20, 0.0), (2, 0.0), (3, 0.0), (30, 8760.0)])
def test_realized_vol_matches_pandas(candles, n, ppy):
    s = frame(candles).close
    (rv,) = run("realized_vol", candles, period=n, periods_per_year=ppy)
    scale = math.sqrt(ppy) if ppy else 1.0
    returns = np.log(s / s.shift(1))
    _, sd, _ = rolling_two_pass(returns.to_numpy(), n, 1)
    same(rv, sd * scale)
    # pandas' add/remove updates drift up to ~1e-8 relative on 3-bar windows of near-equal
    # returns (checked against the two-pass form above), hence the looser tolerance
    same(rv, (returns.rolling(n).std(ddof=1) * scale).to_numpy(), rtol=1e-7)


# ------------------------------------------------------------------- causality, warm-up

PARAMS = {
    "vwap": [{}, {"anchor": "week"}],
    "supertrend": [{}, {"period": 3, "multiplier": 5.0}],
    "ichimoku": [{}],
    "keltner": [{}, {"period": 5, "atr_period": 30}],
    "donchian": [{}],
    "heikin_ashi": [{}],
    "zscore": [{}],
    "realized_vol": [{}],
}
CASES = [(n, p) for n in NAMES for p in PARAMS[n]]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_prefix_runs_equal_full_history(btc, name, params):
    """The value at t computed from bars <= t only equals the full-history value at t."""
    full = run(name, btc, **params)
    w = REG.get(name).warmup({**REG.get(name).defaults(), **params})
    for t in (0, 5, w - 1, w, w + 1, 3000, 3001, len(btc) - 2):
        part = run(name, btc[: t + 1], **params)
        for a, f in zip(part, full, strict=True):
            np.testing.assert_array_equal(a, f[: t + 1])


@pytest.mark.parametrize(("name", "params"), CASES)
def test_window_runs_agree_after_warmup(candles, name, params):
    """A run started at any bar agrees with the full-history run after `warmup` bars."""
    ind = REG.get(name)
    p = {**ind.defaults(), **params}
    full = run(name, candles, **params)
    w = ind.warmup(p)
    length = w + 600
    # sliding extremes and session sums do not depend on the start at all; rolling_stats
    # re-centres every `period` bars counted from the start (last-digit differences); the
    # recursive ones carry their seed until the warm-up has passed
    rtol = {"supertrend": 1e-6, "keltner": 1e-6, "heikin_ashi": 1e-6, "zscore": 1e-12,
            "realized_vol": 1e-12}.get(name, 0.0)
    for s in range(1, len(candles) - length, 53):
        win = run(name, candles[s: s + length], **params)
        for a, f in zip(win, full, strict=True):
            a, f = a[w:], f[s + w: s + length]
            if name == "vwap":  # a window's first (partial) session is NaN, then equal
                keep = ~np.isnan(a)
                assert keep[-1]
                a, f = a[keep], f[keep]
            if rtol:  # z-scores cross zero: their scale is 1
                np.testing.assert_allclose(a, f, rtol=rtol, atol=rtol if name == "zscore" else 0)
            else:
                np.testing.assert_array_equal(a, f)


@pytest.mark.parametrize(("name", "params"), CASES)
def test_leading_nan_count_is_the_lookback(btc, name, params):
    p = {**REG.get(name).defaults(), **params}
    out = run(name, btc, **params)
    look = custom.lookback(name, p)
    for o in out:  # the same for every output
        assert np.isnan(o[:look]).all()
        if name != "vwap" or p["anchor"] == "day":  # BTC 1h data start on a day, not a week
            assert not np.isnan(o[look:]).any()
    assert look <= REG.get(name).warmup(p)


def test_warmup_rules():
    w = {n: REG.get(n).warmup(REG.get(n).defaults()) for n in NAMES}
    assert w["donchian"] == 19
    assert w["zscore"] == 19
    assert w["realized_vol"] == 20
    assert w["ichimoku"] == 51 + 26
    assert w["vwap"] == 0
    assert w["heikin_ashi"] == 40 == decay_bars(0.5)
    assert w["keltner"] == max(19 + decay_bars(2 / 21), 10 + decay_bars(0.1)) == 296
    assert w["supertrend"] == 10 + decay_bars(0.1) + 60 + 20 * 9 == 513
    assert 0.9 ** decay_bars(0.1) <= 1e-12 < 0.9 ** (decay_bars(0.1) - 1)


# ------------------------------------------------------------------- registration

SPEC = {
    "vwap": (("ts", "high", "low", "close", "volume"), ("vwap", "upper", "lower"),
             {"anchor": "day", "k": 1.0}),
    "supertrend": (("high", "low", "close"), ("supertrend", "direction", "upper", "lower"),
                   {"period": 10, "multiplier": 3.0}),
    "ichimoku": (("high", "low", "close"), ("tenkan", "kijun", "senkou_a", "senkou_b"),
                 {"tenkan": 9, "kijun": 26, "senkou": 52}),
    "keltner": (("high", "low", "close"), ("upper", "middle", "lower"),
                {"period": 20, "atr_period": 10, "multiplier": 2.0}),
    "donchian": (("high", "low"), ("upper", "lower", "middle"), {"period": 20}),
    "heikin_ashi": (("open", "high", "low", "close"), ("open", "high", "low", "close"), {}),
    "zscore": (("close",), ("zscore",), {"period": 20}),
    "realized_vol": (("close",), ("realized_vol",), {"period": 20, "periods_per_year": 0.0}),
}


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_documented(name):
    ind = REG.get(name)
    inputs, outputs, defaults = SPEC[name]
    assert (ind.inputs, ind.outputs, ind.defaults()) == (inputs, outputs, defaults)
    assert ind.source == "botfleet"
    assert ind.group and ind.description and "\n" not in ind.description
    d = ind.describe()
    assert d["warmup"] == ind.warmup(ind.defaults())
    for p in ind.params:
        assert p.check(p.default) is None
        assert p.help


@pytest.mark.parametrize(("name", "param", "value"), [
    ("supertrend", "period", 0), ("supertrend", "period", 2.5), ("supertrend", "multiplier", -1),
    ("keltner", "atr_period", 0), ("keltner", "period", 10_001), ("donchian", "period", 0),
    ("ichimoku", "kijun", 0), ("zscore", "period", 1), ("realized_vol", "period", 1),
    ("realized_vol", "periods_per_year", -1.0), ("vwap", "anchor", "year"), ("vwap", "k", -0.5),
    ("vwap", "k", True), ("donchian", "period", "20"),
])
def test_param_check_refuses(name, param, value):
    assert REG.get(name).param(param).check(value) is not None


def test_param_check_accepts_bounds():
    assert REG.get("zscore").param("period").check(2) is None
    assert REG.get("donchian").param("period").check(1) is None
    assert REG.get("vwap").param("anchor").check("month") is None
    assert REG.get("supertrend").param("multiplier").check(0.5) is None
    assert REG.get("ichimoku").output("base") == "kijun"
    assert REG.get("supertrend").output("trend") == "direction"


def test_loaded_into_the_process_registry():
    pytest.importorskip("botfleet.indicators.talib_funcs",
                        reason="TA-Lib loader not present: the process registry needs it")
    from botfleet.indicators import REGISTRY

    for name in NAMES:
        assert REGISTRY.get(name).source == "botfleet"


# ------------------------------------------------------------------- edge cases


@pytest.mark.parametrize(("name", "params"), CASES)
def test_shorter_than_lookback_is_all_nan(btc, name, params):
    p = {**REG.get(name).defaults(), **params}
    look = custom.lookback(name, p)
    for n in {0, 1, max(look - 1, 0)}:
        out = run(name, btc[:n], **params)
        assert all(len(o) == n and o.dtype == np.float64 for o in out)
        if look >= n:
            assert all(np.isnan(o).all() for o in out)
    # shorter than the warm-up (recursive ones give values, still without error)
    out = run(name, btc[: REG.get(name).warmup(p) - 1], **params)
    assert all(o.dtype == np.float64 for o in out)


def test_vwap_zero_volume_session_start():
    day = 86_400_000
    ts = np.arange(48, dtype=np.int64) * 3_600_000 + 10 * day  # two whole UTC days of 1h bars
    close = 100.0 + np.arange(48.0)
    vol = np.ones(48)
    vol[:3] = 0.0  # day 1 opens without trades
    vol[24:48] = 0.0  # day 2 never trades
    vol[30] = 2.0
    vw, up, dn = custom.vwap(ts, close + 1, close - 1, close, vol)
    assert np.isnan(vw[:3]).all() and vw[3] == close[3] and up[3] == dn[3] == close[3]
    assert vw[4] == (close[3] + close[4]) / 2
    assert np.isnan(vw[24:30]).all() and (vw[30:] == close[30]).all()
    assert np.isfinite(up[3:24]).all()
    # a window opening mid-session has no value until the next session
    vw2 = custom.vwap(ts[5:], close[5:] + 1, close[5:] - 1, close[5:], vol[5:])[0]
    assert np.isnan(vw2[:19]).all()
    np.testing.assert_array_equal(vw2[19:], vw[24:])


def test_vwap_week_and_month_boundaries():
    # 2024-02-26 (Monday) .. 2024-03-05, 6h bars: the week restarts on Monday 2024-03-04, the
    # month on 2024-03-01 (a leap February before it)
    start = pd.Timestamp("2024-02-26", tz="UTC").value // 1_000_000
    ts = start + np.arange(40, dtype=np.int64) * 6 * 3_600_000
    price = np.arange(1.0, 41.0)
    vol = np.ones(40)
    week = custom.vwap(ts, price, price, price, vol, anchor="week")[0]
    month = custom.vwap(ts, price, price, price, vol, anchor="month")[0]
    mar1 = int(np.searchsorted(ts, pd.Timestamp("2024-03-01", tz="UTC").value // 1_000_000))
    mar4 = int(np.searchsorted(ts, pd.Timestamp("2024-03-04", tz="UTC").value // 1_000_000))
    assert np.isnan(month[:mar1]).all()  # February is partial: data start on the 26th
    assert month[mar1] == price[mar1] and week[mar4] == price[mar4]
    assert week[mar4 - 1] == price[:mar4].mean()


def test_zscore_constant_price_is_nan_not_inf():
    x = np.full(200, 123.456)
    x[100:] = 0.1 + 0.2  # a value that is not exact in binary
    (z,) = custom.zscore(x, period=20)
    assert np.isnan(z[:100]).all() and np.isnan(z[119:]).all()  # flat windows
    assert np.isfinite(z[100:119]).all()  # windows holding both levels
    (rv,) = custom.realized_vol(x, period=20)
    assert (rv[20:100] == 0).all() and (rv[121:] == 0).all()


def test_zscore_of_a_series_with_leading_nan():
    """A chained input (e.g. an RSI) starts with NaN: the z-score starts once the window is
    clean and equals the z-score of the clean tail."""
    rng = np.random.default_rng(1)
    x = 100 + np.cumsum(rng.normal(size=500))
    y = x.copy()
    y[:37] = np.nan
    (zy,) = custom.zscore(y, period=20)
    (zx,) = custom.zscore(x[37:], period=20)
    assert np.isnan(zy[: 37 + 19]).all()
    np.testing.assert_allclose(zy[37:], zx, rtol=1e-12, atol=1e-12)


def test_session_bounds_match_pandas_calendar():
    from botfleet.indicators.custom import session_bars
    from botfleet.indicators.kernels_session import _session_bounds

    rng = np.random.default_rng(7)
    lo = pd.Timestamp("1900-01-01", tz="UTC").value // 1_000_000
    hi = pd.Timestamp("2200-01-01", tz="UTC").value // 1_000_000
    for t in rng.integers(lo, hi, 300).tolist() + [0, -1, 951_868_800_000]:  # 2000-03-01
        ts = pd.Timestamp(t, unit="ms", tz="UTC")
        day = ts.floor("D")
        week = day - pd.Timedelta(days=ts.day_of_week)
        month = day - pd.Timedelta(days=ts.day - 1)
        expected = [(day, day + pd.Timedelta(days=1)), (week, week + pd.Timedelta(days=7)),
                    (month, month + pd.offsets.MonthBegin(1))]
        for code, (start, end) in enumerate(expected):
            assert _session_bounds(t, code) == (start.value // 1_000_000, end.value // 1_000_000)
    assert session_bars("day", 3_600_000) == 24 and session_bars("month", 86_400_000) == 31


def test_window_extremes_with_nan_inside():
    rng = np.random.default_rng(3)
    high = 100 + rng.random(300)
    low = high - 1
    high[[50, 51, 200]] = np.nan
    up, dn, _ = custom.donchian(high, low, period=20)
    same(up, pd.Series(high).rolling(20).max().to_numpy())
    dn_ref = pd.Series(low).rolling(20).min().to_numpy().copy()
    dn_ref[np.isnan(up)] = np.nan  # a bar with a NaN high has no range
    same(dn, dn_ref)
