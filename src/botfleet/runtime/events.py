"""The events a cycle emits on the bus, each with the cycle's correlation id.

The state database is the record; events are the news the notifier and the UI follow. A
cycle collects its events and appends them in one round trip at its end (`flush`), so a
hundred bots at one close cost a hundred appends, not a thousand; a bus that cannot be
reached is logged and the cycle goes on (its orders are already in the ledger). Money in a
payload is Decimal, written by the bus as exact decimal strings.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from botfleet.bus import (
    BREAKER_CHANGED,
    NOTIFICATIONS,
    ORDERS_PLACED,
    RISK_ALERTS,
    TRADES_CLOSED,
    TRADES_OPENED,
    BusError,
    Event,
)
from botfleet.execution.records import OrderRecord
from botfleet.orders import Order, Trade
from botfleet.risk.decision import Decision, RiskEvent

log = logging.getLogger(__name__)


class Emitter:
    """Events of one cycle (or of the runner itself when `correlation_id` is None)."""

    def __init__(self, bus, bot: str | None = None, exchange: str | None = None,
                 correlation_id: str | None = None, clock=None):
        self.bus = bus
        self.bot, self.exchange = bot, exchange
        self.correlation_id = correlation_id
        self.clock = clock
        self.pending: list[Event] = []
        self.sent: list[Event] = []

    def _add(self, topic: str, type_: str, payload: dict) -> None:
        kw = {"correlation_id": self.correlation_id} if self.correlation_id else {}
        if self.clock is not None:
            kw["ts_ms"] = int(self.clock())
        self.pending.append(Event(topic, type_, {k: v for k, v in payload.items()
                                                 if v is not None}, **kw))

    def order_placed(self, rec: OrderRecord) -> None:
        self._add(ORDERS_PLACED, "order_placed", {
            "bot": rec.bot, "exchange": self.exchange, "symbol": rec.symbol,
            "side": rec.side.name.lower(), "type": rec.type.name.lower(), "amount": rec.amount,
            "price": rec.price, "stop_price": rec.stop_price, "status": rec.status.name.lower(),
            "filled": rec.filled, "average_price": rec.average_price,
            "client_order_id": rec.client_id, "reason": rec.reason.label,
            "correlation_id": self.correlation_id})

    def trade_opened(self, symbol: str, direction: int, amount: Decimal, price: Decimal,
                     trade_id: str) -> None:
        self._add(TRADES_OPENED, "trade_opened", {
            "bot": self.bot, "symbol": symbol, "side": "long" if direction > 0 else "short",
            "amount": amount, "entry_price": price, "trade_id": trade_id})

    def trade_closed(self, trade: Trade, trade_id: str) -> None:
        self._add(TRADES_CLOSED, "trade_closed", {
            "bot": self.bot, "symbol": trade.symbol, "trade_id": trade_id,
            "entry_price": trade.entry_price, "exit_price": trade.exit_price,
            "amount": trade.amount, "pnl": trade.pnl, "fees": trade.fees,
            "reason": trade.exit_reason.label})

    def refused(self, decision: Decision, order: Order) -> None:
        for r in decision.refusals:
            self._add(RISK_ALERTS, "risk_refusal", {
                "bot": self.bot, "check": r.rule, "level": r.level, "target": r.target,
                "limit": _plain(r.limit), "value": _plain(r.value), "message": r.message,
                "symbol": order.symbol, "side": order.side.name.lower(),
                "amount": order.amount, "severity": "warning"})

    def breaker(self, event: RiskEvent, until_ms: int | None = None) -> None:
        self._add(BREAKER_CHANGED, "breaker_" + event.state, {
            "breaker": event.rule, "scope": event.level, "target": event.bot,
            "state": event.state, "reason": event.detail, "until_ms": until_ms,
            "severity": event.severity})

    def notify(self, title: str, body: str, severity: str = "info") -> None:
        self._add(NOTIFICATIONS, "message", {"title": title, "body": body,
                                             "severity": severity, "bot": self.bot})

    def flush(self) -> int:
        """Append what is pending; on a bus failure log it and keep nothing pending."""
        if not self.pending:
            return 0
        events, self.pending = self.pending, []
        try:
            self.bus.events.append_many(events)
        except BusError as exc:
            log.warning("could not append %d event(s) to the bus (%s): %s", len(events),
                        self.bus.url, exc)
            return 0
        self.sent.extend(events)
        return len(events)


def _plain(value):
    """Refusal limits and values: Decimals stay (the bus writes them exactly), the rest text."""
    if value is None or isinstance(value, Decimal | int | str):
        return value
    return str(value)
