"""TA-Lib through the registry: every function, faithful to TA-Lib, causal, start-independent
after its warm-up, with parameter bounds that TA-Lib itself enforces."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from talib import abstract

from botfleet.indicators import Registry
from botfleet.indicators import talib_funcs as tf

from shared_data import load

REGISTRY = Registry([tf.load])
NAMES = REGISTRY.names()
FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def btc() -> dict[str, np.ndarray]:
    """The last 20 000 real BTC/USDT 1h candles as contiguous float64 columns."""
    candles = load("binance_BTC-USDT_1h.csv")[-20_000:]
    return {f: np.ascontiguousarray(candles[f], dtype=np.float64) for f in FIELDS}


def _random_inputs(n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    return {"open": close + rng.normal(0, 0.3, n), "close": close, "volume": rng.random(n) + 1,
            "high": close + 1 + rng.random(n), "low": close - 1 - rng.random(n)}


def _run(name: str, data: dict[str, np.ndarray], params=None, sl=slice(None)):
    ind = REGISTRY.get(name)
    return ind.compute(*[data[i][sl] for i in ind.inputs], **(params or ind.defaults()))


def _agree(a: np.ndarray, b: np.ndarray, floor: float) -> np.ndarray:
    """1e-6 relative, relative to at least `floor` (the output's mean magnitude)."""
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= 1e-6 * np.maximum(np.abs(b), floor)
    return (a == b) | (np.isnan(a) & np.isnan(b)) | close


# ------------------------------------------------------------------------- completeness


def test_every_talib_function_is_registered_or_explicitly_excluded():
    functions = set(talib.get_functions())
    assert set(tf.EXCLUDED) <= functions, "an exclusion names no TA-Lib function"
    assert all(reason.strip() for reason in tf.EXCLUDED.values())
    assert len(NAMES) == len(functions) - len(tf.EXCLUDED)
    assert set(NAMES) == {f.lower() for f in functions - set(tf.EXCLUDED)}
    assert {REGISTRY.get(n).source for n in NAMES} == {"talib"}


def test_names_left_to_botfleet_are_taken_by_botfleet():
    custom = pytest.importorskip("botfleet.indicators.custom")
    own = set(Registry([custom.load]).names())
    left = {n.lower() for n, why in tf.EXCLUDED.items() if why.startswith("botfleet's own")}
    assert left <= own
    assert not set(NAMES) & own, "a TA-Lib name would clash with a botfleet indicator"


def test_snapshot_matches_installed_talib():
    assert tf.build_catalog() == tf.catalog(), (
        "talib_catalog.json is stale for the installed TA-Lib: "
        "run `python -m botfleet.indicators.talib_funcs` and review the diff")


def test_every_unstable_or_start_dependent_function_is_accounted_for():
    for name, entry in tf.catalog()["functions"].items():
        if "Function has an unstable period" in entry["flags"]:
            assert name in tf._SMOOTHING, f"{name} is unstable but has no warm-up allowance"
    assert set(tf.START_DEPENDENT) <= set(tf.catalog()["functions"])


def test_output_names():
    cases = {"macd": (("macd", "signal", "hist"), {"macdsignal": "signal", "macdhist": "hist"}),
             "bbands": (("upper", "middle", "lower"), {"upperband": "upper"}),
             "stoch": (("slowk", "slowd"), {"k": "slowk", "d": "slowd"}),
             "stochf": (("fastk", "fastd"), {"k": "fastk", "d": "fastd"}),
             "aroon": (("down", "up"), {"aroondown": "down", "aroonup": "up"}),
             "mama": (("mama", "fama"), {}), "ht_phasor": (("inphase", "quadrature"), {}),
             "sma": (("value",), {"real": "value"}),
             "cdlengulfing": (("value",), {"integer": "value"})}
    for name, (outputs, aliases) in cases.items():
        ind = REGISTRY.get(name)
        assert ind.outputs == outputs, name
        assert all(ind.output(a) == c for a, c in aliases.items()), name
    for name in NAMES:
        ind = REGISTRY.get(name)
        assert all(c in ind.outputs for c in ind.aliases.values()), name
        talib_names = tf.catalog()["functions"][name.upper()]["outputs"]
        assert [ind.output(o) for o in talib_names] == list(ind.outputs), name


# ------------------------------------------------------------------------- against TA-Lib


@pytest.mark.parametrize("name", NAMES)
def test_compute_equals_talib_abstract_on_real_candles(btc, name):
    ind = REGISTRY.get(name)
    ours = _run(name, btc)
    theirs = abstract.Function(name.upper())(btc)
    theirs = theirs if isinstance(theirs, list) else [theirs]
    assert len(ours) == len(theirs) == len(ind.outputs)
    blank = tf.lookback(name.upper(), tuple(ind.defaults().items()))
    for mine, ref in zip(ours, theirs):
        assert mine.dtype == np.float64 and mine.shape == ref.shape
        if ref.dtype.kind == "i":  # TA-Lib pads its lookback with 0; the registry with NaN
            assert np.isnan(mine[:blank]).all() and not np.isnan(mine[blank:]).any()
            assert (ref[:blank] == 0).all()
            mine, ref = mine[blank:], ref[blank:]
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref))
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=0, equal_nan=True)


# ------------------------------------------------------------------------- parameters


