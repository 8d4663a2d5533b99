"""The ClickHouse candle store against a real engine: chDB, in process.

chDB runs one engine per process with one data path, so every store a test opens is closed at
teardown (the `open_` fixture): the next test can then open its own tmp_path.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("chdb", reason="chdb is not installed: no in-process ClickHouse to test on")

from botfleet.data.candles import CANDLE_DTYPE, concat
from botfleet.data.store.base import Coverage, Gap, SeriesKey, find_gaps, open_store
from botfleet.data.store.clickhouse import ClickHouseCandleStore

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN
NOW = T0 + 10**12  # far after every candle here: all closed
BTC = SeriesKey("binance", "BTC/USDT", "1m")


def candles(n: int, start: int = T0, step: int = MIN, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=CANDLE_DTYPE)
    out["ts"] = start + np.arange(n, dtype=np.int64) * step
    for f in ("open", "high", "low", "close", "volume"):
        out[f] = rng.random(n) * 1000  # full-precision floats: the round trip must be exact
    return out


@pytest.fixture
def open_(tmp_path):
    """open_(name="db") -> a store on tmp_path/name; all are closed after the test."""
    opened = []

    def _open(name: str = "db") -> ClickHouseCandleStore:
        store = ClickHouseCandleStore(f"chdb://{tmp_path / name}")
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_):
    return open_()


def test_round_trip_is_exact(store):
    c = candles(3000)
    assert store.write(BTC, c, now=NOW) == 3000
    got = store.read(BTC)
    assert got.dtype == CANDLE_DTYPE
    assert np.array_equal(got, c)
    assert np.array_equal(store.read(BTC, c["ts"][100], c["ts"][200]), c[100:200])
    assert np.array_equal(store.read(BTC, start=c["ts"][-5]), c[-5:])
    assert np.array_equal(store.read(BTC, end=c["ts"][5]), c[:5])
    assert len(store.read(SeriesKey("binance", "ETH/USDT", "1m"))) == 0


def test_unsorted_batch_with_repeats_is_stored_sorted_once_last_wins(store):
    c = candles(100)
    changed = c[10:20].copy()
    changed["close"] += 1
    batch = np.concatenate([c[::-1], changed])  # reversed, then 10 repeats with new values
    assert store.write(BTC, batch, now=NOW) == 100
    assert np.array_equal(store.read(BTC), concat(c, changed))


def test_writes_are_idempotent_upserts_last_write_wins(store):
    c = candles(1000)
    store.write(BTC, c, now=NOW)
    store.write(BTC, c, now=NOW)
    assert np.array_equal(store.read(BTC), c)

    a, b = c[:600].copy(), c[400:].copy()
    b["close"] += 1.0
    store.write(BTC, a, now=NOW)
    store.write(BTC, b, now=NOW)  # overlaps 400..599 with changed values
    assert np.array_equal(store.read(BTC), concat(a, b))
    store.write(BTC, a, now=NOW)  # and back: the older values win again, being written last
    assert np.array_equal(store.read(BTC), concat(b, a))
    assert store.coverage(BTC) == [Coverage(BTC, int(c["ts"][0]), int(c["ts"][-1]), 1000)]


def test_unclosed_candle_is_dropped(store):
    c = candles(10)
    now = int(c["ts"][-1]) + 30_000  # half-way through the last candle
    assert store.write(BTC, c, now=now) == 9
    assert np.array_equal(store.read(BTC), c[:9])
    assert store.write(BTC, c, now=int(c["ts"][-1]) + MIN) == 10  # closed now
    future = candles(3, start=(T0 + 10**13) // MIN * MIN)
    assert store.write(BTC, future) == 0  # default `now` is the wall clock
    assert store.write(BTC, future[:0], now=NOW) == 0
    assert len(store.read(BTC)) == 10


def test_last(store):
    c = candles(2000)
    store.write(BTC, c, now=NOW)
    assert store.last(BTC, 0).dtype == CANDLE_DTYPE and len(store.last(BTC, 0)) == 0
    assert np.array_equal(store.last(BTC, 500), c[-500:])
    assert np.array_equal(store.last(BTC, 500), c[-500:])  # again: the hinted plan
    assert np.array_equal(store.last(BTC, 5000), c)  # more than stored: all of it
    assert len(store.last(SeriesKey("binance", "NOPE/USDT", "1m"), 5)) == 0

    more = candles(30, start=int(c["ts"][-1]) + MIN, seed=1)  # appended after the hint
    store.write(BTC, more, now=NOW)
    assert np.array_equal(store.last(BTC, 500), concat(c, more)[-500:])
    store.delete(BTC, start=int(more["ts"][0]))  # the tail shrinks below the hint
    assert np.array_equal(store.last(BTC, 500), c[-500:])
    big = candles(20_000, start=int(c["ts"][-1]) + MIN, seed=2)  # far past the hint's cap
    store.write(BTC, big, now=NOW)
    assert np.array_equal(store.last(BTC, 500), big[-500:])


def test_last_with_many_unmerged_versions(store):
    c = candles(1000)
    store.write(BTC, c, now=NOW)
    for i in range(1, 6):  # five more versions of the newest 300: the tail scan must deepen
        tail = c[-300:].copy()
        tail["close"] = i
        store.write(BTC, tail, now=NOW)
    expected = c[-500:].copy()
    expected["close"][-300:] = 5
    for _ in range(2):  # first call (tail scan), then the hinted plan
        assert np.array_equal(store.last(BTC, 500), expected)
    assert np.array_equal(store.read(BTC, start=int(c["ts"][-500])), expected)


def test_coverage(store):
    assert store.coverage() == []
    eth = SeriesKey("binance", "ETH/USDT", "1h")
    c, e = candles(100), candles(10, step=3_600_000)
    store.write(BTC, c, now=NOW)
    store.write(eth, e, now=NOW)
    assert store.coverage() == [Coverage(BTC, int(c["ts"][0]), int(c["ts"][-1]), 100),
                                Coverage(eth, int(e["ts"][0]), int(e["ts"][-1]), 10)]
    assert store.coverage(eth) == [Coverage(eth, int(e["ts"][0]), int(e["ts"][-1]), 10)]
    assert store.coverage(SeriesKey("kraken", "ETH/USDT", "1h")) == []


def test_gaps(store):
    c = candles(100)
    kept = np.delete(c, [10, 50, 51, 52])
    store.write(BTC, kept, now=NOW)
    step = MIN
    assert store.gaps(BTC) == [Gap(T0 + 10 * step, T0 + 10 * step, 1),
                               Gap(T0 + 50 * step, T0 + 52 * step, 3)]
    assert store.gaps(BTC) == find_gaps(kept["ts"], "1m")
    store.write(BTC, c, now=NOW)  # filled, and a second version of every candle
    assert store.gaps(BTC) == []
    assert store.gaps(SeriesKey("binance", "NOPE/USDT", "1m")) == []


def test_delete_range(store):
    c = candles(100)
    store.write(BTC, c, now=NOW)
    store.write(BTC, c[20:40], now=NOW)  # two versions in part of the range: counted once
    assert store.delete(BTC, int(c["ts"][10]), int(c["ts"][50])) == 40
    assert np.array_equal(store.read(BTC), np.concatenate([c[:10], c[50:]]))
    assert store.delete(BTC, int(c["ts"][10]), int(c["ts"][50])) == 0
    assert store.delete(BTC, start=int(c["ts"][90])) == 10
    assert store.delete(BTC, end=int(c["ts"][5])) == 5
    assert np.array_equal(store.read(BTC), np.concatenate([c[5:10], c[50:90]]))
    store.write(BTC, c[10:12], now=NOW)  # deleted candles can be written again
    assert len(store.read(BTC)) == 47
    assert store.delete(BTC) == 47
    assert store.coverage() == []


def test_series_do_not_mix(store):
    keys = [BTC, SeriesKey("binance", "ETH/USDT", "1m"), SeriesKey("binance", "BTC/USDT", "5m"),
            SeriesKey("kraken", "BTC/USDT", "1m")]
    data = {k: candles(200, step=5 * MIN, seed=i) for i, k in enumerate(keys)}  # same ts
    for k, c in data.items():
        store.write(k, c, now=NOW)
    store.delete(keys[1], int(data[keys[1]]["ts"][0]), int(data[keys[1]]["ts"][100]))
    assert np.array_equal(store.read(keys[1]), data[keys[1]][100:])
    for k in (keys[0], keys[2], keys[3]):
        assert np.array_equal(store.read(k), data[k])
        assert np.array_equal(store.last(k, 7), data[k][-7:])
    assert [cov.key for cov in store.coverage()] == sorted(keys)


def test_month_candles(store):
    key = SeriesKey("binance", "BTC/USDT", "1M")
    months = np.array([1704067200000, 1706745600000, 1709251200000, 1714521600000])  # no April
    c = candles(4)
    c["ts"] = months
    store.write(key, c, now=NOW)
    assert np.array_equal(store.read(key), c)
    assert store.gaps(key) == [Gap(1711929600000, 1711929600000, 1)]


def test_reopen_sees_the_data(open_, tmp_path):
    first = open_()
    c = candles(500)
    first.write(BTC, c, now=NOW)
    first.close()
    again = open_()
    assert np.array_equal(again.read(BTC), c)
    changed = c[-10:].copy()
    changed["close"] = -1.0
    again.write(BTC, changed, now=NOW)  # written after reopening: still the newest version
    assert np.array_equal(again.last(BTC, 10), changed)
    again.close()
    via_url = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        assert isinstance(via_url, ClickHouseCandleStore)
        assert np.array_equal(via_url.last(BTC, 10), changed)
    finally:
        via_url.close()


def test_one_chdb_engine_per_process(open_):
    a, b = open_(), open_()  # two stores on one path share the engine and its data
    a.write(BTC, candles(10), now=NOW)
    assert len(b.read(BTC)) == 10
    with pytest.raises(RuntimeError, match="one engine per process"):
        open_("other")
    a.close()
    b.close()
    other = open_("other")  # free again once every store on the first path is closed
    assert other.coverage() == []


def test_memory_store():
    with ClickHouseCandleStore("chdb://memory") as mem:
        mem.write(BTC, candles(10), now=NOW)
        assert len(mem.read(BTC)) == 10
    with ClickHouseCandleStore("chdb://memory") as mem:
        assert mem.coverage() == []  # memory lives only while a store on it is open


def test_bad_urls_and_no_secret_in_errors():
    with pytest.raises(ValueError, match="absolute"):
        ClickHouseCandleStore("chdb://relative/path")
    with pytest.raises(ValueError) as err:
        ClickHouseCandleStore("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(err.value)


def test_chdb_url_with_doubled_slash_is_the_same_path(open_, tmp_path):
    a = open_()
    a.write(BTC, candles(3), now=NOW)
    b = ClickHouseCandleStore(f"chdb:///{tmp_path / 'db'}")  # chdb:////tmp/… : same engine
    try:
        assert len(b.read(BTC)) == 3
    finally:
        b.close()


class FakeServerClient:
    """Stands in for clickhouse-connect's HTTP client: no ClickHouse server runs here."""

    def __init__(self, **kwargs):
        self.kwargs, self.commands, self.inserts = kwargs, [], []

    def command(self, sql, parameters=None, settings=None):
        self.commands.append(sql)
        return 42 if sql.startswith("SELECT sipHash64") else None

    def insert(self, table, **kwargs):
        self.inserts.append((table, kwargs))

    def close(self):
        pass


