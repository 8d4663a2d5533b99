"""Every TA-Lib function as a registry entry, described by a generated snapshot.

Why a snapshot: the Python wrapper exposes TA-Lib's defaults and help texts but not the C
parameter ranges, so `python -m botfleet.indicators.talib_funcs` finds them by probing (calling
each function on a small seeded series and binary-searching where TA_BAD_PARAM starts) and
writes `talib_catalog.json`; importing never probes, and a test regenerates the snapshot in
memory and fails when it no longer matches the installed TA-Lib. A probed bound that is TA-Lib's
"any value" sentinel (+-3e37, the int32 extremes) is stored as None: no bound worth showing.
`EXCLUDED` names the functions left out, each with its reason.

Output names, so `bbands(close).upper` reads as the chart does:
* one output -> `value` (TA-Lib's `real` / `integer` become aliases);
* several -> TA-Lib's name without a leading lower-case function name or first-output name
  (`macdsignal` -> `signal`, `aroonup` -> `up`, `haopen` -> `open`), then without a trailing
  `band` (`upperband` -> `upper`); the original name is kept as an alias. The stochastics
  (STOCH, STOCHF, STOCHRSI) also answer to `k` and `d`.
Every output is float64; integer outputs (candle patterns, HT_TRENDMODE, the *INDEX
functions, FRACTAL) are converted, and the bars TA-Lib fills with 0 during its lookback
(an int32 cannot hold NaN) become NaN as the registry contract asks.

Warm-up = TA-Lib's lookback + a convergence allowance. Recursive smoothers (EMA, Wilder's,
KAMA, MAMA, the Hilbert transform) remember where the series began; the allowance makes values
from a window starting at any bar agree with full-history values to 1e-6 relative (floor: the
output's mean magnitude, so values crossing zero are not held to an impossible standard). A
smoother putting weight alpha on the newest bar needs DECAY / -ln(1 - alpha) bars, DECAY =
ln(1e12) (a start discrepancy up to 1e6 times the value decays below 1e-6 of it): EMA(p) has
alpha = 2/(p+1), Wilder's(p) 1/p, MAMA its slowlimit, Heikin-Ashi's open 1/2. A function's
allowance is that of its slowest smoother: a chain forgets its start about as fast as its
slowest link (further links add a polynomial factor that DECAY's headroom covers). Two are
calibrated, not derived: KAMA counts as Wilder's over period + 1, the prices its efficiency
ratio spans (its alpha floor, (2/31)^2, would demand ~6600 bars; on real data it settles in
8-18 periods), and the Hilbert transform's adaptive smoothing as HILBERT_BARS. On the shared
Binance data every allowance is at least 1.6 times the bars that were needed. `_SMOOTHING`
lists every function that needs one, including those TA-Lib does not flag unstable (MACD,
DEMA, TRIX, TSI ...) and those made so by an MA-type parameter. `START_DEPENDENT` lists the
functions no warm-up can fix.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from botfleet.indicators.registry import Indicator, Param, Registry

CATALOG_PATH = Path(__file__).with_name("talib_catalog.json")

# Names botfleet's own indicators (custom.py) already use, registered after these, stay theirs.
_OWN = "botfleet's own indicator of that name (custom.py) "
EXCLUDED = {
    "MAVP": "its second input is a per-bar period series; no candle column is a sensible "
            "default and registry inputs are candle columns only",
    "DONCHIAN": _OWN + "is the same channel with the `period` parameter strategies use",
    "SUPERTREND": _OWN + "also gives the bands and the `direction` output strategies use",
    "VWAP": _OWN + "restarts each UTC session; TA-Lib's accumulates from the first bar, so "
            "its value depends on where the history starts",
}

# Functions whose value at bar t depends on where the array starts however long the warm-up.
START_DEPENDENT = {
    **dict.fromkeys(("AD", "CUMSUM", "NVI", "OBV", "PVI", "PVT", "WAD"),
                    "a running total from the first bar: the level depends on the start"),
    **dict.fromkeys(("MAXINDEX", "MININDEX", "MINMAXINDEX"),
                    "the output is an absolute index into the input array"),
    **dict.fromkeys(("SAR", "SAREXT"),
                    "a long/short state that resynchronises only at a common reversal"),
}

# TA-Lib's TA_MAType names, lower-cased; a new TA-Lib type must be named here to be offered.
MA_TYPES = ("sma", "ema", "wma", "dema", "tema", "trima", "kama", "mama", "t3", "hma",
            "disabled", "default", "zlema", "rma")

_STOCH_ALIASES = {"STOCH": ("slowk", "slowd"), "STOCHF": ("fastk", "fastd"),
                  "STOCHRSI": ("fastk", "fastd")}
_REAL_ANY, _INT_MIN, _INT_MAX = 3e37, -(2**31) + 1, 2**31 - 1  # INT_MIN itself = "default"
_TYPES = {0: "float", 2: "int", 3: "choice"}  # TA_OptInputParameterType: range, range, list

# ---------------------------------------------------------------------------- probing


def _probe_series(n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240601)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = close + rng.normal(0, 0.5, n)
    return {"open": open_, "close": close, "high": np.maximum(open_, close) + rng.random(n),
            "low": np.minimum(open_, close) - rng.random(n),
            "volume": rng.random(n) * 1000 + 1, "periods": np.full(n, 5.0)}


def _inputs(info: Mapping) -> list[str]:
    out: list[str] = []
    for value in info["input_names"].values():
        out += value if isinstance(value, list) else [value]
    return out


def _accepts(fn, arrays, name: str, value) -> bool:
    try:
        fn(*arrays, **{name: value})
    except Exception as exc:
        if "BAD_PARAM" not in str(exc):
            raise
        return False
    return True


def _ordered(x: float) -> int:  # float -> int with the same order, to bisect floats exactly
    bits = int(np.float64(x).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def _unordered(k: int) -> float:
    bits = k if k >= 0 else (-k) | -0x8000_0000_0000_0000
    return float(np.int64(bits).view(np.float64))


def _bound(accepts, inside, outside, as_key=int, from_key=int):
    """The accepted value nearest `outside` (exclusive), or None when `outside` is accepted."""
    if accepts(from_key(as_key(outside))):
        return None
    good, bad = as_key(inside), as_key(outside)
    while abs(good - bad) > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if accepts(from_key(mid)) else (good, mid)
    return from_key(good)


def _describe_function(name: str, series: Mapping[str, np.ndarray]) -> dict:
    import talib
    from talib import _ta_lib, abstract

    info = abstract.Function(name).info
    fn = getattr(talib.func, name)
    arrays = [series[i] for i in _inputs(info)]
    out = fn(*arrays)
    params = []
    for i in range(_ta_lib._ta_getFuncInfo(name.encode())["num_opt_inputs"]):
        meta = _ta_lib._ta_getOptInputParameterInfo(name.encode(), i)
        kind, pname, default = _TYPES[meta["type"]], meta["name"], meta["default_value"]
        p = {"name": pname, "type": kind, "default": default, "help": meta["help"]}

        def ok(v, pname=pname):
            return _accepts(fn, arrays, pname, v)

        if not ok(default):
            raise RuntimeError(f"TA-Lib refuses {name}({pname}={default}), its own default")
        if kind == "choice":
            p["choices"] = [c for c in range(len(talib.MA_Type._lookup)) if ok(c)]
        elif kind == "int":
            p["min"], p["max"] = _bound(ok, default, _INT_MIN), _bound(ok, default, _INT_MAX)
        else:
            p["min"] = _bound(ok, default, -_REAL_ANY, _ordered, _unordered)
            p["max"] = _bound(ok, default, _REAL_ANY, _ordered, _unordered)
        params.append(p)
    return {
        "group": info["group"], "display_name": info["display_name"],
        "flags": list(info["function_flags"] or ()), "inputs": _inputs(info),
        "outputs": list(info["output_names"]),
        "integer_outputs": [o.dtype.kind == "i" for o in (out if isinstance(out, tuple)
                                                          else (out,))],
        "params": params,
    }


def build_catalog() -> dict:
    """Probe the installed TA-Lib (a fraction of a second): the snapshot's content."""
    import talib

    unknown = set(talib.MA_Type._lookup) - set(range(len(MA_TYPES)))
    if unknown:
        raise RuntimeError(f"TA-Lib has MA types {sorted(unknown)} that MA_TYPES does not name")
    series = _probe_series()
    return {
        "talib_python": talib.__version__,
        "ta_lib": talib.__ta_version__.decode().split()[0],
        "excluded": EXCLUDED,
        "functions": {n: _describe_function(n, series)
                      for n in talib.get_functions() if n not in EXCLUDED},
    }


