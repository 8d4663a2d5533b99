"""The main job's backtest step: every enabled bot of the fleet on its stored candles, each run
stored in the state database and reported, with one summary table.

A bot that cannot be backtested (no candles, a sizing problem) is reported on its own line and
the others still run; the job then exits non-zero so that a broken bot is never silent.
"""

from __future__ import annotations

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
