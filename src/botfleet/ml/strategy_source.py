"""Who answers a strategy's `proba(m)` / `predict(m)` / `regime(m)` / `proba(m, 'TREND')` (see
`botfleet.strategy.models`).

`PitModels` is the backtest answer: walk-forward predictions from `ml.pit.proba_series`, a new
model every `retrain` period of the model's YAML, each trained only on labels that resolved
before the bars it serves. Training is the expensive part, so series are cached per (spec hash,
pair, retrain cadence, hash of the candles): an optimisation grid that compiles the strategy
once per parameter set trains each walk-forward window once, not once per combination.

`PromotedModels` is the live/paper answer: the registry's promoted version (or a pinned one,
for A/B), loaded once and reloaded when the promoted version changes; with none promoted the
series is NaN, so no entry fires, and the source notes why for the bot's cycle.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from botfleet.config.ml import ModelSpec
from botfleet.data.candles import CANDLE_DTYPE, timeframe_ms

_PIT_CACHE: OrderedDict[tuple, Any] = OrderedDict()  # key -> ml.pit.PitSeries
PIT_CACHE_SIZE = 32


def retrain_bars(spec: ModelSpec) -> int:
    """The model's retrain schedule as a number of its bars: the walk-forward cadence a
    backtest uses (weekly `0 3 * * SUN` on 1h candles: 168)."""
    tf_s = timeframe_ms(spec.timeframe) // 1000
    sched = spec.retrain
    if sched is None:
        period = 7 * 86400
    elif sched.interval is not None:
        period = int(sched.interval)
    else:
        from croniter import croniter

        it = croniter(sched.cron, datetime(2024, 1, 1, tzinfo=UTC))
        fires = [it.get_next(float) for _ in range(6)]
        period = int(np.median(np.diff(fires)))
    return max(1, period // tf_s)


def _digest(c: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(c).tobytes(), usedforsecurity=False).hexdigest()


def _find_pair(pool: dict[str, np.ndarray], c: np.ndarray) -> str | None:
    """Which pool pair `c` is: its first and last bars (time and close) are in that pair."""
    if len(c) == 0:
        return None
    for pair, arr in pool.items():
        ts = arr["ts"]
        i, j = np.searchsorted(ts, [c["ts"][0], c["ts"][-1]])
        if j < len(ts) and i < len(ts) and ts[i] == c["ts"][0] and ts[j] == c["ts"][-1] and \
                arr["close"][i] == c["close"][0] and arr["close"][j] == c["close"][-1]:
            return pair
    return None


@dataclass
class PitModels:
    """Point-in-time model series for backtests.

    `pool(spec) -> {pair: candles}` gives the candles of the model's pairs (the fleet's candle
    store), pooled for training as `botfleet model train` pools them; without it, or when the
    run's candles are not one of those pairs, each window trains on the run's candles alone.
    `retrain_every` (bars) overrides the YAML's cadence."""

    pool: Any = None
    retrain_every: int | None = None
    threads: int | None = 1
    served: dict[tuple[str, str], Any] = field(default_factory=dict)  # (model, pair) -> series
    _notes: list[str] = field(default_factory=list)
    _pools: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def notes(self) -> list[str]:
        out, self._notes = self._notes, []
        return out

    def _training_set(self, spec: ModelSpec, c: np.ndarray) -> tuple[dict, str]:
        if self.pool is not None:
            if spec.name not in self._pools:
                self._pools[spec.name] = {p: np.asarray(a, dtype=CANDLE_DTYPE)
                                          for p, a in self.pool(spec).items()}
            pool = self._pools[spec.name]
            pair = _find_pair(pool, c)
            if pair is not None:
                end = c["ts"][-1]
                out = {p: a[a["ts"] <= end] for p, a in pool.items() if p != pair}
                out[pair] = c
                return out, pair
            self._notes.append(f"{spec.name}: these candles are none of {', '.join(pool)}; "
                               "its walk-forward models train on them alone")
        return {spec.pairs[0]: c}, spec.pairs[0]

    def pit(self, use, candles: np.ndarray):
        """The walk-forward `ml.pit.PitSeries` for these candles (cached)."""
        from botfleet.ml.pit import proba_series

        spec: ModelSpec = use.spec
        c = np.asarray(candles, dtype=CANDLE_DTYPE)
        every = self.retrain_every or retrain_bars(spec)
        train_set, pair = self._training_set(spec, c)
        key = (spec.spec_hash, pair, every,
               tuple(sorted((p, _digest(a)) for p, a in train_set.items())))
        hit = _PIT_CACHE.get(key)
        if hit is None:
            hit = proba_series(train_set, spec, retrain_every=every, pair=pair,
                               threads=self.threads)
            _PIT_CACHE[key] = hit
            while len(_PIT_CACHE) > PIT_CACHE_SIZE:
                _PIT_CACHE.popitem(last=False)
        else:
            _PIT_CACHE.move_to_end(key)
        self.served[(spec.name, pair)] = hit
        return hit

    def series(self, use, candles: np.ndarray, newest: int | None = None) -> np.ndarray:
        hit = self.pit(use, candles)
        return hit.proba if use.klass is None else hit.classes[:, use.klass]


