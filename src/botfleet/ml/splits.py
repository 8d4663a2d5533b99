"""Train/test splits that keep training away from the test period: purged and embargoed.

Each sample spans an interval of time: from its bar (`start`, whose close the features read)
to the last bar its label reads (`end`). A training sample whose interval touches a test
sample's interval has seen test-period prices, through its label or its features, so it is
purged; with `purge_ms` the margin is widened. After a test block, `embargo_ms` more training
samples are dropped, because serially correlated features right after the test period still
carry its information (López de Prado, *Advances in Financial Machine Learning*, ch. 7).

All splits are by time over the pooled samples of every pair (sorted by `start`), and the test
blocks are contiguous in time. `leaks()` counts violations; training calls it as a guard and the
tests call it on every split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SplitError(ValueError):
    """The data cannot be split as asked (too few samples, a window longer than the data)."""


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # indices into the samples
    test: np.ndarray

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.train), len(self.test)


def _keep(train: np.ndarray, start: np.ndarray, end: np.ndarray, test: np.ndarray,
          embargo_ms: int, purge_ms: int) -> np.ndarray:
    """`train` without the samples overlapping the test block's span (widened by the purge
    margin before it and the embargo after it)."""
    if len(test) == 0:
        return train
    t_first = int(start[test].min())
    t_last = int(end[test].max())
    s, e = start[train], end[train]
    clash = (e + purge_ms >= t_first) & (s <= t_last + embargo_ms)
    return train[~clash]


def leaks(split: Split, start: np.ndarray, end: np.ndarray) -> int:
    """Training samples whose [start, end] interval overlaps any test sample's interval."""
    if len(split.test) == 0 or len(split.train) == 0:
        return 0
    ts, te = start[split.test], end[split.test]
    order = np.argsort(ts, kind="stable")
    ts, te = ts[order], te[order]
    te_max = np.maximum.accumulate(te)
    s, e = start[split.train], end[split.train]
    # the test intervals starting at or before a training sample's end, the furthest-reaching
    k = np.searchsorted(ts, e, side="right") - 1
    ok = k >= 0
    reach = np.full(len(s), np.iinfo(np.int64).min)
    reach[ok] = te_max[k[ok]]
    return int(np.count_nonzero(ok & (reach >= s)))


def _check(start: np.ndarray, end: np.ndarray) -> None:
    if len(start) != len(end):
        raise SplitError("start and end must have one value per sample")
    if len(start) and np.any(np.diff(start) < 0):
        raise SplitError("samples must be sorted by start time")
    if np.any(end < start):
        raise SplitError("a label cannot end before its bar")


def _blocks(start: np.ndarray, n_blocks: int, first: int = 0) -> list[np.ndarray]:
    """`n_blocks` contiguous blocks of samples from index `first`, cut at time boundaries so
    no timestamp is split between two blocks (pairs share bars)."""
    times = np.unique(start[first:])
    if len(times) < n_blocks:
        raise SplitError(f"{len(times)} distinct bars cannot make {n_blocks} test blocks")
    edges = [times[round(i * len(times) / n_blocks)] for i in range(n_blocks)]
    cuts = [int(np.searchsorted(start, t, side="left")) for t in edges] + [len(start)]
    return [np.arange(cuts[i], cuts[i + 1]) for i in range(n_blocks)]


def kfold(start: np.ndarray, end: np.ndarray, n_splits: int, *, embargo_ms: int = 0,
          purge_ms: int = 0) -> list[Split]:
    """Purged k-fold: each time block is the test set once; training is every other sample
    not overlapping it (so samples after the test block are used, less the embargo)."""
    _check(start, end)
    if n_splits < 2:
        raise SplitError("k-fold needs at least 2 splits")
    every = np.arange(len(start))
    out = []
    for test in _blocks(start, n_splits):
        train = np.setdiff1d(every, test, assume_unique=True)
        out.append(Split(_keep(train, start, end, test, embargo_ms, purge_ms), test))
    return out


def walk_forward(start: np.ndarray, end: np.ndarray, n_splits: int, *, test_from: int | None = None,
                 train_ms: int | None = None, purge_ms: int = 0) -> list[Split]:
    """Walk-forward: the samples from `test_from` (default: the second half) are cut into
    `n_splits` consecutive test blocks; each trains only on samples before its block whose
    labels resolved before it starts (and within `train_ms` of it, if given)."""
    _check(start, end)
    if n_splits < 1:
        raise SplitError("walk-forward needs at least 1 split")
    first = len(start) // 2 if test_from is None else test_from
    if not 0 < first < len(start):
        raise SplitError("no samples before the first test block to train on")
    out = []
    for test in _blocks(start, n_splits, first):
        t0 = int(start[test[0]])
        train = np.arange(int(np.searchsorted(start, t0, side="left")))
        if train_ms is not None:
            train = train[start[train] >= t0 - train_ms]
        out.append(Split(_keep(train, start, end, test, 0, purge_ms), test))
    return out


def holdout(start: np.ndarray, end: np.ndarray, holdout_ms: int, *, purge_ms: int = 0,
            train_ms: int | None = None) -> Split:
    """One split: the samples of the last `holdout_ms` are the test set; training is what came
    before, purged (the version a `model train` registers, and the numbers promotion compares)."""
    _check(start, end)
    if len(start) == 0:
        raise SplitError("no samples")
    cut = int(start[-1]) - holdout_ms
    first = int(np.searchsorted(start, cut, side="right"))
    if first == 0:
        raise SplitError("the holdout covers all the data: nothing is left to train on")
    test = np.arange(first, len(start))
    train = np.arange(first)
    if train_ms is not None:
        train = train[start[train] >= int(start[first]) - train_ms]
    split = Split(_keep(train, start, end, test, 0, purge_ms), test)
    if len(split.train) == 0:
        raise SplitError("no training sample is left once the holdout's labels are purged")
    return split
