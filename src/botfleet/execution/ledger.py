"""The order ledger: the one place orders, their events, fills and positions are written.

Brokers (paper and live) and reconciliation use it in this order:

    rec = ledger.record_intent(cycle, "entry:BTC/USDT", symbol=..., side=..., type=..., amount=...)
    if rec.status is NEW:                      # never sent (also after a crash before sending)
        ledger.mark_submitted(rec.client_id)   # committed BEFORE the request leaves
        try:    reply = exchange.create_order(..., clientOrderId=rec.client_id)
        except timeout/network: ledger.mark_unknown(rec.client_id, str(exc))
        except refused:         ledger.mark_rejected(rec.client_id, str(exc))
        else:   ledger.mark_acknowledged(rec.client_id, reply["id"], status, filled=...)
    for trade in fills: ledger.record_fill(client_id, trade_id, amount, price, ts_ms, fee=...)
    at startup: for rec in ledger.unresolved(bot): look it up by client id, apply_exchange_state

Guarantees:
- `record_intent` is idempotent: the client order id derives from (bot, cycle key, intent key)
  and is UNIQUE, so a retry, a restart or two processes racing get the one stored order back;
- every change of an order and its `order_events` row (and, for a fill, the fill row and the
  position) are one transaction; the state machine (`order_machine`) is checked inside it;
- a fill is stored once per (order, exchange trade id); a repeat changes nothing;
- concurrent writers to one order serialise on its row (`SELECT ... FOR UPDATE` on PostgreSQL,
  SQLite's write lock taken at BEGIN), so no update is lost;
- a report from the exchange older than what is stored (its update time is before the order's
  latest known exchange time) is stale: it cannot move the order back, so a slow poll or a
  create-order reply overtaken by the websocket cannot undo a fill (its exchange id is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from types import SimpleNamespace as _Row
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from botfleet.execution.client_ids import client_order_id
from botfleet.execution.order_machine import OrderState, advance, label, parse_status
from botfleet.execution.positions import ZERO, apply_fill, fee_in_quote, q12
from botfleet.execution.queries import (
    EVENTS,
    FILLS,
    ORDERS,
    POSITIONS,
    LedgerQueries,
    fill_record,
    order_record,
    word,
)
from botfleet.execution.records import (
    CycleRecord,
    FillConflict,
    FillOutcome,
    IntentConflict,
    LedgerError,
    OrderRecord,
    money,
    plain,
    text,
)
from botfleet.orders import Liquidity, OrderStatus, OrderType, Position, Reason, Side

S = OrderStatus
# built once: statements with bound parameters compile once and stay in SQLAlchemy's cache
_INSERT_ORDER = ORDERS.insert().returning(ORDERS.c.id)
_UPDATE_ORDER = ORDERS.update().where(ORDERS.c.id == sa.bindparam("oid"))
_INSERT_EVENT = EVENTS.insert()
_INSERT_FILL = FILLS.insert().returning(FILLS.c.id)
_ORDER_FILLS = sa.select(FILLS).where(FILLS.c.order_id == sa.bindparam("oid")).order_by(FILLS.c.id)
_POSITION_KEY = ((POSITIONS.c.bot_id == sa.bindparam("bid"))
                 & (POSITIONS.c.symbol == sa.bindparam("sym")))
# the same SQL on both backends (SQLite >= 3.24); SQLAlchemy's dialect `on_conflict` inserts
# are not cacheable, which made this statement recompile on every fill
_NEW_POSITION = sa.text(
    "INSERT INTO positions (bot_id, symbol, amount, entry_price, realized_pnl, updated_at) "
    "VALUES (:bot_id, :symbol, 0, 0, 0, :updated_at) ON CONFLICT (bot_id, symbol) DO NOTHING"
).bindparams(sa.bindparam("updated_at", type_=POSITIONS.c.updated_at.type))
_LOCK_POSITION = sa.select(POSITIONS).where(_POSITION_KEY).with_for_update()
_UPDATE_POSITION = POSITIONS.update().where(_POSITION_KEY)
_UNSET = dict.fromkeys(("exchange_order_id", "average_price", "fee_currency", "error",
                         "cancel_requested_at", "exchange_created_ms", "exchange_updated_ms"))
_QUIET = ("exchange_created_ms", "exchange_updated_ms")  # not worth an event on their own
_NEEDS = {OrderType.MARKET: (False, False), OrderType.LIMIT: (True, False),
          OrderType.STOP: (False, True), OrderType.STOP_LIMIT: (True, True)}


def _enum(enum, value, what: str):
    if isinstance(value, enum):
        return value
    raise LedgerError(f"{what} must be an orders.{enum.__name__}, got {value!r}")


class Ledger(LedgerQueries):
    """Orders, fills and positions in the state database (plus `Bookkeeping`'s bots, runs,
    cycles, balances, equity and audit log). Thread-safe: every call is its own transaction."""

    # -- writing an intent -----------------------------------------------------------------
    def record_intent(self, cycle: CycleRecord, intent_key: str, *, symbol: str, side: Side,
                      type: OrderType, amount: Decimal, price: Decimal | None = None,
                      stop_price: Decimal | None = None, reduce_only: bool = False,
                      reason: Reason = Reason.SIGNAL) -> OrderRecord:
        """Write the order in status `new`, with its first event, before anything is sent;
        returns the stored order. If this (bot, cycle key, intent key) was recorded before, the
        stored order is returned unchanged (the first recording wins); `IntentConflict` if it
        was recorded for another symbol, side or type. `amount` and prices are what will be
        sent: rounded to the market's precision already."""
        where = f"bot {cycle.bot!r} cycle {cycle.key!r} intent {intent_key!r}"
        text(intent_key, f"{where}: intent key", 200)
        text(symbol, f"{where}: symbol", 64)
        _enum(Side, side, f"{where}: side")
        _enum(OrderType, type, f"{where}: type")
        _enum(Reason, reason, f"{where}: reason")
        values = {"symbol": symbol, "side": word(side), "type": word(type),
                  "amount": money(amount, f"{where}: amount", positive=True),
                  "price": None if price is None else money(price, f"{where}: price",
                                                             positive=True),
                  "stop_price": None if stop_price is None else money(
                      stop_price, f"{where}: stop price", positive=True),
                  "reduce_only": bool(reduce_only), "reason": reason.label}
        needs_price, needs_stop = _NEEDS[type]
        if needs_price != (price is not None):
            raise LedgerError(f"{where}: a {word(type)} order "
                              + ("needs a price" if needs_price else "takes no price"))
        if needs_stop != (stop_price is not None):
            raise LedgerError(f"{where}: a {word(type)} order "
                              + ("needs a stop price" if needs_stop else "takes no stop price"))
        client_id = client_order_id(cycle.bot, cycle.key, intent_key)
        try:
            with self._write() as conn:
                row = self._find(conn, client_id)
                if row is None:
                    now = self.now()
                    new = {"client_order_id": client_id, "bot_id": self._bot_id(conn, cycle.bot),
                           "cycle_id": cycle.id, "cycle_key": cycle.key,
                           "intent_key": intent_key, "status": label(S.NEW), "filled": ZERO,
                           "fee": ZERO, "created_at": now, "updated_at": now, **values}
                    order_id = conn.execute(_INSERT_ORDER, new).scalar_one()
                    self._event(conn, order_id, None, S.NEW, "intent",
                                {"correlation_id": cycle.correlation_id})
                    return order_record(_Row(id=order_id, bot_name=cycle.bot, **_UNSET, **new))
        except IntegrityError:  # another process recorded it between our look and our insert
            with self._read() as conn:
                row = self._find(conn, client_id)
            if row is None:
                raise
        return self._same_intent(order_record(row), values, where)

    @staticmethod
    def _same_intent(rec: OrderRecord, values: dict, where: str) -> OrderRecord:
        stored = {"symbol": rec.symbol, "side": word(rec.side), "type": word(rec.type)}
        differ = [f"{k} {stored[k]!r} (now {values[k]!r})" for k in stored
                  if stored[k] != values[k]]
        if differ:
            raise IntentConflict(f"{where}: client order id {rec.client_id} is already "
                                 f"recorded with {', '.join(differ)}; an intent key names one "
                                 "order per cycle")
        return rec

    # -- status changes ----------------------------------------------------------------------
    def mark_submitted(self, client_id: str, detail: Mapping[str, Any] | None = None
                       ) -> OrderRecord:
        """The request is about to leave (commit this before sending). From `new`, or from
        `unknown` for a re-send with the same client order id."""
        return self._change(client_id, "send", S.SUBMITTED, detail=detail)

    def mark_unknown(self, client_id: str, error: str,
                     detail: Mapping[str, Any] | None = None) -> OrderRecord:
        """The send timed out or the connection broke: the order must be looked up."""
        return self._change(client_id, "send", S.UNKNOWN, detail=detail,
                            values={"error": text(error, f"order {client_id}: error", 10_000)})

    def mark_rejected(self, client_id: str, error: str, *, source: str = "ack",
                      detail: Mapping[str, Any] | None = None) -> OrderRecord:
        """The exchange refused the order (or a check refused it before it was sent)."""
        return self._change(client_id, source, S.REJECTED, detail=detail,
                            values={"error": text(error, f"order {client_id}: error", 10_000)})

    def mark_acknowledged(self, client_id: str, exchange_id: str,
                          status: OrderStatus = S.OPEN, *, filled: Decimal | None = None,
                          average_price: Decimal | None = None, fee: Decimal | None = None,
                          fee_currency: str | None = None, created_ms: int | None = None,
                          updated_ms: int | None = None,
                          detail: Mapping[str, Any] | None = None) -> OrderRecord:
        """The exchange accepted the order as `exchange_id`, in `status` (a market order's
        reply may already say filled); the rest as for `apply_exchange_state`."""
        return self.apply_exchange_state(
            client_id, status, exchange_id=exchange_id, filled=filled,
            average_price=average_price, fee=fee, fee_currency=fee_currency,
            created_ms=created_ms, updated_ms=updated_ms, source="ack", detail=detail)

    def apply_exchange_state(self, client_id: str, status: OrderStatus, *,
                             exchange_id: str | None = None, filled: Decimal | None = None,
                             average_price: Decimal | None = None, fee: Decimal | None = None,
                             fee_currency: str | None = None, created_ms: int | None = None,
                             updated_ms: int | None = None, error: str | None = None,
                             source: str = "reconcile",
                             detail: Mapping[str, Any] | None = None) -> OrderRecord:
        """What the exchange says about the order: its status and cumulative filled amount,
        average price and fee. `open` with something filled is stored as partially filled.
        Writes an event only when something changed. A report older than the stored state
        (`updated_ms` before the order's latest exchange time, e.g. a create-order reply that
        arrives after the websocket's first fill) changes neither status nor amounts; only its
        exchange id and creation time are kept, if not known yet."""
        _enum(OrderStatus, status, f"order {client_id}: status")
        where = f"order {client_id}"
        if filled is not None:
            filled = money(filled, f"{where}: filled")
        if average_price is not None:
            average_price = money(average_price, f"{where}: average price")
        if fee is not None:
            fee = money(fee, f"{where}: fee", signed=True)  # rebates are negative fees
        text(exchange_id, f"{where}: exchange id", 64, optional=True)
        text(fee_currency, f"{where}: fee currency", 16, optional=True)
        with self._write() as conn:
            row = self._lock(conn, client_id)
            if (updated_ms is not None and row.exchange_updated_ms is not None
                    and updated_ms < row.exchange_updated_ms):  # stale
                status = filled = average_price = fee = error = updated_ms = None
            values: dict[str, Any] = {}
            if exchange_id is not None and exchange_id != row.exchange_order_id:
                if row.exchange_order_id is not None:
                    raise LedgerError(f"{where}: the exchange id {row.exchange_order_id!r} is "
                                      f"recorded; the exchange now says {exchange_id!r}")
                values["exchange_order_id"] = exchange_id
            grows = filled is not None and filled > row.filled
            if grows or (average_price is not None and row.average_price is None):
                if average_price is not None:
                    values["average_price"] = average_price
                if fee is not None:
                    values.update(fee=fee, fee_currency=fee_currency or row.fee_currency)
            if created_ms is not None and row.exchange_created_ms is None:
                values["exchange_created_ms"] = created_ms
            if updated_ms is not None:
                values["exchange_updated_ms"] = updated_ms
            if error is not None and error != row.error:
                values["error"] = error
            return self._apply(conn, row, source, status, filled, values, detail)

    def cancel_requested(self, client_id: str, *, source: str = "cancel",
                         detail: Mapping[str, Any] | None = None) -> OrderRecord:
        """Note that a cancel is being asked for. An order never sent (`new`) is cancelled at
        once, so a broker about to send it finds it cancelled at `mark_submitted`; an order
        already done is returned unchanged."""
        with self._write() as conn:
            row = self._lock(conn, client_id)
            status = parse_status(row.status)
            if status.done:
                return order_record(row)
            if status is S.NEW:
                return self._apply(conn, row, source, S.CANCELED, None, {}, detail)
            return self._apply(conn, row, source, status, None,
                               {"cancel_requested_at": self.now()}, detail)

    def _change(self, client_id: str, source: str, status: OrderStatus, *,
                detail: Mapping[str, Any] | None = None,
                values: dict[str, Any] | None = None) -> OrderRecord:
        with self._write() as conn:
            row = self._lock(conn, client_id)
            return self._apply(conn, row, source, status, None, values or {}, detail)

    def _apply(self, conn: Connection, row, source: str, status: OrderStatus | None,
               filled: Decimal | None, values: dict[str, Any],
               detail: Mapping[str, Any] | None, force: bool = False) -> OrderRecord:
        """Check the change with the state machine, then write it and its event."""
        before = OrderState(row.client_order_id, parse_status(row.status), plain(row.amount),
                            plain(row.filled))
        after = advance(before, status, filled)
        if after.filled != before.filled:
            values["filled"] = after.filled
        changed = after.status != before.status or any(
            getattr(row, k) != v for k, v in values.items() if k not in _QUIET)
        if not (changed or force):
            return order_record(row)
        values.update(status=label(after.status), updated_at=self.now())
        conn.execute(_UPDATE_ORDER, {"oid": row.id, **values})
        event = {"filled": after.filled, **({k: values[k] for k in ("exchange_order_id", "error")
                                              if k in values}), **(detail or {})}
        self._event(conn, row.id, before.status, after.status, source, event)
        return order_record(row, values)

    def _event(self, conn: Connection, order_id: int, from_status: OrderStatus | None,
               to_status: OrderStatus, source: str, detail: Mapping[str, Any]) -> None:
        text(source, "event source", 32)
        conn.execute(_INSERT_EVENT, {
            "order_id": order_id,
            "from_status": None if from_status is None else label(from_status),
            "to_status": label(to_status), "ts": self.now(), "source": source,
            "detail": dict(detail)})

    # -- fills -------------------------------------------------------------------------------
    def record_fill(self, client_id: str, trade_id: str, amount: Decimal, price: Decimal,
                    ts_ms: int, *, fee: Decimal = ZERO, fee_currency: str | None = None,
                    liquidity: Liquidity = Liquidity.TAKER, source: str = "fill") -> FillOutcome:
        """Store a trade of the order (once per exchange trade id) and, in the same
        transaction, raise the order's filled amount, average price and fee, move its status
        (to partially filled / filled) with an event, and update the bot's position."""
        where = f"order {client_id} trade {trade_id!r}"
        text(trade_id, f"order {client_id}: trade id", 64)
        amount = money(amount, f"{where}: amount", positive=True)
        price = money(price, f"{where}: price", positive=True)
        fee = money(fee, f"{where}: fee", signed=True)
        text(fee_currency, f"{where}: fee currency", 16, optional=True)
        _enum(Liquidity, liquidity, f"{where}: liquidity")
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise LedgerError(f"{where}: ts_ms must be integer milliseconds, got {ts_ms!r}")
        with self._write() as conn, localcontext() as ctx:
            ctx.prec = 60
            row = self._lock(conn, client_id)
            fills = conn.execute(_ORDER_FILLS, {"oid": row.id}).all()
            same = next((f for f in fills if f.trade_id == trade_id), None)
            if same is not None:
                if (same.amount, same.price, same.fee) != (amount, price, fee):
                    raise FillConflict(
                        f"{where}: already recorded as amount {plain(same.amount)}, price "
                        f"{plain(same.price)}, fee {plain(same.fee)}; now amount {amount}, "
                        f"price {price}, fee {fee}")
                return FillOutcome(order_record(row), fill_record(same, client_id), False)
            currency = (row.fee_currency if fills or row.fee_currency else fee_currency)
            total = sum((f.amount for f in fills), amount)
            notional = sum((f.amount * f.price for f in fills), amount * price)
            fees = sum((f.fee for f in fills if f.fee_currency == currency),
                       fee if fee_currency == currency else ZERO)
            values: dict[str, Any] = {"exchange_updated_ms": max(ts_ms,
                                                                 row.exchange_updated_ms or 0)}
            if total >= row.filled:  # the fills cover what the exchange reported
                values.update(average_price=q12(notional / total), fee=fees,
                              fee_currency=currency)
            stored = {"order_id": row.id, "bot_id": row.bot_id, "trade_id": trade_id,
                      "symbol": row.symbol, "side": row.side, "amount": amount, "price": price,
                      "fee": fee, "fee_currency": fee_currency, "liquidity": word(liquidity),
                      "ts_ms": ts_ms, "recorded_at": self.now()}
            fill_id = conn.execute(_INSERT_FILL, stored).scalar_one()
            detail = {"trade_id": trade_id, "amount": amount, "price": price, "fee": fee,
                      "fee_currency": fee_currency}
            if total > row.amount:
                advance(OrderState(client_id, parse_status(row.status), plain(row.amount),
                                   plain(row.filled)), None, total)  # raises IllegalFill
            order = self._apply(conn, row, source, None, max(total, row.filled), values, detail,
                                force=True)
            self._move_position(conn, row, amount, price, fee_in_quote(row.symbol, fee,
                                                                       fee_currency))
        return FillOutcome(order, fill_record(_Row(id=fill_id, **stored), client_id), True)

    def _move_position(self, conn: Connection, row, amount: Decimal, price: Decimal,
                       fee: Decimal) -> None:
        now = self.now()
        key = {"bid": row.bot_id, "sym": row.symbol}
        held = conn.execute(_LOCK_POSITION, key).first()
        if held is None:  # the first fill: create the row, unless a concurrent first fill did
            conn.execute(_NEW_POSITION, {"bot_id": row.bot_id, "symbol": row.symbol,
                                         "updated_at": now})
            held = conn.execute(_LOCK_POSITION, key).one()
        pos = apply_fill(Position(row.symbol, held.amount, held.entry_price, held.realized_pnl),
                         Side[row.side.upper()], amount, price, fee)
        conn.execute(_UPDATE_POSITION, {**key, "amount": pos.amount,
                                        "entry_price": pos.entry_price,
                                        "realized_pnl": pos.realized_pnl, "updated_at": now})
