"""The order executor: what a bot's cycle calls to place, watch and cancel orders.

    ex = Executor(ledger, broker, "btc-trend", pre_trade=risk_check)
    ex.start()          # startup reconciliation; the gate opens if it passed
    rec = ex.place(cycle, "entry:BTC/USDT", market_order("BTC/USDT", Side.BUY, amount))
    ex.sync()           # fills and status of working orders
    ex.cancel(rec.client_id)

A send, step by step (docs/execution.md): round to the market's precision → `record_intent`
(status `new`, deterministic client id; idempotent) → the pre-trade check (refused: `rejected`,
source `risk`) → `mark_submitted`, committed before the request leaves → `broker.submit` →
acknowledged (with its fills) / `rejected` (the exchange refused) / `unknown` (timeout, dropped
connection, 5xx, throttled). An unknown order is looked up by client id, never re-sent blindly
(`order_sync`); placing the same intent again (a retried cycle) is how the caller says it is
still wanted, and only then, once the exchange has been asked and the request can no longer be
booked, is it sent again — with the same client id.

The gate: no new order is sent before reconciliation has passed for the bot, nor while it stands
halted by an unresolved mismatch (persisted, `halts`). Orders already recorded are still
followed (look-ups, fills, cancels): only new risk is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from botfleet.execution import halts
from botfleet.execution.broker import (
    AuthFailed,
    BrokerError,
    DuplicateClientId,
    NotFound,
    NotSent,
    OutcomeUnknown,
    Rejected,
)
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_machine import LIVE, IllegalTransition
from botfleet.execution.order_sync import Mismatch, OrderSync, Probe
from botfleet.execution.records import CycleRecord, OrderRecord, UnknownOrder
from botfleet.obs import instrument
from botfleet.obs.logs import order_context
from botfleet.orders import Order, OrderStatus, OrderType

log = logging.getLogger(__name__)

S = OrderStatus
WORKING = frozenset({S.SUBMITTED, S.UNKNOWN, S.OPEN, S.PARTIALLY_FILLED})
PreTrade = Callable[[OrderRecord], Any]  # truthy = allowed; a falsy answer's `reason` is kept


class GateClosed(RuntimeError):
    """No new orders: reconciliation has not passed for this bot, or it is halted."""


class Executor:
    def __init__(self, ledger: Ledger, broker, bot: str, *, pre_trade: PreTrade | None = None,
                 probe: Probe | None = None, bus=None):
        self.ledger, self.broker, self.bot = ledger, broker, bot
        self.pre_trade = pre_trade
        self.sync_ = OrderSync(ledger, broker, probe, bot=bot)
        self.bus = bus
        self.last_report = None
        self._passed = False

    @property
    def probe(self) -> Probe:
        return self.sync_.probe

    # -- the gate ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True when new orders may be sent: reconciliation passed and no halt stands."""
        return self._passed and halts.halted(self.ledger, self.bot) is None

    def _check_gate(self) -> None:
        halt = halts.halted(self.ledger, self.bot)
        if halt is not None:
            raise GateClosed(f"bot {self.bot!r} is halted since {halt.since:%Y-%m-%d %H:%M:%S} "
                             f"by {halt.actor}: {'; '.join(halt.reasons) or 'see audit log'}; "
                             "resume it with execution.halts.resume() after checking")
        if not self._passed:
            raise GateClosed(f"bot {self.bot!r}: reconciliation has not passed yet; no new "
                             "orders before it does")

    def reconcile(self, policy=None):
        """Reconcile with the exchange now; the gate follows the result."""
        from botfleet.execution.reconcile import ReconcilePolicy, reconcile

        report = reconcile(self.bot, self.ledger, self.broker, policy or ReconcilePolicy(),
                           bus=self.bus, sync=self.sync_)
        self._passed = report.passed
        self.last_report = report
        return report

    def start(self, policy=None, *, wait_s: float = 30.0, poll_s: float = 0.2,
              sleep: Callable[[float], None] | None = None):
        """Startup reconciliation, repeated while orders are still settling (sent just before
        a crash: their look-up can only answer once `settle_ms` has passed), up to `wait_s`."""
        import time

        sleep = sleep or time.sleep
        deadline = time.monotonic() + wait_s
        while True:
            report = self.reconcile(policy)
            if report.passed or report.halted or not report.pending \
                    or time.monotonic() >= deadline:
                return report
            sleep(poll_s)

    # -- placing -----------------------------------------------------------------------------
    def place(self, cycle: CycleRecord, intent_key: str, order: Order) -> OrderRecord:
        """Place `order` as intent `intent_key` of `cycle` (its `client_id` is ignored: the
        ledger derives it). Idempotent: placing an intent again returns its stored order,
        resolving it first if its fate is unknown."""
        self._check_gate()
        if cycle.bot != self.bot:
            raise ValueError(f"cycle of bot {cycle.bot!r} given to the executor of {self.bot!r}")
        b = self.broker
        amount = b.amount_to_precision(order.symbol, order.amount)
        if amount <= 0:
            raise ValueError(f"{order.symbol}: amount {order.amount} is nothing at the market's "
                             "precision")
        price = None if order.price is None else b.price_to_precision(order.symbol, order.price)
        stop = None if order.stop_price is None else b.price_to_precision(order.symbol,
                                                                         order.stop_price)
        rec = self.ledger.record_intent(cycle, intent_key, symbol=order.symbol, side=order.side,
                                        type=order.type, amount=amount, price=price,
                                        stop_price=stop, reduce_only=order.reduce_only,
                                        reason=order.reason)
        self.probe("intent", rec)
        with order_context(rec.client_id):  # every log line from here names the order
            if rec.status is S.NEW:
                rec = self._send(rec)
                self._count(rec, "placed")
                if rec.status is not S.SUBMITTED:
                    self._count(rec)
                log.info("%s %s %s %s%s: %s", rec.side.name.lower(), rec.type.name.lower(),
                         rec.amount, rec.symbol, "" if rec.price is None else f" @ {rec.price}",
                         rec.status.name.lower())
                return rec
            if rec.status in (S.SUBMITTED, S.UNKNOWN):
                return self.sync_.resolve(rec, resend=self._resend, source="lookup")
            return rec

    def _send(self, rec: OrderRecord) -> OrderRecord:
        if self.pre_trade is not None:
            decision = self.pre_trade(rec)
            if not decision:
                reason = getattr(decision, "reason", "") or "refused by the pre-trade check"
                return self.ledger.mark_rejected(rec.client_id, reason, source="risk")
        try:
            rec = self.ledger.mark_submitted(rec.client_id)
        except IllegalTransition:  # cancelled meanwhile
            return self.ledger.get(rec.client_id) or rec
        return self._transmit(rec)

    def _resend(self, rec: OrderRecord) -> OrderRecord:
        """The exchange has been asked and does not have it, and it can no longer arrive:
        send again, with the same client id."""
        if rec.status is S.NEW:
            return self._send(rec)
        self._check_gate()
        rec = self.ledger.mark_submitted(rec.client_id, {"resend": True,
                                                         "age_ms": self.sync_.age_ms(rec)})
        return self._transmit(rec)

    def _transmit(self, rec: OrderRecord) -> OrderRecord:
        self.probe("submitted", rec)
        try:
            xo = self.broker.submit(rec.as_order())
        except DuplicateClientId as exc:  # it is there already: find it
            rec = self.ledger.mark_unknown(rec.client_id, str(exc))
            return self.sync_.resolve(rec, source="lookup")
        except Rejected as exc:
            rec = self.ledger.mark_rejected(rec.client_id, str(exc))
            self.probe("rejected", rec)
            if isinstance(exc, AuthFailed):
                raise
            return rec
        except (OutcomeUnknown, NotSent) as exc:
            rec = self.ledger.mark_unknown(rec.client_id, str(exc),
                                           detail={"error": exc.cause})
            self.probe("unknown", rec)
            if isinstance(exc, NotSent):
                return rec  # throttled: look it up later, not now
            return self.sync_.resolve(rec, source="lookup")
        self.probe("answered", rec)
        rec = self.sync_.absorb(rec, xo, source="ack")
        self._announce(rec)
        return rec

    def _count(self, rec: OrderRecord, status=None) -> None:
        instrument.order_status(self.bot, getattr(self.broker, "name", "?"), rec, status)

    def _announce(self, rec: OrderRecord) -> None:
        if self.bus is None:
            return
        from botfleet.bus.event import Event
        from botfleet.bus.topics import ORDERS_PLACED

        self.bus.events.append(Event(ORDERS_PLACED, "order_placed", {
            "bot": self.bot, "exchange": self.broker.name, "symbol": rec.symbol,
            "side": rec.side.name.lower(), "type": rec.type.name.lower(),
            "amount": rec.amount, "price": rec.price, "client_order_id": rec.client_id}))

    # -- cancelling --------------------------------------------------------------------------
    def cancel(self, client_id: str, *, expire: str | None = None) -> OrderRecord:
        """Cancel an order. One never sent is cancelled at once; one whose fate is unknown is
        looked up first (and cancelled by a later `sync` once found); a cancel whose answer is
        lost is settled by the next look-up. `expire`: the bot's own time limit ran out (an
        entry unfilled after its bars): the reason goes into the order's events and the order
        ends `expired` rather than `cancelled`, as the backtest records it."""
        with order_context(client_id):
            return self._cancel(client_id, expire)

    def _cancel(self, client_id: str, expire: str | None = None) -> OrderRecord:
        rec = self.ledger.get(client_id)
        if rec is None:
            raise UnknownOrder(f"no order with client order id {client_id!r} in the ledger")
        if rec.done:
            return rec
        rec = self.ledger.cancel_requested(
            client_id, detail={"reason": "expired", "why": expire} if expire else None)
        if rec.done:
            return rec
        self.probe("cancel", rec)
        if rec.status in (S.SUBMITTED, S.UNKNOWN):
            rec = self.sync_.resolve(rec, source="lookup")
            if rec.status not in LIVE:
                return rec
        rec = self._cancel_live(rec, expire is not None)
        if rec.done:
            self._count(rec)
        return rec

    def _cancel_live(self, rec: OrderRecord, expire: bool = False) -> OrderRecord:
        try:
            xo = self.broker.cancel(rec.symbol, rec.client_id)
        except NotFound:  # not open any more: see how it ended
            return self._final(rec)
        except BrokerError:
            return rec  # the answer is lost or the exchange is away: the next sync looks
        self.probe("cancelled", rec)
        if expire and xo.status is S.CANCELED:  # cancelled by us because its time was up
            return self.sync_.absorb(rec, replace(xo, status=S.EXPIRED), source="expire")
        return self.sync_.absorb(rec, xo, source="cancel")

    def _final(self, rec: OrderRecord) -> OrderRecord:
        answer = self.sync_.lookup(rec)
        if answer is None or isinstance(answer, BrokerError):
            return rec
        return self.sync_.absorb(rec, answer, source="cancel")

    # -- following working orders ------------------------------------------------------------
    def sync(self) -> list[OrderRecord]:
        """Bring every working order of the bot up to date: one open-orders query per symbol,
        a look-up for each order that left it (and for unresolved ones), trades for fills;
        cancels asked for and not yet done are sent. Returns the orders that changed."""
        try:
            return self._sync()
        except Mismatch:  # the books disagree: no new orders until reconciliation has looked
            self._passed = False
            raise

    def _sync(self) -> list[OrderRecord]:
        working = self.ledger.orders(self.bot, statuses=WORKING)
        changed: list[OrderRecord] = []
        by_symbol: dict[str, dict] = {}
        for rec in working:
            if rec.status in LIVE and rec.symbol not in by_symbol:
                try:
                    by_symbol[rec.symbol] = {x.client_id: x
                                             for x in self.broker.open_orders(rec.symbol)}
                except BrokerError:
                    by_symbol[rec.symbol] = None
        for rec in working:
            with order_context(rec.client_id):  # its look-ups' log lines name the order
                moved = self._sync_one(rec, by_symbol)
            if moved is not None:
                changed.append(moved)
        return changed

    def _sync_one(self, rec: OrderRecord, by_symbol: dict[str, dict]) -> OrderRecord | None:
        """One working order brought up to date; the record if it changed, else None."""
        before = (rec.status, rec.filled)
        if rec.status in (S.SUBMITTED, S.UNKNOWN):
            rec = self.sync_.resolve(rec, source="lookup")
        else:
            listing = by_symbol.get(rec.symbol)
            if listing is None:
                return None
            xo = listing.get(rec.client_id)
            if xo is None:
                rec = self._final(rec)
            elif (xo.status, xo.filled) != before:
                rec = self.sync_.absorb(rec, xo, source="poll")
        if rec.cancel_requested_at is not None and rec.status in LIVE:
            rec = self._cancel_live(rec)
        if (rec.status, rec.filled) == before:
            return None
        if rec.status is not before[0]:
            self._count(rec)
        return rec

    def working(self) -> list[OrderRecord]:
        return self.ledger.orders(self.bot, statuses=WORKING)


def market_order(symbol: str, side, amount) -> Order:
    """An `orders.Order` for `place` (the client id is the ledger's)."""
    return Order("", symbol, side, OrderType.MARKET, amount)