def _refused(name: str, pname: str, value) -> bool:
    try:
        _run(name, _random_inputs(), {**REGISTRY.get(name).defaults(), pname: value})
    except Exception as exc:  # TA-Lib's wrapper raises a bare Exception
        if "BAD_PARAM" not in str(exc):
            raise
        return True
    return False


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY.get(n).params])
def test_param_bounds_are_the_ones_talib_enforces(name):
    for p in REGISTRY.get(name).params:
        if p.type == "choice":
            assert p.check(p.default) is None
            assert not any(_refused(name, p.name, value) for _, value in p.choices)
            continue
        step = {"int": lambda v, d: v + d,
                "float": lambda v, d: math.nextafter(v, d * math.inf)}[p.type]
        assert not _refused(name, p.name, p.coerce(p.default))
        for bound, outward in ((p.min, -1), (p.max, 1)):
            if bound is None:  # TA-Lib's "any value": its sentinel extreme is accepted
                extreme = (2**31 - 1 if p.type == "int" else 3e37) * outward
                assert not _refused(name, p.name, p.coerce(extreme))
                continue
            assert not _refused(name, p.name, p.coerce(bound)), (p.name, bound)
            assert _refused(name, p.name, step(p.coerce(bound), outward)), (p.name, bound)
            assert p.check(bound) is None and p.check(step(bound, outward)) is not None


def test_known_param_metadata():
    def param(name, pname):
        return REGISTRY.get(name).param(pname)

    assert (param("rsi", "timeperiod").min, param("rsi", "timeperiod").max) == (2, 100000)
    assert (param("bbands", "timeperiod").min, param("bbands", "timeperiod").default) == (2, 20)
    assert (param("mama", "fastlimit").min, param("mama", "fastlimit").max) == (0.01, 0.99)
    assert (param("t3", "vfactor").min, param("t3", "vfactor").max) == (0.0, 1.0)
    assert param("bbands", "nbdevup").min is None and param("bbands", "nbdevup").max is None
    matype = param("bbands", "matype")
    assert matype.type == "choice" and matype.coerce(matype.default) == 0
    assert matype.choices[:9] == (("sma", 0), ("ema", 1), ("wma", 2), ("dema", 3), ("tema", 4),
                                  ("trima", 5), ("kama", 6), ("mama", 7), ("t3", 8))
    assert param("kdj", "slowk_matype").default == "rma"  # TA-Lib's default there is 13
    assert param("sma", "timeperiod").help == "Time period"
    assert REGISTRY.get("correl").inputs == ("high", "low")
    assert REGISTRY.get("obv").inputs == ("close", "volume")
    assert REGISTRY.get("stoch").group == "Momentum Indicators"
    assert REGISTRY.get("bbands").description == "Bollinger Bands"


# ------------------------------------------------------------------------- causality


@pytest.mark.parametrize("name", NAMES)
def test_causal(btc, name):
    """The value at bar t from bars [0, t] is the value from all bars, bit for bit."""
    data = {f: a[-2000:] for f, a in btc.items()}
    full = _run(name, data)
    n = len(data["close"])
    for t in (n - 1, n - 2, n - 3, n - 8, n - 40, n - 300):
        part = _run(name, data, sl=slice(0, t + 1))
        for p, f in zip(part, full):
            np.testing.assert_array_equal(p[t], f[t], err_msg=f"{name} at bar {t}")


# ------------------------------------------------------------------------- warm-up

WINDOWED = [n for n in NAMES if n.upper() not in tf.START_DEPENDENT]
NON_DEFAULT = [("ma", {"matype": "kama"}), ("ma", {"matype": "mama"}), ("ma", {"matype": "t3"}),
               ("bbands", {"matype": "ema"}), ("apo", {"matype": "rma"}),
               ("macdext", {"fastmatype": "ema", "slowmatype": "rma", "signalmatype": "dema"}),
               ("stoch", {"slowk_matype": "ema", "slowd_matype": "zlema"}),
               ("kama", {"timeperiod": 3}), ("kama", {"timeperiod": 100}),
               ("mama", {"slowlimit": 0.01}), ("rsi", {"timeperiod": 50}),
               ("ema", {"timeperiod": 200})]


def _check_window(data, name, given):
    ind = REGISTRY.get(name)
    params = {**ind.defaults(), **{k: ind.param(k).coerce(v) for k, v in given.items()}}
    warm = ind.warmup(params)
    full = _run(name, data, params)
    floors = [float(np.nanmean(np.abs(o[np.isfinite(o)]))) if np.isfinite(o).any() else 0.0
              for o in full]
    n = len(data["close"])
    for start in (1, 777, 5000, n // 2, n - warm - 500):
        part = _run(name, data, params, slice(start, None))
        for label, p, f, floor in zip(ind.outputs, part, full, floors):
            ok = _agree(p[warm:], f[start + warm:], floor)
            assert ok.all(), (f"{name}{given}.{label} from bar {start}: differs "
                              f"{np.flatnonzero(~ok)[-1] + 1} bars after the warm-up of {warm}")


@pytest.mark.parametrize("name", WINDOWED)
def test_window_agrees_with_full_history_after_warmup(btc, name):
    """Any start gives full-history values (1e-6 relative) once warm-up bars have passed."""
    _check_window(btc, name, {})


@pytest.mark.parametrize(("name", "given"), NON_DEFAULT)
def test_window_agrees_with_non_default_params(btc, name, given):
    _check_window(btc, name, given)


def test_warmup_grows_with_the_period_and_the_ma_type():
    ema, ma = REGISTRY.get("ema"), REGISTRY.get("ma")
    assert ema.warmup({"timeperiod": 100}) > ema.warmup({"timeperiod": 30}) > 29
    assert ma.warmup({"timeperiod": 30, "matype": 0}) == 29  # SMA: lookback alone
    assert ma.warmup({"timeperiod": 30, "matype": 1}) == ema.warmup({"timeperiod": 30})
    assert REGISTRY.get("cdlengulfing").warmup({}) == 2
