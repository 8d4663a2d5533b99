"""The chDB store's in-process tail cache must answer `last` exactly as the engine would."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botfleet.data.store import open_store

from stores import make_store
from test_store_contract import KEY, NOW, candles

H = 3_600_000

op = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 80), st.integers(1, 30), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.integers(0, 90), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("last"), st.integers(1, 40), st.just(0), st.just(0)),
)


@pytest.fixture
def chdb_store(tmp_path):
    store, cleanup = make_store("chdb", tmp_path)
    yield store
    cleanup()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(op, min_size=1, max_size=12))
def test_cached_last_equals_the_engine_and_the_reference(chdb_store, ops):
    """Any mix of writes, deletes and reads: every `last` equals what the engine returns and
    what a plain dict of the writes says."""
    store = chdb_store
    store.delete(KEY)
    expected: dict[int, tuple] = {}
    for kind, a, b, seed in ops + [("last", 25, 0, 0)]:
        if kind == "write":
            batch = candles(a, b, seed=seed)
            store.write(KEY, batch, now=NOW)
            expected.update({int(r["ts"]): tuple(r) for r in batch})
        elif kind == "delete":
            store.delete(KEY, a * H, (a + b) * H)
            expected = {t: v for t, v in expected.items() if not a * H <= t < (a + b) * H}
        else:
            want = [expected[t] for t in sorted(expected)][-a:]
            assert [tuple(r) for r in store.last(KEY, a)] == want
            assert [tuple(r) for r in store._query_last(KEY, a)] == want


def test_stores_on_one_path_share_the_cache(chdb_store):
    """A second store object on the same chDB path sees the first one's writes at once."""
    other = open_store(chdb_store.url)
    try:
        chdb_store.write(KEY, candles(0, 50), now=NOW)
        assert len(other.last(KEY, 10)) == 10
        chdb_store.write(KEY, candles(50, 5, seed=9), now=NOW)
        assert tuple(other.last(KEY, 1)[0]) == tuple(candles(50, 5, seed=9)[-1])
        other.delete(KEY, 54 * H)
        assert int(chdb_store.last(KEY, 1)["ts"][0]) == 53 * H
    finally:
        other.close()


def test_a_failed_insert_drops_the_cached_tail(chdb_store, monkeypatch):
    """An insert that fails may have landed in part: the next `last` asks the engine."""
    store = chdb_store
    store.write(KEY, candles(0, 20), now=NOW)
    store.last(KEY, 5)
    assert store._tail.last(KEY, 5) is not None

    def broken(*args, **kwargs):
        raise ConnectionError("engine went away")

    monkeypatch.setattr(store._client, "insert", broken)
    with pytest.raises(ConnectionError):
        store.write(KEY, candles(20, 5), now=NOW)
    assert store._tail.last(KEY, 5) is None
    monkeypatch.undo()
    assert len(store.last(KEY, 5)) == 5


def test_the_cache_goes_with_the_last_store_on_its_path(tmp_path):
    """`chdb://memory` data ends with its last store, and another process may own a path next:
    a cache must not outlive the stores that keep it exact."""
    from botfleet.data.store import tail_cache

    first = open_store("chdb://memory")
    first.write(KEY, candles(0, 10), now=NOW)
    assert len(first.last(KEY, 5)) == 5
    first.close()
    assert ("chdb", ":memory:") not in tail_cache._shared
    second = open_store("chdb://memory")
    try:
        assert len(second.last(KEY, 5)) == 0
    finally:
        second.close()


def test_rewriting_the_oldest_cached_candle_shows_the_new_values(chdb_store):
    store = chdb_store
    store.write(KEY, candles(0, 20), now=NOW)
    first = store.last(KEY, 5)[0]
    fix = candles(15, 1, seed=5)  # the oldest of the five, corrected by the exchange
    store.write(KEY, fix, now=NOW)
    got = store.last(KEY, 5)[0]
    assert int(got["ts"]) == int(first["ts"]) and tuple(got) == tuple(fix[0]) != tuple(first)


def test_a_chdb_path_belongs_to_one_process(chdb_store):
    """What makes the cache exact: no other process can open the path and write behind it."""
    import subprocess
    import sys

    path = chdb_store.url.removeprefix("chdb://")
    code = f"import chdb; chdb.connect({path!r})"
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0 and "EmbeddedServer" in out.stderr
