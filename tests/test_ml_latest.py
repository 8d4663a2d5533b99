"""Many bots' newest feature rows at once (`ml.latest.latest_rows`) against the one-bot row
(`features.latest_row`), compared for exact equality (not a tolerance): the close's batch,
a bot's own read and `predict_latest` must serve the same number. Real hourly candles cut at
every phase of the 4h candle, with tails shorter than the longest feature, a gap, a NaN close
and a higher timeframe the stacked path does not handle (weekly)."""

from __future__ import annotations

import numpy as np
import pytest
from ml_fixtures import real, spec

from botfleet.config.ml import model_spec
from botfleet.ml.features import FeatureError, feature_block, feature_names, latest_plan, latest_row
from botfleet.ml.latest import latest_rows


def _both(tails, s):
    plan = latest_plan(s, settle=2)
    want = np.vstack([latest_row(c, s, plan=plan) for c in tails])
    return latest_rows(tails, s, plan), want


def _default_spec():
    """The example fleet's model features (models.d/eth-direction.yaml)."""
    return spec(features=[
        {"type": "returns", "horizons": [1, 4, 24, 168]},
        {"type": "volatility", "windows": [24, 168]},
        {"type": "volume", "windows": [24, 168]},
        {"type": "indicator", "indicator": "rsi", "params": {"timeperiod": 14}},
        {"type": "indicator", "indicator": "adx"},
        {"type": "indicator", "indicator": "bbands", "output": "upper", "relative": True},
        {"type": "time"},
        {"type": "higher_timeframe", "timeframe": "4h", "horizons": [1, 6], "windows": [42]},
    ])


@pytest.mark.parametrize("make", [spec, _default_spec])
def test_stacked_rows_equal_each_bots_row_bit_for_bit(make):
    s = make()
    c = real("ETH/USDT", 3000)
    rng = np.random.default_rng(3)
    cuts = [*rng.integers(400, len(c), 60), 1000, 1001, 1002, 1003]  # every 4h phase
    tails = [c[: int(t)] for t in cuts]
    got, want = _both(tails, s)
    assert got.shape == (len(tails), want.shape[1]) and want.shape[1] >= 15
    np.testing.assert_array_equal(got, want)
    assert np.isfinite(got).all()


def test_short_tails_gaps_and_nans_take_the_same_values():
    s = _default_spec()
    c = real("BTC/USDT", 3000)
    gap = np.delete(c[:1500], 1450)  # one missing hour inside the 4h feature's tail
    nan = c[:1600].copy()
    nan["close"][1590] = np.nan
    off_grid = c[:1700].copy()
    off_grid["ts"] += 60_000  # bars a minute off the hour: no stacking, same rows
    tails = [c[:30], c[:150], c[:2000], gap, nan, off_grid, c[:2500], c[:9]]
    got, want = _both(tails, s)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[0]).any() and np.isnan(got[4]).any()


def test_features_the_stacked_path_leaves_to_each_bot_are_unchanged():
    s = spec(features=[{"type": "returns", "horizons": [1]},
                       {"type": "higher_timeframe", "timeframe": "1w", "windows": [2]},
                       {"type": "higher_timeframe", "timeframe": "8h"}])
    c = real("SOL/USDT", 3000)
    got, want = _both([c[:2800], c[:2900], c[:2901]], s)
    np.testing.assert_array_equal(got, want)


def _sequence_spec(algorithm: str, length: int):
    return model_spec({**_default_spec().raw,
                       "algorithm": {"name": algorithm, "params": {"seq_len": length}}})


@pytest.mark.parametrize(("algorithm", "length"), [("lstm", 32), ("transformer", 5)])
def test_sequence_windows_stack_and_equal_each_bots_window(algorithm, length):
    s = _sequence_spec(algorithm, length)
    c = real("ETH/USDT", 3000)
    rng = np.random.default_rng(5)
    cuts = [*rng.integers(600, len(c), 40), 1000, 1001, 1002, 1003]  # every 4h phase
    gap = np.delete(c[:1500], 1480)
    off_grid = c[:1700].copy()
    off_grid["ts"] += 60_000
    tails = [c[: int(t)] for t in cuts] + [gap, off_grid, c[:40], c[:3]]
    got, want = _both(tails, s)
    width = len(feature_names(_default_spec()))
    assert got.shape == (len(tails), length * width)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.isfinite(got[: len(cuts)]).all()


def test_a_sequence_window_is_feature_blocks_window_oldest_row_first():
    """The flattened window has `feature_block`'s columns for the sequence spec, and each of
    its seq_len rows is the tree spec's row of that bar (window features only: indicators
    settle to within 1e-6 on a tail, not 1e-12)."""
    feats = [f for f in _default_spec().raw["features"] if f["type"] != "indicator"]
    s = model_spec({**_default_spec().raw, "features": feats,
                    "algorithm": {"name": "lstm", "params": {"seq_len": 6}}})
    flat = model_spec({**s.raw, "algorithm": _default_spec().raw["algorithm"]})
    c = real("BTC/USDT", 2600)
    tails = [c[:2400], c[:2401], c[:2598]]
    got = latest_rows(tails, s, latest_plan(s, settle=2))
    for tail, row in zip(tails, got, strict=True):
        block = feature_block(tail, s)
        assert len(block.names) == len(row)
        np.testing.assert_allclose(row, block.values[-1], rtol=0, atol=1e-12)
        rows = feature_block(tail, flat).values[-6:]
        np.testing.assert_allclose(row.reshape(6, -1), rows, rtol=0, atol=1e-12)


def test_a_wrong_feature_fails_as_on_the_one_bot_path():
    bad = model_spec({**spec().raw, "features": [
        {"type": "indicator", "indicator": "rsi", "params": {"nope": 3}}]})
    c = real("ETH/USDT", 500)
    with pytest.raises(FeatureError, match="rsi: no parameter .nope."):
        latest_rows([c, c[:-1]], bad, latest_plan(bad))


def test_the_memo_key_sees_revised_newest_candles_shifts_and_markets_not_deep_rewrites():
    from botfleet.ml.batch import GUARD, Served

    served = Served(model=None, tail=200)
    eth, btc = real("ETH/USDT", 3000), real("BTC/USDT", 3000)
    t = 1500
    k = served.key(eth, t)
    assert served.key(eth.copy(), t) == k  # content, not identity
    assert served.key(btc, t) != k  # same bar times, another market
    for back in range(GUARD):  # an exchange revising one of its newest candles
        revised = eth.copy()
        revised["close"][t - back] *= 1.0001
        assert served.key(revised, t) != k, back
    shifted = np.delete(eth, 1400)  # a bar removed inside the tail: its first row moves
    assert served.key(shifted, t - 1) != served.key(eth, t)
    assert served.key(eth, 150) != served.key(eth[50:], 100)  # a shorter tail
    deep = eth.copy()
    deep["close"][t - 100] *= 1.01  # the documented trade-off (ml/batch.py): not seen
    assert served.key(deep, t) == k
