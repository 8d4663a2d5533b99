"""Execution: orders and their state machine, the order ledger in the state database, and (next)
the brokers and reconciliation built on it.

- `order_machine`: the allowed status changes and the filled-amount rules (pure);
- `client_ids`: deterministic client order ids from (bot, cycle key, intent key);
- `positions`: a position after a fill, in Decimal (pure);
- `ledger.Ledger`: orders, events, fills and positions written before and after every send;
  `bookkeeping` adds bots, runs, cycles, balance snapshots, equity points and the audit log.

`Ledger` and the records are imported lazily, so code that needs only the pure rules does not
load SQLAlchemy.
"""

from botfleet.execution.client_ids import client_order_id
from botfleet.execution.order_machine import (
    TERMINAL,
    TRANSITIONS,
    UNRESOLVED,
    IllegalFill,
    IllegalTransition,
    OrderState,
    advance,
    can_transition,
)

_RECORDS = ("Balance", "CycleRecord", "FillConflict", "FillOutcome", "FillRecord",
            "IntentConflict", "LedgerError", "OrderEvent", "OrderRecord", "UnknownBot",
            "UnknownOrder")
_LAZY = {"Ledger": "botfleet.execution.ledger",
         **dict.fromkeys(_RECORDS, "botfleet.execution.records")}

__all__ = ["TERMINAL", "TRANSITIONS", "UNRESOLVED", "Balance", "CycleRecord", "FillConflict",
           "FillOutcome", "FillRecord", "IllegalFill", "IllegalTransition", "IntentConflict",
           "Ledger", "LedgerError", "OrderEvent", "OrderRecord", "OrderState", "UnknownBot",
           "UnknownOrder", "advance", "can_transition", "client_order_id"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'botfleet.execution' has no attribute {name!r}")
