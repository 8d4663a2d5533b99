"""A compiled expression program: numbered steps over whole arrays, run per timeframe.

Why a flat list of steps: the compiler dedups identical sub-expressions (the same `sma(close,
20)` in two rules is computed once), and running a list of closures costs a few microseconds
per step, which is what the live path (the latest bar on a 1,000-candle window) can afford.

Why a cross-run cache (`step_cache`): an optimiser compiles one program per parameter set, and
most of their steps are the same (`ema(close, 200) @ 4h` and its resample do not depend on
`fast`; 100 (fast, slow) pairs use only ~20 distinct SMAs). Inside `with step_cache():` a
step with a structural key (`Program.use_keys`, the compiler's dedup identity) is computed once
per set of candle arrays and shared. Outside the block nothing is cached, so the live path and
every other caller behave exactly as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, next_open, timeframe_ms
from botfleet.data.resample import resample

BASE = ""  # the key of the bot's own timeframe in a program's data


@dataclass
class Step:
    run: Callable[[list, dict[str, np.ndarray]], object]
    tf: str  # BASE or a higher timeframe
    label: str
    key: str | None = None  # structural identity (canonical), what the step cache keys on


@dataclass
class Program:
    base_tf: str
    steps: list[Step] = field(default_factory=list)
    extra_timeframes: tuple[str, ...] = ()  # read by code strategies, not by steps
    model_source: object | None = None  # strategy.models: who answers proba()/predict()

    def add(self, run, tf: str, label: str, key: tuple | None = None) -> int:
        self.steps.append(Step(run, tf, label, canonical(key) if key is not None else None))
        return len(self.steps) - 1

    def use_keys(self, shared: dict[tuple, int]) -> Program:
        """Give each step its structural key from a compiler's `shared` map (key -> slot).
        Only keyed steps are cached; a step without a key is always computed."""
        for key, slot in shared.items():
            self.steps[slot].key = canonical(key)
        return self

    @property
    def timeframes(self) -> list[str]:
        return sorted({s.tf for s in self.steps if s.tf != BASE} | set(self.extra_timeframes),
                      key=_tf_sort_key)

    def run(self, data: dict[str, np.ndarray]) -> list:
        """Every step's result, by slot. `data` maps BASE and each higher timeframe to
        candles (see `frames`)."""
        slots: list = [None] * len(self.steps)
        cache = _CACHE.get()
        ident = cache.identity(data) if cache is not None else None
        with np.errstate(all="ignore"):
            for i, step in enumerate(self.steps):
                if ident is None or step.key is None:
                    slots[i] = step.run(slots, data)
                else:
                    slots[i] = cache.get_or_run((ident, self.base_tf, step.key),
                                                lambda i=i, step=step: step.run(slots, data))
        return slots

    def frames(self, candles: np.ndarray, higher: dict[str, np.ndarray] | None = None
               ) -> dict[str, np.ndarray]:
        """The data a run needs: the base candles and each higher timeframe, given or else
        built from the base candles (complete buckets only: a bucket still open at the last
        base bar is not a closed candle)."""
        candles = np.asarray(candles, dtype=CANDLE_DTYPE)
        data = {BASE: candles}
        cache = _CACHE.get()
        for tf in self.timeframes:
            given = (higher or {}).get(tf)
            if given is not None:
                data[tf] = np.asarray(given, dtype=CANDLE_DTYPE)
            elif cache is not None:
                data[tf] = cache.get_or_run(
                    (cache.identity({BASE: candles}), self.base_tf, ("resample", tf)),
                    lambda tf=tf: resample(candles, self.base_tf, tf))
            else:
                data[tf] = resample(candles, self.base_tf, tf)
        return data


def close_times(candles: np.ndarray, timeframe: str) -> np.ndarray:
    if timeframe.endswith("M"):
        return np.array([next_open(int(t), timeframe) for t in candles["ts"]], dtype=np.int64)
    return candles["ts"] + timeframe_ms(timeframe)


def join(values: np.ndarray, tf_candles: np.ndarray, tf: str, base: np.ndarray,
         base_tf: str) -> np.ndarray:
    """Higher-timeframe values on the base bars: a value becomes visible on the first base
    bar that closes at or after its own candle's close, never earlier.

    Found per higher candle (a few thousand binary searches into the base closes) and spread
    with a cumulative count, not per base bar: 20x faster on a million bars."""
    n = len(base)
    base_close = close_times(base, base_tf)
    visible_at = np.searchsorted(base_close, close_times(tf_candles, tf), side="left")
    idx = np.cumsum(np.bincount(visible_at, minlength=n + 1)[:n]) - 1  # last visible candle
    if values.dtype == bool:
        ext = np.concatenate([[False], values])
    else:
        ext = np.concatenate([[np.nan], np.asarray(values, dtype=np.float64)])
    return ext[idx + 1]


def _tf_sort_key(tf: str) -> float:
    if tf.endswith("M"):
        return int(tf[:-1]) * 31 * 86_400_000
    return timeframe_ms(tf)


def tf_ratio(tf: str, base_tf: str) -> int:
    """Base bars per higher-timeframe bar, rounded up (a month counts 31 days)."""
    return -(-_tf_sort_key(tf) // timeframe_ms(base_tf))


# ----------------------------------------------------------------------------- step cache

def canonical(key: object) -> str:
    """The key as its repr: tuples compare 1, 1.0 and True equal, their reprs do not, so a
    step on an integer parameter never answers for one on a float or a flag (and anything
    without a faithful repr, such as a function, shows its address: never shared)."""
    return repr(key)


def _nbytes(value: object) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple | list):
        return sum(_nbytes(v) for v in value)
    return 64


def _freeze(value: object) -> object:
    """Shared results are read-only: a step that wrote into its input would otherwise change
    what every later program reads from the cache. Now it raises instead."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple | list):
        for v in value:
            _freeze(v)
    return value


