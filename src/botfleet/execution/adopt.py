"""Adopting an order the exchange has and the ledger does not (reconciliation policy `adopt`).

An order placed by hand on the bot's account, or by a botfleet whose state database was lost,
has a client id the ledger did not derive, so `Ledger.record_intent` (which derives it) cannot
store it. Adoption writes the order row under the exchange's own client id (or `x-<exchange
id>` when it has none), with an intent event saying it was adopted, then lets the usual path
(`OrderSync.absorb`) apply its status and fills: from then on it is an ordinary ledger order,
and its fills count in the bot's position and expected balances.
"""

from __future__ import annotations

import sqlalchemy as sa

from botfleet.execution.bookkeeping import BOTS
from botfleet.execution.broker import ExchangeOrder
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_machine import label
from botfleet.execution.order_sync import OrderSync
from botfleet.execution.queries import EVENTS, ORDERS, word
from botfleet.execution.records import OrderRecord, money
from botfleet.orders import OrderStatus, OrderType, Reason
from botfleet.storage.db import transaction

ADOPTED = "adopted"


def adopted_client_id(xo: ExchangeOrder) -> str:
    return (xo.client_id or f"x-{xo.exchange_id}")[:36]


def adopt(ledger: Ledger, sync: OrderSync, bot: str, xo: ExchangeOrder) -> OrderRecord:
    """Store `xo` as an order of `bot` and apply the exchange's view of it."""
    cid = adopted_client_id(xo)
    where = f"adopting {xo.symbol} order {xo.exchange_id}"
    priced = xo.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    stopped = xo.type in (OrderType.STOP, OrderType.STOP_LIMIT)
    now = ledger.now()
    values = {
        "client_order_id": cid, "cycle_id": None, "cycle_key": ADOPTED,
        "intent_key": f"{ADOPTED}:{xo.exchange_id}", "symbol": xo.symbol,
        "side": word(xo.side), "type": word(xo.type),
        "amount": money(xo.amount, f"{where}: amount", positive=True),
        "price": money(xo.price, f"{where}: price", positive=True) if priced else None,
        "stop_price": money(xo.stop_price, f"{where}: stop", positive=True) if stopped
        else None,
        "reduce_only": False, "reason": Reason.MANUAL.label, "status": label(OrderStatus.NEW),
        "filled": 0, "fee": 0, "created_at": now, "updated_at": now}
    with transaction(ledger.engine, write=True) as conn:
        bot_id = conn.execute(sa.select(BOTS.c.id).where(BOTS.c.name == bot)).scalar_one()
        oid = conn.execute(ORDERS.insert().returning(ORDERS.c.id),
                           {**values, "bot_id": bot_id}).scalar_one()
        conn.execute(EVENTS.insert(), {
            "order_id": oid, "from_status": None, "to_status": label(OrderStatus.NEW),
            "ts": now, "source": "reconcile",
            "detail": {"adopted": True, "exchange_order_id": xo.exchange_id}})
    rec = ledger.mark_submitted(cid, {"adopted": True})
    return sync.absorb(rec, xo, source="reconcile")
