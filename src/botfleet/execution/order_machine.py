"""The order state machine: which status changes are possible, and what a fill does to an order.

Pure (no database, no exchange), so the ledger, the brokers and reconciliation all apply the same
rules and the rules are tested once. The ledger calls `advance` inside the transaction that
writes the change, so an impossible change raises before anything is stored.

    new ──send──> submitted ──ack──> open ──fill──> partially_filled ──fill──> filled
     │               │  ▲               │                 │
     │               ▼  │ (re-send)     └──> cancelled / expired <──┘
     │            unknown ──look-up──> any state the exchange reports
     └──> cancelled (never sent) / rejected (refused before sending)

- `new`: the intent is written and has not been sent. A broker marks it `submitted` *before*
  the request leaves, so after a crash `new` means "never sent" and `submitted`/`unknown` mean
  "look it up by client order id first".
- `unknown`: the send timed out or the connection broke; only a look-up can say what happened.
  It may go back to `submitted` (a re-send with the same client order id, which the exchange
  refuses as a duplicate if the first one did arrive).
- Terminal states (`filled`, `cancelled`, `rejected`, `expired`) never change status again, but a
  fill reported late may still raise the filled amount of a cancelled or expired order.
- The filled amount only grows and never exceeds the order's amount. A report of `open` with
  something filled is `partially_filled`; a fill that completes the amount makes it `filled`. An
  exchange may close an order as `filled` below its amount (it rounded the amount), so `filled`
  does not require filled == amount.
- Repeating the current status is not an error (a poll that sees no change changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from botfleet.orders import OrderStatus

S = OrderStatus
_EXCHANGE_OUTCOMES = frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED,
                                S.EXPIRED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.CANCELED, S.REJECTED}),
    S.SUBMITTED: _EXCHANGE_OUTCOMES | {S.UNKNOWN},
    S.UNKNOWN: _EXCHANGE_OUTCOMES | {S.SUBMITTED},
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
TERMINAL = frozenset(s for s in OrderStatus if s.done)
UNRESOLVED = frozenset({S.NEW, S.SUBMITTED, S.UNKNOWN})  # not known to be on the exchange yet
LIVE = frozenset({S.OPEN, S.PARTIALLY_FILLED})  # resting on the exchange's book
_MAY_FILL = frozenset({S.SUBMITTED, S.UNKNOWN, S.OPEN, S.PARTIALLY_FILLED})
_MAY_HAVE_FILLED = _MAY_FILL | {S.FILLED, S.CANCELED, S.EXPIRED}  # not new, not rejected


def label(status: OrderStatus) -> str:
    """How a status is written in the database, events and messages (`partially_filled`)."""
    return status.name.lower()


def parse_status(text: str) -> OrderStatus:
    try:
        return OrderStatus[text.upper()]
    except KeyError:
        raise ValueError(f"unknown order status {text!r}; one of "
                         f"{', '.join(label(s) for s in OrderStatus)}") from None


class IllegalTransition(ValueError):
    """A status change the state machine does not allow; names the order and both states."""

    def __init__(self, order: str, from_status: OrderStatus, to_status: OrderStatus,
                 why: str = ""):
        self.order, self.from_status, self.to_status = order, from_status, to_status
        allowed = ", ".join(sorted(label(s) for s in TRANSITIONS[from_status])) or "none"
        super().__init__(f"order {order}: cannot go from {label(from_status)} to "
                         f"{label(to_status)}" + (f" ({why})" if why else "")
                         + f"; allowed from {label(from_status)}: {allowed}")


class IllegalFill(IllegalTransition):
    """A filled amount that would shrink, exceed the order's amount, or belong to an order that
    cannot have traded."""


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target == current or target in TRANSITIONS[current]


def check_transition(order: str, current: OrderStatus, target: OrderStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(order, current, target)


@dataclass(frozen=True)
class OrderState:
    """What the machine needs of an order: `order` is its client order id, for messages."""

    order: str
    status: OrderStatus
    amount: Decimal
    filled: Decimal = Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


def _settle(target: OrderStatus, filled: Decimal, amount: Decimal) -> OrderStatus:
    """The status that `target` means given what is filled: a live or pending order with
    something filled is partially filled, or filled once the whole amount is. Not applied to
    an explicit `submitted`/`unknown`, which are our own statements about a send."""
    if target in _MAY_FILL and filled > 0:
        return S.FILLED if filled >= amount else S.PARTIALLY_FILLED
    return target


def advance(state: OrderState, status: OrderStatus | None = None,
            filled: Decimal | None = None) -> OrderState:
    """`state` after the exchange (or a fill) says `status` and/or cumulative `filled`;
    raises `IllegalTransition` or `IllegalFill` instead of returning an impossible state."""
    new_filled = state.filled if filled is None else filled
    target = state.status if status is None else status
    if new_filled != state.filled:
        if new_filled < state.filled:
            raise IllegalFill(state.order, state.status, target,
                              f"filled would shrink from {state.filled} to {new_filled}")
        if new_filled > state.amount:
            raise IllegalFill(state.order, state.status, target,
                              f"filled {new_filled} would exceed the amount {state.amount}")
        if state.status not in _MAY_HAVE_FILLED or target not in _MAY_HAVE_FILLED:
            bad = state.status if state.status not in _MAY_HAVE_FILLED else target
            raise IllegalFill(state.order, state.status, target,
                              f"a {label(bad)} order cannot have filled {new_filled}")
    if status is None or status in LIVE:  # a fill, or the exchange's view of a live order
        target = _settle(target, new_filled, state.amount)
    check_transition(state.order, state.status, target)
    return replace(state, status=target, filled=new_filled)
