"""The risk engine's state in the state database: kill switches, breakers, events.

Small, explicit statements (no ORM sessions): a kill switch check at every cycle start is one
indexed SELECT, and an engagement is one write transaction that first releases any switch
already engaged on the same target ("superseded"), so escalating `freeze` to `flatten` is one
command and the history keeps both. The unique constraint on engaged switches settles two
processes engaging the same target at once: the loser retries and supersedes the winner.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Self

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from botfleet.risk.breaker import BreakerState
from botfleet.risk.decision import RiskEvent
from botfleet.risk.kill import KillState
from botfleet.storage.db import state_engine, transaction, upgrade
from botfleet.storage.risk_models import RiskBreaker, RiskEventRow, RiskKillSwitch

# Alembic runs a migration through module-level state (`alembic.context`), so two threads of one
# process migrating at once break each other (seen: KeyError 'config'); one at a time here.
_MIGRATING = threading.Lock()
K = RiskKillSwitch.__table__
B = RiskBreaker.__table__
E = RiskEventRow.__table__


def to_dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:  # SQLite gives back naive datetimes; every stored time is UTC
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


def _kill(row) -> KillState:
    return KillState(row.id, row.scope, row.target, row.mode, row.reason, row.actor,
                     to_ms(row.engaged_at), row.release, to_ms(row.release_at),
                     to_ms(row.released_at), row.released_by, row.release_reason)


class RiskStore:
    """Opening it migrates the database to the newest schema (pass `migrate=False` when
    something else owns migrations)."""

    def __init__(self, url: str | URL | Engine, *, migrate: bool = True):
        self.engine = url if isinstance(url, Engine) else state_engine(url)
        self._owned = not isinstance(url, Engine)
        if migrate:
            with _MIGRATING:
                upgrade(self.engine)

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- kill switches -------------------------------------------------------------------

    def engage(self, scope: str, target: str, mode: str, reason: str, actor: str,
               release: str, now_ms: int, release_at_ms: int | None) -> KillState:
        for attempt in range(3):
            try:
                with transaction(self.engine, write=True) as conn:
                    conn.execute(update(K).where(K.c.scope == scope, K.c.target == target,
                                                 K.c.engaged.is_(True))
                                 .values(engaged=None, released_at=to_dt(now_ms),
                                         released_by=actor,
                                         release_reason=f"superseded: {reason}"))
                    new_id = conn.execute(insert(K).values(
                        scope=scope, target=target, engaged=True, mode=mode, reason=reason,
                        actor=actor, engaged_at=to_dt(now_ms), release=release,
                        release_at=to_dt(release_at_ms)).returning(K.c.id)).scalar_one()
                    return _kill(conn.execute(select(K).where(K.c.id == new_id)).one())
            except IntegrityError:  # another process engaged the same target meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def release(self, scope: str, target: str, reason: str, actor: str,
                now_ms: int) -> KillState | None:
        with transaction(self.engine, write=True) as conn:
            row = conn.execute(select(K).where(K.c.scope == scope, K.c.target == target,
                                               K.c.engaged.is_(True))).one_or_none()
            if row is None:
                return None
            conn.execute(update(K).where(K.c.id == row.id).values(
                engaged=None, released_at=to_dt(now_ms), released_by=actor,
                release_reason=reason))
            return _kill(conn.execute(select(K).where(K.c.id == row.id)).one())

    def engaged(self, now_ms: int) -> list[KillState]:
        """Switches that hold now; `next_day` ones past their time are released here (by
        'release: next_day'), so history shows when they lifted."""
        with transaction(self.engine) as conn:
            rows = [_kill(r) for r in conn.execute(select(K).where(K.c.engaged.is_(True))
                                                   .order_by(K.c.id))]
        lapsed = [s for s in rows if not s.in_force(now_ms)]
        if lapsed:
            with transaction(self.engine, write=True) as conn:
                for s in lapsed:
                    conn.execute(update(K).where(K.c.id == s.id, K.c.engaged.is_(True)).values(
                        engaged=None, released_at=to_dt(s.release_at_ms),
                        released_by="release: next_day", release_reason="00:00 UTC"))
        return [s for s in rows if s.in_force(now_ms)]

    def kill_history(self, limit: int = 100, target: str | None = None) -> list[KillState]:
        q = select(K).order_by(K.c.id.desc()).limit(limit)
        if target is not None:
            q = q.where(K.c.target == target)
        with transaction(self.engine) as conn:
            return [_kill(r) for r in conn.execute(q)]

    # -- circuit breakers ----------------------------------------------------------------

    def load_breaker(self, level: str, target: str) -> BreakerState | None:
        with transaction(self.engine) as conn:
            row = conn.execute(select(B).where(B.c.level == level, B.c.target == target)
                               ).one_or_none()
        if row is None:
            return None
        c = row.counters or {}
        return BreakerState(level, target, row.state, to_ms(row.since), to_ms(row.open_until),
                            row.rule, row.detail, int(c.get("consecutive", 0)),
                            tuple(int(t) for t in c.get("error_times", ())),
                            {k: int(v) for k, v in (c.get("counts") or {}).items()}, row.trips)

    def save_breaker(self, state: BreakerState, now_ms: int) -> None:
        values = {"state": state.state, "since": to_dt(state.since_ms),
                  "open_until": to_dt(state.open_until_ms), "rule": state.rule,
                  "detail": state.detail, "trips": state.trips, "updated_at": to_dt(now_ms),
                  "counters": {"consecutive": state.consecutive,
                               "error_times": list(state.error_times),
                               "counts": dict(state.counts)}}
        with transaction(self.engine, write=True) as conn:
            done = conn.execute(update(B).where(B.c.level == state.level,
                                                B.c.target == state.target).values(**values))
            if not done.rowcount:
                conn.execute(insert(B).values(level=state.level, target=state.target, **values))

    def breakers(self) -> list[BreakerState]:
        with transaction(self.engine) as conn:
            keys = [(r.level, r.target) for r in conn.execute(select(B.c.level, B.c.target))]
        return [self.load_breaker(level, target) for level, target in keys]

    # -- events --------------------------------------------------------------------------

    def add_events(self, events: Iterable[RiskEvent]) -> int:
        rows = [{"ts": to_dt(e.ts), "kind": e.kind, "level": e.level, "target": e.bot,
                 "rule": e.rule, "state": e.state, "severity": e.severity, "detail": e.detail}
                for e in events]
        if rows:
            with transaction(self.engine, write=True) as conn:
                conn.execute(insert(E), rows)
        return len(rows)

    def events(self, target: str | None = None, since_ms: int | None = None,
               kinds: Iterable[str] | None = None, limit: int = 100) -> list[RiskEvent]:
        """Newest first."""
        q = select(E).order_by(E.c.ts.desc(), E.c.id.desc()).limit(limit)
        if target is not None:
            q = q.where(E.c.target == target)
        if since_ms is not None:
            q = q.where(E.c.ts >= to_dt(since_ms))
        if kinds:
            q = q.where(or_(*(E.c.kind == k for k in kinds)))
        with transaction(self.engine) as conn:
            return [RiskEvent(r.kind, r.target, r.rule, r.detail, to_ms(r.ts), r.level, r.state,
                              r.severity) for r in conn.execute(q)]
