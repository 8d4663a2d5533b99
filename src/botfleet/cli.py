"""`botfleet …`: the command line. Thin: each command calls a library function and prints.

Exit codes: 0 success or valid, 1 invalid configuration, 2 usage error (bad arguments, a path
that does not exist).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from botfleet import __version__

app = typer.Typer(
    help="Declarative crypto trading bots: validate, plan and run a fleet described in YAML.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]})
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
schema_app = typer.Typer(help="The JSON Schemas of the YAML files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(schema_app, name="schema")


def _add_data_commands() -> None:
    from botfleet.cli_backtest import backtest
    from botfleet.cli_bias import check_bias
    from botfleet.cli_data import data_app
    from botfleet.cli_db import db_app
    from botfleet.cli_optimize import montecarlo, optimize, walkforward
    from botfleet.cli_orchestrate import apply, plan, up
    from botfleet.cli_risk import kill, release
    from botfleet.cli_runtime import live, paper, status
    from botfleet.cli_strategy import strategy_app
    from botfleet.cli_venue import venue_app

    app.add_typer(data_app, name="data")
    app.add_typer(db_app, name="db")
    app.add_typer(strategy_app, name="strategy")
    app.add_typer(venue_app, name="venue")
    app.command("backtest")(backtest)
    app.command("check-bias")(check_bias)
    app.command("optimize")(optimize)
    app.command("walkforward")(walkforward)
    app.command("montecarlo")(montecarlo)
    app.command("kill")(kill)
    app.command("release")(release)
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("up")(up)
    app.command("paper")(paper)
    app.command("live")(live)
    app.command("status")(status)


_add_data_commands()


def _add_control_commands() -> None:
    from botfleet.cli_control import audit, pause, resume
    from botfleet.cli_telegram import telegram

    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("audit")(audit)
    app.command("telegram")(telegram)


_add_control_commands()


def _add_notify_commands() -> None:
    from botfleet.cli_notify import notify_app

    app.add_typer(notify_app, name="notify")


_add_notify_commands()


def _add_report_command() -> None:
    from botfleet.cli_report import report

    app.command("report")(report)


_add_report_command()


def _add_ui_commands() -> None:
    from botfleet.cli_ui import ui_app

    app.add_typer(ui_app, name="ui")


_add_ui_commands()


def _add_doctor_command() -> None:
    from botfleet.cli_doctor import doctor

    app.command("doctor")(doctor)


_add_doctor_command()

def _add_secrets_commands() -> None:
    from botfleet.cli_secrets import secrets_app

    app.add_typer(secrets_app, name="secrets")


_add_secrets_commands()


def _add_model_commands() -> None:
    from botfleet.cli_model import model_app

    app.add_typer(model_app, name="model")


_add_model_commands()

FLEET_ARG = typer.Argument(None, help="Fleet file or folder (default: ./fleet.yaml), or any "
                           "single botfleet YAML file.", show_default=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"botfleet {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit."),
          log_json: bool = typer.Option(False, "--log-json", help="Log JSON lines (default: "
                                        "the fleet's logging.format, else JSON unless stderr "
                                        "is a terminal; or BOTFLEET_LOG_FORMAT)."),
          log_level: str | None = typer.Option(None, "--log-level", help="debug, info, "
                                               "warning or error (default: the fleet's "
                                               "logging.level, else info).")) -> None:
    """Declarative crypto trading bots."""
    from botfleet.obs.logs import install_logging, set_cli_overrides

    set_cli_overrides(json=True if log_json else None, level=log_level)
    try:
        install_logging()
    except ValueError as exc:
        _usage(str(exc))


def _usage(message: str) -> None:
    from botfleet.obs.masking import mask

    typer.echo(f"botfleet: {mask(message)}", err=True)
    raise typer.Exit(2)


def _fleet_path(path: Path | None) -> Path:
    path = path or Path("fleet.yaml")
    if not path.exists():
        _usage(f"{path}: no such file or directory")
    if path.is_dir():
        if not (path / "fleet.yaml").exists():
            _usage(f"{path}: folder holds no fleet.yaml")
        path = path / "fleet.yaml"
    return path


def _load(path: Path | None):
    """Load and check the fleet, strategies compiled as their bots use them."""
    from botfleet.strategy.fleet import load_checked

    load = load_checked(_fleet_path(path))
    if load.fleet is not None:
        _fleet_logging(load.fleet)
    return load


def _fleet_logging(fleet) -> None:
    """The fleet's `logging:` block (levels per module, a file) for the rest of the command."""
    from botfleet.obs.logs import install_logging

    try:
        install_logging(fleet)
    except (ValueError, OSError) as exc:
        _usage(f"{fleet.path}: logging: {exc}")


