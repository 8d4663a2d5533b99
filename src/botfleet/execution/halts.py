"""A bot halted by reconciliation stays halted across restarts until a person resumes it.

Reconciliation that finds a mismatch it cannot resolve (an order the exchange does not know, a
fill or a balance that does not add up) must stop the bot's new orders; if that were only in
memory, the crash that often causes the mismatch would also erase the halt, and the restarted
bot would trade on books it cannot trust. So the halt is a row of the state database's audit log
(`reconcile.halt`, target `bot:<name>`, the mismatches in its detail), and only a
`reconcile.resume` written after it — by an operator, `resume()` — lifts it. A later clean
reconciliation does not lift it on its own: someone should look first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from botfleet.execution.bookkeeping import AUDIT
from botfleet.execution.ledger import Ledger
from botfleet.execution.records import utc

HALT, RESUME = "reconcile.halt", "reconcile.resume"


@dataclass(frozen=True)
class Halt:
    bot: str
    since: datetime
    reasons: tuple[str, ...]
    actor: str


def target(bot: str) -> str:
    return f"bot:{bot}"


def halted(ledger: Ledger, bot: str) -> Halt | None:
    """The bot's standing halt, or None (never halted, or resumed since)."""
    query = (sa.select(AUDIT).where(AUDIT.c.target == target(bot),
                                    AUDIT.c.action.in_((HALT, RESUME)))
             .order_by(AUDIT.c.id.desc()).limit(1))
    with ledger.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.action != HALT:
        return None
    return Halt(bot, utc(row.ts), tuple((row.detail or {}).get("mismatches", ())), row.actor)


def standing(conn, bots: Sequence[str]) -> dict[str, Halt]:
    """The standing halts of many bots in one query (the overview of 1,000 bots would
    otherwise ask `halted` 1,000 times): bot -> Halt, for the halted ones only. `conn` is an
    open connection of the state database."""
    if not bots:
        return {}
    latest = (sa.select(sa.func.max(AUDIT.c.id))
              .where(AUDIT.c.target.in_([target(b) for b in bots]),
                     AUDIT.c.action.in_((HALT, RESUME)))
              .group_by(AUDIT.c.target))
    out = {}
    for row in conn.execute(sa.select(AUDIT).where(AUDIT.c.id.in_(latest))):
        if row.action == HALT:
            bot = row.target.removeprefix("bot:")
            out[bot] = Halt(bot, utc(row.ts), tuple((row.detail or {}).get("mismatches", ())),
                            row.actor)
    return out


def halt(ledger: Ledger, bot: str, mismatches: Sequence[str], actor: str = "reconcile") -> int:
    return ledger.audit(actor, HALT, target(bot), {"mismatches": list(mismatches)})


def resume(ledger: Ledger, bot: str, actor: str, reason: str) -> int:
    """Lift the halt (the next reconciliation still has to pass before the bot trades)."""
    return ledger.audit(actor, RESUME, target(bot), {"reason": reason})
