"""The fleet at a glance, for the control panel: `botfleet status` plus money and alerts.

Built on `status.status_rows` (mode, last cycle, positions, orders, kill switch, breakers,
reconciliation halt) and adds what an operator scans a fleet for: one status word per bot,
equity now and its change today / over 7 days / since the bot's first equity point, the
last cycle's latency and the warnings of the last day. Everything comes from the state
database in a fixed number of grouped queries whatever the fleet's size (the overview of
100 bots must render in well under two seconds).

A cycle's latency is its real duration (`cycles.wall_ms`, measured by the runner on the wall
clock), not `finished_at - started_at`: those are on the clock the runner trades by, which for
a replay is simulated time (`botfleet paper --replay --speed N` stretches a 5 ms cycle to
N x 5 ms). Rows written before the column existed fall back to the two times (`LATENCY_NOTE`).

Equity is what the runtime records each cycle (`equity_points`: capital + realised PnL +
open positions at the last price), so PnL here is the change of that curve, fees included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from botfleet.risk.history import DAY_MS, day_start_ms
from botfleet.runtime.status import BotStatus, status_rows
from botfleet.storage.db import state_engine, transaction
from botfleet.storage.trading import Bot, BotRun, Cycle, EquityPoint

BOTS, RUNS, CYCLES, EQUITY = (Bot.__table__, BotRun.__table__, Cycle.__table__,
                              EquityPoint.__table__)
STATUSES = ("killed", "paused", "circuit open", "error", "running", "stopped", "never ran")
ALERT_SEVERITIES = ("warning", "critical", "error")

LATENCY_NOTE = ("in real time, as the runner measured it (cycles recorded before botfleet "
                "kept that: the runner's own clock, which a replay runs faster than real time)")


@dataclass
class BotOverview:
    status: BotStatus
    state: str = "never ran"  # one of STATUSES
    paused_by: str | None = None
    equity: Decimal | None = None
    pnl_today: Decimal | None = None
    pnl_7d: Decimal | None = None
    pnl_total: Decimal | None = None
    latency_ms: int | None = None
    alerts: list[str] = field(default_factory=list)

    @property
    def bot(self) -> str:
        return self.status.bot

    def as_row(self) -> dict:
        """Flat, display-ready (money stays Decimal; the UI formats it)."""
        s = self.status
        return {"bot": s.bot, "exchange": s.exchange, "mode": s.mode, "status": self.state,
                "equity": self.equity, "pnl_today": self.pnl_today, "pnl_7d": self.pnl_7d,
                "pnl_total": self.pnl_total,
                "positions": ", ".join(f"{k} {v}" for k, v in s.positions.items()) or "flat",
                "open_orders": s.open_orders, "last_cycle": s.last_cycle_at,
                "latency_ms": self.latency_ms, "outcome": s.outcome,
                "alerts": "; ".join(self.alerts)}


def _ms(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _point_at(conn, ids: dict[int, str], at_ms: int | None, newest: bool) -> dict[str, Decimal]:
    """Each bot's equity at the newest point at or before `at_ms` (None: now), or its first."""
    agg = sa.func.max(EQUITY.c.ts) if newest else sa.func.min(EQUITY.c.ts)
    pick = sa.select(EQUITY.c.bot_id, agg.label("ts")).group_by(EQUITY.c.bot_id)
    if at_ms is not None:
        pick = pick.where(EQUITY.c.ts <= _dt(at_ms))
    pick = pick.subquery()
    q = sa.select(EQUITY.c.bot_id, EQUITY.c.equity).join(
        pick, (EQUITY.c.bot_id == pick.c.bot_id) & (EQUITY.c.ts == pick.c.ts))
    return {ids[r.bot_id]: Decimal(r.equity) for r in conn.execute(q) if r.bot_id in ids}


def _classify(row: BotOverview, running: bool, paused: dict) -> str:
    s = row.status
    if s.kill:
        return "killed"
    if paused.get(s.bot) or paused.get("*"):
        return "paused"
    if s.breakers:
        return "circuit open"
    if s.halted or s.outcome == "error" or s.error:
        return "error"
    if s.last_cycle_at is None and not running:
        return "never ran"
    return "running" if running else "stopped"


