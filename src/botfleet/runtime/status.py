"""`botfleet status`: each bot as the state database knows it, whichever process runs it.

Read only from the database (no exchange, no running runner needed): the bot's mode, its last
cycle (when, which candle, the outcome and error), its positions, its working orders, the
kill switch in force for it, its circuit breakers and a standing reconciliation halt. A bot
of the fleet that never ran shows as such; a bot in the database that the fleet no longer
declares is still shown (it may hold positions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from botfleet.execution.records import utc
from botfleet.risk.kill import strictest
from botfleet.runtime.books import WORKING
from botfleet.runtime.controls import pause_of, read_paused
from botfleet.storage.db import state_engine, transaction
from botfleet.storage.trading import Bot, Cycle, OrderRow, PositionRow

BOTS, CYCLES = Bot.__table__, Cycle.__table__
ORDERS, POSITIONS = OrderRow.__table__, PositionRow.__table__


@dataclass
class BotStatus:
    bot: str
    exchange: str = ""
    mode: str = ""
    declared: bool = True  # in the fleet's files
    last_cycle_at: datetime | None = None
    last_candle_ms: int | None = None
    outcome: str | None = None
    error: str | None = None
    correlation_id: str | None = None
    positions: dict[str, Decimal] = field(default_factory=dict)
    open_orders: int = 0
    kill: str | None = None
    breakers: list[str] = field(default_factory=list)
    halted: str | None = None
    paused: str | None = None  # runtime.controls: no new entries

    def as_dict(self) -> dict:
        return {"bot": self.bot, "exchange": self.exchange, "mode": self.mode,
                "declared": self.declared,
                "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
                "last_candle_ms": self.last_candle_ms, "outcome": self.outcome,
                "error": self.error, "correlation_id": self.correlation_id,
                "positions": {k: str(v) for k, v in self.positions.items()},
                "open_orders": self.open_orders, "kill_switch": self.kill,
                "breakers": self.breakers, "halted": self.halted, "paused": self.paused}


def status_rows(state_url: str | sa.Engine, fleet=None, *, now_ms: int | None = None
                ) -> list[BotStatus]:
    """Every bot's status in a fixed number of grouped queries whatever the fleet's size. An
    engine (the panel keeps one) is used and left open; a URL gets an engine of its own."""
    from botfleet.data.candles import now_ms as wall_ms
    from botfleet.execution import halts
    from botfleet.risk.store import RiskStore

    now = wall_ms() if now_ms is None else now_ms
    owned = not isinstance(state_url, sa.Engine)
    engine = state_engine(state_url) if owned else state_url
    try:
        rows: dict[str, BotStatus] = {}
        if fleet is not None:
            for b in fleet.bots.values():
                rows[b.name] = BotStatus(b.name, b.exchange, b.mode + " (never ran)")
        with transaction(engine) as conn:
            ids = {}
            for r in conn.execute(sa.select(BOTS).order_by(BOTS.c.name)):
                row = rows.get(r.name) or BotStatus(r.name, declared=fleet is None)
                row.exchange, row.mode = r.exchange, r.mode
                rows[r.name], ids[r.id] = row, r.name
            last = sa.select(CYCLES.c.bot_id, sa.func.max(CYCLES.c.id).label("id")).group_by(
                CYCLES.c.bot_id).subquery()
            for c in conn.execute(sa.select(CYCLES).join(last, CYCLES.c.id == last.c.id)):
                row = rows[ids[c.bot_id]]
                row.last_cycle_at = utc(c.finished_at or c.started_at)
                row.last_candle_ms, row.outcome = c.candle_ms, c.outcome or "running"
                row.error, row.correlation_id = c.error, c.correlation_id
            for p in conn.execute(sa.select(POSITIONS).where(POSITIONS.c.amount != 0)):
                rows[ids[p.bot_id]].positions[p.symbol] = p.amount.normalize()
            for bot_id, n in conn.execute(sa.select(ORDERS.c.bot_id, sa.func.count()).where(
                    ORDERS.c.status.in_(WORKING)).group_by(ORDERS.c.bot_id)):
                rows[ids[bot_id]].open_orders = n
        risk = RiskStore(engine, migrate=False)
        engaged = risk.engaged(now)
        breakers = risk.breakers()
        with transaction(engine) as conn:
            paused = read_paused(conn)
            halted = halts.standing(conn, sorted(ids.values()))
        fleet_name = fleet.name if fleet is not None else None
        for row in rows.values():
            kill = strictest(s for s in engaged if s.covers(row.bot, row.exchange))
            pause = pause_of(paused, row.bot)
            row.paused = pause.describe() if pause else None
            row.kill = kill.describe() if kill else None
            for b in breakers:
                covers = (b.level == "bot" and b.target == row.bot) or (
                    b.level == "exchange" and b.target == row.exchange) or (
                    b.level == "fleet" and b.target == fleet_name)
                if covers and b.state != "closed":
                    row.breakers.append(f"{b.level} {b.target}: {b.state} ({b.rule})")
            halt = halted.get(row.bot)
            row.halted = ("; ".join(halt.reasons) or "halted") if halt else None
        return sorted(rows.values(), key=lambda r: r.bot)
    finally:
        if owned:
            engine.dispose()


def format_rows(rows: list[BotStatus]) -> list[str]:
    head = ["bot", "mode", "last cycle (UTC)", "outcome", "positions", "orders", "halts"]
    table = [head]
    for r in rows:
        when = r.last_cycle_at.strftime("%Y-%m-%d %H:%M:%S") if r.last_cycle_at else "-"
        pos = ", ".join(f"{s} {a}" for s, a in r.positions.items()) or "flat"
        halts_ = "; ".join(filter(None, [r.kill, r.paused, *r.breakers,
                                         f"reconcile: {r.halted}" if r.halted else None]))
        table.append([r.bot + ("" if r.declared else " (not in the fleet)"), r.mode, when,
                      (r.outcome or "-") + (f": {r.error}" if r.error else ""), pos,
                      str(r.open_orders), halts_ or "-"])
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  "
            + row[-1] for row in table]

