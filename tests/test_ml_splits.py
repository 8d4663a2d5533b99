"""Purged and embargoed splits: no training label ever reads a test-period bar."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import HOUR_MS, pair_candles, spec

from botfleet.ml.dataset import make_dataset
from botfleet.ml.splits import Split, SplitError, holdout, kfold, leaks, walk_forward
from botfleet.ml.train import train_version


def _samples(seed: int, pairs: int = 3, bars: int = 600, max_h: int = 30):
    """Pooled samples of several pairs with label windows of random length (like triple
    barriers that end early), sorted by start."""
    rng = np.random.default_rng(seed)
    start = np.repeat(np.arange(bars, dtype=np.int64) * HOUR_MS, pairs)
    end = start + rng.integers(1, max_h, len(start)) * HOUR_MS
    return start, end


def _overlaps(split: Split, start, end) -> int:
    """Brute force: pairs (train, test) whose [start, end] intervals intersect."""
    s, e = start[split.train][:, None], end[split.train][:, None]
    ts, te = start[split.test][None, :], end[split.test][None, :]
    return int(np.count_nonzero(((s <= te) & (ts <= e)).any(axis=1)))


@pytest.mark.parametrize("seed", range(5))
def test_kfold_walk_forward_and_holdout_never_leak(seed):
    start, end = _samples(seed)
    splits = [*kfold(start, end, 5, embargo_ms=12 * HOUR_MS),
              *walk_forward(start, end, 4), *walk_forward(start, end, 3, train_ms=200 * HOUR_MS),
              holdout(start, end, 100 * HOUR_MS)]
    for split in splits:
        assert len(split.train) and len(split.test)
        assert not np.intersect1d(split.train, split.test).size
        assert _overlaps(split, start, end) == 0 == leaks(split, start, end)


def test_leaks_finds_what_a_plain_time_cut_lets_through():
    start, end = _samples(1)
    cut = int(np.searchsorted(start, 400 * HOUR_MS))
    naive = Split(np.arange(cut), np.arange(cut, len(start)))
    assert leaks(naive, start, end) == _overlaps(naive, start, end) > 0


def test_kfold_embargo_drops_the_bars_after_each_test_block():
    start, end = _samples(2, max_h=2)
    emb = 24 * HOUR_MS
    for split in kfold(start, end, 4, embargo_ms=emb):
        t_last = end[split.test].max()
        after = start[split.train][start[split.train] > start[split.test].max()]
        assert after.size == 0 or after.min() > t_last + emb
        before = end[split.train][start[split.train] < start[split.test].min()]
        assert before.size == 0 or before.max() < start[split.test].min()


def test_walk_forward_trains_only_on_the_past_and_purge_widens_the_gap():
    start, end = _samples(3)
    for split in walk_forward(start, end, 4, purge_ms=10 * HOUR_MS):
        assert end[split.train].max() + 10 * HOUR_MS < start[split.test].min()


def test_bad_requests_are_refused_with_reasons():
    start, end = _samples(4, bars=10)
    with pytest.raises(SplitError, match="cannot make 20 test blocks"):
        kfold(start, end, 20)
    with pytest.raises(SplitError, match="covers all the data"):
        holdout(start, end, 10**12)
    with pytest.raises(SplitError, match="sorted"):
        kfold(start[::-1].copy(), end[::-1].copy(), 2)


def test_a_trained_version_never_saw_its_holdout():
    """The registered numbers are out of sample: every training label resolved before the
    first holdout bar, on real pooled BTC and ETH data."""
    s = spec()
    candles = pair_candles(3000)
    result = train_version(s, candles)
    ds = make_dataset(candles, s)
    trained = ds.take(np.nonzero((ds.start >= result.train_range[0]) &
                                 (ds.start <= result.train_range[1]))[0])
    assert trained.end.max() < result.holdout_range[0]
    assert result.n_holdout == int(np.count_nonzero(ds.start >= result.holdout_range[0]))
    assert result.holdout_range[1] - result.holdout_range[0] < 20 * 86_400_000
