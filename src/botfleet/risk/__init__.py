"""The risk engine: pre-trade checks, limits over time, circuit breakers, the kill switch.

The runtime builds one `RiskEngine.for_bot(fleet, bot)` per bot and asks `engine.check(ctx)`
before every order, with a `RiskContext` snapshot (books per level, balances, the kill switch
in force, breaker states); every refusal names its rule, level, limit and value. Breakers and
kill switches keep their state in the state database (`RiskStore`), so they hold between
cycles and across restarts; `KillSwitch` spreads changes to running bots through Redis.
docs/risk.md describes every rule.
"""

from botfleet.risk.book import Book, Leg, Performance, RiskContext
from botfleet.risk.breaker import BreakerConfig, BreakerState, CircuitBreaker
from botfleet.risk.decision import (
    Decision,
    Refusal,
    RiskConfigError,
    RiskEvent,
    RiskInputError,
    refusal_event,
)
from botfleet.risk.engine import KillSettings, RiskEngine
from botfleet.risk.history import combined_equity, combined_performance, performance
from botfleet.risk.kill import KillActions, KillState, kill_actions
from botfleet.risk.killswitch import KillSwitch, KillSwitchError
from botfleet.risk.store import RiskStore

__all__ = [
    "Book", "BreakerConfig", "BreakerState", "CircuitBreaker", "Decision", "KillActions",
    "KillSettings", "KillState", "KillSwitch", "KillSwitchError", "Leg", "Performance",
    "Refusal", "RiskConfigError", "RiskContext", "RiskEngine", "RiskEvent", "RiskInputError",
    "RiskStore", "combined_equity", "combined_performance", "kill_actions", "performance", "refusal_event",
]
