"""Reconciliation: the ledger compared with the exchange, at start and every N seconds.

A bot trusts its ledger only after the exchange has confirmed it. `reconcile` does, in order:

1. orders sent but not confirmed (`submitted`, `unknown`) are looked up by client id
   (`OrderSync.resolve`: never guessed; one that may still arrive leaves the run *pending*);
2. the exchange's open orders of the bot's symbols: ours are brought up to date; ones the ledger
   does not know (a client id it never derived, or not botfleet's `bf` prefix) are adopted,
   flagged or cancelled, by policy; another bot's (a shared account) are left alone;
3. ledger orders the ledger thinks are open but the exchange does not list are looked up one by
   one; the exchange's answer is applied; one it does not know at all is a mismatch;
4. the exchange's recent trades on those symbols: any of our orders' trades the ledger lacks is
   recorded (idempotent), an unknown order's trade is handled as in 2;
5. every order's fills must sum exactly to what the exchange says it filled, each position to
   the sum of its fills, and (an account of the bot's own) every balance to the baseline plus
   the flows of the recorded fills — `Decimal`, tolerance zero.

A mismatch that survives all that halts the bot (persisted: `halts`), returns an alert
(`RiskEvent` "reconciliation_mismatch") and publishes it on the bus's `risk.alerts` topic when a
bus is given. The report `passed` only with no mismatch, nothing pending and no standing halt;
the executor's gate opens on that alone.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from botfleet.execution import halts
from botfleet.execution.adopt import adopt
from botfleet.execution.broker import BrokerError, ExchangeOrder
from botfleet.execution.client_ids import is_botfleet_id
from botfleet.execution.ledger import Ledger
from botfleet.execution.order_machine import LIVE, UNRESOLVED
from botfleet.execution.order_sync import Mismatch, OrderSync
from botfleet.execution.records import Balance, FillRecord, OrderRecord
from botfleet.obs import instrument
from botfleet.orders import OrderStatus, Side
from botfleet.risk.decision import RiskEvent

S = OrderStatus
ZERO = Decimal(0)
BASELINE = "reconcile-baseline"
POLICIES = ("adopt", "flag", "cancel")
BALANCE_TRIES = 4


@dataclass(frozen=True)
class ReconcilePolicy:
    """`unknown_orders`: what to do with an exchange order the ledger does not know.
    `symbols`: the bot's markets (besides those its ledger names). `balances`: compare the
    account's balances (only for an account of the bot's own). `baseline`: its balances before
    the bot's first order (default: recorded by the first reconciliation of a bot with no
    orders). `lookback_ms`: how far back recent trades are read."""

    unknown_orders: str = "flag"
    symbols: tuple[str, ...] = ()
    balances: bool = True
    baseline: dict[str, Decimal] | None = None
    lookback_ms: int = 86_400_000

    def __post_init__(self):
        if self.unknown_orders not in POLICIES:
            raise ValueError(f"unknown_orders must be one of {POLICIES}, got "
                             f"{self.unknown_orders!r}")


@dataclass
class ReconcileReport:
    bot: str
    passed: bool = False
    halted: bool = False
    pending: list[str] = field(default_factory=list)  # client ids the exchange cannot answer yet
    unsent: list[str] = field(default_factory=list)  # `new`: recorded, never sent
    resolved: list[tuple[str, str, str]] = field(default_factory=list)  # (client id, from, to)
    adopted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fills_recorded: int = 0
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alert: RiskEvent | None = None
    seconds: float = 0.0
    symbols: list[str] = field(default_factory=list)
    since_ms: int = 0

    def summary(self) -> str:
        state = "passed" if self.passed else ("HALTED" if self.halted else "not passed")
        parts = [f"{self.bot}: {state} in {self.seconds:.3f}s"]
        for name in ("resolved", "pending", "unsent", "adopted", "cancelled", "mismatches"):
            if getattr(self, name):
                parts.append(f"{name} {len(getattr(self, name))}")
        if self.fills_recorded:
            parts.append(f"fills recorded {self.fills_recorded}")
        return ", ".join(parts)


def reconcile(bot: str, ledger: Ledger, broker, policy: ReconcilePolicy | None = None, *,
              bus=None, sync: OrderSync | None = None) -> ReconcileReport:
    t0 = time.perf_counter()
    policy = policy or ReconcilePolicy()
    sync = sync or OrderSync(ledger, broker)
    r = ReconcileReport(bot)
    recorded = sync.recorded
    try:
        _orders(r, bot, ledger, broker, policy, sync)
        if not r.pending:
            _books(r, bot, ledger, broker, policy, sync)
    except BrokerError as exc:  # the exchange did not answer: nothing can be concluded
        r.pending.append(f"exchange unavailable: {exc}")
    except Mismatch as exc:
        r.mismatches.append(str(exc))
    r.fills_recorded += sync.recorded - recorded
    standing = halts.halted(ledger, bot)
    if r.mismatches:
        halts.halt(ledger, bot, r.mismatches)
        r.alert = RiskEvent("reconciliation_mismatch", bot, "reconcile",
                            "; ".join(r.mismatches), int(time.time() * 1000), "bot", "halted",
                            "critical")
        _publish(bus, r.alert, r)
    r.halted = bool(r.mismatches) or standing is not None
    r.passed = not (r.halted or r.pending)
    instrument.reconciled(r)
    r.seconds = time.perf_counter() - t0
    return r


def _orders(r: ReconcileReport, bot: str, ledger: Ledger, broker, policy: ReconcilePolicy,
            sync: OrderSync) -> None:
    def note(before: OrderRecord, after: OrderRecord) -> None:
        if (after.status, after.filled) != (before.status, before.filled):
            r.resolved.append((before.client_id, before.status.name.lower(),
                               after.status.name.lower()))

    # 1. unconfirmed sends
    for rec in ledger.unresolved(bot):
        if rec.status is S.NEW:
            r.unsent.append(rec.client_id)
            continue
        after = sync.resolve(rec)
        note(rec, after)
        if after.status in UNRESOLVED:
            r.pending.append(after.client_id)
    mine = ledger.orders(bot)
    symbols = sorted({o.symbol for o in mine} | set(policy.symbols))
    by_cid = {o.client_id: o for o in mine}
    # 2. the exchange's open orders
    listed: set[str] = set()
    for symbol in symbols:
        for xo in broker.open_orders(symbol):
            rec = by_cid.get(xo.client_id) if xo.client_id else None
            if rec is not None:
                listed.add(rec.client_id)
                if (xo.status, xo.filled) != (rec.status, rec.filled):
                    note(rec, sync.absorb(rec, xo))
            else:
                _unknown(r, bot, ledger, broker, policy, sync, xo)
    # 3. ledger orders the exchange does not list as open
    for rec in ledger.orders(bot, statuses=LIVE):
        if rec.client_id in listed:
            continue
        answer = sync.lookup(rec)
        if isinstance(answer, BrokerError):
            r.pending.append(rec.client_id)
        elif answer is None:
            r.mismatches.append(f"order {rec.client_id} ({rec.symbol} {rec.side.name.lower()} "
                                f"{rec.amount}, exchange id {rec.exchange_id}) is "
                                f"{rec.status.name.lower()} in the ledger and unknown to the "
                                "exchange")
        else:
            note(rec, sync.absorb(rec, answer))
    # 4. recent trades
    r.since_ms = broker.now_ms() - policy.lookback_ms
    _catch_up(r, bot, ledger, broker, policy, sync, symbols)
    r.symbols = symbols


def _catch_up(r: ReconcileReport, bot: str, ledger: Ledger, broker, policy: ReconcilePolicy,
              sync: OrderSync, symbols: list[str]) -> int:
    """Record the exchange's recent trades of our orders that the ledger lacks; returns how
    many. A trade of an order nobody recorded is handled as an unknown order."""
    by_eid = {o.exchange_id: o for o in ledger.orders(bot) if o.exchange_id}
    have = {(f.client_id, f.trade_id) for f in ledger.fills(bot=bot, since_ms=r.since_ms)}
    recorded = 0
    for symbol in symbols:
        grouped: dict[str, list] = defaultdict(list)
        for t in broker.trades(symbol, r.since_ms):
            grouped[t.order_id or ""].append(t)
        for eid, trades in grouped.items():
            rec = by_eid.get(eid)
            if rec is None:
                if ledger.by_exchange_id(eid) is None:  # nobody's: an unknown order
                    xo = broker.lookup(symbol, exchange_id=eid) if eid else None
                    if xo is not None:
                        _unknown(r, bot, ledger, broker, policy, sync, xo)
                    else:
                        r.mismatches.append(f"{len(trades)} trade(s) on {symbol} of an order "
                                            f"{eid or '(no id)'} the exchange cannot show")
                continue
            for t in trades:
                if (rec.client_id, t.trade_id) not in have:
                    outcome = ledger.record_fill(rec.client_id, t.trade_id, t.amount, t.price,
                                                 t.ts_ms, fee=t.fee, fee_currency=t.fee_currency,
                                                 liquidity=t.liquidity, source="reconcile")
                    if outcome.new:
                        instrument.fill_recorded(bot, getattr(broker, "name", "?"), outcome.fill)
                    have.add((rec.client_id, t.trade_id))
                    recorded += 1
    r.fills_recorded += recorded
    return recorded


def _unknown(r: ReconcileReport, bot: str, ledger: Ledger, broker, policy: ReconcilePolicy,
             sync: OrderSync, xo: ExchangeOrder) -> None:
    if xo.client_id and ledger.get(xo.client_id) is not None:
        return  # another bot's order on a shared account
    origin = "botfleet's id" if xo.client_id and is_botfleet_id(xo.client_id) else \
        "not botfleet's"
    what = (f"{xo.symbol} {xo.side.name.lower()} {xo.amount} order {xo.exchange_id} (client id "
            f"{xo.client_id or '-'}, {origin})")
    if policy.unknown_orders == "adopt":
        adopt(ledger, sync, bot, xo)
        r.adopted.append(xo.client_id or xo.exchange_id)
        r.notes.append(f"adopted {what}")
    elif policy.unknown_orders == "cancel" and xo.live and xo.client_id:
        try:
            broker.cancel(xo.symbol, xo.client_id)
            r.cancelled.append(xo.client_id)
            r.notes.append(f"cancelled unknown {what}")
        except BrokerError as exc:
            r.mismatches.append(f"unknown {what}: cancel failed: {exc}")
    else:
        r.mismatches.append(f"unknown {what} on the exchange")


# -- books: fills, positions, balances -----------------------------------------------------------

def expected_balances(baseline: dict[str, Decimal], fills: list[FillRecord]
                      ) -> dict[str, Decimal]:
    """What a spot account holds after `fills` starting from `baseline` (fees in their own
    currency, or the quote's when none is named)."""
    out: dict[str, Decimal] = defaultdict(Decimal, baseline)
    for f in fills:
        base, quote = f.symbol.split("/", 1)
        quote = quote.split(":", 1)[0]
        notional = f.amount * f.price
        sign = 1 if f.side == Side.BUY else -1
        out[base] += sign * f.amount
        out[quote] -= sign * notional
        out[f.fee_currency or quote] -= f.fee
    return dict(out)


def _sums(fills: list[FillRecord]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Filled amount per order and signed amount per symbol, from the fills."""
    per_order: dict[str, Decimal] = defaultdict(Decimal)
    per_symbol: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        per_order[f.client_id] += f.amount
        per_symbol[f.symbol] += f.amount if f.side == Side.BUY else -f.amount
    return per_order, per_symbol


def _books(r: ReconcileReport, bot: str, ledger: Ledger, broker, policy: ReconcilePolicy,
           sync: OrderSync) -> None:
    per_order, _ = _sums(ledger.fills(bot=bot))
    for o in ledger.orders(bot):  # fills the exchange reported, the ledger lacks: ask for them
        if per_order.get(o.client_id, ZERO) < o.filled and o.exchange_id:
            xo = broker.lookup(o.symbol, o.client_id)
            if xo is not None:
                sync.record_trades(o, xo, strict=True)
    held = None
    if policy.balances:
        # the exchange keeps matching while we read: a balance read is only comparable once
        # no trade the ledger lacks shows up after it (trades are never undone)
        for _ in range(BALANCE_TRIES):
            held = broker.balances()
            if not _catch_up(r, bot, ledger, broker, policy, sync, r.symbols):
                break
        else:
            r.pending.append("the account kept trading while its balances were read")
            return
    fills = ledger.fills(bot=bot)
    per_order, per_symbol = _sums(fills)
    orders = ledger.orders(bot)
    for o in orders:
        if per_order.get(o.client_id, ZERO) != o.filled:
            r.mismatches.append(f"order {o.client_id}: the exchange reports {o.filled} filled, "
                                f"its recorded fills sum to {per_order.get(o.client_id, ZERO)}")
    for pos in ledger.positions(bot):
        if pos.amount != per_symbol.get(pos.symbol, ZERO):
            r.mismatches.append(f"position {pos.symbol}: {pos.amount} in the ledger, its fills "
                                f"sum to {per_symbol.get(pos.symbol, ZERO)}")
    if not policy.balances:
        return
    baseline = policy.baseline
    if baseline is None:
        stored = ledger.balances(bot=bot, account=BASELINE)
        baseline = {a: b.total for a, b in stored.items()} if stored else None
    if baseline is None:
        if orders:
            r.notes.append("no balance baseline recorded before the bot's first order: "
                           "balances not compared")
            return
        ledger.snapshot_balances(held, bot=bot, account=BASELINE)
        r.notes.append("recorded the balance baseline")
        return
    expected = expected_balances(baseline, fills)
    for asset in sorted(set(expected) | set(held)):
        want = expected.get(asset, ZERO)
        got = held.get(asset, Balance(ZERO, ZERO, ZERO)).total
        if got != want:
            r.mismatches.append(f"balance {asset}: the exchange holds {got}, the baseline plus "
                                f"the recorded fills give {want} (difference {got - want})")


def _publish(bus, alert: RiskEvent, r: ReconcileReport) -> None:
    if bus is None:
        return
    from botfleet.bus.event import Event
    from botfleet.bus.topics import RISK_ALERTS

    bus.events.append(Event(RISK_ALERTS, alert.kind, {
        "bot": r.bot, "check": "reconcile", "limit": "0", "value": str(len(r.mismatches)),
        "message": alert.detail, "severity": alert.severity}, ts_ms=int(alert.ts)))


class Reconciler:
    """Reconciliation every `every_s` seconds for an executor (the runtime calls `due()` /
    `run()` between cycles, or `maybe_run()`)."""

    def __init__(self, executor, policy: ReconcilePolicy | None = None, every_s: float = 60.0,
                 clock=time.monotonic):
        self.executor, self.policy, self.every_s = executor, policy or ReconcilePolicy(), every_s
        self._clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        return self._last is None or self._clock() - self._last >= self.every_s

    def run(self) -> ReconcileReport:
        self._last = self._clock()
        return self.executor.reconcile(self.policy)

    def maybe_run(self) -> ReconcileReport | None:
        return self.run() if self.due() else None
