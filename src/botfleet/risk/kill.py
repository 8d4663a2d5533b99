"""Kill-switch records and what an engaged switch asks of a bot.

Scopes nest: `global` covers every bot, `exchange` every bot on that exchange, `bot` one bot.
Modes say how far a switch goes, in increasing order: `freeze` stops new orders (working
orders stay), `cancel_orders` also cancels working orders, `flatten` also closes positions
at market. Under every mode risk-reducing orders are still allowed (a bot may always get
smaller). When several switches cover a bot the strictest mode wins, and among equals the
widest scope, so releasing a global freeze never hides a bot's own flatten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from botfleet.orders import Order, OrderType, Position, Reason, Side

SCOPES = ("global", "exchange", "bot")
MODES = ("freeze", "cancel_orders", "flatten")  # weakest first
RELEASES = ("manual", "next_day")
LEVEL_OF_SCOPE = {"global": "fleet", "exchange": "exchange", "bot": "bot"}
_WIDTH = {"bot": 0, "exchange": 1, "global": 2}


@dataclass(frozen=True, slots=True)
class KillState:
    """One engagement of a kill switch (a row of `risk_kill_switches`). Times in ms UTC."""

    id: int
    scope: str
    target: str  # '' for global
    mode: str
    reason: str
    actor: str
    engaged_at_ms: int
    release: str = "manual"
    release_at_ms: int | None = None  # set by `next_day`: the switch lifts itself then
    released_at_ms: int | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def engaged(self) -> bool:
        return self.released_at_ms is None

    def in_force(self, now_ms: int) -> bool:
        return self.engaged and (self.release_at_ms is None or now_ms < self.release_at_ms)

    @property
    def level(self) -> str:
        return LEVEL_OF_SCOPE[self.scope]

    @property
    def label(self) -> str:
        return "global" if self.scope == "global" else f"{self.scope} {self.target}"

    @property
    def cancels_orders(self) -> bool:
        return self.mode in ("cancel_orders", "flatten")

    @property
    def flattens(self) -> bool:
        return self.mode == "flatten"

    def covers(self, bot: str, exchange: str) -> bool:
        return (self.scope == "global" or (self.scope == "exchange" and self.target == exchange)
                or (self.scope == "bot" and self.target == bot))

    def describe(self) -> str:
        return f"kill switch {self.label} ({self.mode}) by {self.actor}: {self.reason}"


def strictest(states: Iterable[KillState]) -> KillState | None:
    best = None
    for s in states:
        if best is None or (MODES.index(s.mode), _WIDTH[s.scope]) > \
                (MODES.index(best.mode), _WIDTH[best.scope]):
            best = s
    return best


@dataclass(frozen=True)
class KillActions:
    """What the runner does for a bot under a switch: cancel these working orders (client
    ids), then send these reduce-only market orders (empty unless `flatten`)."""

    cancel: tuple[str, ...]
    flatten: tuple[Order, ...]


def flatten_client_id(state: KillState, bot: str, symbol: str) -> str:
    """Deterministic per switch, bot and pair, so a runner that crashes mid-flatten and starts
    again finds the order it already sent instead of sending a second (<= 36 characters,
    Binance's limit)."""
    digest = hashlib.sha1(f"{bot}|{symbol}".encode(), usedforsecurity=False).hexdigest()[:12]
    return f"bfkill{state.id}-{digest}"


def kill_actions(state: KillState | None, bot: str, positions: Iterable[Position],
                 open_orders: Iterable[Order], now_ms: int = 0) -> KillActions:
    if state is None:
        return KillActions((), ())
    cancel = tuple(o.client_id for o in open_orders) if state.cancels_orders else ()
    flatten = []
    if state.flattens:
        for p in positions:
            if p.amount == 0:
                continue
            flatten.append(Order(
                flatten_client_id(state, bot, p.symbol), p.symbol,
                Side.SELL if p.amount > 0 else Side.BUY, OrderType.MARKET, abs(Decimal(p.amount)),
                reduce_only=True, reason=Reason.MANUAL, created_ms=now_ms))
    return KillActions(cancel, tuple(flatten))