def _paused(state_url: str | sa.Engine) -> dict:
    """Paused bots when the control module is installed (it owns the pause table)."""
    try:
        from botfleet.runtime.controls import paused_bots
    except ImportError:
        return {}
    return paused_bots(state_url)


def fleet_overview(state_url: str | sa.Engine, fleet=None, *, now_ms: int | None = None
                   ) -> list[BotOverview]:
    """Every bot's overview. Pass an engine to reuse its connections (the panel keeps one per
    state database: a new PostgreSQL connection per refresh costs more than the queries);
    a URL gets one engine for this call, closed at the end."""
    from botfleet.data.candles import now_ms as wall_ms
    from botfleet.risk.store import RiskStore

    now = wall_ms() if now_ms is None else now_ms
    owned = not isinstance(state_url, sa.Engine)
    engine = state_engine(state_url) if owned else state_url
    try:
        rows = {s.bot: BotOverview(s) for s in status_rows(engine, fleet, now_ms=now)}
        paused = _paused(engine)
        with transaction(engine) as conn:
            ids = {r.id: r.name for r in conn.execute(sa.select(BOTS.c.id, BOTS.c.name))}
            last = _point_at(conn, ids, None, True)
            today = _point_at(conn, ids, day_start_ms(now), True)
            week = _point_at(conn, ids, now - 7 * DAY_MS, True)
            first = _point_at(conn, ids, None, False)
            newest_run = sa.select(RUNS.c.bot_id, sa.func.max(RUNS.c.id).label("id")).group_by(
                RUNS.c.bot_id).subquery()
            running = {ids[r.bot_id] for r in conn.execute(
                sa.select(RUNS.c.bot_id, RUNS.c.stopped_at).join(
                    newest_run, RUNS.c.id == newest_run.c.id)) if r.stopped_at is None}
            newest = sa.select(CYCLES.c.bot_id, sa.func.max(CYCLES.c.id).label("id")).group_by(
                CYCLES.c.bot_id).subquery()
            latency = {ids[c.bot_id]: _latency_ms(c) for c in conn.execute(sa.select(CYCLES).join(
                newest, CYCLES.c.id == newest.c.id)) if c.finished_at}
        risk = RiskStore(engine, migrate=False)
        events = risk.events(since_ms=now - DAY_MS, limit=1000)
    finally:
        if owned:
            engine.dispose()
    for name, row in rows.items():
        row.equity = last.get(name)
        if row.equity is not None:
            # a bot younger than the window: its change since its first point
            row.pnl_today = row.equity - today.get(name, first[name])
            row.pnl_7d = row.equity - week.get(name, first[name])
            row.pnl_total = row.equity - first[name]
        row.latency_ms = latency.get(name)
        info = paused.get(name) or paused.get("*")
        row.paused_by = getattr(info, "actor", None) if info is not None else None
        row.state = _classify(row, name in running, paused)
        row.alerts = [e.detail for e in events if e.bot == name
                      and e.severity in ALERT_SEVERITIES][:3]
    return sorted(rows.values(), key=lambda r: r.bot)


@dataclass
class FleetTotals:
    bots: int
    by_state: dict[str, int]
    equity: Decimal
    pnl_today: Decimal
    pnl_7d: Decimal
    pnl_total: Decimal
    open_orders: int


def totals(rows: list[BotOverview]) -> FleetTotals:
    zero = Decimal(0)
    by_state = {s: n for s in STATUSES if (n := sum(r.state == s for r in rows))}
    return FleetTotals(len(rows), by_state, sum((r.equity or zero for r in rows), zero),
                       sum((r.pnl_today or zero for r in rows), zero),
                       sum((r.pnl_7d or zero for r in rows), zero),
                       sum((r.pnl_total or zero for r in rows), zero),
                       sum(r.status.open_orders for r in rows))


