"""State-database tables of the model registry: versions and what happened to them.

A version's files (the learner in LightGBM's text format or joblib, its columns) live under
the fleet's `data_dir/models/<name>/<version>/`; the row here says what they are: the data range
and SHA-256 of the candles, features, parameters, out-of-sample metrics, code version, and the
status (candidate, promoted, retired, rolled_back). At most one version of a name is promoted;
`ml_model_events` keeps every promotion, refusal and rollback with who did it and the numbers
behind it, which is also how a rollback finds the version to go back to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from botfleet.storage.columns import Document
from botfleet.storage.models import Base

STATUSES = ("candidate", "promoted", "retired", "rolled_back")


class MlModelVersion(Base):
    __tablename__ = "ml_model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per name
    status: Mapped[str] = mapped_column(String(16))  # STATUSES
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    algorithm: Mapped[str] = mapped_column(String(32))
    label: Mapped[dict[str, Any]] = mapped_column(Document)
    features: Mapped[list[Any]] = mapped_column(Document)  # the spec's feature list
    columns: Mapped[list[str]] = mapped_column(Document)  # the learner's input columns
    params: Mapped[dict[str, Any]] = mapped_column(Document)
    pairs: Mapped[list[str]] = mapped_column(Document)
    timeframe: Mapped[str] = mapped_column(String(16))
    data_start_ms: Mapped[int] = mapped_column(BigInteger)
    data_end_ms: Mapped[int] = mapped_column(BigInteger)
    train_start_ms: Mapped[int] = mapped_column(BigInteger)
    train_end_ms: Mapped[int] = mapped_column(BigInteger)
    holdout_start_ms: Mapped[int] = mapped_column(BigInteger)
    holdout_end_ms: Mapped[int] = mapped_column(BigInteger)
    data_sha256: Mapped[str] = mapped_column(String(64))
    spec_sha256: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(100))
    metrics: Mapped[dict[str, Any]] = mapped_column(Document)
    artefact: Mapped[str] = mapped_column(Text)  # folder of the version's files

    __table_args__ = (
        UniqueConstraint("name", "version"),
        Index("ix_ml_model_versions_name_status", "name", "status"),
    )


class MlModelEvent(Base):
    __tablename__ = "ml_model_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # train | promote | refuse | rollback
    actor: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_ml_model_events_name_ts", "name", "ts"),)
