"""`botfleet data import/export/check` as a user runs them."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.data.fileio import read_candles, write_candles
from botfleet.data.store import SeriesKey, open_store

from shared_data import load, shared_file


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_import_names_series_from_the_file_and_exports_the_same_candles(tmp_path):
    src = shared_file("binance_ETH-USDT_4h.csv")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = invoke("data", "import", str(src), "--store", url)
    assert result.exit_code == 0, result.output
    assert "10955 candle(s) into binance ETH/USDT 4h" in result.output
    out = tmp_path / "eth.parquet"
    exported = invoke("data", "export", "--exchange", "binance", "--symbol", "ETH/USDT",
                      "--timeframe", "4h", "-o", str(out), "--store", url)
    assert exported.exit_code == 0, exported.output
    assert np.array_equal(read_candles(out), load("binance_ETH-USDT_4h.csv"))
    missing = invoke("data", "export", "--exchange", "binance", "--symbol", "X/Y",
                     "--timeframe", "4h", "-o", str(out), "--store", url)
    assert missing.exit_code == 1 and "no candles stored" in missing.output


def test_import_rejects_or_drops_bad_rows_as_asked(tmp_path):
    good = load("binance_BTC-USDT_1d.csv")[:50].copy()
    good["high"][10] = good["low"][10] - 1  # impossible candle
    path = write_candles(good, tmp_path / "binance_BTC-USDT_1d.csv")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    rejected = invoke("data", "import", str(path), "--store", url)
    assert rejected.exit_code == 1 and "1 bad row(s) of 50; batch rejected" in rejected.output
    key = SeriesKey("binance", "BTC/USDT", "1d")
    store = open_store(url)
    assert len(store.read(key)) == 0
    dropped = invoke("data", "import", str(path), "--store", url, "--on-bad-rows", "drop")
    assert dropped.exit_code == 0 and "49 candle(s)" in dropped.output
    assert "high_below_low: 1 at 2020-09-30 00:00" in dropped.output
    assert len(store.read(key)) == 49
    store.close()


def test_import_needs_a_series_name_it_can_read(tmp_path):
    path = write_candles(load("binance_BTC-USDT_1d.csv")[:5], tmp_path / "candles.csv")
    result = invoke("data", "import", str(path), "--store", f"sqlite:///{tmp_path / 'c.db'}")
    assert result.exit_code == 1 and "pass --exchange, --symbol and --timeframe" in result.output


def test_check_a_file_and_the_store(tmp_path):
    ok = invoke("data", "check", str(shared_file("binance_BTC-USDT_1h.csv")))
    assert ok.exit_code == 0 and "43803 candle(s), 0 bad" in ok.output
    assert ok.output.count("gap:") == 10
    url = f"sqlite:///{tmp_path / 'c.db'}"
    invoke("data", "import", str(shared_file("binance_BTC-USDT_4h.csv")), "--store", url)
    stored = invoke("data", "check", "--store", url)
    assert stored.exit_code == 0 and "binance BTC/USDT 4h: 10955 candle(s), 0 bad" in stored.output
