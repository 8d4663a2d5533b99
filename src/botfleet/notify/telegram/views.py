"""The read-only answers: /status, /balance, /positions, /orders, /pnl, /trades, /performance.

Each reads through the library that owns the data, never a copy of its logic: the status
rows of `runtime.status` (what `botfleet status` prints), the ledger's positions, open
orders, balance snapshots and equity points, and the round trips `runtime.trades` derives
from the fills (what the risk limits and the paper-versus-backtest report read). Money is
Decimal throughout and printed as such. A reply stays under Telegram's 4,096 characters.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from botfleet.execution.ledger import Ledger
from botfleet.runtime.books import StateReader
from botfleet.runtime.status import status_rows
from botfleet.runtime.trades import round_trips
from botfleet.storage.trading import Bot

MAX_CHARS = 4000
PERIODS = {"today": None, "7d": 7, "30d": 30, "all": 0}
ZERO = Decimal(0)


class PeriodError(ValueError):
    pass


def clip(lines: list[str]) -> str:
    out, size = [], 0
    for i, line in enumerate(lines):
        if size + len(line) + 1 > MAX_CHARS:
            out.append(f"… {len(lines) - i} more line(s): see `botfleet status` or the UI")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    q = value.quantize(Decimal("0.01")) if abs(value) >= 1 else value.normalize()
    return f"{q:,f}"


def period_start(period: str, now: datetime) -> datetime | None:
    """The start of `today`, `7d`, `30d` (UTC), or None for `all`."""
    if period not in PERIODS:
        raise PeriodError(f"unknown period {period!r}: one of {', '.join(PERIODS)}")
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = PERIODS[period]
    if days is None:
        return midnight
    return None if days == 0 else now - timedelta(days=days)


class FleetView:
    """The answers for one fleet's state database (opened once, migrated)."""

    def __init__(self, fleet, state_url: str | None = None,
                 clock=lambda: datetime.now(UTC)):
        self.fleet = fleet
        self.state_url = state_url or fleet.storage.state
        self.ledger = Ledger(self.state_url)
        self.reader = StateReader(self.ledger.engine)
        self.clock = clock

    def close(self) -> None:
        self.ledger.close()

    def bots(self) -> list[str]:
        """Bots the state database knows (they have run; others hold nothing)."""
        with self.ledger.engine.connect() as conn:
            return [r.name for r in conn.execute(
                sa.select(Bot.__table__.c.name).order_by(Bot.__table__.c.name))]

    def _capital(self, bot: str) -> Decimal | None:
        cfg = self.fleet.bots.get(bot) if self.fleet is not None else None
        return cfg.allocation if cfg is not None else None

    # -- the answers ------------------------------------------------------------------------
    def status(self) -> str:
        rows = status_rows(self.state_url, self.fleet, now_ms=int(time.time() * 1000))
        if not rows:
            return "no bots in the fleet or the state database"
        lines = [f"Fleet {self.fleet.name}: {len(rows)} bot(s)" if self.fleet else
                 f"{len(rows)} bot(s)"]
        for r in rows:
            when = r.last_cycle_at.strftime("%m-%d %H:%M") if r.last_cycle_at else "never"
            pos = ", ".join(f"{s} {a}" for s, a in r.positions.items()) or "flat"
            lines.append(f"• {r.bot} [{r.mode}] last {when} {r.outcome or '-'}; {pos}; "
                         f"{r.open_orders} order(s)")
            for note in filter(None, [r.paused, r.kill, *r.breakers,
                                      f"reconcile halt: {r.halted}" if r.halted else None,
                                      f"error: {r.error}" if r.error else None]):
                lines.append(f"   ⚠ {note}")
        return clip(lines)

    def balance(self) -> str:
        lines = []
        for bot in self.bots():
            curve = self.ledger.equity(bot)
            equity = f"equity {money(curve[-1][1])}" if curve else "no equity point yet"
            bal = self.ledger.balances(bot=bot)
            assets = ", ".join(f"{a} {money(b.total)}" for a, b in sorted(bal.items())
                               if b.total) or "no balance snapshot"
            lines.append(f"• {bot}: {equity}; {assets}")
        return clip(["Balances"] + lines) if lines else "no bot has run yet"

    def positions(self) -> str:
        lines = []
        for bot in self.bots():
            for p in self.ledger.positions(bot):
                if p.amount:
                    side = "long" if p.amount > 0 else "short"
                    lines.append(f"• {bot} {p.symbol} {side} {abs(p.amount).normalize():f} @ "
                                 f"{money(p.entry_price)}")
        return clip(["Open positions"] + lines) if lines else "no open positions"

    def orders(self) -> str:
        lines = []
        for bot in self.bots():
            for o in self.ledger.open_orders(bot):
                price = o.price or o.stop_price
                lines.append(f"• {bot} {o.symbol} {o.side.name.lower()} "
                             f"{o.type.name.lower()} {o.amount.normalize():f}"
                             + (f" @ {money(price)}" if price else "")
                             + f" ({o.reason.name.lower()}, {o.client_id})")
        return clip(["Working orders"] + lines) if lines else "no working orders"

    def _trades(self) -> dict[str, list]:
        names = self.bots()
        return {bot: round_trips(*fr).closed
                for bot, fr in self.reader.fills_of(names).items()}

    def pnl(self, period: str = "today") -> str:
        now = self.clock()
        start = period_start(period, now)
        start_ms = int(start.timestamp() * 1000) if start else None
        lines, total_realised, total_change = [], ZERO, ZERO
        trades = self._trades()
        for bot in self.bots():
            closed = [t for t in trades.get(bot, []) if start_ms is None or t.exit_ms >= start_ms]
            realised = sum((t.pnl for t in closed), ZERO)
            curve = self.ledger.equity(bot)
            change = None
            if curve:
                before = [e for ts, e in curve if start is not None and ts <= start]
                base = before[-1] if before else (self._capital(bot) or curve[0][1])
                change = curve[-1][1] - base
                total_change += change
            total_realised += realised
            lines.append(f"• {bot}: realised {money(realised)} in {len(closed)} trade(s); "
                         f"equity change {money(change)}")
        if not lines:
            return "no bot has run yet"
        head = f"PnL {period}" + (f" (since {start:%Y-%m-%d %H:%M} UTC)" if start else "")
        total = (f"Total: realised {money(total_realised)}; equity change "
                 f"{money(total_change)}")
        return clip([head, *lines, total])

    def trades(self, limit: int = 10) -> str:
        rows = sorted(((bot, t) for bot, ts in self._trades().items() for t in ts),
                      key=lambda bt: bt[1].exit_ms, reverse=True)[:limit]
        if not rows:
            return "no closed trades yet"
        lines = [f"Last {len(rows)} closed trade(s)"]
        for bot, t in rows:
            when = datetime.fromtimestamp(t.exit_ms / 1000, UTC).strftime("%m-%d %H:%M")
            lines.append(f"• {when} {bot} {t.symbol} {'long' if t.direction > 0 else 'short'} "
                         f"{money(t.entry_price)} → {money(t.exit_price)}: {money(t.pnl)} "
                         f"({t.exit_reason.name.lower()})")
        return clip(lines)

    def performance(self) -> str:
        lines = []
        for bot, closed in sorted(self._trades().items()):
            if not closed:
                lines.append(f"• {bot}: no closed trades")
                continue
            wins = [t.pnl for t in closed if t.pnl > 0]
            losses = [t.pnl for t in closed if t.pnl < 0]
            gross_loss = -sum(losses, ZERO)
            pf = (f"{sum(wins, ZERO) / gross_loss:.2f}" if gross_loss else
                  "∞" if wins else "-")
            lines.append(f"• {bot}: {len(closed)} trades, {100 * len(wins) / len(closed):.0f}% "
                         f"won, PnL {money(sum((t.pnl for t in closed), ZERO))}, profit factor "
                         f"{pf}")
        return clip(["Performance (closed trades)"] + lines) if lines else "no bot has run yet"