def _print_problems(load) -> None:
    for problem in load.problems:
        typer.echo(str(problem))


@app.command()
def validate(
    path: Path | None = FLEET_ARG,
    format: str = typer.Option("text", "--format", "-f", help="Output format: text or json."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
) -> None:
    """Check a fleet and every file it lists; report every problem with file:line:col."""
    if format not in ("text", "json"):
        _usage(f"--format must be text or json, not {format!r}")
    load = _load(path)
    failed = bool(load.errors) or (strict and bool(load.warnings))
    if format == "json":
        typer.echo(json.dumps({
            "valid": not failed,
            "files": [d.file for d in load.documents],
            "errors": [p.as_dict() for p in load.errors],
            "warnings": [p.as_dict() for p in load.warnings],
        }, indent=2))
    else:
        _print_problems(load)
        counts = {kind: len(v) for kind, v in load.entries.items() if kind != "fleet" and v}
        what = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        if failed:
            typer.echo(f"invalid: {len(load.errors)} error(s), {len(load.warnings)} warning(s) "
                       f"in {len(load.documents)} file(s)", err=True)
        else:
            typer.echo(f"valid: {len(load.documents)} file(s)" + (f" ({what})" if what else "")
                       + (f", {len(load.warnings)} warning(s)" if load.warnings else ""))
    raise typer.Exit(1 if failed else 0)


@app.command()
def run(path: Path | None = FLEET_ARG,
        download: bool = typer.Option(True, "--download/--no-download",
                                      help="Download missing candles through ccxt."),
        data_dir: Path | None = typer.Option(
            None, envvar="BOTFLEET_DATA_DIR",
            help="Folder of candle files to load first (default: ../shared/data next to the "
                 "fleet, when present)."),
        replay_days: int = typer.Option(14, "--replay-days", help="Days of recorded candles "
                                        "the paper bots replay on the simulator after the "
                                        "backtest (0: no replay)."),
        prefect: bool = typer.Option(True, "--prefect/--no-prefect", envvar="BOTFLEET_RUN_PREFECT",
                                     help="Run the steps as the Prefect flow botfleet-main (on "
                                          "PREFECT_API_URL, else Prefect's temporary local "
                                          "server) so the run is in Prefect's history.")) -> None:
    """The main job: validate the fleet, make sure its candles are stored, show the plan,
    backtest every bot (reports in DATA_DIR/reports, runs in the state database), then replay
    the last days through the paper path on the simulator beside the backtest of those days.

    The replay trades only on the in-process simulator, in a state database of its own.
    """
    from botfleet.config.summary import summary_lines
    from botfleet.data.prepare import prepare
    from botfleet.data.quality import iso
    from botfleet.data.store import open_store

    load = _load(path)
    _print_problems(load)
    if not load.ok:
        typer.echo(f"invalid: {len(load.errors)} error(s); nothing would run", err=True)
        raise typer.Exit(1)
    fleet = load.fleet
    if data_dir is None:
        shared = fleet.path.parent.resolve().parent / "shared" / "data"
        data_dir = shared if shared.is_dir() else None
    if prefect:
        _run_as_flow(fleet.path, data_dir, download, replay_days)
        return
    store = open_store(fleet.storage.candles)
    report = prepare(fleet, store, data_dir=data_dir, download=download)
    for o in report.outcomes:
        n = o.need
        typer.echo(f"data {n.exchange} {n.symbol} {n.timeframe} from {iso(n.since)}: "
                   f"{o.source}" + (f", {o.rows} candle(s)" if o.rows else "")
                   + (f" ({o.detail})" if o.detail else ""))
    store.close()
    if report.missing:
        typer.echo(f"cannot run: no candles for {len(report.missing)} series, and neither a "
                   f"data folder ({data_dir or 'none found; set BOTFLEET_DATA_DIR'}) nor a "
                   "download could provide them. botfleet does not invent data.", err=True)
        raise typer.Exit(1)
    for line in summary_lines(fleet):
        typer.echo(line)
    _latest_signals(load, fleet)
    from botfleet.cli_run import backtest_fleet, paper_replay, replay_report

    ok = backtest_fleet(load, fleet)
    replayed = paper_replay(load, fleet, data_dir, replay_days)
    if not (replayed and replay_report(replayed)):
        ok = False
    if not ok:
        raise typer.Exit(1)


def _run_as_flow(fleet_path: Path, data_dir: Path | None, download: bool,
                 replay_days: int) -> None:
    """`botfleet run` as the flow botfleet-main: the same steps and output, one flow run."""
    from botfleet.orchestration import run_main

    ok, where = run_main(str(fleet_path), data_dir=str(data_dir) if data_dir else None,
                         download=download, replay_days=replay_days)
    typer.echo(f"run history: {where}")
    if not ok:
        raise typer.Exit(1)


def _latest_signals(load, fleet) -> None:
    """Each enabled bot's strategy on its stored candles: the newest bar's signals."""
    from botfleet.data.quality import iso
    from botfleet.data.store import SeriesKey, open_store
    from botfleet.strategy.declarative import newest
    from botfleet.strategy.fleet import compiled_for_bots

    strategies = compiled_for_bots(load)
    with open_store(fleet.storage.candles) as store:
        for name, strategy in strategies.items():
            bot = fleet.bots[name]
            for pair in bot.pairs:
                candles = store.read(SeriesKey(bot.exchange, pair, bot.timeframe))
                higher = {tf: store.read(SeriesKey(bot.exchange, pair, tf))
                          for tf in strategy.timeframes}
                sig = strategy.signals(candles, higher)
                last = {k: int(getattr(sig, k).sum()) for k in ("entry_long", "exit_long")}
                now = newest(sig)
                flags = [k for k in ("entry_long", "exit_long", "entry_short", "exit_short")
                         if now[k]] or ["no signal"]
                typer.echo(f"signals {name} {pair} {bot.timeframe} ({strategy.name}): "
                           f"{last['entry_long']} entries, {last['exit_long']} exits over "
                           f"{len(candles)} candles; latest bar {iso(now['ts'])}: "
                           f"{', '.join(flags)}")


@config_app.command("explain")
def explain(bot: str = typer.Argument(..., help="Name of the bot."),
            fleet: Path | None = typer.Option(None, "--fleet", help="Fleet file or folder.")
            ) -> None:
    """Show every effective setting of BOT and the file:line it came from."""
    from botfleet.config.explain import UnknownBot, explain_rows

    load = _load(fleet)
    if not load.ok:
        _print_problems(load)
        typer.echo("fix the errors above first", err=True)
        raise typer.Exit(1)
    try:
        rows = explain_rows(load, bot)
    except UnknownBot as exc:
        _usage(f"no bot named '{exc.name}'" + (f" ({exc.hint})" if exc.hint else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for setting, value, source in rows:
        typer.echo(f"{setting:<{widths[0]}}  {value:<{widths[1]}}  {source}")


@schema_app.command("export")
def schema_export(target: Path = typer.Argument(Path("schemas"), help="Folder to write into.")
                  ) -> None:
    """Write the JSON Schemas (draft 2020-12) for editors and other tools."""
    from botfleet.config.scaffold import export_schemas

    for written in export_schemas(target):
        typer.echo(str(written))


@schema_app.command("docs")
def schema_docs(output: Path | None = typer.Option(None, "--output", "-o",
                                                      help="File to write (default: stdout)."),
                check: bool = typer.Option(False, "--check",
                                           help="Exit 1 if OUTPUT differs from the schemas.")
                ) -> None:
    """Generate the configuration reference (Markdown) from the schemas."""
    from botfleet.config.docgen import render

    text = render()
    if check:
        if output is None:
            _usage("--check needs --output")
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            typer.echo(f"{output} is stale: run 'botfleet schema docs -o {output}'", err=True)
            raise typer.Exit(1)
        return
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


@app.command()
def init(target: Path = typer.Argument(Path("."), help="Folder for the new fleet."),
         force: bool = typer.Option(False, "--force", help="Overwrite existing files.")) -> None:
    """Write a working example fleet (with comments) and its schemas into TARGET."""
    from botfleet.config.scaffold import TargetNotEmpty, init_fleet

    try:
        written = init_fleet(target, force=force)
    except TargetNotEmpty as exc:
        _usage(f"would overwrite {exc}; use --force to replace them")
    typer.echo(f"wrote {len(written)} files to {target}; check them with "
               f"'botfleet validate {target}'")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
