"""`botfleet paper`, `botfleet live` and `botfleet status`: the fleet runner from the command line.

`paper` trades the fleet's paper bots on the exchange simulator: one started here on the
recorded candles with a clock faster than real time (`--replay`), or one already serving
(`--venue URL`, e.g. `botfleet venue serve`). `live` trades real money and says so: it
refuses to start without `--i-understand-this-trades-real-money`, and resolves every
credential reference before the first request, naming the variable that is missing. Both run
in the foreground until SIGTERM or SIGINT (then shut down within `--deadline` seconds), or
run one cycle per bot with `--once`. `status` reads the state database only.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from botfleet.cli_research import fail, parse_time

FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")
BOTS_ARG = typer.Argument(None, help="Bots to run (default: every enabled bot of this mode).",
                          show_default=False)
ONCE_OPT = typer.Option(False, "--once", help="Run one cycle per bot now, then exit.")
DEADLINE_OPT = typer.Option(30.0, "--deadline", help="Seconds a shutdown waits for running "
                            "cycles before recording their orders for reconciliation.")
TIMEOUT_OPT = typer.Option(60.0, "--cycle-timeout", help="Seconds a cycle may run before it "
                           "is told to stop (it then sends nothing more).")
WORKERS_OPT = typer.Option(8, "--workers", help="Threads running cycles.")
LEVEL_OPT = typer.Option(None, "--log-level", help="debug, info, warning or error (default: "
                         "the fleet's logging.level, else info).")
FORMAT_OPT = typer.Option(None, "--log-format", help="console (or text), or json: one object "
                          "per line with the cycle's correlation id (default: the fleet's "
                          "logging.format, else json unless stderr is a terminal).")
RELOAD_OPT = typer.Option(2.0, "--reload-every", help="Seconds between checks of the YAML "
                          "files for changes (0: no hot reload).")
CONFIRM = "--i-understand-this-trades-real-money"
METRICS_OPT = typer.Option(None, "--metrics-port", envvar="BOTFLEET_METRICS_PORT",
                           help="Serve /metrics (Prometheus) and /health on this port (0: off; "
                           "default: observability.metrics_port, else off); the address is "
                           "observability.metrics_host or $BOTFLEET_METRICS_HOST.")


def _logging(level: str | None, fmt: str | None, fleet=None) -> None:
    """`install_logging` with this command's options over the fleet's `logging:` block."""
    from botfleet.obs.logs import install_logging

    if fmt is not None and fmt not in ("text", "console", "json"):
        fail(f"--log-format {fmt!r}: console (or text), or json", 2)
    try:
        install_logging(fleet, json=None if fmt is None else fmt == "json", level=level)
    except ValueError as exc:
        fail(str(exc), 2)


def _load(fleet: Path | None):
    from botfleet.cli import _fleet_path
    from botfleet.runtime.reload import load_checked

    load = load_checked(_fleet_path(fleet))
    if not load.ok:
        for problem in load.errors:
            typer.echo(str(problem), err=True)
        fail(f"the fleet has {len(load.errors)} error(s); fix them first (botfleet validate)")
    return load


def _bots(fleet, names: list[str] | None, mode: str) -> list:
    from botfleet.config.problems import did_you_mean

    if names:
        out = []
        for name in names:
            bot = fleet.bots.get(name)
            if bot is None:
                fail(f"no bot {name!r} in {fleet.path}; "
                     + (did_you_mean(name, fleet.bots) or f"bots: {', '.join(fleet.bots)}"), 2)
            if bot.mode != mode:
                fail(f"bot {name} is a {bot.mode} bot ({bot.source}); run it with "
                     f"'botfleet {bot.mode}'", 2)
            out.append(bot)
        return out
    out = [b for b in fleet.enabled_bots() if b.mode == mode]
    if not out:
        fail(f"no enabled bot has mode: {mode} in {fleet.path}", 2)
    return out


def _options(once: bool, deadline: float, timeout: float, workers: int, reload_every: float,
             until_ms: int | None = None, on_started=None):
    """The heap is frozen for a long run's speed, not for one cycle (it would only cost the
    cycle a full collection); `on_started` starts a replay's clock once the bots are up."""
    from botfleet.runtime.runner import RunnerOptions

    if workers < 1 or deadline < 0 or timeout <= 0 or reload_every < 0:
        fail("--workers must be >= 1, --deadline >= 0, --cycle-timeout > 0, "
             "--reload-every >= 0", 2)
    return RunnerOptions(workers=workers, cycle_timeout_s=timeout,
                         shutdown_deadline_s=deadline,
                         reload_every_s=0 if once else reload_every, until_ms=until_ms,
                         notify=not once, freeze_heap=not once,
                         on_started=on_started)


