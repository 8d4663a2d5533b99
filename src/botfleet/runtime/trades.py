"""Round trips from a bot's fills: what the risk limits over time, Kelly sizing, the trade
events and the paper-versus-backtest report read.

The ledger stores fills and a net position per pair; a *trade* (entry to flat) is derived
here, the way the backtest defines it (`orders.Trade`): it opens with the fill that moves the
position off zero, closes with the fill that brings it back, and a fill that crosses zero
closes one trade and opens the next with the rest. PnL is net of the fees paid in the quote
currency; the exit reason is the closing order's reason (a stop-loss order closing the trade
makes it a stop-out for `cooldown_after_stop`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from botfleet.execution.positions import fee_in_quote
from botfleet.orders import Reason, Side, Trade
from botfleet.risk.history import STOP_REASONS

ZERO = Decimal(0)


@dataclass
class _Open:
    symbol: str
    direction: int
    entry_ms: int
    reason: Reason
    held: Decimal = ZERO  # signed
    peak: Decimal = ZERO
    entry_amount: Decimal = ZERO
    entry_cost: Decimal = ZERO
    exit_amount: Decimal = ZERO
    exit_value: Decimal = ZERO
    fees: Decimal = ZERO
    entries: set = field(default_factory=set)  # client ids of the orders that added to it
    exit_reasons: list = field(default_factory=list)  # of the partial exits so far

    def add_entry(self, amount: Decimal, price: Decimal, client_id: str = "") -> None:
        self.entries.add(client_id)
        self.entry_amount += amount
        self.entry_cost += amount * price
        self.held += amount * self.direction
        self.peak = max(self.peak, abs(self.held))

    def close(self, exit_ms: int, reason: Reason) -> Trade:
        entry = self.entry_cost / self.entry_amount
        exit_ = self.exit_value / self.exit_amount if self.exit_amount else entry
        gross = (self.exit_value - self.exit_amount * entry) * self.direction
        return Trade(self.symbol, self.direction, self.entry_ms, exit_ms, self.peak, entry,
                     exit_, gross - self.fees, self.fees, ZERO, self.reason, reason)


@dataclass(frozen=True)
class TradeBook:
    closed: list[Trade]
    open: dict[str, _Open]

    def losing_streak(self) -> int:
        streak = 0
        for t in sorted(self.closed, key=lambda t: t.exit_ms):
            streak = streak + 1 if t.pnl < 0 else 0
        return streak

    def returns(self) -> list[float]:
        """Closed trades' returns, oldest first (Kelly sizing reads the last few)."""
        return [float(t.return_pct) for t in sorted(self.closed, key=lambda t: t.exit_ms)]

    def open_since(self, symbol: str) -> int | None:
        """When the open trade on `symbol` began (ms), if one is open."""
        leg = self.open.get(symbol)
        return leg.entry_ms if leg is not None else None

    def last_stops(self) -> dict[str, int]:
        """symbol -> when its last stop-out closed (for `cooldown_after_stop`)."""
        out: dict[str, int] = {}
        for t in self.closed:
            if t.exit_reason in STOP_REASONS:
                out[t.symbol] = max(t.exit_ms, out.get(t.symbol, t.exit_ms))
        return out

    def last_exit_ms(self, symbol: str) -> int | None:
        times = [t.exit_ms for t in self.closed if t.symbol == symbol]
        return max(times) if times else None


def round_trips(fills: Iterable, reasons: Mapping[str, Reason] | None = None) -> TradeBook:
    """`fills`: the ledger's `FillRecord`s in exchange time order; `reasons`: client id ->
    the order's reason."""
    reasons = reasons or {}
    open_: dict[str, _Open] = {}
    closed: list[Trade] = []
    for f in fills:
        reason = reasons.get(f.client_id, Reason.SIGNAL)
        signed = f.amount if f.side == Side.BUY else -f.amount
        fee = fee_in_quote(f.symbol, f.fee, f.fee_currency)
        leg = open_.get(f.symbol)
        if leg is None:
            leg = open_[f.symbol] = _Open(f.symbol, 1 if signed > 0 else -1, f.ts_ms, reason)
            leg.fees += fee
            leg.add_entry(f.amount, f.price, f.client_id)
            continue
        if (signed > 0) == (leg.direction > 0):
            leg.fees += fee
            leg.add_entry(f.amount, f.price, f.client_id)
            continue
        closing = min(f.amount, abs(leg.held))
        share = closing / f.amount
        leg.fees += fee * share
        leg.exit_amount += closing
        leg.exit_value += closing * f.price
        leg.held += closing * (1 if signed > 0 else -1)
        leg.exit_reasons.append(reason)
        if leg.held == 0:
            closed.append(leg.close(f.ts_ms, reason))
            del open_[f.symbol]
            rest = f.amount - closing
            if rest > 0:  # crossed zero: the rest opens the other way
                new = open_[f.symbol] = _Open(f.symbol, 1 if signed > 0 else -1, f.ts_ms,
                                              reason)
                new.fees += fee - fee * share
                new.add_entry(rest, f.price, f.client_id)
    return TradeBook(closed, open_)
