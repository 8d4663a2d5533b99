"""Bias checks for strategies: look-ahead (a bar's value reads later candles) and recursive
start-dependence (a bar's value depends on how much history precedes it beyond the warm-up).

Why empirical checks when YAML is causal by construction: code strategies are arbitrary
Python, plugins register arbitrary indicators, and a warm-up allowance is a model of how fast a
recursive smoother forgets its start, not a proof. Both checks compare runs of the same
strategy, so they test what the backtester and the live path would actually see.

Why exact, unlike freqtrade's `lookahead-analysis` (which compares a sample of entry rows):
a truncated run must reproduce every signal and every named indicator at EVERY bar up to its
cut, because each bar of a truncated run is a bar the live path could have acted on. Two runs
that start at the same bar perform the same floating-point operations, so the indicators must
agree bit for bit (1e-9 relative is allowed for kernels that block their loops by length).

Cost: one full run plus one run per cut, each on a prefix. A strategy runs in 1-8 ms on five
years of hourly candles, so the default budget of 1,000 cuts (every bar for data up to that
length; otherwise a spread over the whole data plus the bars where a signal switches on or off)
finishes in a few seconds; comparing a prefix costs a memcmp unless it differs.

The recursive check runs the strategy on data starting at several later bars and compares
everything after the warm-up with the full-history run, as freqtrade's `recursive-analysis`
does with its startup candles; it reports per indicator the largest relative difference and,
where that exceeds the tolerance, how many bars of history would have brought it under.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms
from botfleet.data.quality import iso
from botfleet.indicators.talib_funcs import START_DEPENDENT
from botfleet.strategy.program import close_times

SIGNALS = ("entry_long", "exit_long", "entry_short", "exit_short")
EXACT_RTOL = 1e-9  # look-ahead: same start, same operations; room for length-blocked kernels
TOLERANCE = 1e-6  # recursive: what the registry's warm-up allowances promise (talib_funcs)
MAX_CUTS = 1000
STARTS = 6


@dataclass(frozen=True)
class Violation:
    """One signal or indicator that failed a check, located at the first bar it differs.

    `full` is its value on the full data; `other` on the run that differs: the truncated run
    ending at bar `at` (look-ahead) or the run starting at bar `at` (recursive). `runs` counts
    the runs it differed in."""

    check: str  # "lookahead" or "recursive"
    kind: str  # "signal" or "indicator"
    name: str
    bar: int
    ts: int
    full: Any
    other: Any
    at: int
    at_ts: int
    runs: int = 1
    max_rel: float | None = None  # recursive only
    needed: int | None = None  # recursive: bars of history after which it is within tolerance
    note: str = ""

    def line(self, warmup: int) -> str:
        where = f"bar {self.bar} ({iso(self.ts)})"
        if self.check == "lookahead":
            text = (f"{self.kind} {self.name}: {where} is {_show(self.full)} on the full data "
                    f"but {_show(self.other)} when the data ends at bar {self.at} "
                    f"({iso(self.at_ts)}); it reads later candles [differs in {self.runs} "
                    f"run{'s' * (self.runs != 1)}]")
        else:
            text = (f"{self.kind} {self.name}: {where} is {_show(self.full)} on the full "
                    f"history but {_show(self.other)} when the data starts at bar {self.at} "
                    f"({iso(self.at_ts)})")
            if self.max_rel is not None:
                text += f"; max relative difference {_show(self.max_rel)}"
            if self.needed is not None:
                text += (f"; needs {self.needed} bars of history to agree, "
                         f"{max(self.needed - warmup, 0)} more than the warm-up {warmup}")
        return text + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Drift:
    """The recursive check's verdict on one series: the largest relative difference from the
    full-history run after the warm-up, over every start tried."""

    kind: str
    name: str
    max_rel: float
    exceeds: bool
    warmup: int  # bars compared from, counted from each run's start
    needed: int | None = None  # bars of history after which every run agreed (None: never)
    note: str = ""


@dataclass
class BiasReport:
    check: str  # "lookahead" or "recursive"
    strategy: str
    bars: int
    first_ts: int
    last_ts: int
    warmup: int
    runs: list[int]  # the cut bars (look-ahead) or start bars (recursive) tested
    violations: list[Violation] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)  # recursive only
    tolerance: float = EXACT_RTOL
    errors: list[str] = field(default_factory=list)  # runs that raised: the check is partial
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations and not self.errors

    def lines(self) -> list[str]:
        name = "look-ahead" if self.check == "lookahead" else "recursive"
        what = (f"{len(self.runs)} truncated runs" if self.check == "lookahead" else
                f"{len(self.runs)} runs starting at bars {_bars_list(self.runs)}, "
                f"tolerance {self.tolerance:g} relative")
        verdict = "passed" if self.ok else (
            f"{len(self.violations)} violation(s)" + (f", {len(self.errors)} failed run(s)"
                                                       if self.errors else ""))
        head = (f"{name} check: {self.strategy} on {self.bars} bars ({iso(self.first_ts)} .. "
                f"{iso(self.last_ts)}), warm-up {self.warmup}, {what}, {self.seconds:.1f} s: "
                f"{verdict}")
        out = [head]
        out += ["  " + v.line(self.warmup) for v in self.violations]
        out += ["  error: " + e for e in self.errors]
        if self.drift:
            width = max(len(d.name) for d in self.drift)
            for d in self.drift:
                if not d.exceeds:
                    verdict = "ok" + (f" (agrees after {d.needed} bars)" if d.needed else "")
                elif d.needed is None:
                    verdict = "EXCEEDS"
                else:
                    verdict = (f"EXCEEDS: needs {d.needed} bars, {d.needed - d.warmup} more "
                               f"than {d.warmup}")
                size = "agrees" if d.kind == "signal" and not d.exceeds else \
                    "" if d.kind == "signal" else f"max rel diff {_show(d.max_rel):>9s}"
                out.append(f"  {d.kind:9s} {d.name:{width}s}  {size:22s}  {verdict}"
                           + (f" ({d.note})" if d.note else ""))
        return out

    def as_dict(self) -> dict:
        """Plain JSON types: NaN becomes null, an infinite difference (a value present on one
        run and missing on the other) the string "inf"."""
        return _json({**asdict(self), "ok": self.ok,
                      "first": iso(self.first_ts), "last": iso(self.last_ts)})


# ------------------------------------------------------------------------------ look-ahead


def lookahead(strategy, candles: np.ndarray, higher: dict[str, np.ndarray] | None = None,
              cuts: Iterable[int] | None = None, max_cuts: int = MAX_CUTS,
              rtol: float = EXACT_RTOL) -> BiasReport:
    """Recompute the strategy on the data truncated after each cut bar and require that the
    four signals and every named series equal the full run's at every bar up to the cut.

    `cuts` (bar indices) overrides the choice: by default every bar when the data has at most
    `max_cuts` bars, else `choose_cuts`. Given `higher` candles are truncated to those closed by
    the cut bar's close; without them the program resamples the truncated base candles, which
    keeps only complete buckets, so both paths see exactly the higher candles live would."""
    started = time.perf_counter()
    candles = np.asarray(candles, dtype=CANDLE_DTYPE)
    n = len(candles)
    full, errors = _run(strategy, candles, higher), []
    picks = sorted({int(c) for c in cuts if 0 <= c < n}) if cuts is not None else \
        choose_cuts(full, n, max_cuts)
    base_close = close_times(candles, strategy.base_tf) if higher else None
    found: dict[tuple[str, str], Violation] = {}
    for c in picks:
        part_higher = None if not higher else {
            tf: h[close_times(h, tf) <= base_close[c]] for tf, h in higher.items()}
        try:
            part = _run(strategy, candles[: c + 1], part_higher)
        except Exception as exc:  # noqa: BLE001 - user code may raise anything; report it
            errors.append(f"data ending at bar {c}: {type(exc).__name__}: {exc}")
            continue
        for kind, name, a, b in _pairs(full, part, c + 1):
            bad = _differs(a, b, rtol)
            if bad is None:
                continue
            key = (kind, name)
            old = found.get(key)
            if old is None or bad < old.bar:
                found[key] = Violation("lookahead", kind, name, bad, int(candles["ts"][bad]),
                                       _value(a[bad]), _value(b[bad]), c,
                                       int(candles["ts"][c]), 1 + (old.runs if old else 0))
            else:
                found[key] = _bump(old)
    return BiasReport("lookahead", strategy.name, n, _ts(candles, 0), _ts(candles, -1),
                      full.warmup, picks, _ordered(found), tolerance=rtol, errors=errors,
                      seconds=time.perf_counter() - started)


def choose_cuts(full, n: int, max_cuts: int = MAX_CUTS) -> list[int]:
    """Where to truncate: every bar when that fits the budget. Otherwise a quarter of the
    budget spread evenly (continuous indicators that read the future differ at the last bars
    of almost any cut, and a whole-series normalisation at every bar) plus the bars around
    the warm-up's end, and the rest on the bars where a signal switches on or off, shared
    among the four signals and spread over each one's switches: a boolean that reads the
    future shows only where it would have fired (or stopped firing)."""
    if n <= max_cuts:
        return list(range(n))
    spread = np.linspace(0, n - 1, max(2, max_cuts // 4)).round().astype(int).tolist()
    w = full.warmup
    picks = set(spread) | {x for x in (w - 1, w, w + 1, n - 1) if 0 <= x < n}
    switches = []
    for name in SIGNALS:
        s = np.asarray(getattr(full, name), dtype=bool)
        on = np.flatnonzero(s[1:] & ~s[:-1]) + 1
        off = np.flatnonzero(~s[1:] & s[:-1]) + 1
        if s[:1].any():
            on = np.concatenate([[0], on])
        if len(on) or len(off):
            switches.append((on, off))
    quota = max(0, max_cuts - len(picks)) // max(1, len(switches))
    for on, off in switches:
        take_on = _spread(on, max(quota - min(len(off), quota // 2), quota // 2))
        picks |= take_on | _spread(off, quota - len(take_on))
    if len(picks) < max_cuts:  # what the signals left over goes to the spread
        rest = np.setdiff1d(np.arange(n), np.fromiter(picks, dtype=np.int64))
        picks |= _spread(rest, max_cuts - len(picks))
    return sorted(picks)


# ------------------------------------------------------------------------------- recursive


def recursive(strategy, candles: np.ndarray, higher: dict[str, np.ndarray] | None = None,
              starts: Iterable[int] | None = None, tolerance: float = TOLERANCE,
              warmup: int | None = None) -> BiasReport:
    """Run the strategy on the data starting at each bar of `starts` (default: STARTS bars
    spread over the data) and compare every named series and the signals with the
    full-history run on the overlap, from `warmup` bars after each start (default: the
    strategy's warm-up, or a named indicator's own when it is longer; pass a bot's declared
    history to ask whether that is enough).

    A series passes when its relative difference |a - b| / max(|a|, |b|, mean |a|) stays
    within `tolerance` (the mean magnitude is the floor for series crossing zero, as in the
    registry's warm-up allowances); signals must agree exactly. Each series is reported with
    the bars of history after which every run agreed: the advice freqtrade gives as
    `startup_candle_count`. Raises ValueError when the data is too short to compare."""
    started = time.perf_counter()
    candles = np.asarray(candles, dtype=CANDLE_DTYPE)
    n = len(candles)
    full = _run(strategy, candles, higher)
    declared = _own_warmups(strategy)
    base_warm = full.warmup if warmup is None else warmup
    holes = gaps_in(candles, strategy.base_tf)
    picks = sorted({int(s) for s in starts if 0 < s < n}) if starts is not None else \
        default_starts(n, max([base_warm, *declared.values()]), gaps=holes)
    stats: dict[tuple[str, str], _Stat] = {}
    errors = []
    for o in picks:
        part_higher = None if not higher else {
            tf: h[h["ts"] >= candles["ts"][o]] for tf, h in higher.items()}
        try:
            part = _run(strategy, candles[o:], part_higher)
        except Exception as exc:  # noqa: BLE001 - user code may raise anything; report it
            errors.append(f"data starting at bar {o}: {type(exc).__name__}: {exc}")
            continue
        for kind, name, a, b in _pairs(full, part, n, offset=o):
            w = full.warmup if kind == "signal" else (
                base_warm if warmup is not None else max(base_warm, declared.get(name, 0)))
            if w < len(b):
                stats.setdefault((kind, name), _Stat(kind, name, w)).add(
                    a, b, o, candles["ts"], tolerance)
    drift, violations = _verdicts(stats, tolerance, _start_dependent(strategy))
    violations = [_hole_note(v, holes, candles["ts"]) for v in violations]
    return BiasReport("recursive", strategy.name, n, _ts(candles, 0), _ts(candles, -1),
                      base_warm, picks, violations, drift, tolerance, errors,
                      time.perf_counter() - started)


@dataclass
class _Stat:
    """One series' comparison with the full-history run, accumulated over the runs."""

    kind: str
    name: str
    warm: int  # compared from this many bars after each run's start
    max_rel: float = 0.0
    needed: int = 0  # bars from a run's start after which it always agreed
    stuck: bool = False  # differed on a run's last bar
    bars: int = 0  # most bars beyond the tolerance after the warm-up, in one run
    first: Violation | None = None  # located in the run with the largest difference
    runs: int = 0

    def add(self, a, b, start: int, ts: np.ndarray, tolerance: float) -> None:
        # indicators are measured from the run's first bar, so that `needed` says when each
        # settled even where the warm-up covers it; signals are suppressed before the
        # warm-up, so they are compared only after it
        skip = self.warm if self.kind == "signal" else 0
        if self.kind == "signal":
            rel, limit = (a[skip:] != b[skip:]).astype(np.float64), 0.0
        else:
            rel, limit = _rel(a, b), tolerance
        over = np.flatnonzero(rel > limit)
        worst = float(rel[self.warm - skip:].max())
        if len(over):
            self.needed = max(self.needed, skip + int(over[-1]) + 1)
            self.stuck |= bool(over[-1] == len(rel) - 1)
        late = over[over >= self.warm - skip]
        if not len(late):
            self.max_rel = max(self.max_rel, worst)
            return
        self.runs += 1
        self.bars = max(self.bars, len(late))
        if self.first is None or worst > self.max_rel:
            i = skip + int(late[0])
            self.first = Violation("recursive", self.kind, self.name, start + i,
                                   int(ts[start + i]), _value(a[i]), _value(b[i]), start,
                                   int(ts[start]), max_rel=None if self.kind == "signal"
                                   else worst)
        self.max_rel = max(self.max_rel, worst)


def _verdicts(stats: dict, tolerance: float, notes: dict[str, str]
              ) -> tuple[list[Drift], list[Violation]]:
    """The per-series verdicts and the violations, with the reason where one is known."""
    indicators_agree = all(not s.first for s in stats.values() if s.kind == "indicator")
    has_series = any(s.kind == "indicator" for s in stats.values())
    drift, violations = [], []
    for st in stats.values():
        note, needed = notes.get(st.name, ""), None if st.stuck else st.needed
        if st.first and st.stuck:
            stuck = "still differs on the last bar: no warm-up is enough"
            note = f"{stuck}; {note}" if note else stuck
        if st.first and st.kind == "signal":
            note = f"differs on {st.bars} bar{'s' * (st.bars != 1)}"
            if has_series and indicators_agree:
                needed = None
                note += ("; every indicator agrees within the tolerance, so a comparison at "
                         "a tie flipped on rounding noise")
        drift.append(Drift(st.kind, st.name, st.max_rel, st.first is not None, st.warm,
                           needed, note))
        if st.first:
            violations.append(_with(st.first, runs=st.runs, needed=needed, note=note))
    drift.sort(key=lambda d: (d.kind != "signal", d.name))
    return drift, _ordered({(v.kind, v.name): v for v in violations})


def _hole_note(v: Violation, holes: np.ndarray, ts: np.ndarray) -> Violation:
    """Say so when the run that differs has a hole in its candles before the bar: the likely
    cause when a higher timeframe's value arrives later than its warm-up promised."""
    inside = holes[(holes > v.at) & (holes <= v.bar)]
    if not len(inside):
        return v
    g = int(inside[0])
    hole = (f"the candles miss bars before bar {g} ({iso(int(ts[g]))}), inside this run: a "
            "higher timeframe drops the bucket they leave incomplete")
    return _with(v, note=f"{v.note}; {hole}" if v.note else hole)


def default_starts(n: int, warmup: int, count: int = STARTS,
                   gaps: Iterable[int] = ()) -> list[int]:
    """Start bars spread over the data, the last leaving the warm-up plus 100 bars (up to a
    quarter of the data) to compare: different starts meet different seed values, and the
    slowest to converge decides the verdict.

    `gaps` (the first bar after each hole in the candles) add starts that put a hole inside
    the warm-up, at `count` of them: a higher timeframe drops the bucket a hole leaves
    incomplete, so an `@ 1d` value needs a day more than its warm-up counts, which is what a
    live window holding that hole computes."""
    last = n - warmup - max(100, min(n // 4, (n - warmup) // 2))
    if last < 1:
        raise ValueError(f"the recursive check needs more than {warmup + 101} bars "
                         f"(warm-up {warmup} + 100 to compare); got {n}")
    picks = set(np.linspace(1, last, count).round().astype(int).tolist())
    for g in sorted(_spread(np.asarray([g for g in gaps if 1 < g], dtype=np.int64), count)):
        picks |= {int(o) for o in np.linspace(max(1, g - warmup + 1), g - 1, 4).round()
                  if 1 <= o <= last}
    return sorted(picks)


def gaps_in(candles: np.ndarray, timeframe: str) -> np.ndarray:
    """The first bar after each hole in the candles (a step longer than the timeframe)."""
    if timeframe.endswith("M") or len(candles) < 2:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.diff(candles["ts"]) > timeframe_ms(timeframe)) + 1


# --------------------------------------------------------------------------------- helpers


def _run(strategy, candles: np.ndarray, higher):
    with np.errstate(all="ignore"):
        return strategy.signals(candles, higher) if higher else strategy.signals(candles)


def _pairs(full, part, stop: int, offset: int = 0):
    """(kind, name, full values, other values) over the bars both runs cover: full[offset:
    stop] against part[:stop - offset]."""
    m = stop - offset
    for name in SIGNALS:
        yield "signal", name, np.asarray(getattr(full, name))[offset:stop], \
            np.asarray(getattr(part, name))[:m]
    for name, values in full.series.items():
        if name in part.series:
            yield "indicator", name, np.asarray(values)[offset:stop], \
                np.asarray(part.series[name])[:m]


def _differs(a: np.ndarray, b: np.ndarray, rtol: float) -> int | None:
    """The first bar where `b` is not `a`: NaN equals NaN, numbers within `rtol` relative."""
    if a.dtype == bool or b.dtype == bool:
        bad = np.flatnonzero(a != b)
        return int(bad[0]) if len(bad) else None
    if np.array_equal(a, b, equal_nan=True):
        return None
    with np.errstate(all="ignore"):
        na, nb = np.isnan(a), np.isnan(b)
        close = (a == b) | (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)))
        bad = np.flatnonzero((na != nb) | (~na & ~nb & ~close))
    return int(bad[0]) if len(bad) else None


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(|a|, |b|, mean |a|); 0 where both are NaN, inf where only one is."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(all="ignore"):
        na, nb = np.isnan(a), np.isnan(b)
        finite = ~na & np.isfinite(a)
        floor = float(np.mean(np.abs(a[finite]))) if finite.any() else 0.0
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
        rel = np.where(a == b, 0.0, np.abs(a - b) / np.where(scale > 0, scale, 1.0))
    rel[na & nb] = 0.0
    rel[na != nb] = np.inf
    return np.nan_to_num(rel, nan=np.inf, posinf=np.inf)