def _metrics(fleet, runner, port: int | None):
    """The runner's /metrics and /health server, if a port is set (None: not started)."""
    from botfleet.obs.metrics import serve_http
    from botfleet.runtime.health import runner_health

    port = fleet.observability.metrics_port if port is None else port
    if not port:
        return None
    if not 0 < port < 65536:
        fail(f"--metrics-port {port}: a TCP port is 1-65535 (0: off)", 2)
    import os

    host = os.environ.get("BOTFLEET_METRICS_HOST") or fleet.observability.metrics_host
    try:
        server = serve_http(port, host, runner_health(runner))
    except OSError as exc:
        fail(str(exc), 2)
    typer.echo(f"metrics on {server.url}/metrics, health on {server.url}/health")
    return server


def _run(load, conn, bots: list, mode: str, options, once: bool,
         metrics_port: int | None = None) -> None:
    """Run in the foreground; exit 1 when a bot could not start or a --once cycle failed."""
    from botfleet.runtime.runner import FleetRunner

    runner = FleetRunner(load, conn, bots=[b.name for b in bots], mode=mode, options=options)
    server = _metrics(load.fleet, runner, metrics_port)
    try:
        _run_runner(runner, conn, mode, once)
    finally:
        if server is not None:
            server.stop()


def _run_runner(runner, conn, mode: str, once: bool) -> None:
    import asyncio

    typer.echo(f"{mode}: {len(runner.plans)} bot(s) on {conn.label}; state in "
               f"{runner.fleet.storage.state}")
    for name, problem in runner.problems.items():
        typer.echo(f"bot {name} not started: {problem}", err=True)
    if once:
        try:
            results = runner.run_once()
        finally:
            runner.shutdown()
        for r in results:
            typer.echo(f"{r.bot}: {r.outcome} (candle {r.candle_ms}, {len(r.orders)} order(s)"
                       f"{', ' + r.error if r.error else ''}) correlation id "
                       f"{r.correlation_id or '-'}")
        bad = runner.problems or [r for r in results if r.outcome in ("error", "timeout")]
        raise typer.Exit(1 if bad else 0)
    asyncio.run(runner.run())
    typer.echo(f"stopped after {len(runner.results)} cycle(s)")
    if runner.problems:
        raise typer.Exit(1)


