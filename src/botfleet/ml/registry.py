"""The model registry: versions in the state database, their files under data_dir/models.

Promotion is a rule, not a wish: a candidate replaces the promoted version only when its
out-of-sample metric beats the promoted version's by the YAML's `min_improvement`, on at least
`min_samples` samples; otherwise `PromotionRefused` says which numbers fell short (`force`
overrides, and the event log says it was forced). The two versions are compared on the same
samples when the candidate was trained while the other was promoted (`train` measures the
incumbent on the candidate's holdout); else on their own holdouts, which the refusal says.

Rollback retires the promoted version as `rolled_back` and promotes again the version promoted
before it, from the event log; a rolled-back version is never rolled back to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from botfleet.config.ml import LOWER_IS_BETTER, ModelSpec
from botfleet.storage.db import transaction
from botfleet.storage.ml_models import MlModelEvent, MlModelVersion

VERSIONS = MlModelVersion.__table__
EVENTS = MlModelEvent.__table__


class RegistryError(ValueError):
    """An unknown model or version, or a step the registry cannot take (no rollback target)."""


class PromotionRefused(RegistryError):
    """The promotion rule is not met; the message names the numbers."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    status: str
    created_at: datetime
    promoted_at: datetime | None
    algorithm: str
    label: dict
    features: list
    columns: list[str]
    params: dict
    pairs: list[str]
    timeframe: str
    data_start_ms: int
    data_end_ms: int
    train_start_ms: int
    train_end_ms: int
    holdout_start_ms: int
    holdout_end_ms: int
    data_sha256: str
    spec_sha256: str
    code_version: str
    metrics: dict
    artefact: str

    def metric(self, name: str) -> float | None:
        return (self.metrics.get("model") or {}).get(name)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _row(r) -> ModelVersion:
    m = dict(r._mapping)
    m["created_at"], m["promoted_at"] = _utc(m["created_at"]), _utc(m["promoted_at"])
    return ModelVersion(**{k: m[k] for k in ModelVersion.__dataclass_fields__})


def _now() -> datetime:
    return datetime.now(UTC)


