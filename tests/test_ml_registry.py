"""The model registry on SQLite and PostgreSQL: register, promote by the rule (or refuse with
the numbers), roll back; the promoted version loads and predicts; migrations match models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from ml_fixtures import pair_candles, spec

from botfleet.ml.predict import load_promoted, load_version
from botfleet.ml.registry import ModelRegistry, PromotionRefused, RegistryError
from botfleet.ml.train import ModelError, predict_scores, train_version
from botfleet.storage import current_revision, head_revision, schema_diff, state_engine, upgrade
from botfleet.storage.db import alembic_config, transaction

from storage_fixtures import BACKENDS, state_url  # noqa: F401 - fixture

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def results():
    """Two versions of the same model, the second trained 30 days later."""
    candles = pair_candles(3000)
    end = int(candles["BTC/USDT"]["ts"][-1])
    return train_version(spec(), candles, end_ms=end - 30 * DAY_MS), train_version(
        spec(), candles, end_ms=end)


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_create_exactly_the_registry_tables(state_url, backend):  # noqa: F811
    url = state_url(backend)
    assert upgrade(url) == head_revision()
    assert schema_diff(url) == []
    eng = state_engine(url)
    with transaction(eng, write=True) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    tables = set(sa.inspect(eng).get_table_names())
    eng.dispose()
    assert "ml_model_versions" not in tables and current_revision(url) == "0004"
    assert upgrade(url) == head_revision() and schema_diff(url) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_register_promote_refuse_force_and_rollback(state_url, backend, tmp_path,  # noqa: F811
                                                    results):
    first, second = results
    reg = ModelRegistry(state_url(backend), tmp_path / "data")
    v1 = reg.register(first)
    assert (v1.version, v1.status, v1.data_sha256) == (1, "candidate", first.data_sha256)
    assert Path(v1.artefact, "model.txt").is_file()
    assert v1.data_end_ms == first.data_end_ms and v1.code_version.startswith("botfleet ")
    assert json.loads(Path(v1.artefact, "meta.json").read_text())["columns"] == first.columns

    s = spec()
    v1, why = reg.promote(s, 1)
    assert v1.status == "promoted" and "no version is promoted" in why

    v2 = reg.register(second)
    strict = dataclasses.replace(s, min_improvement=0.5)
    with pytest.raises(PromotionRefused) as refused:
        reg.promote(strict, 2)
    text = str(refused.value)
    assert "does not beat promoted version 1" in text and "+0.5000" in text
    assert f"{v2.metric('auc'):.4f}" in text
    assert reg.promoted("t").version == 1 and reg.get("t", 2).status == "candidate"

    few = dataclasses.replace(s, min_samples=10**6)
    with pytest.raises(PromotionRefused, match="needs at least 1000000"):
        reg.promote(few, 2)

    v2, why = reg.promote(strict, 2, force=True)
    assert v2.status == "promoted" and reg.get("t", 1).status == "retired"
    assert [e["action"] for e in reg.events("t")] == ["train", "promote", "train", "refuse",
                                                      "refuse", "promote"]
    assert reg.events("t")[-1]["detail"].startswith("forced: ")

    back, old = reg.rollback("t")
    assert (back.version, old) == (1, 2)
    assert reg.get("t", 2).status == "rolled_back" and reg.promoted("t").version == 1
    with pytest.raises(RegistryError, match="none to roll back to"):
        reg.rollback("t")
    with pytest.raises(RegistryError, match="no version 9; versions: 1, 2"):
        reg.get("t", 9)


def test_promotion_compares_on_shared_unseen_samples_when_measured(tmp_path, results):
    first, second = results
    reg = ModelRegistry(f"sqlite:///{tmp_path / 's.db'}", tmp_path / "data")
    reg.register(first)
    reg.promote(spec(), 1)
    second = dataclasses.replace(second, metrics={**second.metrics, "incumbent": {
        "version": 1, "samples": 700, "model": {"auc": 0.51}, "candidate": {"auc": 0.53}}})
    reg.register(second)
    ok, why = reg.judge(reg.get("t", 2), dataclasses.replace(spec(), min_improvement=0.01))
    assert ok and "on the same 700 holdout samples: auc 0.5300 vs 0.5100" in why
    ok, why = reg.judge(reg.get("t", 2), dataclasses.replace(spec(), min_improvement=0.05))
    assert not ok and "the rule needs +0.0500" in why


def test_the_promoted_version_loads_and_predicts_like_the_trained_one(tmp_path, results):
    first, _ = results
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    with pytest.raises(RegistryError, match="no versions: botfleet model train"):
        load_promoted(url, "t")
    reg.register(first)
    with pytest.raises(RegistryError, match="no promoted version.*1 candidate"):
        load_promoted(url, "t")
    reg.promote(spec(), 1)
    model = load_promoted(url, "t")
    x = first.extra["holdout"].X
    np.testing.assert_allclose(model.predict_proba(x), predict_scores(spec(), first.estimator, x))
    frame = first.extra["holdout"].frame()
    np.testing.assert_allclose(model.predict_proba(frame), model.predict_proba(x))
    with pytest.raises(ModelError, match="lack ret_1"):
        model.predict_proba(frame.drop(columns=["ret_1"]))
    candles = pair_candles(3000)
    latest = model.predict_latest({f"bot{i}": candles["ETH/USDT"][: 2000 + i] for i in range(5)})
    assert len(latest) == 5 and all(0 < p < 1 for p in latest.values())
    Path(model.version.artefact, "model.txt").unlink()
    with pytest.raises(ModelError, match="model file missing"):
        load_version(url, "t", 1)


def test_a_scikit_learn_version_round_trips_through_joblib(tmp_path):
    s = spec(algorithm={"name": "logistic", "params": {"C": 0.5}})
    result = train_version(s, pair_candles(1200))
    url = f"sqlite:///{tmp_path / 's.db'}"
    reg = ModelRegistry(url, tmp_path / "data")
    v = reg.register(result)
    assert Path(v.artefact, "model.joblib").is_file() and v.created_at.tzinfo is not None
    reg.promote(s, 1)
    x = result.extra["holdout"].X
    np.testing.assert_allclose(load_promoted(url, "t").predict_proba(x),
                               predict_scores(s, result.estimator, x))