def paper(bots: list[str] | None = BOTS_ARG, fleet: Path | None = FLEET_OPT,
          venue: str | None = typer.Option(None, "--venue", help="Base URL of a running "
                                           "simulator (botfleet venue serve)."),
          replay: bool = typer.Option(False, "--replay", help="Start a simulator here on the "
                                      "recorded candles, its clock faster than real time."),
          speed: float = typer.Option(3600.0, "--speed", help="--replay: market ms per wall "
                                      "ms (3600: an hour a second)."),
          start: str | None = typer.Option(None, "--start", help="--replay: from this date "
                                           "(default: --days before the data ends)."),
          days: int = typer.Option(30, "--days", help="--replay: how many days to replay."),
          data_dir: Path | None = typer.Option(None, "--data", envvar="BOTFLEET_DATA_DIR",
                                               help="--replay: folder of candle files "
                                               "(default: ../shared/data next to the fleet)."),
          once: bool = ONCE_OPT, deadline: float = DEADLINE_OPT, timeout: float = TIMEOUT_OPT,
          workers: int = WORKERS_OPT, reload_every: float = RELOAD_OPT,
          log_level: str = LEVEL_OPT, log_format: str = FORMAT_OPT,
          metrics_port: int | None = METRICS_OPT) -> None:
    """Run the fleet's paper bots on the exchange simulator, in the foreground."""
    if bool(venue) == bool(replay):
        fail("paper bots trade on the simulator: give --replay (one started here on the "
             "recorded candles) or --venue URL (one already serving: botfleet venue serve)", 2)
    _logging(log_level, log_format)
    load = _load(fleet)
    _logging(log_level, log_format, load.fleet)
    chosen = _bots(load.fleet, bots, "paper")
    from botfleet.runtime.clients import CredentialsError
    from botfleet.runtime.connect import VenueUnreachable, remote_connection, venue_connection

    if venue:
        try:
            conn = remote_connection(venue, load.fleet, chosen)
        except CredentialsError as exc:
            fail(f"{exc} (the simulator account's key and secret)", 2)
        except VenueUnreachable as exc:
            fail(str(exc), 2)
        _run(load, conn, chosen, "paper", _options(once, deadline, timeout, workers,
                                                   reload_every), once, metrics_port)
        return
    from botfleet.runtime.paper_replay import recorded_venue, replay_fleet_copy

    folder = data_dir or load.fleet.path.parent.resolve().parent / "shared" / "data"
    if not folder.is_dir():
        fail(f"--replay needs the recorded candles: no folder {folder} (set --data or "
             "BOTFLEET_DATA_DIR)", 2)
    if speed <= 0:
        fail("--speed must be above 0", 2)
    try:
        # the clock stands at the start until the runner is up (on_started below), so the
        # replay's first hours are not spent starting the bots
        server, t0, t1 = recorded_venue(load.fleet, chosen, folder, days=days, speed=None,
                                        start_ms=parse_time(start, "--start") if start else None)
    except LookupError as exc:
        fail(str(exc), 2)
    load.fleet = replay_fleet_copy(load.fleet, load.fleet.data_dir / "replay")
    typer.echo(f"replaying {server.market.label.get('source')} from {_iso(t0)} to {_iso(t1)} "
               f"at {speed:g}x")
    try:
        _run(load, venue_connection(server, load.fleet, chosen), chosen, "paper",
             _options(once, deadline, timeout, workers, reload_every, until_ms=t1,
                      on_started=lambda: server.market.clock.set_speed(speed)),
             once,
             metrics_port)
    finally:
        server.stop()


def live(bots: list[str] | None = BOTS_ARG, fleet: Path | None = FLEET_OPT,
         confirm: bool = typer.Option(False, CONFIRM, help="Required: live bots send real "
                                      "orders with real money."),
         once: bool = ONCE_OPT, deadline: float = DEADLINE_OPT, timeout: float = TIMEOUT_OPT,
         workers: int = WORKERS_OPT, reload_every: float = RELOAD_OPT,
         log_level: str = LEVEL_OPT, log_format: str = FORMAT_OPT,
         metrics_port: int | None = METRICS_OPT) -> None:
    """Run the fleet's live bots against their exchanges (real money), in the foreground."""
    if not confirm:
        fail(f"live bots send real orders with real money; add {CONFIRM} to start them", 2)
    _logging(log_level, log_format)
    load = _load(fleet)
    _logging(log_level, log_format, load.fleet)
    chosen = _bots(load.fleet, bots, "live")
    from botfleet.runtime.clients import CredentialsError
    from botfleet.runtime.connect import live_connection

    try:
        conn = live_connection(load.fleet, chosen)
    except CredentialsError as exc:
        fail(str(exc), 2)
    _run(load, conn, chosen, "live", _options(once, deadline, timeout, workers, reload_every),
         once, metrics_port)


def status(fleet: Path | None = FLEET_OPT,
           state: str | None = typer.Option(None, "--state", help="State database URL "
                                            "(default: the fleet's storage.state)."),
           as_json: bool = typer.Option(False, "--json", help="One JSON object per bot.")
           ) -> None:
    """Each bot as the state database knows it: mode, last cycle and its outcome, positions,
    working orders, kill switch, breakers, reconciliation halts."""
    from botfleet.cli_risk import _fleet
    from botfleet.runtime.status import format_rows, status_rows
    from botfleet.storage.urls import StateDatabaseError

    fl = _fleet(fleet, state)
    url = state or fl.storage.state
    try:
        rows = status_rows(url, fl)
    except (StateDatabaseError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_dict()))
        return
    if not rows:
        typer.echo(f"no bots in {url}")
        return
    for line in format_rows(rows):
        typer.echo(line)


def _iso(ms: int) -> str:
    from botfleet.data.quality import iso

    return iso(ms)
