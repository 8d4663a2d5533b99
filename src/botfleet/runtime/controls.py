"""Pause and resume bots: stop a bot's new entries without touching what it holds.

A pause is gentler than a kill switch: the bot keeps running its cycles, its exits, stops,
take-profits and protective orders still work, the kill switch and breakers still apply; only
new entries are not sent (the cycle's outcome is `paused`). It is the "hold on a moment" of
an operator, from the CLI (`botfleet pause BOT`), Telegram (`/pause BOT`, `/stop` for the
whole fleet) or the UI.

The pause is a row of `bot_controls` in the state database (SQL is the truth: a paused bot
stays paused across restarts of runners and of Redis until resumed), written in one
transaction with its audit entry. The runner reads the paused bots once per close with the
rest of the batch's state (`tick.prepare`), so a pause holds from the next close of every
process; a `{"cmd": "pause"|"resume", "bot": name}` message on the bus's control channel tells
running runners at once (they log it; `reload` makes them reload the fleet's files now).

The target `*` pauses the whole fleet: every bot, including bots added after the pause.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from botfleet.bus import CONTROL_CHANNEL, Bus, BusError, open_bus
from botfleet.storage.audit import insert_audit, shared_engine
from botfleet.storage.control_models import FLEET, BotControl
from botfleet.storage.db import transaction

log = logging.getLogger(__name__)
CONTROLS = BotControl.__table__
COMMANDS = ("pause", "resume", "reload")
PAUSE, RESUME = "bot.pause", "bot.resume"  # audit actions


class ControlError(ValueError):
    """A control command that cannot be carried out as written."""


@dataclass(frozen=True)
class PauseInfo:
    bot: str  # a bot's name, or '*' for the whole fleet
    actor: str
    reason: str
    since_ms: int

    @property
    def label(self) -> str:
        return "the whole fleet" if self.bot == FLEET else f"bot {self.bot}"

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        why = f": {self.reason}" if self.reason else ""
        return f"paused ({self.label}) by {self.actor} since {when} UTC{why}"


def _check_bot(bot: str) -> str:
    if not isinstance(bot, str) or not bot.strip():
        raise ControlError(f"pause/resume: the bot's name is missing (got {bot!r}); "
                           "use '*' for the whole fleet")
    bot = bot.strip()
    if len(bot) > 200:
        raise ControlError(f"pause/resume: bot name {bot[:40]!r}… is longer than 200 characters")
    return bot


def _target(bot: str) -> str:
    return "fleet" if bot == FLEET else f"bot:{bot}"


def _ms(dt: datetime) -> int:
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
    return int(dt.timestamp() * 1000)


def _info(row) -> PauseInfo:
    return PauseInfo(row.bot, row.actor, row.reason, _ms(row.since))


def publish(bus: Bus | str | None, cmd: str, bot: str = FLEET) -> bool:
    """Tell running runners (`CONTROL_CHANNEL`); False when nobody could be told (no bus, or
    Redis away: they act at their next close, from the state database)."""
    if cmd not in COMMANDS:
        raise ControlError(f"control command {cmd!r}: one of {', '.join(COMMANDS)}")
    if bus is None:
        return False
    own = isinstance(bus, str)
    handle = open_bus(bus) if own else bus
    try:
        handle.pubsub.publish(CONTROL_CHANNEL, {"cmd": cmd, "bot": bot})
        return True
    except BusError as exc:
        log.warning("control: cannot publish %s on %s (%s); runners act on it at their next "
                    "close", cmd, handle.url, exc)
        return False
    finally:
        if own:
            handle.close()


def pause(state_url: str | URL | Engine, bot: str, *, actor: str, reason: str = "",
          bus: Bus | str | None = None) -> PauseInfo:
    """Pause `bot` ('*': the whole fleet). Pausing a paused bot keeps its `since` and takes
    the new actor and reason. Writes the audit entry in the same transaction."""
    bot = _check_bot(bot)
    reason = (reason or "").strip()
    with transaction(shared_engine(state_url), write=True) as conn:
        row = conn.execute(sa.select(CONTROLS).where(CONTROLS.c.bot == bot)).first()
        if row is None:
            since = datetime.now(UTC)
            conn.execute(CONTROLS.insert().values(bot=bot, actor=actor, reason=reason,
                                                  since=since))
        else:
            since = row.since
            conn.execute(CONTROLS.update().where(CONTROLS.c.bot == bot).values(
                actor=actor, reason=reason))
        insert_audit(conn, actor=actor, action=PAUSE, target=_target(bot),
                     detail={"reason": reason, "already_paused": row is not None})
    publish(bus, "pause", bot)
    info = PauseInfo(bot, actor, reason, _ms(since))
    log.info("%s", info.describe())
    return info


def resume(state_url: str | URL | Engine, bot: str, *, actor: str,
           bus: Bus | str | None = None) -> PauseInfo | None:
    """Lift the pause of `bot` ('*': the fleet-wide one; a bot's own pause is lifted only by
    resuming that bot). Returns the pause lifted, None when it was not paused (audited too)."""
    bot = _check_bot(bot)
    with transaction(shared_engine(state_url), write=True) as conn:
        row = conn.execute(sa.select(CONTROLS).where(CONTROLS.c.bot == bot)).first()
        if row is not None:
            conn.execute(CONTROLS.delete().where(CONTROLS.c.bot == bot))
        insert_audit(conn, actor=actor, action=RESUME, target=_target(bot),
                     detail={"was_paused": row is not None,
                             **({"paused_by": row.actor} if row is not None else {})})
    if row is None:
        return None
    publish(bus, "resume", bot)
    log.info("resumed %s (paused by %s)", _target(bot), row.actor)
    return _info(row)


def paused_bots(state_url: str | URL | Engine) -> dict[str, PauseInfo]:
    """Every standing pause by target: bot names, and '*' while the whole fleet is paused."""
    with transaction(shared_engine(state_url)) as conn:
        return {r.bot: _info(r) for r in conn.execute(sa.select(CONTROLS))}


def read_paused(conn: sa.Connection) -> dict[str, PauseInfo]:
    """The same, in the caller's transaction (the runner's batch read)."""
    return {r.bot: _info(r) for r in conn.execute(sa.select(CONTROLS))}


def pause_of(paused: dict[str, PauseInfo], bot: str) -> PauseInfo | None:
    """The pause holding `bot`: its own, else the fleet's."""
    return paused.get(bot) or paused.get(FLEET)
