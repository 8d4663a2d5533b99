"""Candle files: every format round-trips exactly; time units are detected or refused clearly."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from botfleet.data.fileio import (
    CandleFileError,
    FileGuess,
    guess_from_name,
    read_candles,
    to_milliseconds,
    write_candles,
)

from shared_data import load, shared_file


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet", "feather", "json", "json.gz"])
def test_every_format_round_trips_exactly(tmp_path, fmt):
    candles = load("binance_ETH-USDT_4h.csv")[:3000]
    path = write_candles(candles, tmp_path / f"binance_ETH-USDT_4h.{fmt}")
    assert np.array_equal(read_candles(path), candles)


def test_shared_csv_and_gzip_read_as_published():
    plain = read_candles(shared_file("binance_BTC-USDT_1h.csv"))
    frame = pd.read_csv(shared_file("binance_BTC-USDT_1h.csv"))
    assert len(plain) == len(frame) == 43803
    assert np.array_equal(plain["ts"], frame["timestamp"].to_numpy())
    assert np.array_equal(plain["close"], frame["close"].to_numpy())
    gz = read_candles(shared_file("binance_BTC-USDT_5m.csv.gz"))
    assert len(gz) == 104816 and gz["ts"][0] == 1672531200000


def test_written_csv_uses_the_shared_header(tmp_path):
    path = write_candles(load("binance_BTC-USDT_1d.csv")[:3], tmp_path / "x.csv")
    assert path.read_text().splitlines()[0] == "timestamp,open,high,low,close,volume"


def test_seconds_are_converted_and_other_units_refused(tmp_path):
    assert to_milliseconds(np.array([1_700_000_000, 1_700_003_600]), "f").tolist() == [
        1_700_000_000_000, 1_700_003_600_000]
    for values, word in (([1_700_000_000_000_000], "microseconds"),
                         ([1_700_000_000_000_000_000], "nanoseconds"),
                         ([1_700_000_000, 1_700_000_000_000], "a mix of units"),
                         ([5, 6], "neither seconds nor milliseconds")):
        with pytest.raises(CandleFileError, match=word):
            to_milliseconds(np.array(values), "f.csv")
    path = tmp_path / "sec.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1700000000,1,2,0.5,1.5,10\n")
    assert read_candles(path)["ts"].tolist() == [1_700_000_000_000]


def test_freqtrade_feather_and_json_layouts(tmp_path):
    ft = tmp_path / "binance" / "BTC_USDT-1h.feather"
    ft.parent.mkdir()
    pd.DataFrame({"date": pd.to_datetime([1_700_000_000_000], unit="ms", utc=True),
                  "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5],
                  "volume": [3.0]}).to_feather(ft)
    assert read_candles(ft).tolist() == [(1_700_000_000_000, 1.0, 2.0, 0.5, 1.5, 3.0)]
    assert guess_from_name(ft) == FileGuess("binance", "BTC/USDT", "1h")
    js = tmp_path / "ETH_BTC-5m.json.gz"
    with gzip.open(js, "wt") as fh:
        json.dump([[1_700_000_000_000, 1, 2, 0.5, 1.5, 3]], fh)
    assert read_candles(js)["close"].tolist() == [1.5]


@pytest.mark.parametrize("name, guess", [
    ("binance_BTC-USDT_1h.csv", FileGuess("binance", "BTC/USDT", "1h")),
    ("unknown_ADA-BTC_5m.csv", FileGuess(None, "ADA/BTC", "5m")),
    ("binance_XRP-USDT-USDT-futures_1h.csv", FileGuess("binance", "XRP/USDT:USDT", "1h")),
    ("notes.csv", FileGuess(None, None, None)),
])
def test_guess_from_name(name, guess):
    assert guess_from_name(Path(name)) == guess


@pytest.mark.parametrize("content, fragment", [
    ("a,b\n1,2\n", "no time column"),
    ("timestamp,open,high,low,close\n1700000000000,1,2,0.5,1.5\n", "missing column(s): volume"),
    ("timestamp,open,high,low,close,volume\nyesterday,1,2,0.5,1.5,1\n", "cannot read time"),
    ("timestamp,open,high,low,close,volume\n1700000000000.5,1,2,0.5,1.5,1\n", "not whole"),
])
def test_broken_files_say_what_and_where(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CandleFileError, match=re.escape(fragment)) as err:
        read_candles(path)
    assert str(path) in str(err.value)


def test_unknown_type_and_missing_file(tmp_path):
    with pytest.raises(CandleFileError, match="unknown file type"):
        read_candles(tmp_path / "x.xlsx")
    with pytest.raises(CandleFileError, match="file not found"):
        read_candles(tmp_path / "none.csv")
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(CandleFileError, match="freqtrade"):
        read_candles(tmp_path / "bad.json")


def test_iso_dates_are_read_as_utc(tmp_path):
    path = tmp_path / "iso.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-01 00:00:00+00:00,1,2,0.5,1.5,1\n"
                    "2024-01-01T01:00:00Z,1,2,0.5,1.5,1\n")
    assert read_candles(path)["ts"].tolist() == [1704067200000, 1704070800000]
