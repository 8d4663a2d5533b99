"""Downloading through the real ccxt client from the local Binance-compatible server."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from botfleet.data.budget import WeightBudget
from botfleet.data.ingest import Downloader, DownloadError, plan
from botfleet.data.store import SeriesKey, open_store
from botfleet.venue import BinanceServer, Clock, MarketData, binance_client

from shared_data import SHARED, load, shared_file

H = 3_600_000
START = 1_640_995_200_000  # 2022-01-01
END = START + 3000 * H  # 3000 hours later (several pages of 1000)


class FakeTime:
    """One clock for the server's weight window and our budget, so waiting costs no time."""

    def __init__(self):
        self.t = 1_700_000_000.0

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


@pytest.fixture
def server():
    shared_file("binance_BTC-USDT_1h.csv")
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT", "ETH/USDT"],
                                       timeframes=["1h"], clock=Clock(END))
    with BinanceServer(market) as srv:
        yield srv


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    yield s
    s.close()


def downloader(server, store, **kw):
    kw.setdefault("clock", lambda: END)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("budget", WeightBudget(6000))
    return Downloader(binance_client(server.base_url), store, **kw)


def expected(until: int = END) -> np.ndarray:
    c = load("binance_BTC-USDT_1h.csv")
    return c[(c["ts"] >= START) & (c["ts"] < until)]


def test_download_pages_and_stores_exactly_the_exchanges_candles(server, store):
    result = downloader(server, store).download("BTC/USDT", "1h", START)
    got = store.read(SeriesKey("binance", "BTC/USDT", "1h"))
    want = expected()
    assert np.array_equal(got, want)
    # 3 full pages; no 4th request for the candle that is still forming
    assert result.written == len(want) and result.requests == 3
    assert server.requests["/api/v3/klines"] == 3


def test_the_forming_candle_is_not_stored(server, store):
    now = END - 1000 * H + H // 2  # half-way through a candle
    server.market.clock.set(now)
    downloader(server, store, clock=lambda: now).download("BTC/USDT", "1h", START)
    got = store.read(SeriesKey("binance", "BTC/USDT", "1h"))
    assert got["ts"][-1] + H <= now and np.array_equal(got, expected(now - H // 2 - H + H))


def test_killed_midway_then_resumed_equals_an_uninterrupted_download(server, store, tmp_path):
    server.faults.drop_next(1, endpoint="klines", after=2)  # the 3rd page: connection dropped
    with pytest.raises(DownloadError) as err:
        downloader(server, store, retries=0).download("BTC/USDT", "1h", START)
    key = SeriesKey("binance", "BTC/USDT", "1h")
    partial = store.read(key)
    assert 0 < len(partial) < len(expected()) and err.value.resume_from == \
        int(partial["ts"][-1]) + H
    assert [f.reason for f in plan(store, key, START)][-1] == "resume"
    result = downloader(server, store).download("BTC/USDT", "1h", START)
    assert result.requests == 1  # only the page not stored yet
    uninterrupted = open_store(f"sqlite:///{tmp_path / 'u.db'}")
    downloader(server, uninterrupted).download("BTC/USDT", "1h", START)
    assert np.array_equal(store.read(key), uninterrupted.read(key))
    uninterrupted.close()


def test_network_errors_are_retried_with_backoff(server, store):
    pauses = []
    server.faults.fail_next(2, status=503, endpoint="klines")
    result = downloader(server, store, sleep=pauses.append).download("BTC/USDT", "1h", START)
    assert result.retries == 2 and len(pauses) == 2 and all(0 <= p <= 30 for p in pauses)
    assert np.array_equal(store.read(SeriesKey("binance", "BTC/USDT", "1h")), expected())


def test_a_bad_symbol_fails_fast_without_retries(server, store):
    with pytest.raises(DownloadError, match="BadSymbol|not found|does not have market"):
        downloader(server, store).download("NOPE/USDT", "1h", START)


def test_gaps_are_back_filled_and_outages_reported(server, store):
    key = SeriesKey("binance", "BTC/USDT", "1h")
    downloader(server, store).download("BTC/USDT", "1h", START)
    full = store.read(key)
    store.delete(key, full["ts"][100], full["ts"][150])  # lose 50 candles
    result = downloader(server, store).download("BTC/USDT", "1h", START)
    assert np.array_equal(store.read(key), full)
    outages = [g for g in result.unfilled_gaps]  # real Binance outages inside the range
    data_gaps = [(int(a) + H, int(b) - H) for a, b in zip(full["ts"][:-1], full["ts"][1:])
                 if b - a > H]
    assert [(g.start, g.end) for g in outages] == data_gaps


def test_the_budget_keeps_us_under_the_exchanges_weight_limit(store):
    shared_file("binance_BTC-USDT_1h.csv")
    fake = FakeTime()
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT"], timeframes=["1h"],
                                       clock=Clock(END))
    with BinanceServer(market, weight_limit=25, weight_clock=fake) as srv:
        budget = WeightBudget(25, 0.8, clock=fake, sleep=fake.sleep)  # 20 weight = 10 pages/min
        dl = Downloader(binance_client(srv.base_url), store, limit=100, budget=budget,
                        clock=lambda: END, sleep=fake.sleep)
        result = dl.download("BTC/USDT", "1h", START)
    assert result.retries == 0  # never refused with 429
    assert result.requests == 30 and budget.waited > 0  # 3000 candles / 100 per page
    assert np.array_equal(store.read(SeriesKey("binance", "BTC/USDT", "1h")), expected())


def test_cli_download_dry_run_and_real(server, tmp_path):
    from botfleet.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["data", "download", "--exchange", "binance", "--pairs", "BTC/USDT,ETH/USDT",
            "--timeframes", "1h", "--since", "2022-01-01", "--store", url,
            "--api-url", server.base_url]
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0
    assert "would fetch binance BTC/USDT 1h: 2022-01-01 00:00 .. now (initial)" in dry.output
    assert server.requests["/api/v3/klines"] == 0
    server.market.clock.set(START + 48 * H)  # keep it short: two days of candles
    real = CliRunner().invoke(app, args)
    assert real.exit_code == 0, real.output
    assert "binance BTC/USDT 1h: 48 candle(s) written" in real.output
    cov = CliRunner().invoke(app, ["data", "coverage", "--store", url])
    assert "binance ETH/USDT 1h: 2022-01-01 00:00 .. 2022-01-02 23:00, 48 candle(s)" in cov.output


def test_tests_cannot_reach_the_internet():
    """The guard in conftest: a real exchange host is refused before any packet is sent."""
    import socket

    import ccxt

    with pytest.raises(socket.gaierror, match="loopback only"):
        socket.getaddrinfo("api.binance.com", 443)
    with pytest.raises(ccxt.NetworkError):
        ccxt.binance({"timeout": 2000}).fetch_time()
