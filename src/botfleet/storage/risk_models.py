"""State-database tables of the risk engine: kill switches, circuit breakers, risk events.

They live in SQL because the fleet runner may run each cycle in a fresh process: a breaker
opened in one cycle and a kill switch engaged from the CLI must still hold in the next one,
and after a restart, until they are released.

`risk_kill_switches` keeps every engagement (history): a release stamps `released_at` on its
row. `engaged` is TRUE while a switch holds and NULL once released, so the unique constraint on
(scope, target, engaged) allows one engaged switch per target and any number of released ones
(NULLs are distinct in a unique constraint on SQLite and PostgreSQL alike), without the partial
indexes Alembic's autogenerate cannot compare.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from botfleet.storage.columns import Document
from botfleet.storage.models import Base


class RiskKillSwitch(Base):
    __tablename__ = "risk_kill_switches"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # global | exchange | bot
    target: Mapped[str] = mapped_column(String(200))  # '' for global
    engaged: Mapped[bool | None] = mapped_column(Boolean)  # TRUE, or NULL once released
    mode: Mapped[str] = mapped_column(String(16))  # freeze | cancel_orders | flatten
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    engaged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    release: Mapped[str] = mapped_column(String(16))  # manual | next_day
    release_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("scope", "target", "engaged"),
        Index("ix_risk_kill_switches_engaged_at", "engaged_at"),
    )


class RiskBreaker(Base):
    __tablename__ = "risk_breakers"

    level: Mapped[str] = mapped_column(String(16), primary_key=True)  # bot | exchange | fleet
    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # closed | open | half_open
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    open_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rule: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    trips: Mapped[int] = mapped_column(Integer)
    # consecutive errors, error times within the rate window, errors by kind
    counters: Mapped[dict[str, Any]] = mapped_column(Document)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskEventRow(Base):
    __tablename__ = "risk_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))  # risk_refusal | circuit_breaker | kill_switch
    level: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_risk_events_ts", "ts"),
        Index("ix_risk_events_target_ts", "target", "ts"),
    )
