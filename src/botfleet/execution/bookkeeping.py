"""The ledger's bookkeeping around orders: bots, process runs, cycles, balance snapshots,
equity points and the audit log. `Ledger` (ledger.py) adds the orders and fills.

Kept apart from the order code because it has none of its invariants: these are plain rows
written once (or closed once), and a separate file keeps the order logic readable.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from botfleet.execution.records import (
    Balance,
    CycleRecord,
    LedgerError,
    UnknownBot,
    money,
    plain,
    text,
    utc,
)
from botfleet.storage.db import state_engine, transaction, upgrade
from botfleet.storage.trading import (
    MODES,
    AuditEntry,
    BalanceSnapshot,
    Bot,
    BotRun,
    Cycle,
    EquityPoint,
)

BOTS, RUNS, CYCLES = Bot.__table__, BotRun.__table__, Cycle.__table__
BALANCES, EQUITY, AUDIT = BalanceSnapshot.__table__, EquityPoint.__table__, AuditEntry.__table__


def _now() -> datetime:
    return datetime.now(UTC)


def _cycle(row, bot: str) -> CycleRecord:
    return CycleRecord(row.id, bot, row.key, row.correlation_id, row.candle_ms, row.run_id,
                       utc(row.started_at), row.finished_at and utc(row.finished_at),
                       row.outcome, row.error)


class Bookkeeping:
    """The state database at `target` (a URL or an engine, which is then not disposed on
    close); opening it migrates it to the newest schema unless `migrate=False`. `clock` gives
    the time written on rows (UTC-aware datetimes); paper and replay runs pass their own."""

    def __init__(self, target: str | URL | Engine, *, migrate: bool = True,
                 clock: Callable[[], datetime] = _now):
        self._owned = not isinstance(target, Engine)
        self.engine = state_engine(target) if self._owned else target
        self._clock = clock
        self._bot_ids: dict[str, int] = {}
        if migrate:
            try:
                upgrade(self.engine)
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def now(self) -> datetime:
        ts = self._clock()
        if ts.tzinfo is None:
            raise LedgerError(f"the ledger's clock gave a naive datetime {ts!r}; give UTC")
        return ts.astimezone(UTC)

    def stamp(self, ts: datetime | None) -> datetime:
        """`ts` in UTC (stored times are UTC; SQLite keeps no zone), or now if None."""
        if ts is None:
            return self.now()
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            raise LedgerError(f"time {ts!r} must be a timezone-aware datetime")
        return ts.astimezone(UTC)

    def _write(self):
        return transaction(self.engine, write=True)

    def _read(self):
        return transaction(self.engine)

    # -- bots ------------------------------------------------------------------------------
    def register_bot(self, name: str, exchange: str, mode: str = "paper") -> int:
        """The bot's id, creating its row or updating its exchange and mode (idempotent; call
        at every start)."""
        text(name, "bot name", 100)
        text(exchange, f"bot {name!r}: exchange", 64)
        if mode not in MODES:
            raise LedgerError(f"bot {name!r}: mode {mode!r} is not one of {', '.join(MODES)}")
        now = self.now()
        for _ in range(2):  # a concurrent first registration wins the insert; then update
            try:
                with self._write() as conn:
                    row = conn.execute(sa.select(BOTS).where(BOTS.c.name == name)).first()
                    if row is None:
                        bot_id = conn.execute(BOTS.insert().values(
                            name=name, exchange=exchange, mode=mode, created_at=now,
                            updated_at=now).returning(BOTS.c.id)).scalar_one()
                    else:
                        bot_id = row.id
                        if (row.exchange, row.mode) != (exchange, mode):
                            conn.execute(BOTS.update().where(BOTS.c.id == bot_id).values(
                                exchange=exchange, mode=mode, updated_at=now))
                self._bot_ids[name] = bot_id
                return bot_id
            except IntegrityError:
                continue
        raise LedgerError(f"bot {name!r}: could not register it")  # pragma: no cover

    def _bot_id(self, conn: Connection, name: str) -> int:
        bot_id = self._bot_ids.get(name)
        if bot_id is None:
            bot_id = conn.execute(sa.select(BOTS.c.id).where(BOTS.c.name == name)).scalar()
            if bot_id is None:
                raise UnknownBot(f"bot {name!r} is not registered in the ledger; call "
                                 "register_bot(name, exchange, mode) first")
            self._bot_ids[name] = bot_id
        return bot_id

    # -- runs and cycles -------------------------------------------------------------------
    def start_run(self, bot: str, *, version: str | None = None, pid: int | None = None,
                  host: str | None = None) -> int:
        """Record that this process started running `bot`; returns the run id."""
        from botfleet import __version__

        with self._write() as conn:
            bot_id = self._bot_id(conn, bot)
            mode = conn.execute(sa.select(BOTS.c.mode).where(BOTS.c.id == bot_id)).scalar_one()
            return conn.execute(RUNS.insert().values(
                bot_id=bot_id, mode=mode, started_at=self.now(),
                pid=os.getpid() if pid is None else pid,
                host=(host or socket.gethostname())[:255],
                version=(version or __version__)[:64]).returning(RUNS.c.id)).scalar_one()

    def stop_run(self, run_id: int, reason: str | None = None) -> None:
        with self._write() as conn:
            done = conn.execute(RUNS.update().where(RUNS.c.id == run_id).values(
                stopped_at=self.now(), stop_reason=reason and reason[:200])).rowcount
        if not done:
            raise LedgerError(f"no bot run {run_id}")

    def begin_cycle(self, bot: str, *, candle_ms: int | None = None, key: str | None = None,
                    run_id: int | None = None) -> CycleRecord:
        """Start a cycle attempt with a fresh correlation id. `key` (default: the candle time)
        must be the same when the same work is retried: client order ids derive from it."""
        if key is None:
            if candle_ms is None:
                raise LedgerError(f"bot {bot!r}: a cycle needs a key or the candle time")
            key = str(candle_ms)
        text(key, f"bot {bot!r}: cycle key", 64)
        with self._write() as conn:
            bot_id = self._bot_id(conn, bot)
            row = conn.execute(CYCLES.insert().values(
                bot_id=bot_id, run_id=run_id, key=key, correlation_id=uuid.uuid4().hex,
                candle_ms=candle_ms, started_at=self.now()).returning(*CYCLES.c)).one()
        return _cycle(row, bot)

    def end_cycle(self, cycle: CycleRecord | str, outcome: str = "ok",
                  error: str | None = None, *, wall_ms: int | None = None) -> CycleRecord:
        """Close a cycle (by record or correlation id) with its outcome, e.g. ok, error,
        skipped; `wall_ms`, its real duration, is what the panel shows as latency (a replay's
        own clock runs faster than real time)."""
        correlation_id = cycle if isinstance(cycle, str) else cycle.correlation_id
        text(outcome, f"cycle {correlation_id}: outcome", 32)
        with self._write() as conn:
            row = conn.execute(CYCLES.update().where(
                CYCLES.c.correlation_id == correlation_id).values(
                finished_at=self.now(), outcome=outcome, error=error,
                wall_ms=wall_ms).returning(*CYCLES.c)).first()
            if row is None:
                raise LedgerError(f"no cycle with correlation id {correlation_id!r}")
            name = conn.execute(sa.select(BOTS.c.name).where(BOTS.c.id == row.bot_id)).scalar()
        return _cycle(row, name)

    def cycle(self, correlation_id: str) -> CycleRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(CYCLES, BOTS.c.name.label("bot")).join(BOTS).where(
                CYCLES.c.correlation_id == correlation_id)).first()
        return None if row is None else _cycle(row, row.bot)

    # -- balances, equity, audit -----------------------------------------------------------
    def snapshot_balances(self, balances: Mapping[str, Balance], *, bot: str | None = None,
                          account: str | None = None, ts: datetime | None = None) -> int:
        """Store one account's balances (asset -> Balance) at one time, of a bot, a named
        account, or both; returns the number of rows."""
        if bot is None and account is None:
            raise LedgerError("snapshot_balances: give the bot or the account the balances are of")
        text(account, "snapshot_balances: account", 100, optional=True)
        ts = self.stamp(ts)
        rows = []
        for asset, b in balances.items():
            text(asset, "snapshot_balances: asset", 32)
            if not isinstance(b, Balance):
                raise LedgerError(f"snapshot_balances: {asset} must be a Balance, got "
                                  f"{type(b).__name__}")
            rows.append({"asset": asset, "account": account, "ts": ts,
                         **{k: money(getattr(b, k), f"balance {asset}.{k}", signed=True)
                            for k in ("free", "used", "total")}})
        with self._write() as conn:
            bot_id = self._bot_id(conn, bot) if bot is not None else None
            if rows:
                conn.execute(BALANCES.insert(), [{**r, "bot_id": bot_id} for r in rows])
        return len(rows)

    def balances(self, *, bot: str | None = None, account: str | None = None
                 ) -> dict[str, Balance]:
        """The latest snapshot of a bot's or an account's balances (empty if none)."""
        with self._read() as conn:
            where = []
            if bot is not None:
                where.append(BALANCES.c.bot_id == self._bot_id(conn, bot))
            if account is not None:
                where.append(BALANCES.c.account == account)
            if not where:
                raise LedgerError("balances: give the bot or the account")
            latest = conn.execute(sa.select(sa.func.max(BALANCES.c.ts)).where(*where)).scalar()
            if latest is None:
                return {}
            rows = conn.execute(sa.select(BALANCES).where(*where, BALANCES.c.ts == latest))
            return {r.asset: Balance(plain(r.free), plain(r.used), plain(r.total)) for r in rows}

    def record_equity(self, bot: str, equity: Decimal, ts: datetime | None = None) -> None:
        """A point of the bot's equity curve; recording the same time again replaces it (a
        restarted cycle re-records its point)."""
        equity = money(equity, f"bot {bot!r}: equity", signed=True)
        ts = self.stamp(ts)
        with self._write() as conn:
            bot_id = self._bot_id(conn, bot)
            key = (EQUITY.c.bot_id == bot_id) & (EQUITY.c.ts == ts)
            if not conn.execute(EQUITY.update().where(key).values(equity=equity)).rowcount:
                conn.execute(EQUITY.insert().values(bot_id=bot_id, ts=ts, equity=equity))

    def equity(self, bot: str, since: datetime | None = None) -> list[tuple[datetime, Decimal]]:
        with self._read() as conn:
            query = sa.select(EQUITY.c.ts, EQUITY.c.equity).where(
                EQUITY.c.bot_id == self._bot_id(conn, bot)).order_by(EQUITY.c.ts)
            if since is not None:
                query = query.where(EQUITY.c.ts >= self.stamp(since))
            return [(utc(ts), plain(value)) for ts, value in conn.execute(query)]

    def audit(self, actor: str, action: str, target: str | None = None,
              detail: Mapping[str, Any] | None = None) -> int:
        """Write who did what to what (operator commands, the kill switch, manual orders)."""
        text(actor, "audit: actor", 100)
        text(action, "audit: action", 100)
        text(target, "audit: target", 200, optional=True)
        with self._write() as conn:
            return conn.execute(AUDIT.insert().values(
                ts=self.now(), actor=actor, action=action, target=target,
                detail=dict(detail or {})).returning(AUDIT.c.id)).scalar_one()

    def audit_log(self, target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries first (of `target` if given)."""
        query = sa.select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(AUDIT.c.target == target)
        with self._read() as conn:
            return [{**r._asdict(), "ts": utc(r.ts)} for r in conn.execute(query)]