def catalog() -> dict:
    return json.loads(CATALOG_PATH.read_text())


# ---------------------------------------------------------------------------- naming


def output_names(name: str, talib_outputs: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """(canonical outputs, alias -> canonical) under the rule in the module docstring."""
    if len(talib_outputs) == 1:
        return ("value",), {talib_outputs[0]: "value"}
    prefixes = sorted({name.lower(), talib_outputs[0]}, key=len, reverse=True)
    outputs, aliases = [], {}
    for original in talib_outputs:
        short = next((original[len(p):] for p in prefixes
                      if original.startswith(p) and len(original) > len(p)), original)
        if short.endswith("band") and len(short) > 4:
            short = short[:-4]
        outputs.append(short)
        if short != original:
            aliases[original] = short
    for alias, original in zip(("k", "d"), _STOCH_ALIASES.get(name, ())):
        aliases[alias] = original
    if len(set(outputs)) != len(outputs) or not all(o.isidentifier() for o in outputs):
        raise ValueError(f"{name}: output names {outputs} are not distinct identifiers")
    return tuple(outputs), aliases


# ---------------------------------------------------------------------------- warm-up

DECAY = math.log(1e12)
HILBERT_BARS = 500  # calibrated: the HT_* family and MAMA's front end settle within ~270

# name -> its smoothers: "ema:P", "wilder:P", "kama:P" take a period parameter or a literal,
# "ma:M:P" is whatever MA-type parameter M selects over period P, "alpha:X" a fixed weight.
_SMOOTHING: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("EMA", "DEMA", "TEMA", "TRIX", "T3", "ZLEMA", "ERI", "EFI", "CVI"),
                    ("ema:timeperiod",)),
    **dict.fromkeys(("RMA", "RSI", "CMO", "ATR", "NATR", "PLUS_DM", "MINUS_DM", "PLUS_DI",
                     "MINUS_DI", "DX", "ADX", "ADXR", "RVI"),
                    ("wilder:timeperiod",)),
    "KC": ("ema:timeperiod", "wilder:atrperiod"),
    "MACD": ("ema:fastperiod", "ema:slowperiod", "ema:signalperiod"),
    "MACDFIX": ("ema:26", "ema:signalperiod"),
    "MACDEXT": ("ma:fastmatype:fastperiod", "ma:slowmatype:slowperiod",
                "ma:signalmatype:signalperiod"),
    **dict.fromkeys(("APO", "PPO", "PVO"), ("ma:matype:fastperiod", "ma:matype:slowperiod")),
    "ADOSC": ("ema:fastperiod", "ema:slowperiod"),
    "TSI": ("ema:firstperiod", "ema:secondperiod"),
    "SMI": ("ema:slowperiod", "ema:fastperiod", "ema:signalperiod"),
    "MASSI": ("ema:fastperiod",),
    **dict.fromkeys(("MA", "BBANDS"), ("ma:matype:timeperiod",)),
    **dict.fromkeys(("STOCH", "KDJ"), ("ma:slowk_matype:slowk_period",
                                       "ma:slowd_matype:slowd_period")),
    "STOCHF": ("ma:fastd_matype:fastd_period",),
    "STOCHRSI": ("wilder:timeperiod", "ma:fastd_matype:fastd_period"),
    "KAMA": ("kama:timeperiod",), "MAMA": ("hilbert", "alpha:slowlimit"),
    "HA": ("alpha:0.5",),
    **dict.fromkeys(("HT_DCPERIOD", "HT_DCPHASE", "HT_PHASOR", "HT_SINE", "HT_TRENDMODE",
                     "HT_TRENDLINE"), ("hilbert",)),
}
# The smoothers each MA type brings, P standing for its period. "default" is the parameter's
# documented type, which TA-Lib does not expose: assume the slowest, Wilder's.
_MA_SMOOTHING = {**dict.fromkeys(("ema", "dema", "tema", "t3", "zlema"), ("ema:P",)),
                 **dict.fromkeys(("rma", "default"), ("wilder:P",)), "kama": ("kama:P",),
                 "mama": ("hilbert", "alpha:0.05")}