def equity_curve(state_url: str, bot: str, *, since_ms: int | None = None
                 ) -> list[tuple[int, Decimal]]:
    """The bot's recorded equity, oldest first (ms UTC, quote currency)."""
    engine = state_engine(state_url)
    try:
        with transaction(engine) as conn:
            q = sa.select(EQUITY.c.ts, EQUITY.c.equity).join(
                BOTS, BOTS.c.id == EQUITY.c.bot_id).where(BOTS.c.name == bot).order_by(
                EQUITY.c.ts)
            if since_ms is not None:
                q = q.where(EQUITY.c.ts >= _dt(since_ms))
            return [(_ms(r.ts), Decimal(r.equity)) for r in conn.execute(q)]
    finally:
        engine.dispose()


def _latency_ms(c) -> int:
    """A finished cycle's latency: its wall time, or for rows older than `wall_ms` the span
    on the runner's clock."""
    return c.wall_ms if c.wall_ms is not None else _ms(c.finished_at) - _ms(c.started_at)


def recent_cycles(state_url: str, bot: str, limit: int = 50) -> list[dict]:
    """The bot's newest cycles: when, the candle, outcome, error, correlation id, latency."""
    engine = state_engine(state_url)
    try:
        with transaction(engine) as conn:
            q = sa.select(CYCLES).join(BOTS, BOTS.c.id == CYCLES.c.bot_id).where(
                BOTS.c.name == bot).order_by(CYCLES.c.id.desc()).limit(limit)
            out = []
            for c in conn.execute(q):
                out.append({"started": _ms(c.started_at), "candle_ms": c.candle_ms,
                            "outcome": c.outcome or "running", "error": c.error,
                            "correlation_id": c.correlation_id,
                            "latency_ms": _latency_ms(c) if c.finished_at else None})
            return out
    finally:
        engine.dispose()


def limit_usage(state_url: str, fleet, bot: str, *, now_ms: int | None = None) -> list[dict]:
    """The bot's own limits (resolved to amounts) and how much of each it uses now: position
    value at entry against `max_position`, open positions, today's loss and the drawdown
    from the recorded equity. `used` is a fraction of the limit (None: not measured here)."""
    from botfleet.data.candles import now_ms as wall_ms
    from botfleet.execution.ledger import Ledger
    from botfleet.risk.limits import resolve
    from botfleet.sim.bots import bot_capital

    now = wall_ms() if now_ms is None else now_ms
    cfg = fleet.bots[bot]
    limits = resolve(cfg.risk, "bot", bot, bot_capital(fleet, cfg), fleet.capital_currency)
    ledger = Ledger(state_url, migrate=False)
    try:
        held = [p for p in ledger.positions(bot) if p.amount != 0]
    finally:
        ledger.engine.dispose()
    curve = equity_curve(state_url, bot)
    equity = curve[-1][1] if curve else None
    peak = max((v for _, v in curve), default=None)
    start = next((v for t, v in reversed(curve) if t <= day_start_ms(now)),
                 curve[0][1] if curve else None)
    out = []

    def add(name: str, limit, shown: str, used: Decimal | None) -> None:
        if limit is not None:
            out.append({"limit": name, "value": shown, "used": used})

    largest = max((abs(p.amount) * p.entry_price for p in held), default=Decimal(0))
    b = limits.max_position
    add("max_position", b, b.text if b else "", largest / b.amount if b and b.amount else None)
    add("max_open_positions", limits.max_open_positions, str(limits.max_open_positions),
        Decimal(len(held)) / limits.max_open_positions if limits.max_open_positions else None)
    b = limits.max_order_size
    add("max_order_size", b, b.text if b else "", None)
    b = limits.max_daily_loss
    loss = max(start - equity, Decimal(0)) if equity is not None and start is not None else None
    add("max_daily_loss", b, b.text if b else "",
        loss / b.amount if b and b.amount and loss is not None else None)
    dd = (peak - equity) / peak if equity is not None and peak else None
    add("max_drawdown", limits.max_drawdown, f"{limits.max_drawdown:.2%}"
        if limits.max_drawdown is not None else "",
        dd / limits.max_drawdown if dd is not None and limits.max_drawdown else None)
    add("max_consecutive_losses", limits.max_consecutive_losses,
        str(limits.max_consecutive_losses), None)
    return out