def _own_warmups(strategy) -> dict[str, int]:
    """Each named series' own warm-up where the strategy declares one (compiled YAML)."""
    vals = {**getattr(strategy, "indicators", {}), **getattr(strategy, "stop_series", {})}
    return {name: int(v.warmup) for name, v in vals.items() if v is not None}


def _start_dependent(strategy) -> dict[str, str]:
    """Named series built on a function whose value depends on where the data starts however
    long the warm-up (talib_funcs.START_DEPENDENT), with the reason."""
    out = {}
    vals = {**getattr(strategy, "indicators", {}), **getattr(strategy, "stop_series", {})}
    for name, v in vals.items():
        hits = sorted(_names_in(getattr(v, "key", ())) & {k.lower() for k in START_DEPENDENT})
        if hits:
            out[name] = "; ".join(f"{h}(): {START_DEPENDENT[h.upper()]}" for h in hits)
    return out


def _names_in(key) -> set[str]:
    """Every name in a compiled value's structural key: nested tuples of the timeframe, the
    function or field name, the arguments' keys and the parameters."""
    if isinstance(key, str):
        return {key}
    if isinstance(key, tuple):
        return set().union(*(_names_in(item) for item in key))
    return set()


def _spread(bars: np.ndarray, k: int) -> set[int]:
    """At most k of `bars`, evenly by rank, the first always included."""
    if k <= 0 or not len(bars):
        return set()
    if len(bars) <= k:
        return set(bars.tolist())
    return set(bars[np.linspace(0, len(bars) - 1, k).round().astype(int)].tolist())


def _bump(v: Violation) -> Violation:
    return _with(v, runs=v.runs + 1)


def _with(v: Violation, **changes) -> Violation:
    return Violation(**{**asdict(v), **changes})


def _ordered(found: dict) -> list[Violation]:
    return sorted(found.values(), key=lambda v: (v.kind != "signal", v.bar, v.name))


def _ts(candles: np.ndarray, i: int) -> int:
    return int(candles["ts"][i]) if len(candles) else 0


def _value(x) -> Any:
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    return float(x)


def _show(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if np.isnan(x):
        return "NaN"
    return f"{x:.6g}" if abs(x) >= 1e-4 or x == 0 or np.isinf(x) else f"{x:.2e}"


def _bars_list(runs: list[int]) -> str:
    return ", ".join(map(str, runs)) if len(runs) <= 8 else \
        f"{', '.join(map(str, runs[:4]))}, … {runs[-1]}"


def _json(x):
    if isinstance(x, dict):
        return {k: _json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        if np.isnan(x):
            return None
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


__all__ = ["BiasReport", "Drift", "Violation", "choose_cuts", "default_starts", "gaps_in",
           "lookahead", "recursive"]
