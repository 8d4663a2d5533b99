"""What the risk engine reads, from the state database: positions, working orders, recent
order times and equity, for one bot or for many at once.

The state lives in the database, not in the runner: a cycle run in a fresh process (the
orchestration flow's `cycle`) must see what the last one left. Many bots at one close would
each ask the same questions about the exchange's and the fleet's bots, so `StateReader.read`
answers them for a set of bots in five queries (not five per bot), and the runner takes one
such snapshot per tick for the aggregate books while each cycle re-reads its own bot.

Valuation: a bot's equity is its capital plus realised PnL (net of fees, from the ledger's
positions) plus its open positions at the last price. A pair with no last price in hand (a
bot of another process's pairs) is valued at its entry price, so it adds no PnL; aggregate
drawdown uses the sum of the bots' peaks, which is at least the peak of their sum: the
aggregate drawdown is never understated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy import Engine

from botfleet.execution.order_machine import LIVE, UNRESOLVED, label
from botfleet.execution.records import plain, utc
from botfleet.orders import Order, OrderType, Position, Reason, Side
from botfleet.risk.book import Book, Performance
from botfleet.storage.db import transaction
from botfleet.storage.trading import Bot, EquityPoint, FillRow, OrderRow, PositionRow

ZERO = Decimal(0)
BOTS, ORDERS = Bot.__table__, OrderRow.__table__
POSITIONS, EQUITY, FILLS = PositionRow.__table__, EquityPoint.__table__, FillRow.__table__
WORKING = tuple(label(s) for s in (*LIVE, *UNRESOLVED))


def to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(dt: datetime) -> int:
    return round(utc(dt).timestamp() * 1000)


@dataclass
class BotState:
    """One bot's stored state at one read."""

    positions: dict[str, Position] = field(default_factory=dict)
    working: list[Order] = field(default_factory=list)  # amount = what remains to fill
    order_times: list[int] = field(default_factory=list)
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None

    @property
    def realized(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    def held(self) -> list[Position]:
        return [p for p in self.positions.values() if p.amount != 0]

    def equity(self, capital: Decimal, prices: Mapping[str, Decimal]) -> Decimal:
        value = capital + self.realized
        for p in self.held():
            price = prices.get(p.symbol, p.entry_price)
            value += p.amount * (price - p.entry_price)
        return value

    def cash(self, capital: Decimal) -> Decimal:
        """Quote not tied up in long positions or working buys (spot)."""
        cash = capital + self.realized
        for p in self.held():
            cash -= p.amount * p.entry_price
        for o in self.working:
            if o.side == Side.BUY and o.price is not None:
                cash -= o.amount * o.price
        return cash


def _order(row) -> Order:
    remaining = plain(row.amount - row.filled)
    return Order(row.client_order_id, row.symbol, Side[row.side.upper()],
                 OrderType[row.type.upper()], remaining, plain(row.price),
                 plain(row.stop_price), row.reduce_only, created_ms=to_ms(row.created_at))


def _in(column, name: str):
    return column.in_(sa.bindparam(name, expanding=True))


# built once: statements with bound parameters compile once and stay in SQLAlchemy's cache
_IDS = sa.select(BOTS.c.id, BOTS.c.name).where(_in(BOTS.c.name, "names"))
_POSITIONS = sa.select(POSITIONS).where(_in(POSITIONS.c.bot_id, "ids"))
_WORKING = sa.select(ORDERS).where(_in(ORDERS.c.bot_id, "ids"), _in(ORDERS.c.status, "st")
                                   ).order_by(ORDERS.c.id)
_TIMES = sa.select(ORDERS.c.bot_id, ORDERS.c.created_at).where(
    _in(ORDERS.c.bot_id, "ids"), ORDERS.c.created_at >= sa.bindparam("since")
).order_by(ORDERS.c.created_at)
_PEAKS = sa.select(EQUITY.c.bot_id, sa.func.max(EQUITY.c.equity)).where(
    _in(EQUITY.c.bot_id, "ids")).group_by(EQUITY.c.bot_id)


def _day_point(before: bool):
    """The last point at or before 00:00 UTC (`before`), or the day's first."""
    cmp = EQUITY.c.ts <= sa.bindparam("midnight") if before else \
        EQUITY.c.ts > sa.bindparam("midnight")
    pick = sa.func.max if before else sa.func.min
    want = sa.select(EQUITY.c.bot_id, pick(EQUITY.c.ts).label("ts")).where(
        _in(EQUITY.c.bot_id, "ids"), cmp).group_by(EQUITY.c.bot_id).subquery()
    return sa.select(EQUITY.c.bot_id, EQUITY.c.equity).join(
        want, (EQUITY.c.bot_id == want.c.bot_id) & (EQUITY.c.ts == want.c.ts))


_DAY_BEFORE, _DAY_AFTER = _day_point(True), _day_point(False)
_FILLS = (sa.select(FILLS, ORDERS.c.client_order_id, ORDERS.c.reason, BOTS.c.name)
          .join(ORDERS, FILLS.c.order_id == ORDERS.c.id)
          .join(BOTS, FILLS.c.bot_id == BOTS.c.id).where(_in(BOTS.c.name, "names"))
          .order_by(FILLS.c.ts_ms, FILLS.c.id))


class StateReader:
    def __init__(self, engine: Engine):
        self.engine = engine

    def read(self, names: Iterable[str], *, midnight_ms: int, since_ms: int
             ) -> dict[str, BotState]:
        """Every named bot's state (bots never registered come back empty)."""
        names = list(names)
        out = {n: BotState() for n in names}
        with transaction(self.engine) as conn:
            ids = {r.id: r.name for r in conn.execute(_IDS, {"names": names})}
            if not ids:
                return out
            keys = {"ids": list(ids)}
            for r in conn.execute(_POSITIONS, keys):
                out[ids[r.bot_id]].positions[r.symbol] = Position(
                    r.symbol, plain(r.amount), plain(r.entry_price), plain(r.realized_pnl))
            for r in conn.execute(_WORKING, {**keys, "st": list(WORKING)}):
                if r.amount > r.filled:
                    out[ids[r.bot_id]].working.append(_order(r))
            for bot_id, created in conn.execute(_TIMES, {**keys, "since": to_dt(since_ms)}):
                out[ids[bot_id]].order_times.append(to_ms(created))
            for bot_id, peak in conn.execute(_PEAKS, keys):
                out[ids[bot_id]].peak_equity = plain(peak)
            midnight = {**keys, "midnight": to_dt(midnight_ms)}
            for query in (_DAY_BEFORE, _DAY_AFTER):
                for bot_id, equity in conn.execute(query, midnight):
                    state = out[ids[bot_id]]
                    if state.day_start_equity is None:
                        state.day_start_equity = plain(equity)
        return out

    def fills(self, bot: str) -> tuple[list[SimpleNamespace], dict[str, Reason]]:
        """The bot's fills in exchange time order, and each filled order's reason (what
        `runtime.trades.round_trips` reads)."""
        return self.fills_of([bot])[bot]

    def fills_of(self, names: Iterable[str]) -> dict[str, tuple[list, dict[str, Reason]]]:
        """`fills` of many bots in one query."""
        out: dict[str, tuple[list, dict]] = {n: ([], {}) for n in names}
        if not out:
            return out
        with transaction(self.engine) as conn:
            for r in conn.execute(_FILLS, {"names": list(out)}):
                fills, reasons = out[r.name]
                fills.append(SimpleNamespace(
                    client_id=r.client_order_id, trade_id=r.trade_id, symbol=r.symbol,
                    side=Side[r.side.upper()], amount=plain(r.amount), price=plain(r.price),
                    fee=plain(r.fee), fee_currency=r.fee_currency, ts_ms=r.ts_ms))
                reasons[r.client_order_id] = Reason[r.reason.upper()]
        return out


def performance(state: BotState, equity: Decimal, losing_streak: int = 0,
                last_stop_ms: Mapping[str, int] | None = None) -> Performance:
    start = state.day_start_equity if state.day_start_equity is not None else equity
    peak = max(state.peak_equity, equity) if state.peak_equity is not None else equity
    return Performance(equity, start, peak, losing_streak, dict(last_stop_ms or {}))


def bot_book(state: BotState, prices: Mapping[str, Decimal], perf: Performance | None = None,
             working: list[Order] | None = None) -> Book:
    """The bot's risk book; a pair with no price is valued at its entry (positions) or its
    order's own price (working orders)."""
    held = state.held()
    working = state.working if working is None else working
    valued = {p.symbol: prices.get(p.symbol) or p.entry_price for p in held}
    for o in working:
        valued.setdefault(o.symbol, prices.get(o.symbol) or o.price or o.stop_price)
    return Book.build(held, {k: v for k, v in valued.items() if v}, working,
                      state.order_times, perf)


def aggregate(states: Mapping[str, BotState], capital: Mapping[str, Decimal],
              prices: Mapping[str, Decimal]) -> Book:
    """The exchange's or the fleet's book over `states` (bot -> state)."""
    books, now, start, peak = [], ZERO, ZERO, ZERO
    for bot, state in states.items():
        equity = state.equity(capital.get(bot, ZERO), prices)
        perf = performance(state, equity)
        books.append(bot_book(state, prices))
        now += perf.equity
        start += perf.day_start_equity
        peak += perf.peak_equity
    return Book.combine(books, Performance(now, start, max(peak, now)))