def _bars(alpha: float) -> int:
    return 0 if alpha >= 1 else math.ceil(DECAY / -math.log1p(-alpha))


def _smoother(spec: str, params: Mapping[str, Any]) -> int:
    kind, _, arg = spec.partition(":")
    if kind == "hilbert":
        return HILBERT_BARS
    if kind == "ma":
        matype, _, period = arg.partition(":")
        specs = _MA_SMOOTHING.get(MA_TYPES[int(params[matype])], ())
        return max((_smoother(s.replace(":P", f":{params[period]}"), params) for s in specs),
                   default=0)
    x = float(params[arg]) if arg in params else float(arg)
    alpha = {"ema": 2 / (x + 1), "wilder": 1 / x, "kama": 1 / (x + 1), "alpha": x}[kind]
    return _bars(alpha)


def allowance(name: str, params: Mapping[str, Any]) -> int:
    """Bars beyond TA-Lib's lookback until values no longer depend on where history starts."""
    return max((_smoother(s, params) for s in _SMOOTHING.get(name, ())), default=0)


@lru_cache(maxsize=4096)
def lookback(name: str, params: tuple[tuple[str, Any], ...]) -> int:
    """TA-Lib's own lookback; the abstract API costs ~0.1 ms a call, hence the cache."""
    from talib import abstract

    fn = abstract.Function(name)
    fn.set_parameters(dict(params))
    return int(fn.lookback)


