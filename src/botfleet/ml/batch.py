"""Live model reads: a registered version loaded once per process, its predictions per bar kept
by the candles they came from, and many bots' reads answered with one learner call.

The value a live bot is served for bar t is the prediction on `LoadedModel.latest_features` of
the candles up to t: each feature from the tail it needs (`ml.predict`), so the value depends
only on the last `tail` candles up to t, never on how long the bot's window is. It is kept
(`Served.memo`) under a digest of a few of those candles (`Served.key`), not all of them:
hashing every bar's whole tail (~200 rows) cost more than the features themselves.
The key reads the bar's own row and the GUARD rows before it (any revision an exchange makes
to its newest candles, and which market: two markets' newest rows do not coincide in
practice), the tail's first row (a bar inserted or removed inside the tail shifts it) and the
tail's length.
The trade-off: a candle rewritten in place deeper in the tail than GUARD bars, its neighbours
unchanged (a repair of stored history), is not seen; values computed before the repair are
served for the bars it touches until they leave the memo or the process restarts.

- bots on the same pair and window share one computation (and one row of the learner call);
- a strategy reading two bars (`crosses_above(proba(m), x)`) computes one new bar per close,
  the other is the one computed at the previous close, bit for bit what was served then;
- a regime model's bar is kept as its three class probabilities, so `regime(m)` (the most
  probable class) and `proba(m, 'TREND')` of the same bar come from one prediction;
- the runtime's batch (`prime`) fills the memo for every bot of a close with one learner call
  per version; each bot's own read (`Served.values`) then finds its bars there, and computes
  (one learner call, its own bars) only what the batch did not cover.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE

MEMO_SIZE = 100_000  # bars kept per served version (~15 MB)
GUARD = 8  # newest rows of a bar's tail read into its key (with the tail's first row)
LOADED_SIZE = 16  # versions kept loaded per process


def span(n: int, warmup: int, newest: int | None) -> tuple[int, int]:
    """(first, lo) for a window of n bars: the model answers from bar `first` (its warm-up;
    NaN before), and bars lo..n-1 are computed (`newest` of them, or all from `first`)."""
    first = min(warmup, n - 1)
    lo = first if newest is None else max(first, n - max(1, newest))
    return first, lo


@dataclass(eq=False)
class Served:
    """One loaded version and the predictions it has made, by the candles behind each."""

    model: object  # ml.predict.LoadedModel
    tail: int  # candles up to a bar that its features read
    memo: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rows: int = 0  # feature rows computed (memo misses)
    calls: int = 0  # calls to the learner

    def key(self, c: np.ndarray, t: int) -> bytes:
        first = max(0, t + 1 - self.tail)
        h = hashlib.sha1(c[first].tobytes(), usedforsecurity=False)
        h.update(c[max(first, t + 1 - GUARD): t + 1].tobytes())
        h.update((t + 1 - first).to_bytes(4, "little"))
        return h.digest()

    def lookup(self, keys: list[bytes]) -> list[float | None]:
        with self.lock:
            out = []
            for k in keys:
                v = self.memo.get(k)
                if v is not None:
                    self.memo.move_to_end(k)
                out.append(v)
            return out

    def compute(self, todo: dict[bytes, tuple[np.ndarray, int]]) -> None:
        """Predictions for these bars (key -> (candles, bar)) in one learner call."""
        if not todo:
            return
        x = self.model.latest_matrix([c[: t + 1] for c, t in todo.values()])
        if self.model.spec.label.multiclass:
            values = [tuple(p) for p in self.model.class_proba(x).tolist()]
        else:
            values = self.model.predict(x).tolist()
        with self.lock:
            self.rows += len(todo)
            self.calls += 1
            for k, v in zip(todo, values, strict=True):
                self.memo[k] = v
                self.memo.move_to_end(k)
            while len(self.memo) > MEMO_SIZE:
                self.memo.popitem(last=False)

    def values(self, candles: np.ndarray, lo: int, hi: int,
               klass: int | None = None) -> np.ndarray:
        """Predictions for bars lo..hi-1 of `candles`, from the memo where it has them; of a
        regime model the class code (the most probable class, as `LoadedModel.predict`), or
        with `klass` that class's probability."""
        c = np.asarray(candles, dtype=CANDLE_DTYPE)
        keys = [self.key(c, t) for t in range(lo, hi)]
        got = self.lookup(keys)
        todo = {k: (c, lo + i) for i, (k, v) in enumerate(zip(keys, got, strict=True))
                if v is None}
        if todo:
            self.compute(todo)
            got = self.lookup(keys)
        if not self.model.spec.label.multiclass:
            return np.array(got, dtype=float)
        probs = np.array(got, dtype=float).reshape(len(got), 3)
        return np.argmax(probs, axis=1).astype(float) if klass is None else probs[:, klass]


_LOADED: OrderedDict[tuple, Served] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def serve(engine, version) -> Served:
    """The process's `Served` for a registry row (`ml.registry.ModelVersion`), loading its
    learner on first use. Keyed by the database, name, number, creation time and artefact, so
    two registries (or a version re-created) never share predictions. Raises ModelError when
    its files are missing."""
    from botfleet.ml.predict import from_version

    key = (str(engine.url), version.name, version.version, version.created_at,
           version.artefact)
    with _LOADED_LOCK:
        hit = _LOADED.get(key)
        if hit is not None:
            _LOADED.move_to_end(key)
            return hit
    model = from_version(version)
    got = Served(model, model.tail_bars())
    with _LOADED_LOCK:
        got = _LOADED.setdefault(key, got)
        _LOADED.move_to_end(key)
        while len(_LOADED) > LOADED_SIZE:
            _LOADED.popitem(last=False)
    return got


def prime(jobs: Iterable[tuple[Served, np.ndarray, int, int]]) -> dict[Served, int]:
    """Fill the memo for many reads (served version, candles, lo, hi): the bars not kept
    already are computed with one learner call per version (the same bars of the same candles
    once). Returns the rows computed per version."""
    todo: dict[Served, dict[bytes, tuple[np.ndarray, int]]] = {}
    for served, candles, lo, hi in jobs:
        c = np.asarray(candles, dtype=CANDLE_DTYPE)
        keys = [served.key(c, t) for t in range(lo, hi)]
        mine = todo.setdefault(served, {})
        for i, (k, v) in enumerate(zip(keys, served.lookup(keys), strict=True)):
            if v is None and k not in mine:
                mine[k] = (c, lo + i)
    for served, bars in todo.items():
        served.compute(bars)
    return {s: len(b) for s, b in todo.items()}
