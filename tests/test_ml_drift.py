"""Drift of the promoted version on real candles: PSI of each feature against the training
deciles stored with the version, hit rate of its long signals; a shifted market trips it, the
market it was trained on does not; the `model_drift` notification lands on the event stream
(Redis, and in process); sequence models are refused with the reason."""

from __future__ import annotations

import importlib.util
import uuid

import numpy as np
import pytest
from ml_fixtures import pair_candles, spec
from test_bus import REDIS_URL, redis_reason

from botfleet.bus import NOTIFICATIONS, open_bus
from botfleet.ml import drift
from botfleet.ml.predict import load_version
from botfleet.ml.registry import ModelRegistry
from botfleet.ml.train import ModelError, train_version

WINDOW = 1000


def drift_spec(**over):
    return spec(drift={"psi": 0.25, "hit_rate_drop": 0.1, "window": WINDOW}, **over)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift")
    url = f"sqlite:///{tmp / 's.db'}"
    reg = ModelRegistry(url, tmp / "data")
    candles = pair_candles(3000)
    reg.register(train_version(drift_spec(), candles))
    reg.promote(drift_spec(), 1)
    return load_version(url, "t")


def stretched(c: np.ndarray, last: int, factor: float) -> np.ndarray:
    """The last `last` bars with every log move `factor` times larger (a more volatile
    market): prices keep their shape, features built on returns and ranges shift."""
    out = c.copy()
    k = len(c) - last
    anchor = np.log(c["close"][k - 1])
    for col in ("open", "high", "low", "close"):
        out[col][k:] = np.exp(anchor + factor * (np.log(c[col][k:]) - anchor))
    return out


def test_training_stores_the_feature_deciles(loaded):
    ref = loaded.version.metrics["drift_reference"]
    assert ref["bins"] == 10 and ref["n"] > 1000
    assert set(ref["features"]) == set(loaded.columns)
    shares = ref["features"]["ret_1"]["shares"]
    assert abs(sum(shares) - 1) < 1e-9 and max(shares) < 0.2  # deciles: ~10% per bin


def test_the_market_it_trained_on_does_not_drift_and_a_volatile_one_does(loaded):
    candles = pair_candles(3000)
    calm = {p: c[:2400] for p, c in candles.items()}  # inside its training window
    report = drift.check(loaded, calm, drift_spec())
    assert not report.drifted, report.lines()
    assert report.worst()[1] < 0.25 and len(report.psi) == len(loaded.columns)
    wild = {p: stretched(c, WINDOW, 3.0) for p, c in candles.items()}
    report = drift.check(loaded, wild, drift_spec())
    assert report.drifted
    metric, value, limit = report.tripped[0]
    assert metric.startswith("psi:") and value > 0.25 == limit
    assert "DRIFT psi:" in "\n".join(report.lines())


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    e = np.full(10, 0.1)
    assert drift.psi(e, e) == 0
    small = np.array([0.12, 0.08] * 5)
    big = np.array([0.3, 0.0] * 5)
    assert 0 < drift.psi(e, small) < 0.1 < drift.psi(e, big)


def test_a_falling_hit_rate_trips_on_its_own(loaded):
    candles = pair_candles(3000)
    report = drift.check(loaded, {p: c[:2400] for p, c in candles.items()},
                         spec(drift={"psi": 50, "hit_rate_drop": 0.001, "window": WINDOW}))
    assert report.signals >= 30 and report.hit_rate is not None
    drop = report.hit_rate_train - report.hit_rate
    assert [m for m, _, _ in report.tripped] == (["hit_rate_drop"] if drop > 0.001 else [])
    assert report.hit_rate_train == loaded.version.metrics["model"]["hit_rate"]
    relaxed = drift.check(loaded, {p: c[:2400] for p, c in candles.items()},
                          spec(drift={"psi": 50, "hit_rate_drop": 0.9, "window": WINDOW}))
    assert not relaxed.drifted and relaxed.hit_rate == report.hit_rate


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_the_drift_notification_lands_on_the_event_stream(loaded, kind):
    if kind == "redis" and redis_reason():
        pytest.skip(redis_reason())
    url = REDIS_URL if kind == "redis" else "memory://"
    bus = open_bus(url, prefix=f"test:{uuid.uuid4().hex[:12]}:")
    try:
        bus.events.create_group("notifier", topics=[NOTIFICATIONS])
        wild = {p: stretched(c, WINDOW, 3.0) for p, c in pair_candles(3000).items()}
        report = drift.check(loaded, wild, drift_spec())
        assert drift.announce(url, report, bus=bus) == len(report.tripped) >= 1
        got = bus.events.read("notifier", "n1", count=10, block_ms=1000,
                              topics=[NOTIFICATIONS])
        assert [e.type for e in got] == ["model_drift"] * len(report.tripped)
        p = got[0].payload
        assert p["model"] == "t" and p["metric"].startswith("psi:")
        assert float(p["value"]) > float(p["limit"]) == 0.25
        assert "model drift: t v1" in p["title"] and "new version" in p["body"]
    finally:
        bus.purge()
        bus.close()


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                    reason="torch is installed: the sequence learners run (tests/test_ml_sequence.py)")
def test_sequence_models_are_refused_without_torch():
    s = spec(algorithm={"name": "lstm"})
    with pytest.raises(ModelError, match=r"needs the 'torch' extra \(torch==2.13.0 CPU build\), "
                                         "not installed"):
        train_version(s, pair_candles(3000))
    from botfleet.config.ml import model_problems

    data = dict(s.raw)
    assert any("needs the 'torch' extra" in p[1] for p in model_problems(data))
