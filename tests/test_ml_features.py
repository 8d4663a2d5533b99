"""Features and labels: no look-ahead (bit for bit on truncated data), label windows."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import HOUR_MS, pair_candles, real, spec

from botfleet.config.ml import LabelSpec
from botfleet.data.candles import CANDLE_DTYPE
from botfleet.ml.features import FeatureError, build, feature_block, feature_names, lookback
from botfleet.ml.labels import make_labels


def test_features_on_truncated_candles_equal_the_full_history_up_to_the_cut():
    """Like the strategy bias check: a feature at bar t must not change when the candles
    after t are removed, for every feature type (higher timeframe cut mid-bucket included)."""
    c = real("BTC/USDT", 1500)
    s = spec()
    full = feature_block(c, s)
    assert full.values.shape == (len(c), len(full.names))
    for cut in (300, 301, 302, 303, 777, 1499):  # 4h buckets cut at each offset
        part = feature_block(c[: cut + 1], s)
        assert part.names == full.names
        np.testing.assert_array_equal(part.values, full.values[: cut + 1], err_msg=f"cut {cut}")


def test_a_future_price_shock_leaves_every_earlier_feature_unchanged():
    c = real("ETH/USDT", 800)
    shocked = c.copy()
    shocked["close"][500:] *= 3.0
    shocked["high"][500:] *= 3.0
    shocked["volume"][500:] *= 50
    a, b = feature_block(c, spec()).values, feature_block(shocked, spec()).values
    np.testing.assert_array_equal(a[:500], b[:500])
    assert not np.allclose(a[500:], b[500:], equal_nan=True)


def test_higher_timeframe_value_appears_only_after_its_candle_closed():
    c = real("BTC/USDT", 200)
    s = spec(features=[{"type": "higher_timeframe", "timeframe": "4h", "horizons": [1]}])
    col = feature_block(c, s).values[:, 0]
    # the 4h return moves only on bars that are the last hour of a 4h bucket
    changes = np.nonzero(np.diff(col[~np.isnan(col)]) != 0)[0]
    valid_ts = c["ts"][~np.isnan(col)]
    assert len(changes) > 10
    assert np.all((valid_ts[changes + 1] + HOUR_MS) % (4 * HOUR_MS) == 0)


def test_values_are_what_they_say():
    c = real("BTC/USDT", 300)
    s = spec(features=[{"type": "returns", "horizons": [4]}, {"type": "volume", "windows": [2]},
                       {"type": "time"}])
    b = feature_block(c, s)
    lc = np.log(c["close"])
    assert b.names == ["ret_4", "volu_2", "hour_sin", "hour_cos", "dow_sin", "dow_cos"]
    assert np.isnan(b.values[:4, 0]).all()
    np.testing.assert_allclose(b.values[10, 0], lc[10] - lc[6])
    v = c["volume"]
    np.testing.assert_allclose(b.values[10, 1], np.log(v[10] / ((v[9] + v[10]) / 2)), rtol=1e-9)
    assert lookback(s) == 5


def test_build_stacks_pairs_by_time_and_names_columns():
    frame = build(pair_candles(400), spec())
    assert list(frame.columns[:2]) == ["pair", "ts"]
    assert list(frame.columns[2:]) == feature_names(spec())
    assert (np.diff(frame["ts"].to_numpy()) >= 0).all() and len(frame) == 800


def test_feature_errors_say_what_is_wrong():
    with pytest.raises(FeatureError, match="unknown indicator 'nope'"):
        feature_block(real(), spec(features=[{"type": "indicator", "indicator": "nope"}]))
    with pytest.raises(FeatureError, match="declared twice"):
        feature_block(real(), spec(features=[{"type": "returns", "horizons": [1]},
                                             {"type": "returns", "horizons": [1]}]))


def _candles(close, high=None, low=None):
    c = np.zeros(len(close), dtype=CANDLE_DTYPE)
    c["ts"] = np.arange(len(close)) * HOUR_MS
    c["close"] = c["open"] = close
    c["high"] = close if high is None else high
    c["low"] = close if low is None else low
    c["volume"] = 1
    return c


def test_direction_label_reads_exactly_the_next_horizon_bars():
    c = _candles(np.array([100, 101, 99, 100.05, 102, 103.0]))
    lab = make_labels(c, LabelSpec("direction", 2, threshold=0.001))
    # 100->99 down, 101->100.05 down, 99->102 up, 100.05->103 up, last two unresolved
    np.testing.assert_array_equal(lab.y[:4], [0, 0, 1, 1])
    assert np.isnan(lab.y[4:]).all()
    np.testing.assert_array_equal(lab.end_ts[:4], c["ts"][2:6])
    assert (lab.end_ts[4:] == -1).all()
    ret = make_labels(c, LabelSpec("return", 2))
    np.testing.assert_allclose(ret.y[0], np.log(99 / 100))


def test_triple_barrier_takes_the_first_barrier_and_the_stop_on_a_tie():
    close = np.array([100.0, 100, 100, 100, 100, 100])
    high = np.array([100.0, 101, 103, 100, 100, 100])
    low = np.array([100.0, 99.5, 99, 100, 97, 100])
    c = _candles(close, high, low)
    lab = make_labels(c, LabelSpec("triple_barrier", 3, take=0.02, stop=0.02))
    # bar 0: +2% reached at bar 2 (high 103) before -2% -> 1; bar 1: same bar 2 -> 1;
    # bar 2: -2% at bar 4 (low 97) -> 0; bars 3+: unresolved
    np.testing.assert_array_equal(lab.y[:3], [1, 1, 0])
    assert np.isnan(lab.y[3:]).all()
    tie = _candles(close[:3], np.array([100.0, 103, 100]), np.array([100.0, 97, 100]))
    assert make_labels(tie, LabelSpec("triple_barrier", 1, take=0.02, stop=0.02)).y[0] == 0
    flat = _candles(np.array([100.0, 100.5, 100.2, 100.1]))
    timeout = make_labels(flat, LabelSpec("triple_barrier", 2, take=0.05, stop=0.05))
    np.testing.assert_array_equal(timeout.y[:2], [1, 0])  # at the limit: closed higher or not


def test_latest_row_matches_the_full_history_row_for_a_cycle():
    """What a live cycle computes from short tails equals the backtest's full-history value."""
    from botfleet.ml.features import latest_plan, latest_row

    s = spec()
    c = real("ETH/USDT", 3000)
    full = feature_block(c, s).values
    plan = latest_plan(s)
    for end in (1500, 2222, 3000):
        np.testing.assert_allclose(latest_row(c[:end], s, plan=plan), full[end - 1],
                                   rtol=1e-6, atol=1e-9)


def test_a_tail_without_one_whole_higher_timeframe_candle_gives_nan_not_a_crash():
    """A bot that just started (three hourly bars: no 4h candle has closed) gets NaN features,
    so its model reads answer NaN (no entry) instead of the cycle failing."""
    s = spec()
    c = real("ETH/USDT", 3)
    block = feature_block(c, s)
    htf = [i for i, name in enumerate(block.names) if "vol" in name and "4h" in name]
    assert htf, block.names
    assert np.isnan(block.values[:, htf]).all()
