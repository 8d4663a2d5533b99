"""The audit log as the operator's controls use it: who did what to what, from where, and
whether it was allowed.

Every control action (kill, release, pause, resume, reload, a Telegram command) writes one row
of `audit_log` (the table the ledger also writes reconciliation halts and config reloads to),
whatever the source: the CLI (`cli:<user>@<host>`), Telegram (`telegram:<user id>`), the UI.
A refused attempt is written too, with `allowed=False`, so an unknown chat poking the Telegram
bot leaves a trace someone can look at.

The functions take the state database's URL (or an engine) like the CLI and the Telegram bot
hold it; engines are kept per URL and the schema is migrated once per URL per process, so a
call costs one transaction, not an engine and a migration check.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from botfleet.storage.db import state_engine, transaction, upgrade
from botfleet.storage.trading import AuditEntry as AuditRow

AUDIT = AuditRow.__table__
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


class AuditError(ValueError):
    """An audit entry that cannot be written as given (a field empty or too long)."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts: datetime  # UTC
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    allowed: bool = True


def shared_engine(state: str | URL | Engine) -> Engine:
    """One engine per state-database URL for this process, migrated to the newest schema the
    first time it is asked for (an engine passed in is used as it is, already migrated)."""
    if isinstance(state, Engine):
        return state
    key = state.render_as_string(hide_password=False) if isinstance(state, URL) else str(state)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = state_engine(state)
            try:
                upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
            _ENGINES[key] = engine
        return engine


def dispose_engines() -> None:
    """Close the pooled connections (tests that drop their database afterwards)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _field(value: str | None, name: str, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise AuditError(f"audit entry: {name} must be a non-empty string (got {value!r})")
    if len(value) > limit:
        raise AuditError(f"audit entry: {name} is {len(value)} characters, at most {limit}: "
                         f"{value[:40]!r}…")


def insert_audit(conn: sa.Connection, *, actor: str, action: str, target: str | None,
                 detail: Mapping[str, Any] | None = None, allowed: bool = True) -> int:
    """Write one entry in the caller's transaction (a control change and its entry commit
    together or not at all)."""
    _field(actor, "actor", 100)
    _field(action, "action", 100)
    _field(target, "target", 200, optional=True)
    return conn.execute(AUDIT.insert().values(
        ts=datetime.now(UTC), actor=actor, action=action, target=target,
        detail=dict(detail or {}), allowed=bool(allowed)).returning(AUDIT.c.id)).scalar_one()


def record_audit(state_url: str | URL | Engine, *, actor: str, action: str,
                 target: str | None = None, detail: Mapping[str, Any] | None = None,
                 allowed: bool = True) -> int:
    """Write who did what to what; returns the entry's id."""
    with transaction(shared_engine(state_url), write=True) as conn:
        return insert_audit(conn, actor=actor, action=action, target=target, detail=detail,
                            allowed=allowed)


def audit_entries(state_url: str | URL | Engine, *, limit: int = 100, actor: str | None = None,
                  action: str | None = None, target: str | None = None,
                  allowed: bool | None = None) -> list[AuditEntry]:
    """The newest entries first, optionally only one actor's, action's, target's, or only the
    allowed (or refused) ones."""
    if limit < 1:
        raise AuditError(f"audit entries: limit must be at least 1 (got {limit})")
    query = sa.select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
    for column, value in (("actor", actor), ("action", action), ("target", target),
                          ("allowed", allowed)):
        if value is not None:
            query = query.where(AUDIT.c[column] == value)
    with transaction(shared_engine(state_url)) as conn:
        rows = conn.execute(query).all()
    return [AuditEntry(r.id, r.ts.replace(tzinfo=UTC) if r.ts.tzinfo is None
                       else r.ts.astimezone(UTC), r.actor, r.action, r.target,
                       dict(r.detail or {}), bool(r.allowed)) for r in rows]
