"""What the risk engine answers and what it reports: refusals, decisions, events, errors.

A refusal is read by a person at 3 a.m. (in a log line, a Telegram message, the UI), so it
carries the rule, the level it was declared at, the limit and the value that broke it, and a
message that says all of that in words, e.g. `max_position (bot btc-trend): 5,200 USDT would
exceed 5,000 USDT (50% of 10,000)`. Messages are built only when something is refused: the
pass path of a pre-trade check must stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

LEVELS = ("bot", "exchange", "fleet")
_SHOWN = Decimal("0.00000001")


class RiskInputError(ValueError):
    """The runtime passed something the engine cannot judge (a bad order intent, a missing
    book); a bug of the caller, never a refusal."""


class RiskConfigError(ValueError):
    """The declared limits cannot be resolved (e.g. a percentage with no capital to take it
    of); raised when the engine is built, not when an order arrives."""


def fmt_money(value: Decimal | int) -> str:
    """`5200` -> `5,200`; at most 8 decimals, no exponent: for messages only."""
    value = Decimal(value)
    if value != value.to_integral_value():
        value = value.quantize(_SHOWN)
    return f"{value.normalize():,f}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Which rule, declared at which level (for which bot, exchange or fleet), which limit and
    which value; `message` says it in one line."""

    rule: str
    level: str  # 'bot' | 'exchange' | 'fleet'
    limit: Decimal | int | str | None
    value: Decimal | int | str | None
    message: str
    target: str = ""  # the bot's, exchange's or fleet's name

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Decision:
    """`allowed` is False when any rule refused; all refusals are listed, not just the first,
    so one look tells everything that stands in the way. `notes` says what was waived and
    why (a risk-reducing order under a halt)."""

    allowed: bool
    refusals: list[Refusal] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    reducing: bool = False

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def reason(self) -> str:
        return "; ".join(r.message for r in self.refusals)

    def rules(self) -> list[str]:
        return [r.rule for r in self.refusals]


# notifier event names (schemas/common.schema.json $defs/event) so routes apply as written
EVENT_KINDS = ("risk_refusal", "circuit_breaker", "kill_switch")


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A breaker transition, a kill switch engaged or released, a refusal worth an alert.

    `kind` is the notifier's event name; `bot` the bot (or exchange, or fleet) it concerns,
    `level` which of the three that is; `state` what the thing is now (open, half_open,
    closed, engaged, released, refused); `ts` ms since the epoch, UTC.
    """

    kind: str
    bot: str
    rule: str
    detail: str
    ts: int
    level: str = "bot"
    state: str = ""
    severity: str = "warning"


def refusal_event(decision: Decision, bot: str, ts: int) -> RiskEvent:
    """A refused decision as one event (for the notifier's `risk_refusal` route)."""
    first = decision.refusals[0] if decision.refusals else None
    return RiskEvent("risk_refusal", bot, first.rule if first else "", decision.reason, ts,
                     first.level if first else "bot", "refused", "warning")