class StepCache:
    """Step results by (identity of the candle arrays, base timeframe, step key), least
    recently used first out beyond `max_bytes`.

    The identity is the arrays' `id()`s. The cache holds a reference to every array it has
    keyed on, so an id cannot be recycled by another array while the cache lives, and makes
    each one read-only until `close()` (the end of the `step_cache` block): a cached result can
    then never describe candles that were changed in place afterwards — the change raises."""

    def __init__(self, max_bytes: int = 512 << 20):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0
        self._held: dict[int, tuple[np.ndarray, bool]] = {}  # id -> (array, was writeable)

    def identity(self, data: dict[str, np.ndarray]) -> tuple:
        out = []
        for tf in sorted(data):
            arr = data[tf]
            if id(arr) not in self._held:
                self._held[id(arr)] = (arr, bool(arr.flags.writeable))
                arr.flags.writeable = False
            out.append((tf, id(arr), len(arr)))
        return tuple(out)

    def close(self) -> None:
        """Drop every entry and give the candle arrays back their write flag."""
        for arr, writeable in self._held.values():
            if writeable:
                try:
                    arr.flags.writeable = True
                except ValueError:  # a view whose base became read-only meanwhile
                    pass
        self._held.clear()
        self.entries.clear()
        self.bytes = 0

    def get_or_run(self, key: tuple, run: Callable[[], object]) -> object:
        hit = self.entries.get(key)
        if hit is not None:
            self.entries.move_to_end(key)
            self.hits += 1
            return hit[0]
        self.misses += 1
        value = _freeze(run())
        size = _nbytes(value)
        if size <= self.max_bytes:
            self.entries[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self.entries.popitem(last=False)
                self.bytes -= dropped
        return value


_CACHE: ContextVar[StepCache | None] = ContextVar("botfleet_step_cache", default=None)


@contextmanager
def step_cache(max_bytes: int = 512 << 20) -> Iterator[StepCache]:
    """Share step results across program runs inside the block (see the module docstring).
    Nested blocks reuse the outer cache."""
    outer = _CACHE.get()
    if outer is not None:
        yield outer
        return
    cache = StepCache(max_bytes)
    token = _CACHE.set(cache)
    try:
        yield cache
    finally:
        _CACHE.reset(token)
        cache.close()
