"""Resampling against the exchange's own candles and pandas; quality checks on real and broken data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from botfleet.data.candles import CANDLE_DTYPE, from_frame, to_frame
from botfleet.data.quality import BadCandles, check, clean
from botfleet.data.resample import resample

from shared_data import load

H = 3_600_000


def _same_where_both(ours: np.ndarray, theirs: np.ndarray) -> int:
    common = np.intersect1d(ours["ts"], theirs["ts"])
    a, b = ours[np.isin(ours["ts"], common)], theirs[np.isin(theirs["ts"], common)]
    for f in ("open", "high", "low", "close"):
        assert np.array_equal(a[f], b[f]), f
    np.testing.assert_allclose(a["volume"], b["volume"], rtol=1e-12, atol=1e-9)
    return len(common)


@pytest.mark.parametrize("source, target, files", [
    ("1h", "4h", ("binance_BTC-USDT_1h.csv", "binance_BTC-USDT_4h.csv")),
    ("1h", "1d", ("binance_ETH-USDT_1h.csv", "binance_ETH-USDT_1d.csv")),
])
def test_resampled_candles_equal_the_exchanges_own(source, target, files):
    lower, exchange = load(files[0]), load(files[1])
    ours = resample(lower, source, target)
    n = _same_where_both(ours, exchange)
    assert n >= len(exchange) - 15  # only buckets with a missing hour are left out
    # every bucket we skipped has a missing lower candle
    skipped = np.setdiff1d(exchange["ts"], ours["ts"])
    partial = resample(lower, source, target, partial=True)
    assert set(skipped) <= set(partial["ts"]) | set(skipped)


def test_5m_to_1h_equals_the_exchanges_1h():
    lower = from_frame(pd.read_csv(load.__globals__["shared_file"]("binance_BTC-USDT_5m.csv.gz")))
    assert _same_where_both(resample(lower, "5m", "1h"), load("binance_BTC-USDT_1h.csv")) > 8000


@pytest.mark.parametrize("target, rule", [("4h", "4h"), ("1d", "1D"), ("1w", "W-MON"),
                                          ("1M", "MS")])
def test_partial_resample_matches_pandas(target, rule):
    lower = load("binance_BTC-USDT_1h.csv")[:5000]
    ours = resample(lower, "1h", target, partial=True)
    frame = to_frame(lower)
    agg = frame.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    assert len(ours) == len(agg)
    assert np.array_equal(ours["ts"], agg.index.astype("datetime64[ms, UTC]").astype("int64"))
    for f in ("open", "high", "low", "close"):
        assert np.array_equal(ours[f], agg[f].to_numpy()), f
    np.testing.assert_allclose(ours["volume"], agg["volume"].to_numpy(), rtol=1e-12)


def test_resample_refuses_unsorted_and_uneven_input():
    c = load("binance_BTC-USDT_1h.csv")[:10]
    with pytest.raises(ValueError, match="sorted"):
        resample(c[::-1], "1h", "4h")
    with pytest.raises(ValueError, match="multiple"):
        resample(c, "1h", "90m")


def test_real_binance_1h_has_exactly_the_documented_gaps():
    report = check(load("binance_BTC-USDT_1h.csv"), "1h")
    assert report.ok  # no bad rows in real data
    gaps = [f for f in report.findings if f.kind == "gap"]
    assert len(gaps) == 10
    assert sum(int(g.detail.split()[0]) for g in gaps) == 20
    assert str(gaps[1]) == "gap: 4 candle(s) missing from 2020-12-21 14:00 to 2020-12-21 17:00"


def _broken() -> np.ndarray:
    c = np.zeros(40, dtype=CANDLE_DTYPE)
    c["ts"] = np.arange(40) * H
    c["open"] = c["close"] = 100.0
    c["high"], c["low"], c["volume"] = 101.0, 99.0, 5.0
    c["close"][5] = np.nan
    c["low"][6] = -1
    c["high"][7], c["low"][7] = 98.0, 99.0
    c["open"][8] = 120.0
    c["ts"][9] = c["ts"][9] + 1  # misaligned
    c["volume"][20:24] = 0
    c["close"][30] = c["open"][30] = c["high"][30] = 400.0  # a 4x jump: an outlier, kept
    return c


def test_every_kind_of_bad_row_is_named_by_its_time():
    report = check(_broken(), "1h", outlier_sigma=4)
    by_kind = {f.kind: f.ts for f in report.findings}
    assert by_kind["nan"] == (5 * H,)
    assert by_kind["non_positive"] == (6 * H,)
    assert by_kind["high_below_low"] == (7 * H,)
    assert by_kind["open_outside_range"] == (7 * H, 8 * H)  # high < low leaves no range
    assert by_kind["misaligned"] == (9 * H + 1,)
    assert by_kind["zero_volume_run"] == tuple(range(20 * H, 24 * H, H))
    assert 30 * H in by_kind["outlier"]
    assert report.bad_rows == 5 and not report.ok


def test_duplicates_and_disorder():
    c = _broken()[:4]
    c = np.concatenate([c, c[2:3], c[:1]])  # ts 0,1,2,3,2,0 (hours)
    kinds = {f.kind: f.ts for f in check(c, "1h").findings}
    assert kinds["non_monotonic"] == (2 * H, 0)


def test_bad_batches_are_rejected_whole_or_written_without_bad_rows():
    with pytest.raises(BadCandles, match="5 bad row"):
        clean(_broken(), "1h", "reject")
    kept, report = clean(_broken(), "1h", "drop")
    assert len(kept) == 35 and report.bad_rows == 5
    assert not set(kept["ts"]) & {5 * H, 6 * H, 7 * H, 8 * H, 9 * H + 1}
    with pytest.raises(ValueError, match="on_bad_rows"):
        clean(_broken(), "1h", "ignore")