@dataclass
class PromotedModels:
    """The registry's promoted version of each model (live and paper bots). `pins` maps a
    model name to a fixed version instead (A/B: two paper bots, two versions).

    Which version serves is asked of the registry once per cycle (`begin_cycle`; the runtime's
    batch answers it for all bots of a close in one query per model, `runtime.model_reads`),
    and on every read outside a cycle. Values come from `ml.batch`: the version loaded once per
    process, each bar's prediction from the candle tail its features read, kept under a digest
    of that tail's newest and first candles (`ml.batch.Served.key`)."""

    state: Any  # a URL or an Engine of the state database
    pins: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, Any] = field(default_factory=dict)  # name -> ml.predict.LoadedModel
    _notes: list[str] = field(default_factory=list)
    _served: dict[str, Any] = field(default_factory=dict)  # name -> ml.batch.Served
    _cycle: dict[str, tuple] | None = None  # name -> (row, note), this cycle's answers
    _primed: tuple[int, dict] | None = None  # (close time, answers) from the runtime's batch

    def notes(self) -> list[str]:
        out, self._notes = self._notes, []
        return out

    @property
    def engine(self):
        from botfleet.ml.registry import ModelRegistry

        return ModelRegistry(self.state).engine

    def begin_cycle(self, now_ms: int | None = None) -> None:
        """A cycle starts: which version serves is asked once until the next one, or taken
        from the runtime's batch when it answered for this close (`prime`)."""
        primed, self._primed = self._primed, None
        self._cycle = dict(primed[1]) if primed is not None and primed[0] == now_ms else {}

    def prime(self, now_ms: int, answers: dict[str, tuple]) -> None:
        self._primed = (now_ms, answers)

    def resolve(self, name: str, promoted: Any = ...) -> tuple[Any, str | None]:
        """(registry row, None) of the version that serves `name`, or (None, why not).
        `promoted`: the promoted row when the caller has read it already."""
        from botfleet.ml.registry import ModelRegistry, RegistryError

        want = self.pins.get(name)
        if want is None:
            row = ModelRegistry(self.state).promoted(name) if promoted is ... else promoted
            if row is None:
                return None, (f"model {name}: no promoted version, so no entry from it "
                              f"(botfleet model train {name}; botfleet model promote)")
            return row, None
        have = self._served.get(name)
        if have is not None and have.model.version.version == want:
            return have.model.version, None
        try:
            return ModelRegistry(self.state).get(name, want), None
        except RegistryError as exc:
            return None, (f"model {name}: {exc} (pinned by the bot's model_versions); "
                          "no entry from it")

    def served(self, name: str):
        """The `ml.batch.Served` answering `name` now (loaded again if promotion moved)."""
        from botfleet.ml.batch import serve
        from botfleet.ml.registry import RegistryError
        from botfleet.ml.train import ModelError

        if self._cycle is not None and name in self._cycle:
            row, note = self._cycle[name]
        else:
            row, note = self.resolve(name)
            if self._cycle is not None:
                self._cycle[name] = (row, note)
        if row is None:
            self._served.pop(name, None)
            self.loaded.pop(name, None)
            self._notes.append(note)
            return None
        have = self._served.get(name)
        if have is not None and _same(have.model.version, row):
            return have
        try:
            got = serve(self.engine, row)
        except (RegistryError, ModelError) as exc:
            self._served.pop(name, None)
            self.loaded.pop(name, None)
            pin = " (pinned by the bot's model_versions)" if name in self.pins else ""
            self._notes.append(f"model {name}: {exc}{pin}; no entry from it")
            return None
        self._served[name], self.loaded[name] = got, got.model
        self._notes.append(f"model {name}: serving version {row.version}" +
                           (" (pinned)" if name in self.pins else " (promoted)"))
        return got

    def current(self, name: str):
        """The LoadedModel serving `name` now, or None."""
        got = self.served(name)
        return got.model if got is not None else None

    def series(self, use, candles: np.ndarray, newest: int | None = None) -> np.ndarray:
        """Predictions on the bars after the model's warm-up in this window (or on its `newest`
        bars, the bars between repeating the oldest of them); NaN before, and NaN everywhere
        without a version. Each bar's value is the one a live bot was served at that bar."""
        from botfleet.ml.batch import span

        c = np.asarray(candles, dtype=CANDLE_DTYPE)
        out = np.full(len(c), np.nan)
        got = self.served(use.name)
        if got is None or len(c) == 0:
            return out
        first, lo = span(len(c), use.warmup, newest)
        out[lo:] = got.values(c, lo, len(c), use.klass)
        out[first:lo] = out[lo]
        return out


def _same(a, b) -> bool:
    """The same registered version (its status and promotion time may have moved since)."""
    return (a.name, a.version, a.created_at, a.artefact) == \
        (b.name, b.version, b.created_at, b.artefact)
