"""The local Binance venue, exercised only through the real ccxt client and real recorded candles.

What matters is that ccxt cannot tell the venue from Binance where ingestion depends on it: market
loading, paging, the forming candle, errors, throttling and outages.
"""

from __future__ import annotations

import time

import ccxt
import numpy as np
import pandas as pd
import pytest

from botfleet.data.candles import CANDLE_DTYPE, closed_only, from_rows
from botfleet.venue import BinanceServer, Clock, MarketData, binance_client

from shared_data import SHARED

H = 3_600_000
PAIRS = {"BTC/USDT", "ETH/USDT", "BNB/USDT", "SOL/USDT", "XRP/USDT"}
AFTER_DATA = 1_758_326_400_000  # 2025-09-20 00:00 UTC, after the last 1h candle of every pair

pytestmark = pytest.mark.skipif(
    not (SHARED / "binance_BTC-USDT_1h.csv").is_file(),
    reason=f"shared market data not found at {SHARED} (set BOTFLEET_SHARED_DATA)")


def csv_rows(name: str) -> np.ndarray:
    """The reference: the file read independently with pandas, as [[ts, o, h, l, c, v], ...]."""
    frame = pd.read_csv(SHARED / name)
    return frame[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(np.float64)


@pytest.fixture(scope="module")
def market():
    return MarketData.from_directory(SHARED, clock=Clock(AFTER_DATA))


@pytest.fixture(scope="module")
def server(market):
    with BinanceServer(market) as srv:
        yield srv


@pytest.fixture
def ex(server, market):
    server.reset()
    market.clock.set(AFTER_DATA)
    client = binance_client(server.base_url)
    client.load_markets()
    return client


def page_all(ex, symbol, timeframe, since, until, out=None):
    """What an ingestion loop does: pages of 1000 from `since` until a short page. Rows land in
    `out` as they arrive, so a caller sees the progress made before a failure."""
    out = [] if out is None else out
    while True:
        rows = ex.fetch_ohlcv(symbol, timeframe, since=since, limit=1000,
                              params={"until": until})
        out += rows
        if len(rows) < 1000:
            return out
        since = rows[-1][0] + 1


# --- lifecycle and markets -------------------------------------------------------------------

def test_server_starts_fast_on_an_ephemeral_port_and_stops_cleanly(market):
    t0 = time.perf_counter()
    srv = BinanceServer(market).start()
    assert time.perf_counter() - t0 < 1.0
    assert srv.base_url.startswith("http://127.0.0.1:") and not srv.base_url.endswith(":0")
    client = binance_client(srv.base_url)
    assert client.fetch_time() == AFTER_DATA and client.publicGetPing() == {}
    srv.stop()
    with pytest.raises(ccxt.NetworkError):
        client.fetch_time()


def test_every_ccxt_url_points_at_the_server(server):
    server.reset()
    client = binance_client(server.base_url)
    assert all(url.startswith(server.base_url + "/") for url in client.urls["api"].values())
    with pytest.raises(ccxt.ExchangeNotAvailable, match="404"):  # not served, still local
        client.fapiPublicGetExchangeInfo()
    assert server.requests["/fapi/v1/exchangeInfo"] == 1


def test_load_markets_is_spot_only_with_binance_precision_and_limits(server):
    server.reset()
    client = binance_client(server.base_url)
    markets = client.load_markets()
    assert set(markets) == PAIRS
    assert dict(server.requests) == {"/api/v3/exchangeInfo": 1}  # no fapi/dapi/sapi calls
    assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "20"
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001 and btc["limits"]["cost"]["min"] == 5
    assert markets["XRP/USDT"]["precision"]["price"] == 0.0001
    assert client.price_to_precision("BTC/USDT", 115613.2149) == "115613.21"


def test_exchange_info_can_be_asked_for_one_symbol(ex):
    info = ex.publicGetExchangeInfo({"symbol": "ETHUSDT"})
    assert [s["symbol"] for s in info["symbols"]] == ["ETHUSDT"]
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetExchangeInfo({"symbol": "DOGEUSDT"})


def test_series_are_parsed_only_when_asked_for():
    md = MarketData.from_directory(SHARED, clock=Clock(AFTER_DATA))
    assert set(md.symbols()) == PAIRS and "5m" in md.timeframes("BTC/USDT")
    assert md.loaded() == []
    five = md.candles("BTC/USDT", "5m")  # the .csv.gz file
    assert md.loaded() == [("BTC/USDT", "5m")]
    assert five.dtype == CANDLE_DTYPE and len(five) == 104_816


# --- klines ----------------------------------------------------------------------------------

def test_fetch_ohlcv_returns_exactly_the_rows_of_the_file(ex, server):
    ref = csv_rows("binance_ETH-USDT_1h.csv")
    since = int(ref[20_000, 0])
    got = ex.fetch_ohlcv("ETH/USDT", "1h", since=since, limit=1000)
    assert np.array_equal(np.array(got, dtype=np.float64), ref[20_000:21_000])
    assert server.requests["/api/v3/klines"] == 1
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "22"  # 20 markets + 2 klines


def test_the_wire_format_is_binances_twelve_field_kline(ex):
    ref = csv_rows("binance_BTC-USDT_1h.csv")
    raw = ex.publicGetKlines({"symbol": "BTCUSDT", "interval": "1h",
                              "startTime": int(ref[0, 0]), "limit": 1})
    (row,) = raw
    assert len(row) == 12 and row[0] == ref[0, 0] and row[6] == ref[0, 0] + H - 1
    assert all(isinstance(v, str) for v in row[1:6]) and row[1] == "11080.64000000"


def test_paging_over_more_than_1000_candles_and_exchange_gaps(ex, server):
    ref = csv_rows("binance_BTC-USDT_1h.csv")
    start = 1_604_188_800_000  # 2020-11-01, the span holds Binance maintenance gaps
    until = start + 2_500 * H - 1
    got = np.array(page_all(ex, "BTC/USDT", "1h", start, until), dtype=np.float64)
    want = ref[(ref[:, 0] >= start) & (ref[:, 0] <= until)]
    assert len(want) < 2_500  # gaps stay gaps
    assert np.array_equal(got, want)
    assert server.requests["/api/v3/klines"] == 3


def test_without_since_the_most_recent_500_are_served(ex):
    ref = csv_rows("binance_SOL-USDT_1h.csv")
    got = np.array(ex.fetch_ohlcv("SOL/USDT", "1h"), dtype=np.float64)
    assert np.array_equal(got, ref[-500:])


def test_the_forming_candle_is_served_last_and_closed_only_drops_it(ex, market):
    ref = csv_rows("binance_BTC-USDT_4h.csv")
    forming = int(ref[5_000, 0])
    now = forming + 90 * 60_000  # 1.5 h into the 4 h candle
    market.clock.set(now)
    assert ex.fetch_time() == now
    got = ex.fetch_ohlcv("BTC/USDT", "4h", since=forming - 3 * 4 * H, limit=10)
    assert [r[0] for r in got] == [int(t) for t in ref[4_997:5_001, 0]]
    assert got[-1][0] == forming == market.forming("BTC/USDT", "4h")
    kept = closed_only(from_rows(got), "4h", now=now)
    assert len(kept) == 3 and kept["ts"][-1] == ref[4_999, 0]
    market.clock.set(forming + 4 * H)  # at its close the next candle is the forming one
    assert ex.fetch_ohlcv("BTC/USDT", "4h", limit=1)[0][0] == ref[5_001, 0]


def test_binance_selection_rules(market):
    ref = csv_rows("binance_BTC-USDT_1d.csv")
    end = int(ref[100, 0])
    only_end = market.klines("BTC/USDT", "1d", end=end, limit=10)
    assert np.array_equal(only_end["ts"], ref[91:101, 0].astype(np.int64))
    assert len(market.klines("BTC/USDT", "1d", start=end + 1, end=end + 2)) == 0
    assert len(market.klines("BTC/USDT", "3d")) == 0  # valid interval the data does not hold
    with pytest.raises(TypeError):
        MarketData.from_arrays({"BTC/USDT": {"1h": np.zeros(3)}})


def test_from_arrays_serves_given_candles(server):
    t0 = 472_222 * H  # 2023-11-14 22:00 UTC (ccxt itself drops a candle at ts 0)
    candles = from_rows([[t0, 1, 2, 0.5, 1.5, 10], [t0 + H, 1.5, 3, 1, 2, 20]])
    md = MarketData.from_arrays({"ABC/USDT": {"1h": candles}}, clock=Clock(t0 + 2 * H))
    with BinanceServer(md) as srv:
        client = binance_client(srv.base_url)
        assert list(client.load_markets()) == ["ABC/USDT"]
        assert client.fetch_ohlcv("ABC/USDT", "1h", since=t0) == [
            [t0, 1.0, 2.0, 0.5, 1.5, 10.0], [t0 + H, 1.5, 3.0, 1.0, 2.0, 20.0]]


# --- errors, weight, faults ------------------------------------------------------------------

def test_errors_are_binances_and_ccxt_maps_them(ex):
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        ex.publicGetKlines({"symbol": "DOGEUSDT", "interval": "1h"})
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        ex.publicGetKlines({"symbol": "BTCUSDT", "interval": "7h"})
    with pytest.raises(ccxt.BadRequest, match="-1130"):
        ex.publicGetKlines({"symbol": "BTCUSDT", "interval": "1h", "limit": 1001})
    with pytest.raises(ccxt.BadRequest, match="-1102"):
        ex.publicGetKlines({"symbol": "BTCUSDT"})
    assert ex.publicGetKlines({"symbol": "BTCUSDT", "interval": "1h",
                               "startTime": 2 * H, "endTime": H}) == []
    with pytest.raises(ccxt.BadSymbol):
        ex.fetch_ohlcv("DOGE/USDT", "1h")  # ccxt itself refuses: not in exchangeInfo


def test_weight_limit_answers_429_and_resets_with_the_window(market):
    window = [1_000.0]
    with BinanceServer(market, weight_limit=25, weight_clock=lambda: window[0]) as srv:
        client = binance_client(srv.base_url)
        client.load_markets()  # 20
        client.fetch_ohlcv("BTC/USDT", "1d", limit=5)  # 22
        client.fetch_ohlcv("BTC/USDT", "1d", limit=5)  # 24
        assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "24"
        with pytest.raises(ccxt.DDoSProtection, match="-1003"):
            client.fetch_ohlcv("BTC/USDT", "1d", limit=5)
        assert client.last_response_headers["Retry-After"] == "20"  # window ends at 1020 s
        window[0] += 60
        assert len(client.fetch_ohlcv("BTC/USDT", "1d", limit=5)) == 5
        assert srv.requests["/api/v3/klines"] == 4


def test_an_injected_503_is_exchange_not_available_and_passes(ex, server):
    server.faults.fail_next(endpoint="klines")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.fetch_ohlcv("BTC/USDT", "1h", limit=2)
    assert ex.fetch_time() == AFTER_DATA  # other endpoints unaffected
    assert len(ex.fetch_ohlcv("BTC/USDT", "1h", limit=2)) == 2
    assert server.faults.pending == 0


def test_a_dropped_connection_is_a_network_error(ex, server):
    server.faults.drop_next(endpoint="/api/v3/klines")
    with pytest.raises(ccxt.NetworkError) as err:
        ex.fetch_ohlcv("BTC/USDT", "1h", limit=2)
    assert not isinstance(err.value, ccxt.ExchangeError)
    assert len(ex.fetch_ohlcv("BTC/USDT", "1h", limit=2)) == 2


def test_the_third_page_fails_and_paging_resumes_where_it_stopped(ex, server):
    ref = csv_rows("binance_ETH-USDT_1h.csv")
    start, until = int(ref[0, 0]), int(ref[2_999, 0])
    server.faults.fail_after(2, endpoint="klines")
    got = []
    with pytest.raises(ccxt.ExchangeNotAvailable):
        page_all(ex, "ETH/USDT", "1h", start, until, out=got)
    assert len(got) == 2_000 and server.faults.fired[0][0] == "/api/v3/klines"
    page_all(ex, "ETH/USDT", "1h", got[-1][0] + 1, until, out=got)
    assert np.array_equal(np.array(got, dtype=np.float64), ref[:3_000])
    assert server.requests["/api/v3/klines"] == 5  # 2 good, 1 failed, 2 on resume


def test_a_stalled_answer_times_the_client_out(server):
    server.reset()
    client = binance_client(server.base_url, timeout=100)
    server.faults.delay_next(0.4, endpoint="time")
    with pytest.raises(ccxt.RequestTimeout):
        client.fetch_time()
