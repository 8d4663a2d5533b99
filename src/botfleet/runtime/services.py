"""What every cycle of a runner shares: the state database, the kill switch, the candle feed,
the bus, the clock, and each bot's way to the exchange (its executor).

Nothing here holds a bot's trading state: positions, orders, breakers and kill switches are
read from the database at each cycle, so a cycle runs the same in a long-lived runner and in a
fresh process (`run_once`). What is kept in memory is either a cache (candles, markets) or a
connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa

from botfleet.execution.ledger import Ledger
from botfleet.execution.records import CycleRecord, OrderRecord
from botfleet.orders import Order
from botfleet.risk.killswitch import KillSwitch
from botfleet.risk.store import RiskStore
from botfleet.runtime.books import StateReader
from botfleet.runtime.feed import CandleFeed
from botfleet.runtime.timing import RunnerClock
from botfleet.storage.db import transaction
from botfleet.storage.trading import Bot, Cycle

DONE_OUTCOMES = ("ok",)
_B, _C = Bot.__table__, Cycle.__table__
_DONE = sa.select(_C.c.id).join(_B, _C.c.bot_id == _B.c.id).where(
    _B.c.name == sa.bindparam("bot"), _C.c.key == sa.bindparam("key"),
    _C.c.outcome.in_(DONE_OUTCOMES)).limit(1)


class OrderPlacer(Protocol):
    """How a cycle reaches its bot's exchange (`execution.executor`): the intent is written
    to the ledger before it is sent; a cancel is recorded before it is asked for."""

    def place(self, cycle: CycleRecord, intent_key: str, order: Order) -> OrderRecord: ...
    def cancel(self, client_id: str, *, expire: str | None = None) -> OrderRecord | None: ...


@dataclass
class Services:
    ledger: Ledger
    risk: RiskStore
    killswitch: KillSwitch
    feed: CandleFeed
    bus: object
    clock: RunnerClock
    executor_for: Callable[[str], OrderPlacer]  # bot name -> its executor
    market_for: Callable[[str, str], object]  # (bot, symbol) -> execution.broker.Market
    run_ids: dict[str, int] = field(default_factory=dict)
    reader: StateReader = field(init=False)

    def __post_init__(self):
        self.reader = StateReader(self.ledger.engine)

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    def cycle_done(self, bot: str, key: str) -> bool:
        """A cycle of `bot` with this key already finished well (a retry would change
        nothing: its orders have the same client ids)."""
        with transaction(self.ledger.engine) as conn:
            return conn.execute(_DONE, {"bot": bot, "key": key}).first() is not None
