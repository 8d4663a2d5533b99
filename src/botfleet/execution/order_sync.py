"""Bringing the ledger up to what the exchange says about one order — shared by the executor
(after a send, a cancel, a poll) and reconciliation (at start and every N seconds), so both
apply the exchange's answer by the same rules.

The rule this module exists for: **an order whose send may have reached the exchange is never
sent again blindly.** It is looked up by its client order id first. Only when the exchange says
it has no such order *and* the request can no longer be booked (`Broker.settle_ms` after it was
marked sent: Binance refuses a request older than its `recvWindow`) is "not found" an answer:
then a wanted order is sent again with the SAME client id, and one nobody asks for any more is
closed as rejected ("never booked"). Before that it stays `unknown` and is looked at again.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from botfleet.execution.broker import (
    BrokerError,
    ExchangeOrder,
    ExchangeTrade,
    NotFound,
    OutcomeUnknown,
    Unavailable,
)
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_machine import UNRESOLVED, IllegalTransition
from botfleet.execution.records import LedgerError, OrderRecord
from botfleet.obs import instrument
from botfleet.orders import OrderStatus

S = OrderStatus
ZERO = Decimal(0)
NEVER_BOOKED = "never booked: the exchange has no order with this client id"
Probe = Callable[[str, OrderRecord], None]


class Mismatch(ValueError):
    """The exchange's account of an order contradicts the ledger's (a status the ledger cannot
    move to, a different exchange id, a fill that would shrink): reconciliation halts on it."""


def _noop(phase: str, rec: OrderRecord) -> None:
    return None


class OrderSync:
    """Applies exchange answers to the ledger. `probe(phase, record)` is called at each step
    (tracing, and the crash test's kill points)."""

    def __init__(self, ledger: Ledger, broker, probe: Probe | None = None, *, bot: str = ""):
        self.ledger, self.broker = ledger, broker
        self.bot = bot  # for the metrics' labels only
        self.probe = probe or _noop
        self.recorded = 0  # fills written so far (reconciliation reports its share)

    # -- applying what the exchange says -----------------------------------------------------
    def absorb(self, rec: OrderRecord, xo: ExchangeOrder, source: str = "reconcile"
               ) -> OrderRecord:
        """Status, exchange id and cumulative fill of `xo`, then every trade of it the ledger
        does not have yet (from the answer, else asked for), each recorded once."""
        try:
            rec = self.ledger.apply_exchange_state(
                rec.client_id, xo.status, exchange_id=xo.exchange_id,
                filled=max(xo.filled, rec.filled), average_price=xo.average,
                created_ms=xo.created_ms, updated_ms=xo.updated_ms, source=source)
        except (IllegalTransition, LedgerError) as exc:
            raise Mismatch(f"order {rec.client_id}: the exchange says {xo.status.name.lower()} "
                           f"{xo.filled} filled (exchange id {xo.exchange_id}), which the ledger "
                           f"cannot follow from {rec.status.name.lower()} {rec.filled}: {exc}"
                           ) from exc
        if xo.filled > 0:
            rec = self.record_trades(rec, xo)
        return rec

    def record_trades(self, rec: OrderRecord, xo: ExchangeOrder, strict: bool = False
                      ) -> OrderRecord:
        """The order's trades into the ledger until their sum covers what the exchange says
        is filled (asking the exchange for them when the answer did not carry them all). If
        the exchange cannot be asked, `strict` raises; otherwise the ledger is left short
        (reconciliation's trade scan catches up)."""
        known = {f.trade_id: f.amount for f in self.ledger.fills(rec.client_id)}
        if sum(known.values(), ZERO) >= xo.filled:
            return rec
        trades: list[ExchangeTrade] = list(xo.trades)
        if sum(t.amount for t in trades) + sum(
                a for k, a in known.items() if k not in {t.trade_id for t in trades}) < xo.filled:
            try:
                trades = self.broker.order_trades(xo)
            except BrokerError:
                if strict:
                    raise
                return self.ledger.get(rec.client_id) or rec
        for t in sorted(trades, key=lambda t: (t.ts_ms, t.trade_id)):
            if t.trade_id in known:
                continue
            self.probe("fill", rec)
            outcome = self.ledger.record_fill(rec.client_id, t.trade_id, t.amount, t.price,
                                              t.ts_ms, fee=t.fee, fee_currency=t.fee_currency,
                                              liquidity=t.liquidity)
            rec = outcome.order
            if outcome.new:
                instrument.fill_recorded(self.bot or "?", getattr(self.broker, "name", "?"),
                                         outcome.fill)
            known[t.trade_id] = t.amount
            self.recorded += 1
        return rec

    # -- resolving an order whose fate is not known ------------------------------------------
    def age_ms(self, rec: OrderRecord) -> int:
        """Milliseconds since the order was last marked (sent, unknown) in the ledger."""
        return int((self.ledger.now() - rec.updated_at).total_seconds() * 1000)

    def settled(self, rec: OrderRecord) -> bool:
        """True once a request for `rec` can no longer be booked by the exchange."""
        return self.age_ms(rec) >= self.broker.settle_ms

    def lookup(self, rec: OrderRecord) -> ExchangeOrder | None | BrokerError:
        """The exchange's answer for `rec`'s client id: the order, None (it has none), or the
        error that kept it from answering."""
        try:
            return self.broker.lookup(rec.symbol, rec.client_id)
        except (Unavailable, OutcomeUnknown, NotFound) as exc:
            return None if isinstance(exc, NotFound) else exc
        except BrokerError as exc:
            return exc

    def resolve(self, rec: OrderRecord, resend: Callable[[OrderRecord], OrderRecord] | None
                = None, source: str = "reconcile") -> OrderRecord:
        """Look `rec` up by client id and apply the answer. Not found: a `new` order was never
        sent (left as it is unless `resend`); a sent one is left `unknown` until it has
        settled, then re-sent through `resend` (same client id) if given and no cancel was
        asked for, else closed as rejected ("never booked")."""
        if rec.status is S.NEW:  # marked sent before any request leaves: never sent
            return resend(rec) if resend is not None else rec
        answer = self.lookup(rec)
        if isinstance(answer, BrokerError):
            return rec
        if answer is not None:
            return self.absorb(rec, answer, source)
        if rec.status not in UNRESOLVED or not self.settled(rec):
            return rec  # a missing live order is the caller's to judge; a recent send waits
        if resend is not None and rec.cancel_requested_at is None:
            return resend(rec)
        return self.ledger.mark_rejected(rec.client_id, NEVER_BOOKED, source=source,
                                         detail={"age_ms": self.age_ms(rec)})