class ModelRegistry:
    def __init__(self, state: str | URL | Engine, data_dir: str | Path | None = None):
        from botfleet.storage.audit import shared_engine

        self.engine = shared_engine(state)
        self.data_dir = Path(data_dir) if data_dir is not None else None

    # ---- reading -------------------------------------------------------------------------
    def versions(self, name: str | None = None) -> list[ModelVersion]:
        q = sa.select(VERSIONS).order_by(VERSIONS.c.name, VERSIONS.c.version)
        if name is not None:
            q = q.where(VERSIONS.c.name == name)
        with transaction(self.engine) as conn:
            return [_row(r) for r in conn.execute(q)]

    def get(self, name: str, version: int) -> ModelVersion:
        with transaction(self.engine) as conn:
            r = conn.execute(sa.select(VERSIONS).where(VERSIONS.c.name == name,
                                                       VERSIONS.c.version == version)).first()
        if r is None:
            known = [v.version for v in self.versions(name)]
            raise RegistryError(f"model {name!r} has no version {version}" + (
                f"; versions: {', '.join(map(str, known))}" if known else
                "; it has no versions yet (botfleet model train)"))
        return _row(r)

    def promoted(self, name: str) -> ModelVersion | None:
        with transaction(self.engine) as conn:
            r = conn.execute(sa.select(VERSIONS).where(VERSIONS.c.name == name,
                                                       VERSIONS.c.status == "promoted")).first()
        return _row(r) if r is not None else None

    def events(self, name: str) -> list[dict[str, Any]]:
        with transaction(self.engine) as conn:
            rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.name == name)
                                .order_by(EVENTS.c.id)).all()
        return [dict(r._mapping) for r in rows]

    # ---- writing -------------------------------------------------------------------------
    def register(self, result, *, actor: str = "botfleet") -> ModelVersion:
        """Store a `ml.train.TrainResult` as the next candidate version, with its files."""
        from botfleet.ml import artefacts

        spec: ModelSpec = result.spec
        if self.data_dir is None:
            raise RegistryError("the registry needs the fleet's data_dir to store model files")
        with transaction(self.engine, write=True) as conn:
            last = conn.execute(sa.select(sa.func.max(VERSIONS.c.version))
                                .where(VERSIONS.c.name == spec.name)).scalar()
            version = int(last or 0) + 1
            folder = artefacts.version_dir(self.data_dir, spec.name, version).resolve()
            artefacts.save(folder, result.estimator, spec.algorithm, result.columns,
                           {"name": spec.name, "version": version, "spec": spec.raw})
            conn.execute(VERSIONS.insert().values(
                name=spec.name, version=version, status="candidate", created_at=_now(),
                promoted_at=None, algorithm=spec.algorithm, label=spec.raw.get("label", {}),
                features=spec.raw.get("features", []), columns=result.columns,
                params=spec.params, pairs=list(spec.pairs), timeframe=spec.timeframe,
                data_start_ms=result.data_start_ms, data_end_ms=result.data_end_ms,
                train_start_ms=result.train_range[0], train_end_ms=result.train_range[1],
                holdout_start_ms=result.holdout_range[0], holdout_end_ms=result.holdout_range[1],
                data_sha256=result.data_sha256, spec_sha256=spec.spec_hash,
                code_version=artefacts.code_version(), metrics=result.metrics,
                artefact=str(folder)))
            self._event(conn, spec.name, version, "train", actor,
                        f"trained on {result.n_train} samples in {result.seconds:.1f}s")
        return self.get(spec.name, version)

    def _event(self, conn, name: str, version: int, action: str, actor: str,
               detail: str) -> None:
        conn.execute(EVENTS.insert().values(ts=_now(), name=name, version=version,
                                            action=action, actor=actor, detail=detail))

    def judge(self, candidate: ModelVersion, spec: ModelSpec) -> tuple[bool, str]:
        """(allowed, why) for promoting `candidate` under `spec`'s promotion rule."""
        metric = spec.metric
        current = self.promoted(candidate.name)
        value = candidate.metric(metric)
        samples = int(candidate.metrics.get("samples") or 0)
        if value is None:
            return False, f"version {candidate.version} has no out-of-sample {metric}"
        if samples < spec.min_samples:
            return False, (f"version {candidate.version} was measured on {samples} samples; "
                           f"the rule needs at least {spec.min_samples}")
        if current is None:
            return True, f"no version is promoted; {metric} {value:.4f} on {samples} samples"
        if current.version == candidate.version:
            return False, f"version {candidate.version} is already promoted"
        incumbent = candidate.metrics.get("incumbent") or {}
        if incumbent.get("version") == current.version and \
                (incumbent.get("model") or {}).get(metric) is not None and \
                (incumbent.get("candidate") or {}).get(metric) is not None:
            value, other = incumbent["candidate"][metric], incumbent["model"][metric]
            samples = int(incumbent.get("samples") or 0)
            where = f"on the same {samples} holdout samples"
            if samples < spec.min_samples:
                return False, (f"version {candidate.version} and promoted version "
                               f"{current.version} share {samples} unseen holdout samples; "
                               f"the rule needs at least {spec.min_samples}")
        else:
            other = current.metric(metric)
            where = "each on its own holdout"
            if other is None:
                return True, f"version {current.version} has no {metric} to compare with"
        lower = metric in LOWER_IS_BETTER
        gain = (other - value) if lower else (value - other)
        verdict = gain >= spec.min_improvement
        word = "beats" if verdict else "does not beat"
        return verdict, (f"version {candidate.version} {word} promoted version "
                         f"{current.version} {where}: {metric} {value:.4f} vs {other:.4f} "
                         f"({'lower' if lower else 'higher'} is better; improvement "
                         f"{gain:+.4f}, the rule needs {spec.min_improvement:+.4f})")

    def promote(self, spec: ModelSpec, version: int, *, force: bool = False,
                actor: str = "botfleet") -> tuple[ModelVersion, str]:
        """Promote `version` if the rule allows (or `force`); `PromotionRefused` otherwise."""
        candidate = self.get(spec.name, version)
        if candidate.status == "promoted":
            raise RegistryError(f"{spec.name} version {version} is already promoted")
        allowed, why = self.judge(candidate, spec)
        with transaction(self.engine, write=True) as conn:
            if not allowed and not force:
                self._event(conn, spec.name, version, "refuse", actor, why)
            else:
                self._swap(conn, spec.name, version, "retired")
                self._event(conn, spec.name, version, "promote", actor,
                            ("forced: " if force and not allowed else "") + why)
        if not allowed and not force:
            raise PromotionRefused(f"{spec.name}: {why}")
        return self.get(spec.name, version), why

    def _swap(self, conn, name: str, version: int, old_status: str) -> None:
        conn.execute(VERSIONS.update().where(VERSIONS.c.name == name,
                                             VERSIONS.c.status == "promoted")
                     .values(status=old_status))
        conn.execute(VERSIONS.update().where(VERSIONS.c.name == name,
                                             VERSIONS.c.version == version)
                     .values(status="promoted", promoted_at=_now()))

    def rollback(self, name: str, *, actor: str = "botfleet") -> tuple[ModelVersion, int]:
        """Back to the version promoted before the current one; returns (it, the version
        rolled back)."""
        current = self.promoted(name)
        if current is None:
            raise RegistryError(f"{name}: no version is promoted; nothing to roll back")
        status = {v.version: v.status for v in self.versions(name)}
        promoted_before = [e["version"] for e in self.events(name)
                           if e["action"] in ("promote", "rollback")]
        target = next((v for v in reversed(promoted_before)
                       if v != current.version and status.get(v) == "retired"), None)
        if target is None:
            raise RegistryError(f"{name}: version {current.version} is the first promoted "
                                "version; there is none to roll back to")
        with transaction(self.engine, write=True) as conn:
            self._swap(conn, name, target, "rolled_back")
            self._event(conn, name, target, "rollback", actor,
                        f"version {current.version} rolled back; version {target} promoted "
                        "again")
        return self.get(name, target), current.version
