"""`botfleet kill` and `botfleet release`: the kill switch from the command line.

Meant for bad moments, so it asks for little: the fleet's state database and cache come from
the fleet file (or `--state`/`--cache`), the mode and release policy from the level's
`kill_switch:` settings unless given. A fleet whose YAML has errors does not tell where its
state lives, so then `--state` is required rather than guessing a database no bot reads.
"""

from __future__ import annotations

from pathlib import Path

import typer

from botfleet.cli_research import fail

FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")
STATE_OPT = typer.Option(None, "--state", help="State database URL (default: the fleet's "
                         "storage.state).")
CACHE_OPT = typer.Option(None, "--cache", help="Cache URL the bots listen on, redis://… or "
                         "memory:// (default: the fleet's storage.cache).")
BOT_OPT = typer.Option(None, "--bot", help="One bot.")
EXCHANGE_OPT = typer.Option(None, "--exchange", help="Every bot on this exchange.")
ALL_OPT = typer.Option(False, "--all", help="Every bot of the fleet (the global switch).")
ACTOR_OPT = typer.Option(None, "--actor", help="Who does this (default: cli:USER@HOST).")


def _fleet(path: Path | None, state: str | None):
    """The fleet, or None when there is none here and `--state` says where to act."""
    from botfleet.cli import _fleet_path
    from botfleet.config import load_fleet

    if path is None and not Path("fleet.yaml").exists():
        if state is None:
            fail("no fleet.yaml here: pass --fleet PATH or --state URL", 2)
        return None
    load = load_fleet(_fleet_path(path))
    if not load.ok:
        for problem in load.errors[:5]:
            typer.echo(str(problem), err=True)
        if state is None:
            fail(f"the fleet has {len(load.errors)} error(s), so where its state lives is "
                 "unknown; pass --state URL (and --cache URL) to act anyway", 2)
        typer.echo(f"the fleet has {len(load.errors)} error(s): acting on --state without it",
                   err=True)
        return None
    return load.fleet


def _scope(bot: str | None, exchange: str | None, all_: bool, fleet) -> tuple[str, str]:
    chosen = [s for s, v in (("bot", bot), ("exchange", exchange), ("global", all_)) if v]
    if len(chosen) != 1:
        fail("say which switch: exactly one of --bot NAME, --exchange NAME or --all", 2)
    scope = chosen[0]
    target = bot if scope == "bot" else (exchange if scope == "exchange" else "")
    if fleet is not None and scope != "global":
        from botfleet.config.problems import did_you_mean

        names = fleet.bots if scope == "bot" else fleet.exchanges
        if target not in names:
            hint = did_you_mean(target, names)
            fail(f"no {scope} {target!r} in {fleet.path}; "
                 + (hint or f"{scope}s: {', '.join(sorted(names))}"), 2)
    return scope, target


def _settings(fleet, scope: str, target: str):
    from botfleet.risk.engine import KillSettings

    if fleet is None:
        return KillSettings()
    limits = (fleet.risk if scope == "global" else fleet.exchanges[target].risk
              if scope == "exchange" else fleet.bots[target].risk)
    return KillSettings.from_yaml(limits.kill_switch)


def _open(fleet, state: str | None, cache: str | None):
    from botfleet.bus import BusError
    from botfleet.risk.killswitch import KillSwitch
    from botfleet.storage.urls import StateDatabaseError

    url = state or fleet.storage.state
    cache_url = cache or (fleet.storage.cache if fleet is not None else "memory://")
    try:
        return KillSwitch(url, cache_url, listen=False)
    except (StateDatabaseError, BusError, ValueError) as exc:
        fail(str(exc))


def _line(s) -> str:
    from botfleet.risk.checks import fmt_time

    lifts = f", lifts {fmt_time(s.release_at_ms)}" if s.release_at_ms else ""
    return (f"#{s.id} {s.label}: {s.mode} since {fmt_time(s.engaged_at_ms)} by {s.actor}"
            f"{lifts}: {s.reason}")


def _reach(switch) -> str:
    if switch.bus.kind == "redis" and switch.published:
        return f"published on {switch.bus.url}: running bots act on it within a second"
    if switch.bus.kind == "redis":
        return (f"Redis at {switch.bus.url} did not answer: running bots act on it at their "
                "next cycle start (from the state database)")
    return ("no Redis configured (storage.cache memory://): running bots act on it at their "
            "next cycle start (from the state database)")


def kill(bot: str | None = BOT_OPT, exchange: str | None = EXCHANGE_OPT,
         all_: bool = ALL_OPT,
         mode: str | None = typer.Option(None, "--mode", help="freeze (stop new orders), "
                                         "cancel_orders (also cancel working orders) or flatten "
                                         "(also close positions at market); default: the "
                                         "level's kill_switch.on_trigger, else cancel_orders."),
         reason: str | None = typer.Option(None, "--reason", help="Why (shown to every bot and "
                                           "kept in the history)."),
         list_: bool = typer.Option(False, "--list", help="Show the engaged switches."),
         fleet: Path | None = FLEET_OPT, state: str | None = STATE_OPT,
         cache: str | None = CACHE_OPT, actor: str | None = ACTOR_OPT) -> None:
    """Engage a kill switch: stop new orders of a bot, an exchange's bots or all bots (only
    risk-reducing orders pass) until `botfleet release`."""
    from botfleet.risk.killswitch import KillSwitchError

    fl = _fleet(fleet, state)
    if list_:
        if bot or exchange or all_ or mode or reason:
            fail("--list takes no switch, --mode or --reason", 2)
        switch = _open(fl, state, cache)
        with switch:
            active = switch.active()
        for s in active:
            typer.echo(_line(s))
        if not active:
            typer.echo("no kill switch engaged")
        return
    scope, target = _scope(bot, exchange, all_, fl)
    if not reason:
        fail("--reason TEXT is required (it is shown to every bot and kept in the history)", 2)
    settings = _settings(fl, scope, target)
    switch = _open(fl, state, cache)
    with switch:
        try:
            s = switch.engage(scope, target, mode or settings.on_trigger, reason, actor,
                              settings.release)
        except KillSwitchError as exc:
            fail(str(exc), 2)
        typer.echo(f"engaged {_line(s)}")
        typer.echo(_reach(switch))


def release(bot: str | None = BOT_OPT, exchange: str | None = EXCHANGE_OPT,
            all_: bool = ALL_OPT,
            reason: str | None = typer.Option(None, "--reason", help="Why (kept in the "
                                              "history)."),
            fleet: Path | None = FLEET_OPT, state: str | None = STATE_OPT,
            cache: str | None = CACHE_OPT, actor: str | None = ACTOR_OPT) -> None:
    """Release a kill switch engaged with `botfleet kill` (the same --bot/--exchange/--all)."""
    from botfleet.risk.killswitch import KillSwitchError

    fl = _fleet(fleet, state)
    scope, target = _scope(bot, exchange, all_, fl)
    if not reason:
        fail("--reason TEXT is required (kept in the history)", 2)
    switch = _open(fl, state, cache)
    with switch:
        try:
            s = switch.release(scope, target, reason, actor)
        except KillSwitchError as exc:
            fail(str(exc), 2)
        if s is None:
            label = "global" if scope == "global" else f"{scope} {target}"
            still = [_line(x) for x in switch.active()]
            fail(f"no kill switch engaged on {label}"
                 + ("; engaged: " + "; ".join(still) if still else ""))
        typer.echo(f"released #{s.id} {s.label} ({s.mode}, engaged by {s.actor}): {reason}")
        typer.echo(_reach(switch))
        for other in switch.active():
            typer.echo(f"still engaged: {_line(other)}")
