"""`botfleet pause`, `botfleet resume` and `botfleet audit`: operator controls from the shell.

A pause stops a bot's new entries (exits, stops and the kill switch still work) until it is
resumed; it is stored in the state database, so it holds in every process and across restarts,
and published on the bus so running runners hear of it at once. Like `botfleet kill`, the
state database and cache come from the fleet file or `--state`/`--cache`. Every command is
written to the audit log (`botfleet audit` shows it) with the actor `cli:USER@HOST`.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import typer

from botfleet.cli_research import fail
from botfleet.cli_risk import ACTOR_OPT, CACHE_OPT, FLEET_OPT, STATE_OPT, _fleet

BOT_ARG = typer.Argument(None, help="The bot (omit with --all).")
ALL_OPT = typer.Option(False, "--all", help="The whole fleet (every bot, new ones too).")


def _where(fleet, state: str | None, cache: str | None) -> tuple[str, str]:
    url = state or fleet.storage.state
    cache_url = cache or (fleet.storage.cache if fleet is not None else "memory://")
    return url, cache_url


def _target(bot: str | None, all_: bool, fleet) -> str:
    if bool(bot) == bool(all_):
        fail("say which: a BOT name or --all (not both)", 2)
    if all_:
        return "*"
    if fleet is not None and bot not in fleet.bots:
        from botfleet.config.problems import did_you_mean

        hint = did_you_mean(bot, fleet.bots)
        names = ", ".join(sorted(fleet.bots))
        fail(f"no bot {bot!r} in {fleet.path}; " + (hint or f"bots: {names}"), 2)
    return bot


def _run(call, *args, **kwargs):
    from botfleet.bus import BusError
    from botfleet.runtime.controls import ControlError
    from botfleet.storage.audit import AuditError
    from botfleet.storage.urls import StateDatabaseError

    try:
        return call(*args, **kwargs)
    except (ControlError, AuditError) as exc:
        fail(str(exc), 2)
    except (StateDatabaseError, BusError) as exc:
        fail(str(exc))


def pause(bot: str | None = BOT_ARG, all_: bool = ALL_OPT,
          reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit "
                                            "log, shown by `botfleet status`)."),
          fleet: Path | None = FLEET_OPT, state: str | None = STATE_OPT,
          cache: str | None = CACHE_OPT, actor: str | None = ACTOR_OPT) -> None:
    """Pause a bot (or --all): no new entries until `botfleet resume`; its exits, stops and
    protective orders still work."""
    from botfleet.risk.killswitch import default_actor
    from botfleet.runtime import controls

    fl = _fleet(fleet, state)
    target = _target(bot, all_, fl)
    url, cache_url = _where(fl, state, cache)
    info = _run(controls.pause, url, target, actor=actor or default_actor("cli"),
                reason=reason or "", bus=cache_url)
    typer.echo(info.describe())


def resume(bot: str | None = BOT_ARG, all_: bool = ALL_OPT,
           fleet: Path | None = FLEET_OPT, state: str | None = STATE_OPT,
           cache: str | None = CACHE_OPT, actor: str | None = ACTOR_OPT) -> None:
    """Resume a paused bot (or --all: lift the fleet-wide pause; a bot's own pause stays)."""
    from botfleet.risk.killswitch import default_actor
    from botfleet.runtime import controls

    fl = _fleet(fleet, state)
    target = _target(bot, all_, fl)
    url, cache_url = _where(fl, state, cache)
    lifted = _run(controls.resume, url, target, actor=actor or default_actor("cli"),
                  bus=cache_url)
    label = "the whole fleet" if target == "*" else f"bot {target}"
    if lifted is None:
        still = _run(controls.paused_bots, url)
        fail(f"{label} was not paused" + ("; paused: " + ", ".join(
            i.label for i in still.values()) if still else ""))
    typer.echo(f"resumed {label} (paused by {lifted.actor})")
    if target != "*" and "*" in (still := _run(controls.paused_bots, url)):
        typer.echo(f"still paused: {still['*'].describe()}")


def audit(limit: int = typer.Option(30, "--limit", min=1, help="How many entries."),
          actor: str | None = typer.Option(None, "--actor", help="Only this actor's."),
          action: str | None = typer.Option(None, "--action", help="Only this action "
                                            "(e.g. bot.pause, kill.engage, telegram.denied)."),
          fleet: Path | None = FLEET_OPT, state: str | None = STATE_OPT) -> None:
    """The audit log, newest first: who did what to what, from where."""
    import json

    from botfleet.storage.audit import audit_entries

    fl = _fleet(fleet, state)
    url, _ = _where(fl, state, None)
    for e in _run(audit_entries, url, limit=limit, actor=actor, action=action):
        mark = "" if e.allowed else "  REFUSED"
        typer.echo(f"{e.ts.astimezone(UTC):%Y-%m-%d %H:%M:%S}  {e.actor}  {e.action}  "
                   f"{e.target or '-'}  {json.dumps(e.detail, default=str)}{mark}")
