"""The Data page's ingest through ccxt, end to end: the real ccxt client of the fleet's
exchange pointed (`api_url`) at the bundled exchange simulator serving recorded Binance
candles; what the page stores is compared with the recorded files themselves."""

from __future__ import annotations

import numpy as np
import pytest
from ui_fixtures import app_test, copy_fleet, open_page, ui_env  # noqa: F401 - fixture

from botfleet.config import load_fleet
from botfleet.data.store import SeriesKey, open_store
from botfleet.venue import BinanceServer, Clock, MarketData

from shared_data import SHARED, load, shared_file

H = 3_600_000
SINCE = 1_704_067_200_000  # 2024-01-01, the fleet's `data.since` below
NOW = SINCE + 48 * H  # the simulator's clock: two days of closed 1h candles


@pytest.fixture
def exchange():
    for name in ("BTC-USDT_1h", "BTC-USDT_4h", "ETH-USDT_1h", "SOL-USDT_1h"):
        shared_file(f"binance_{name}.csv")
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                                       timeframes=["1h", "4h"], clock=Clock(NOW))
    with BinanceServer(market) as srv:
        yield srv


def test_the_data_page_downloads_the_fleets_candles_through_ccxt(tmp_path, ui_env,  # noqa: F811
                                                                  exchange):
    fleet_file = copy_fleet(tmp_path)
    ex = tmp_path / "exchanges.d" / "binance.yaml"
    ex.write_text(ex.read_text().replace("# api_url: http://127.0.0.1:8800",
                                         f"api_url: {exchange.base_url}"))
    sol = tmp_path / "bots.d" / "sol-breakout.yaml"  # the recording has SOL in 1h only
    sol.write_text(sol.read_text().replace("timeframe: 4h", "timeframe: 1h"))
    assert not load_fleet(fleet_file).errors
    ui_env(fleet_file)
    at = open_page(app_test(), "data")
    assert at.info[0].value == "The candle store is empty."
    at.text_input(key="data_dir").input("")
    at.checkbox(key="data_download").check()
    next(b for b in at.button if b.key == "data_ingest").click().run(timeout=180)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert exchange.requests["/api/v3/klines"] > 0  # it asked the simulator, nothing else
    said = [m.value for m in at.markdown]
    fleet = load_fleet(fleet_file).fleet
    with open_store(fleet.storage.candles) as store:
        for symbol, tf, n in (("BTC/USDT", "1h", 48), ("BTC/USDT", "4h", 12),
                              ("ETH/USDT", "1h", 48), ("SOL/USDT", "1h", 48)):
            got = store.read(SeriesKey("binance", symbol, tf), SINCE)
            rec = load(f"binance_{symbol.replace('/', '-')}_{tf}.csv")
            want = rec[(rec["ts"] >= SINCE) & (rec["ts"] + _ms(tf) <= NOW)]
            assert len(got) == len(want) == n, (symbol, tf)
            for col in ("ts", "open", "high", "low", "close", "volume"):
                assert np.allclose(got[col], want[col]), (symbol, tf, col)
            assert f"binance {symbol} {tf}: download, {n} candle(s)" in said, said
    at.run()  # the coverage cache was cleared: the page now shows what was written
    assert int(at.dataframe[0].value["candles"].sum()) == 3 * 48 + 12


def _ms(tf: str) -> int:
    return {"1h": H, "4h": 4 * H}[tf]
