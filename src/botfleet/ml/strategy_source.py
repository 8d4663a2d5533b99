"""Who answers a strategy's `proba(m)` / `predict(m)` (see `botfleet.strategy.models`).

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

    def series(self, use, candles: np.ndarray) -> np.ndarray:
        return self.pit(use, candles).proba


@dataclass
class PromotedModels:
    """The registry's promoted version of each model (live and paper bots). `pins` maps a
    model name to a fixed version instead (A/B: two paper bots, two versions)."""

    state: Any  # a URL or an Engine of the state database
    pins: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, Any] = field(default_factory=dict)  # name -> ml.predict.LoadedModel
    _notes: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        out, self._notes = self._notes, []
        return out

    def current(self, name: str):
        """The LoadedModel serving `name` now (loaded again if promotion moved), or None."""
        from botfleet.ml.predict import load_version
        from botfleet.ml.registry import ModelRegistry, RegistryError
        from botfleet.ml.train import ModelError

        reg = ModelRegistry(self.state)
        want = self.pins.get(name)
        if want is None:
            promoted = reg.promoted(name)
            if promoted is None:
                self.loaded.pop(name, None)
                self._notes.append(f"model {name}: no promoted version, so no entry from it "
                                   f"(botfleet model train {name}; botfleet model promote)")
                return None
            want = promoted.version
        have = self.loaded.get(name)
        if have is not None and have.version.version == want:
            return have
        try:
            model = load_version(reg.engine, name, want)
        except (RegistryError, ModelError) as exc:
            self.loaded.pop(name, None)
            pin = " (pinned by the bot's model_versions)" if name in self.pins else ""
            self._notes.append(f"model {name}: {exc}{pin}; no entry from it")
            return None
        self.loaded[name] = model
        self._notes.append(f"model {name}: serving version {want}" +
                           (" (pinned)" if name in self.pins else " (promoted)"))
        return model

    def series(self, use, candles: np.ndarray) -> np.ndarray:
        """Predictions on the bars after the model's warm-up in this window (what a rule can
        read once the strategy has warmed up); NaN before, and NaN everywhere without a
        version."""
        from botfleet.ml.features import feature_block

        c = np.asarray(candles, dtype=CANDLE_DTYPE)
        out = np.full(len(c), np.nan)
        model = self.current(use.name)
        if model is None or len(c) == 0:
            return out
        first = min(use.warmup, len(c) - 1)
        x = feature_block(c, model.spec).values[first:]
        out[first:] = model.predict(x)
        return out