# ---------------------------------------------------------------------------- registry


def _param(p: Mapping) -> Param:
    if p["type"] == "choice":
        choices = tuple((MA_TYPES[c], c) for c in p["choices"])
        return Param(p["name"], "choice", MA_TYPES[p["default"]], choices=choices,
                     help=p["help"])
    return Param(p["name"], p["type"], p["default"], p["min"], p["max"], help=p["help"])


def _indicator(name: str, entry: Mapping) -> Indicator:
    import talib

    fn = getattr(talib.func, name)
    params = tuple(_param(p) for p in entry["params"])
    outputs, aliases = output_names(name, entry["outputs"])
    integer = tuple(entry["integer_outputs"])
    n_inputs = len(entry["inputs"])

    def key(given: Mapping[str, Any]) -> tuple:
        return tuple((p.name, p.coerce(given.get(p.name, p.default)))
                     for p in params)

    def compute(*inputs: np.ndarray, **kw: Any) -> tuple[np.ndarray, ...]:
        if len(inputs) != n_inputs:
            raise TypeError(f"{name.lower()} takes {n_inputs} input series, got {len(inputs)}")
        arrays = [np.ascontiguousarray(x, dtype=np.float64) for x in inputs]
        result = fn(*arrays, **kw)
        result = result if isinstance(result, tuple) else (result,)
        if not any(integer):
            return result
        valid = np.all([~np.isnan(a) for a in arrays], axis=0)
        first = int(np.argmax(valid)) if valid.any() else len(valid)
        blank = first + lookback(name, key(kw))
        out = []
        for arr, is_int in zip(result, integer):
            if is_int:
                arr = arr.astype(np.float64)
                arr[:blank] = np.nan
            out.append(arr)
        return tuple(out)

    def warmup(given: Mapping[str, Any]) -> int:
        full = key(given)
        return lookback(name, full) + allowance(name, dict(full))

    compute.__name__ = compute.__qualname__ = f"talib_{name.lower()}"
    return Indicator(name=name.lower(), inputs=tuple(entry["inputs"]), params=params,
                     outputs=outputs, compute=compute, warmup=warmup,
                     description=entry["display_name"], group=entry["group"],
                     source="talib", aliases=aliases)


def load(registry: Registry) -> None:
    for name, entry in catalog()["functions"].items():
        registry.register(_indicator(name, entry))


def main(argv: list[str] | None = None) -> int:
    """Regenerate the snapshot after a TA-Lib upgrade; `--check` only reports staleness."""
    argv = sys.argv[1:] if argv is None else argv
    text = json.dumps(build_catalog(), indent=1) + "\n"
    if "--check" in argv:
        stale = not CATALOG_PATH.exists() or CATALOG_PATH.read_text() != text
        print(f"{CATALOG_PATH.name} is {'stale' if stale else 'up to date'}")
        return int(stale)
    CATALOG_PATH.write_text(text)
    print(f"wrote {CATALOG_PATH} ({len(json.loads(text)['functions'])} functions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
