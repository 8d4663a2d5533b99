"""Samples for training and evaluation: features and labels of every pair, pooled by time.

A sample is one bar of one pair with a resolved label. The SHA-256 of the candles that made the
samples is recorded with every model version, so a version can be tied to exactly the data it
saw (the same candles always give the same hash, whatever store they came from).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from botfleet.config.ml import ModelSpec
from botfleet.data.candles import CANDLE_DTYPE
from botfleet.ml.features import feature_block
from botfleet.ml.labels import make_labels


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # float64 [samples, features]
    columns: list[str]
    y: np.ndarray
    start: np.ndarray  # int64 bar open time (ms UTC) of each sample
    end: np.ndarray  # int64 open time of the last bar its label reads
    pair: np.ndarray  # object: the market of each sample
    fwd_return: np.ndarray  # log return over the label horizon
    next_return: np.ndarray  # log return of the next bar
    prev_return: np.ndarray  # log return over the previous `horizon` bars (a naive baseline)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray) -> Dataset:
        return Dataset(self.X[idx], self.columns, self.y[idx], self.start[idx], self.end[idx],
                       self.pair[idx], self.fwd_return[idx], self.next_return[idx],
                       self.prev_return[idx])

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.X, columns=self.columns)
        out.insert(0, "ts", self.start)
        out.insert(0, "pair", self.pair)
        return out


def data_hash(candles_by_pair: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for pair in sorted(candles_by_pair):
        c = np.ascontiguousarray(np.asarray(candles_by_pair[pair], dtype=CANDLE_DTYPE))
        h.update(pair.encode() + b"\0")
        h.update(c.tobytes())
    return h.hexdigest()


def make_dataset(candles_by_pair: dict[str, np.ndarray], spec: ModelSpec) -> Dataset:
    """Every pair's samples with a resolved label, sorted by (time, pair)."""
    parts = []
    columns: list[str] = []
    for pair in sorted(candles_by_pair):
        c = np.asarray(candles_by_pair[pair], dtype=CANDLE_DTYPE)
        block = feature_block(c, spec)
        columns = block.names
        lab = make_labels(c, spec.label)
        h = spec.label.horizon
        prev = np.full(len(c), np.nan)
        if len(c) > h:
            lc = np.log(c["close"])
            prev[h:] = lc[h:] - lc[:-h]
        ok = ~np.isnan(lab.y)
        parts.append((block.values[ok], lab.y[ok], c["ts"][ok], lab.end_ts[ok],
                      np.full(int(ok.sum()), pair, dtype=object), lab.fwd_return[ok],
                      lab.next_return[ok], prev[ok]))
    if not parts:
        raise ValueError("no candles given")
    X, y, start, end, pair, fwd, nxt, prev = (np.concatenate([p[i] for p in parts])
                                               for i in range(8))
    order = np.lexsort((pair.astype(str), start))
    return Dataset(X[order], columns, y[order], start[order].astype(np.int64),
                   end[order].astype(np.int64), pair[order], fwd[order], nxt[order],
                   prev[order])
