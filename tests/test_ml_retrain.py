"""The retrain job on a temporary fleet whose candle store holds real candles: a new version
is promoted only by the YAML's rule (a refusal is a row with its numbers, not a failure), a
drifted model is announced on the event stream and retrained, `botfleet model drift` checks by
hand, and a fleet with no candles says "no data" instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ml_cli import MODEL, run
from test_ml_cli import fleet as fleet_dir  # noqa: F401 - fixture

from botfleet.bus import NOTIFICATIONS, open_bus
from botfleet.jobs.common import JobError, load_checked
from botfleet.jobs.retrain import DRIFT, on_drift, pick_models, retrain_model
from botfleet.ml.fleet_ops import registry_of


def loaded(path: Path):
    return load_checked(path / "fleet.yaml").fleet


def test_retrain_promotes_by_the_rule_and_records_a_refusal(fleet_dir):  # noqa: F811
    fleet = loaded(fleet_dir)
    assert pick_models(fleet) == ["eth-dir"]  # on the fleet's (default) schedule
    with pytest.raises(JobError, match="no model named 'nope'.*models: eth-dir"):
        pick_models(fleet, ["nope"])
    first = retrain_model(fleet, "eth-dir", end_ms=None)
    assert first["outcome"] == "promoted" and first["version"] == 1
    assert "no version is promoted" in first["detail"] and first["metric"] == "auc"
    second = retrain_model(fleet, "eth-dir")  # min_improvement 0.5: cannot be met
    assert second["outcome"] == "refused" and second["version"] == 2
    assert "does not beat promoted version 1" in second["detail"]
    assert "the rule needs +0.5000" in second["detail"]
    reg = registry_of(fleet)
    assert reg.promoted("eth-dir").version == 1
    assert [e["action"] for e in reg.events("eth-dir")] == ["train", "promote", "train",
                                                            "refuse"]


def test_drift_is_announced_and_triggers_a_new_version(fleet_dir):  # noqa: F811
    # a PSI limit no real market stays under: the check must trip
    (fleet_dir / "models.d" / "eth.yaml").write_text(
        MODEL % "0.0" + "drift: {psi: 0.0001, window: 300}\n")
    fleet = loaded(fleet_dir)
    assert on_drift(fleet, "eth-dir")["outcome"] == "not promoted"
    retrain_model(fleet, "eth-dir")
    bus = open_bus(fleet.storage.cache)
    try:
        bus.events.create_group("t-notifier", topics=[NOTIFICATIONS], start="latest")
        code, out = run(fleet_dir, "drift", "eth-dir")
        assert code == 1 and "DRIFT psi:" in out and "over the limit 0.0001" in out
        row = on_drift(fleet, "eth-dir")
        assert row["reason"].startswith("drift: psi:") and row["announced"] >= 1
        assert row["version"] == 2 and row["outcome"] in ("promoted", "refused")
        got = bus.events.read("t-notifier", "c", count=10, topics=[NOTIFICATIONS])
        assert [e.type for e in got] == ["model_drift"] * row["announced"]
        assert got[0].payload["model"] == "eth-dir"
    finally:
        bus.close()
    assert registry_of(fleet).versions("eth-dir")[-1].version == 2
    assert pick_models(fleet, mode=DRIFT) == []  # drift runs have deployments of their own


def test_no_candles_is_a_row_not_a_failure(fleet_dir):  # noqa: F811
    (fleet_dir / "data" / "candles.db").unlink()
    row = retrain_model(loaded(fleet_dir), "eth-dir")
    assert row["outcome"] == "no data" and "botfleet data fetch" in row["detail"]
