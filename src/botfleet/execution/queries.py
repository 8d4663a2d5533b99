"""The ledger's reads: orders, their events, fills and positions as frozen records.

Split from `ledger.py` (the writes) to keep each file to one concern; `Ledger` inherits these,
so a broker or the UI uses one object. Enumerations are stored as lower-case words
(`storage.trading`) and turned back into the `orders.py` enums here, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import Connection

from botfleet.execution.bookkeeping import BOTS, Bookkeeping
from botfleet.execution.order_machine import LIVE, UNRESOLVED, label, parse_status
from botfleet.execution.positions import ZERO
from botfleet.execution.records import (
    FillRecord,
    LedgerError,
    OrderEvent,
    OrderRecord,
    UnknownOrder,
    plain,
    utc,
)
from botfleet.orders import Liquidity, OrderStatus, OrderType, Position, Reason, Side
from botfleet.storage.trading import FillRow, OrderEventRow, OrderRow, PositionRow

ORDERS, EVENTS = OrderRow.__table__, OrderEventRow.__table__
FILLS, POSITIONS = FillRow.__table__, PositionRow.__table__
_ORDER = sa.select(ORDERS, BOTS.c.name.label("bot_name")).join(BOTS,
                                                                ORDERS.c.bot_id == BOTS.c.id)
# built once: a statement with bound parameters is compiled once and cached by SQLAlchemy
_FIND = _ORDER.where(ORDERS.c.client_order_id == sa.bindparam("cid"))
_LOCK = _FIND.with_for_update(of=ORDERS)


def word(enum_value) -> str:
    return enum_value.name.lower()


def order_record(row, changes: dict | None = None) -> OrderRecord:
    """The record of an order row, with `changes` (column -> new value) applied on top: a
    writer that has just updated the row need not read it back."""
    if changes:
        row = _Changed(row, changes)
    return OrderRecord(
        row.id, row.client_order_id, row.bot_name, row.cycle_key, row.intent_key, row.cycle_id,
        row.symbol, Side[row.side.upper()], OrderType[row.type.upper()], plain(row.amount),
        plain(row.price), plain(row.stop_price), row.reduce_only, Reason[row.reason.upper()],
        parse_status(row.status), plain(row.filled), plain(row.average_price), plain(row.fee),
        row.fee_currency, row.exchange_order_id, row.error, utc(row.created_at),
        utc(row.updated_at), row.cancel_requested_at and utc(row.cancel_requested_at),
        row.exchange_created_ms, row.exchange_updated_ms)


class _Changed:
    __slots__ = ("_changes", "_row")

    def __init__(self, row, changes: dict):
        self._row, self._changes = row, changes

    def __getattr__(self, name: str):
        changes = self._changes
        return changes[name] if name in changes else getattr(self._row, name)


def fill_record(row, client_id: str) -> FillRecord:
    return FillRecord(row.id, client_id, row.trade_id, row.symbol, Side[row.side.upper()],
                      plain(row.amount), plain(row.price), plain(row.fee), row.fee_currency,
                      Liquidity[row.liquidity.upper()], row.ts_ms)

def position_record(row) -> Position:
    return Position(row.symbol, plain(row.amount), plain(row.entry_price),
                    plain(row.realized_pnl))


class LedgerQueries(Bookkeeping):
    """Reading orders, events, fills and positions (and the row look-ups the writers use)."""

    # -- reading -----------------------------------------------------------------------------
    def _find(self, conn: Connection, client_id: str):
        return conn.execute(_FIND, {"cid": client_id}).first()

    def _lock(self, conn: Connection, client_id: str):
        row = conn.execute(_LOCK, {"cid": client_id}).first()
        if row is None:
            raise UnknownOrder(f"no order with client order id {client_id!r} in the ledger")
        return row

    def get(self, client_id: str) -> OrderRecord | None:
        with self._read() as conn:
            row = self._find(conn, client_id)
        return None if row is None else order_record(row)

    def by_exchange_id(self, exchange_id: str) -> OrderRecord | None:
        with self._read() as conn:
            row = conn.execute(_ORDER.where(ORDERS.c.exchange_order_id == exchange_id)).first()
        return None if row is None else order_record(row)

    def orders(self, bot: str, *, statuses: Iterable[OrderStatus] | None = None,
               symbol: str | None = None, cycle_key: str | None = None) -> list[OrderRecord]:
        """The bot's orders, oldest first, filtered by status, symbol and cycle key."""
        with self._read() as conn:
            query = _ORDER.where(ORDERS.c.bot_id == self._bot_id(conn, bot))
            if statuses is not None:
                query = query.where(ORDERS.c.status.in_([label(s) for s in statuses]))
            if symbol is not None:
                query = query.where(ORDERS.c.symbol == symbol)
            if cycle_key is not None:
                query = query.where(ORDERS.c.cycle_key == cycle_key)
            return [order_record(r) for r in conn.execute(query.order_by(ORDERS.c.id))]

    def open_orders(self, bot: str, symbol: str | None = None) -> list[OrderRecord]:
        """Orders resting on the exchange (open or partially filled)."""
        return self.orders(bot, statuses=LIVE, symbol=symbol)

    def unresolved(self, bot: str) -> list[OrderRecord]:
        """Orders whose fate reconciliation must look up before the bot trades again: `new`
        (recorded, maybe never sent), `submitted` and `unknown` (maybe on the exchange)."""
        return self.orders(bot, statuses=UNRESOLVED)

    def events(self, client_id: str) -> list[OrderEvent]:
        with self._read() as conn:
            rows = conn.execute(sa.select(EVENTS).join(ORDERS).where(
                ORDERS.c.client_order_id == client_id).order_by(EVENTS.c.id)).all()
        return [OrderEvent(r.id, client_id, r.from_status and parse_status(r.from_status),
                           parse_status(r.to_status), utc(r.ts), r.source, r.detail)
                for r in rows]

    def fills(self, client_id: str | None = None, *, bot: str | None = None,
              symbol: str | None = None, since_ms: int | None = None) -> list[FillRecord]:
        """Fills of one order, or of a bot (and symbol), in exchange time order."""
        if client_id is None and bot is None:
            raise LedgerError("fills: give a client order id or a bot")
        query = sa.select(FILLS, ORDERS.c.client_order_id).join(ORDERS)
        with self._read() as conn:
            if client_id is not None:
                query = query.where(ORDERS.c.client_order_id == client_id)
            if bot is not None:
                query = query.where(FILLS.c.bot_id == self._bot_id(conn, bot))
            if symbol is not None:
                query = query.where(FILLS.c.symbol == symbol)
            if since_ms is not None:
                query = query.where(FILLS.c.ts_ms >= since_ms)
            rows = conn.execute(query.order_by(FILLS.c.ts_ms, FILLS.c.id)).all()
        return [fill_record(r, r.client_order_id) for r in rows]

    def position(self, bot: str, symbol: str) -> Position:
        """The bot's net position in `symbol` (flat if it never traded it)."""
        with self._read() as conn:
            row = conn.execute(sa.select(POSITIONS).where(
                POSITIONS.c.bot_id == self._bot_id(conn, bot),
                POSITIONS.c.symbol == symbol)).first()
        if row is None:
            return Position(symbol, ZERO, ZERO)
        return position_record(row)

    def positions(self, bot: str) -> list[Position]:
        with self._read() as conn:
            rows = conn.execute(sa.select(POSITIONS).where(
                POSITIONS.c.bot_id == self._bot_id(conn, bot)).order_by(POSITIONS.c.symbol))
            return [position_record(r) for r in rows]
