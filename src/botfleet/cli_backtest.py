"""`botfleet backtest BOT|STRATEGY`: one backtest, its summary, its report and its stored run."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from botfleet.cli_research import fail, load_target, parse_period

FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")
PAIR_OPT = typer.Option(None, "--pair", help="Pair to trade (repeatable); default: the bot's.")
TF_OPT = typer.Option(None, "--timeframe", "-t", help="Bar timeframe; default: the bot's (1h "
                      "for a strategy file).")
PARAM_OPT = typer.Option(None, "--param", "-p", help="Override a strategy parameter: "
                         "name=value (repeatable).")
FILL_OPT = typer.Option(None, "--fill", help="Override the fill model: key=value with dotted "
                        "keys, e.g. slippage.model=fixed, slippage.bps=5, volume_cap=10%, "
                        "fees.taker=0.04% (repeatable).")
START_OPT = typer.Option(None, "--start", help="First bar, YYYY-MM-DD (UTC).")
END_OPT = typer.Option(None, "--end", help="Last bar, YYYY-MM-DD (UTC).")
CAPITAL_OPT = typer.Option(None, "--capital", help="Starting capital in the quote currency "
                           "(default: the bot's allocation, else 10000).")
DATA_OPT = typer.Option(None, "--data", help="Candle file for a strategy file's single pair.")
STORE_OPT = typer.Option(None, "--store", help="Candle store URL for a strategy file.")
EXCHANGE_OPT = typer.Option("binance", "--exchange", help="Exchange of a strategy file's candles "
                            "and fees.")


def summary_lines(result) -> list[str]:
    """The few numbers a trader reads first, in a fixed order."""
    from botfleet.sim.metrics import METRIC_INFO, format_metric

    m = result.metrics
    keys = ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate",
            "profit_factor", "n_trades", "exposure", "fees_paid", "final_equity"]
    return [f"  {METRIC_INFO[k].label:<18} {format_metric(k, m.get(k))}" for k in keys
            if k in m]


def save_result(result, state_url: str) -> int:
    from botfleet.storage.results import ResultStore

    with ResultStore(state_url) as repo:
        return repo.save(result)


def backtest(target: str = typer.Argument(..., help="A bot of the fleet, or a strategy file "
                                           "(.yaml or .py)."),
             fleet: Path | None = FLEET_OPT, pair: list[str] | None = PAIR_OPT,
             timeframe: str | None = TF_OPT, param: list[str] | None = PARAM_OPT,
             fill: list[str] | None = FILL_OPT, start: str | None = START_OPT,
             end: str | None = END_OPT, capital: float | None = CAPITAL_OPT,
             data: Path | None = DATA_OPT, store: str | None = STORE_OPT,
             exchange: str = EXCHANGE_OPT,
             report: Path | None = typer.Option(None, "--report", help="Write the HTML report "
                                                "here."),
             pdf: Path | None = typer.Option(None, "--pdf", help="Write the PDF report here "
                                             "(needs Chromium)."),
             save: bool = typer.Option(True, "--save/--no-save", help="Store the run in the "
                                       "state database (the fleet's storage.state)."),
             state: str | None = typer.Option(None, "--state", help="State database URL "
                                              "(default: the fleet's, else "
                                              "sqlite:///data/state.db)."),
             output: str = typer.Option("text", "--format", help="text or json.")) -> None:
    """Backtest a bot (as configured) or a strategy file on stored or file candles."""
    from botfleet.sim.engine import backtest as run_backtest

    if output not in ("text", "json"):
        fail(f"--format {output!r}: text or json", 2)
    start_ms, end_ms = parse_period(start, end)
    t = load_target(target, fleet_path=fleet, pairs=pair or [], timeframe=timeframe,
                    params=param, fills=fill, capital=capital, data=data, store=store,
                    exchange=exchange, start_ms=start_ms, end_ms=end_ms)
    try:
        result = run_backtest(t.strategy, t.pairs, t.timeframe, t.capital, t.fills,
                              name=t.name, sizing=t.sizing, start_ms=start_ms, end_ms=end_ms,
                              meta={"command": "backtest " + target})
    except ValueError as exc:
        fail(str(exc))
    if save:
        url = state or (t.fleet.storage.state if t.fleet else "sqlite:///data/state.db")
        result.meta["run_id"] = save_result(result, url)
    if report:
        from botfleet.reports.html import render_html

        render_html(result, report)
    if pdf:
        from botfleet.reports.pdf import render_pdf

        try:
            render_pdf(result, pdf)
        except RuntimeError as exc:
            fail(str(exc))
    if output == "json":
        typer.echo(json.dumps({"name": result.name, "run_id": result.meta.get("run_id"),
                               "metrics": result.metrics}, default=str))
        return
    from botfleet.data.quality import iso

    typer.echo(f"backtest {result.name} ({result.strategy}) {', '.join(result.symbols)} "
               f"{result.timeframe} {iso(result.start_ms)} .. {iso(result.end_ms)}, capital "
               f"{result.capital}")
    for line in summary_lines(result):
        typer.echo(line)
    for note in [v for k, v in result.fill_model.items() if k.startswith("note")]:
        typer.echo(f"  note: {note}")
    if result.meta.get("run_id") is not None:
        typer.echo(f"  stored as run {result.meta['run_id']}")
    if report:
        typer.echo(f"  report: {report}")
    if pdf:
        typer.echo(f"  pdf: {pdf}")
