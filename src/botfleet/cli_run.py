"""The main job's backtest step: every enabled bot of the fleet on its stored candles, each run
stored in the state database and reported, with one summary table.

A bot that cannot be backtested (no candles, a sizing problem) is reported on its own line and
the others still run; the job then exits non-zero so that a broken bot is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass

import typer

COLUMNS = [("bot", 14, "{}"), ("pairs", 18, "{}"), ("tf", 4, "{}"), ("return", 9, "{:+.2%}"),
           ("cagr", 9, "{:+.2%}"), ("sharpe", 7, "{:.2f}"), ("max dd", 8, "{:.2%}"),
           ("trades", 7, "{}"), ("win", 7, "{:.1%}"), ("equity", 12, "{:,.2f}")]


def _row(cells: list) -> str:
    out = []
    for (_, width, fmt), value in zip(COLUMNS, cells, strict=True):
        try:
            text = fmt.format(value)
        except (ValueError, TypeError):
            text = str(value)
        out.append(text.rjust(width) if fmt != "{}" else text.ljust(width))
    return " ".join(out).rstrip()


def backtest_fleet(load, fleet) -> bool:
    """Backtest every enabled bot; print the table; True when every bot ran."""
    from botfleet.cli_research import venue_rules
    from botfleet.data.store import open_store
    from botfleet.reports.html import render_comparison_html, render_html
    from botfleet.sim.bots import backtest_bot
    from botfleet.storage.results import ResultStore
    from botfleet.strategy.fleet import compiled_for_bots

    strategies = compiled_for_bots(load)
    out_dir = fleet.data_dir / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    results, ok = [], True
    typer.echo("backtest of every bot on its stored candles (fill model: docs/backtesting.md)")
    typer.echo(_row([c[0] for c in COLUMNS]).replace("+", " "))
    state = fleet.storage.state  # anchored to the fleet's folder by the loader
    with open_store(fleet.storage.candles) as store, ResultStore(state) as repo:
        for name, strategy in strategies.items():
            bot = fleet.bots[name]
            try:
                result = backtest_bot(fleet, bot, strategy, store, venue_rules(bot.exchange))
            except (LookupError, ValueError) as exc:
                typer.echo(f"{name:<14} cannot backtest: {exc}", err=True)
                ok = False
                continue
            result.meta["run_id"] = repo.save(result)
            render_html(result, out_dir / f"{name}.html")
            results.append(result)
            m = result.metrics
            typer.echo(_row([name, ",".join(bot.pairs), bot.timeframe, m["total_return"],
                             m["cagr"], m["sharpe"], m["max_drawdown"], m["n_trades"],
                             m["win_rate"], m["final_equity"]]))
    if results:
        index = out_dir / "index.html"
        render_comparison_html(results, index)
        typer.echo(f"reports: {index} (and one page per bot); runs stored in {state}")
    return ok


REPLAY_COLUMNS = [("bot", 14, "{}"), ("paper trades", 12, "{}"), ("backtest", 9, "{}"),
                  ("same", 5, "{}"), ("paper pnl", 11, "{:+,.2f}"), ("backtest pnl", 12,
                                                                     "{:+,.2f}")]


def _replay_row(cells: list) -> str:
    out = []
    for (_, width, fmt), value in zip(REPLAY_COLUMNS, cells, strict=True):
        try:
            text = fmt.format(value)
        except (ValueError, TypeError):
            text = str(value)
        out.append(text.ljust(width) if fmt == "{}" and width == 14 else text.rjust(width))
    return " ".join(out).rstrip()


@dataclass
class Replayed:
    """What the replay did: `ok`, and where its state is (for the report of its days)."""

    ok: bool
    fleet: object = None  # the replay's copy of the fleet, with a state database of its own
    end_ms: int | None = None

    def __bool__(self) -> bool:
        return self.ok


def replay_report(replayed: Replayed) -> bool:
    """The trading report (HTML) of the replay's last seven days, from its state database:
    what `botfleet report` would have sent had the replay been live; True when written (or
    there was no replay)."""
    if replayed.fleet is None or replayed.end_ms is None:
        return True
    from datetime import UTC, datetime

    from botfleet.jobs.report import report_period

    try:
        row = report_period(replayed.fleet, "weekly", send=False, pdf=False,
                            now=datetime.fromtimestamp(replayed.end_ms / 1000, UTC))
    except Exception as exc:  # noqa: BLE001 - the step reports its failure, the job goes on
        typer.echo(f"report of the replay failed: {type(exc).__name__}: {exc}", err=True)
        return False
    typer.echo(f"report of the replay's last 7 days: {row['path']}")
    return True


def paper_replay(load, fleet, data_dir, days: int) -> Replayed:
    """The paper path on the simulator over the last `days` of the recorded candles, every
    paper bot trading through the fleet runner (ccxt, executor, ledger, risk engine), beside
    the backtest of the same stretch; True when it ran (or there was nothing to replay)."""
    import logging

    bots = [b for b in fleet.enabled_bots() if b.mode == "paper"]
    if days <= 0 or not bots:
        return Replayed(True)
    if data_dir is None or not data_dir.is_dir():
        typer.echo("paper replay skipped: no folder of recorded candles (set "
                   "BOTFLEET_DATA_DIR)")
        return Replayed(True)
    quiet = {name: logging.getLogger(name) for name in ("alembic", "botfleet.runtime",
                                                          "botfleet.execution")}
    levels = {name: logger.level for name, logger in quiet.items()}
    for logger in quiet.values():
        logger.setLevel(logging.ERROR)
    try:
        return _replay(load, fleet, bots, data_dir, days)
    finally:  # the replay's cycles are summed up in the table; later commands log as usual
        for name, logger in quiet.items():
            logger.setLevel(levels[name])


def _replay(load, fleet, bots, data_dir, days: int) -> Replayed:
    from dataclasses import replace
    from decimal import Decimal

    from botfleet.cli_research import venue_rules
    from botfleet.data.quality import iso
    from botfleet.data.store import open_store
    from botfleet.runtime.paper_replay import recorded_venue, replay_fleet_copy, step_replay
    from botfleet.sim.bots import backtest_bot
    from botfleet.strategy.fleet import compiled_for_bots

    try:
        server, start, end = recorded_venue(fleet, bots, data_dir, days=days)
    except LookupError as exc:
        typer.echo(f"paper replay skipped: {exc}", err=True)
        return Replayed(True)
    replay_load = replace(load)
    replay_load.fleet = replay_fleet_copy(fleet, fleet.data_dir / "replay")
    typer.echo(f"paper replay on the simulator (recorded candles, the fleet runner through "
               f"ccxt) from {iso(start)} to {iso(end)}, beside the backtest of the same days")
    try:
        got = step_replay(replay_load, server, [b.name for b in bots], start, end)
    finally:
        server.stop()
    strategies = compiled_for_bots(load)
    typer.echo(_replay_row([c[0] for c in REPLAY_COLUMNS]))
    with open_store(fleet.storage.candles) as store:
        for bot in bots:
            paper = got.trades.get(bot.name, [])
            try:
                r = backtest_bot(fleet, bot, strategies[bot.name], store,
                                 venue_rules(bot.exchange), start_ms=start, end_ms=end)
            except (LookupError, ValueError) as exc:
                typer.echo(f"{bot.name:<14} cannot backtest the replay's days: {exc}", err=True)
                continue
            bt = [(int(r.ts[t["entry_bar"]]), round(float(t["pnl"]), 2)) for t in r.trades]
            mine = [(t.entry_ms, round(float(t.pnl), 2)) for t in paper]
            same = len(set(bt) & set(mine))
            typer.echo(_replay_row([bot.name, len(paper), len(bt), same,
                                    sum((t.pnl for t in paper), Decimal(0)),
                                    float(r.trades["pnl"].sum())]))
    for name, count in got.open.items():
        if count:
            typer.echo(f"{name}: {count} position(s) still open at the end (not counted)")
    for error in got.errors:
        typer.echo(f"paper replay: {error}", err=True)
    typer.echo(f"paper replay: {got.cycles} cycle(s); state in "
               f"{replay_load.fleet.storage.state}")
    return Replayed(not got.errors, replay_load.fleet, end)
