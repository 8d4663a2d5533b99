"""Every candle store keeps the same promises, checked against the real backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botfleet.data.candles import CANDLE_DTYPE
from botfleet.data.store import CandleStore, SeriesKey
from botfleet.data.store.base import Gap

from stores import STORE_KINDS, make_store

H = 3_600_000
KEY = SeriesKey("binance", "BTC/USDT", "1h")
NOW = 10**13  # far future: every candle below is closed


def candles(start: int, n: int, seed: int = 0, step: int = H) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=CANDLE_DTYPE)
    out["ts"] = start * step + np.arange(n, dtype=np.int64) * step
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    out["open"] = close + rng.normal(0, 0.1, n)
    out["close"] = close
    out["high"] = np.maximum(out["open"], close) + 0.5
    out["low"] = np.minimum(out["open"], close) - 0.5
    out["volume"] = rng.uniform(1, 10, n)
    return out


@pytest.fixture(params=STORE_KINDS)
def store(request, tmp_path):
    s, cleanup = make_store(request.param, tmp_path)
    yield s
    cleanup()


def test_round_trip_is_exact(store):
    assert isinstance(store, CandleStore)
    batch = candles(0, 1000)
    assert store.write(KEY, batch, now=NOW) == 1000
    got = store.read(KEY)
    assert got.dtype == CANDLE_DTYPE and np.array_equal(got, batch)
    assert np.array_equal(store.read(KEY, batch["ts"][10], batch["ts"][20]), batch[10:20])
    assert np.array_equal(store.last(KEY, 5), batch[-5:])
    assert len(store.read(SeriesKey("binance", "ETH/USDT", "1h"))) == 0


def test_the_unfinished_candle_is_never_stored(store):
    batch = candles(0, 10)
    now = int(batch["ts"][-1]) + H // 2  # inside the last candle
    assert store.write(KEY, batch, now=now) == 9
    assert store.read(KEY)["ts"][-1] == batch["ts"][-2]


def test_overlapping_writes_keep_one_copy_and_the_last_values(store):
    first = candles(0, 100)
    second = candles(50, 100, seed=1)  # overlaps 50..99 with other prices
    store.write(KEY, first, now=NOW)
    store.write(KEY, second, now=NOW)
    got = store.read(KEY)
    assert len(got) == 150 and len(np.unique(got["ts"])) == 150
    assert np.array_equal(got[:50], first[:50]) and np.array_equal(got[50:], second)


def test_coverage_gaps_and_delete(store):
    batch = np.concatenate([candles(0, 10), candles(13, 5)])  # 3 missing hours
    store.write(KEY, batch, now=NOW)
    other = SeriesKey("binance", "ETH/USDT", "4h")
    store.write(other, candles(0, 3, step=4 * H), now=NOW)
    cov = {c.key: c for c in store.coverage()}
    assert cov[KEY].count == 15 and cov[KEY].first == 0 and cov[KEY].last == 17 * H
    assert cov[other].count == 3
    assert [c.key for c in store.coverage(other)] == [other]
    assert store.gaps(KEY) == [Gap(10 * H, 12 * H, 3)]
    assert store.delete(KEY, 2 * H, 5 * H) == 3
    assert len(store.read(KEY)) == 12 and store.coverage(other)[0].count == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 40), st.integers(0, 3)),
                min_size=1, max_size=6))
def test_property_any_sequence_of_batches_leaves_one_copy_each(store, batches):
    """Writing the same or overlapping batches in any order leaves one row per candle, holding
    the values of the last batch that contained it."""
    store.delete(KEY)
    expected: dict[int, tuple] = {}
    for start, n, seed in batches:
        batch = candles(start, n, seed=seed)
        store.write(KEY, batch, now=NOW)
        expected.update({int(r["ts"]): tuple(r) for r in batch})
    got = store.read(KEY)
    assert [tuple(r) for r in got] == [expected[t] for t in sorted(expected)]
