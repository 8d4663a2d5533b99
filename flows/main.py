"""`botfleet-main`: the main job (`botfleet run`) as one flow of tasks, so its history is in
Prefect beside the scheduled jobs: data (stored candles, files, downloads) -> plan and latest
signals -> backtest of every bot (stored, reported) -> paper replay on the simulator -> the
trading report of the replay's last week.

Each task wraps the library step `botfleet run` uses as it is (`data.prepare`, `cli._latest_
signals`, `cli_run.backtest_fleet`, `cli_run.paper_replay`): the output is the same. Not one
of the scheduled deployments (`deployments.FLOWS`): it runs once, from the command line
(`orchestration.run_main`)."""

from __future__ import annotations

from pathlib import Path

import typer
from prefect.states import Failed

from botfleet.jobs import load_checked
from botfleet.orchestration import job_flow, job_task, opaque


@job_task("main", name="data")
def data_step(fleet, data_dir: str | None, download: bool) -> dict:
    from botfleet.data.prepare import prepare
    from botfleet.data.quality import iso
    from botfleet.data.store import open_store

    folder = Path(data_dir) if data_dir else None
    with open_store(fleet.storage.candles) as store:
        report = prepare(fleet, store, data_dir=folder, download=download)
    for o in report.outcomes:
        n = o.need
        typer.echo(f"data {n.exchange} {n.symbol} {n.timeframe} from {iso(n.since)}: "
                   f"{o.source}" + (f", {o.rows} candle(s)" if o.rows else "")
                   + (f" ({o.detail})" if o.detail else ""))
    if report.missing:
        typer.echo(f"cannot run: no candles for {len(report.missing)} series, and neither a "
                   f"data folder ({folder or 'none found; set BOTFLEET_DATA_DIR'}) nor a "
                   "download could provide them. botfleet does not invent data.", err=True)
    return {"series": len(report.outcomes), "missing": len(report.missing)}


@job_task("main", name="plan-and-signals")
def plan_step(load) -> dict:
    from botfleet.cli import _latest_signals
    from botfleet.config.summary import summary_lines

    for line in summary_lines(load.fleet):
        typer.echo(line)
    _latest_signals(load, load.fleet)
    return {"bots": len(load.fleet.enabled_bots())}


@job_task("main", name="backtest")
def backtest_step(load) -> dict:
    from botfleet.cli_run import backtest_fleet

    return {"ok": backtest_fleet(load, load.fleet)}


@job_task("main", name="paper-replay")
def replay_step(load, data_dir: str | None, days: int) -> dict:
    from botfleet.cli_run import paper_replay

    replayed = paper_replay(load, load.fleet, Path(data_dir) if data_dir else None, days)
    return {"ok": bool(replayed), "replayed": replayed}


@job_task("main", name="report")
def report_step(replayed) -> dict:
    from botfleet.cli_run import replay_report

    return {"ok": replay_report(replayed)}


@job_flow("main")
def main(fleet: str, data_dir: str | None = None, download: bool = True,
         replay_days: int = 14) -> dict:
    """The main job of `fleet`; fails when a step failed (each prints its own reason)."""
    load = load_checked(fleet)
    if data_step(opaque(load.fleet), data_dir, download)["missing"]:
        return Failed(message="no candles for some series (the data step said which)")
    plan_step(opaque(load))
    backtest = backtest_step(opaque(load))["ok"]
    replay = replay_step(opaque(load), data_dir, replay_days)
    steps = {"backtest": backtest, "paper replay": replay["ok"],
             "report": report_step(opaque(replay["replayed"]))["ok"]}
    failed = [name for name, ok in steps.items() if not ok]
    if failed:  # each step printed its reason: a failed state, not a second traceback
        return Failed(message=f"the main job's {' and '.join(failed)} step(s) failed")
    return {"fleet": load.fleet.name, "steps": steps}


FLOW = main