def test_server_url_maps_to_http_client(monkeypatch):
    import clickhouse_connect

    made = []
    monkeypatch.setattr(clickhouse_connect, "get_client",
                        lambda **kw: made.append(FakeServerClient(**kw)) or made[-1])
    store = ClickHouseCandleStore("clickhouse://bot:s3cret@ch.example:8123/market")
    client = made[0]
    assert client.kwargs == {"dsn": "clickhouse://bot:s3cret@ch.example:8123"}
    assert client.commands[0] == "CREATE DATABASE IF NOT EXISTS `market`"
    assert "`market`.`candles`" in client.commands[1]
    assert "s3cret" not in repr(store)
    assert store.write(BTC, candles(5), now=NOW) == 5
    table, kwargs = client.inserts[0]
    assert table == "`market`.`candles`"
    assert kwargs["settings"] == {"async_insert": 1, "wait_for_async_insert": 1}
    assert kwargs["column_oriented"] and list(kwargs["data"][-1]) == [42] * 5  # series id
    ClickHouseCandleStore("clickhouses://bot:s3cret@ch.example:8443")
    assert made[1].kwargs == {"dsn": "clickhouses://bot:s3cret@ch.example:8443", "secure": True}
    assert made[1].commands[0] == "CREATE DATABASE IF NOT EXISTS `botfleet`"
