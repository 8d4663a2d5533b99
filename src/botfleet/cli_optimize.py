"""`botfleet optimize`, `botfleet walkforward` and `botfleet montecarlo`: the research commands
built on `sim.optimize`, `sim.walkforward` and `sim.montecarlo`.

Settings come from the bot's `optimize:` block, and command-line flags override them one by
one, so a bot's study is reproducible from its YAML alone. Exit codes: 0 ok, 1 failure,
2 usage.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from botfleet.cli_backtest import (
    CAPITAL_OPT,
    DATA_OPT,
    END_OPT,
    EXCHANGE_OPT,
    FILL_OPT,
    FLEET_OPT,
    PAIR_OPT,
    PARAM_OPT,
    START_OPT,
    STORE_OPT,
    TF_OPT,
)
from botfleet.cli_research import fail, load_target, parse_period

TARGET_ARG = typer.Argument(..., help="A bot of the fleet, or a strategy file (.yaml or .py).")
METHOD_OPT = typer.Option(None, "--method", help="grid, tpe or nsga2 (default: the bot's "
                          "optimize.method, else grid; nsga2 for several objectives).")
OBJECTIVE_OPT = typer.Option(None, "--objective", help="Metric to optimise (sharpe, sortino, "
                             "calmar, total_return, max_drawdown, ...) or plugin:NAME; "
                             "repeatable for several objectives.")
TRIALS_OPT = typer.Option(None, "--trials", help="tpe/nsga2: trials the study should reach.")
JOBS_OPT = typer.Option(None, "--jobs", help="Worker processes (default: the CPU count).")
STUDY_OPT = typer.Option(None, "--study", help="Study name; re-running it continues it.")
RANGE_OPT = typer.Option(None, "--param-range", help="Search a parameter over lo:hi:step, or "
                         "a,b,c choices: name=lo:hi:step (repeatable).")
MIN_TRADES_OPT = typer.Option(None, "--min-trades", help="Fewer trades than this scores worst.")
SEED_OPT = typer.Option(None, "--seed", help="Sampler seed (reproducible with --jobs 1).")
STATE_OPT = typer.Option(None, "--state", help="State database URL for the study and its runs "
                         "(default: the fleet's storage.state; none for a strategy file).")
SAVE_OPT = typer.Option(True, "--save/--no-save", help="Store the study and its trials.")
FORMAT_OPT = typer.Option("text", "--format", help="text or json.")


def _target(target, fleet, pair, timeframe, param, fill, start, end, capital, data, store,
            exchange):
    start_ms, end_ms = parse_period(start, end)
    t = load_target(target, fleet_path=fleet, pairs=pair or [], timeframe=timeframe,
                    params=param, fills=fill, capital=capital, data=data, store=store,
                    exchange=exchange, start_ms=start_ms, end_ms=end_ms)
    return t, start_ms, end_ms


def _plugins(t) -> dict:
    from botfleet.strategy.plugins import discover

    folder = Path(t.fleet.path).parent / "plugins" if t.fleet else Path("plugins")
    found = discover([folder] if folder.is_dir() else [])
    for err in found.errors:
        typer.echo(f"  plugin: {err}", err=True)
    return found.objectives


def _settings(t, method, objective, trials, jobs, study, min_trades, seed, state, save,
              start_ms, end_ms):
    from botfleet.sim.optimize import Settings

    block = dict((t.bot.optimize if t.bot is not None else None) or {})
    objectives = list(objective or block.get("objectives") or ["sharpe"])
    method = method or block.get("method") or ("nsga2" if len(objectives) > 1 else "grid")
    if method not in ("grid", "tpe", "nsga2"):
        fail(f"--method {method!r}: grid, tpe or nsga2", 2)
    if method == "grid" and len(objectives) > 1:
        fail("a grid ranks by one objective; use --method nsga2 (or tpe) for several", 2)
    url = None
    if save:
        url = state or (t.fleet.storage.state if t.fleet else None)
    return Settings(method=method, objectives=objectives,
                    trials=trials or block.get("trials") or 100,
                    jobs=jobs or block.get("jobs"),
                    min_trades=min_trades if min_trades is not None
                    else block.get("min_trades", 1),
                    seed=seed if seed is not None else block.get("seed"), study=study,
                    state_url=url, start_ms=start_ms, end_ms=end_ms), block


def _space(t, block: dict, ranges: list[str] | None):
    from botfleet.sim.space import SpaceError, build_space, parse_range

    try:
        overrides = dict(parse_range(r) for r in ranges or [])
        return build_space(t.declared or {}, only=block.get("parameters"),
                           overrides=overrides, values=t.strategy.params)
    except SpaceError as exc:
        fail(str(exc), 2)


def optimize(target: str = TARGET_ARG, fleet: Path | None = FLEET_OPT,
             pair: list[str] | None = PAIR_OPT, timeframe: str | None = TF_OPT,
             param: list[str] | None = PARAM_OPT, fill: list[str] | None = FILL_OPT,
             start: str | None = START_OPT, end: str | None = END_OPT,
             capital: float | None = CAPITAL_OPT, data: Path | None = DATA_OPT,
             store: str | None = STORE_OPT, exchange: str = EXCHANGE_OPT,
             method: str | None = METHOD_OPT, objective: list[str] | None = OBJECTIVE_OPT,
             trials: int | None = TRIALS_OPT, jobs: int | None = JOBS_OPT,
             study: str | None = STUDY_OPT, param_range: list[str] | None = RANGE_OPT,
             min_trades: int | None = MIN_TRADES_OPT, seed: int | None = SEED_OPT,
             top: int = typer.Option(10, "--top", help="Rows of the result table to print."),
             state: str | None = STATE_OPT, save: bool = SAVE_OPT,
             report: Path | None = typer.Option(None, "--report", help="Write an HTML "
                                                "comparison of the top 5 here."),
             output: str = FORMAT_OPT) -> None:
    """Search a bot's (or strategy file's) parameters: grid, TPE or NSGA-II."""
    from botfleet.sim.optimize import optimize as run

    if output not in ("text", "json"):
        fail(f"--format {output!r}: text or json", 2)
    t, start_ms, end_ms = _target(target, fleet, pair, timeframe, param, fill, start, end,
                                  capital, data, store, exchange)
    settings, block = _settings(t, method, objective, trials, jobs, study, min_trades, seed,
                                state, save, start_ms, end_ms)
    space = _space(t, block, param_range)
    try:
        result = run(t, space, settings, _plugins(t))
    except ValueError as exc:
        fail(str(exc), 2 if "objective" in str(exc) or "grid has" in str(exc) else 1)
    if output == "json":
        typer.echo(json.dumps(result.as_dict(), default=str))
        return
    _print_optimize(t, space, result, top)
    if report and result.best is not None:
        _comparison(t, result, report, settings)


def _print_optimize(t, space, result, top: int) -> None:
    from botfleet.sim.metrics import format_metric

    typer.echo(f"optimize {t.name} ({result.method}, {result.path} path): "
               f"{', '.join(space.describe())}; objective(s) {', '.join(result.objectives)}")
    typer.echo(f"  {len(result.trials)} evaluated in {result.elapsed_s:.2f}s"
               + (f", {result.skipped} skipped" if result.skipped else ""))
    table = result.table()
    if not table.empty:
        cols = [*space.names, *(f"obj:{o}" for o in result.objectives), "n_trades",
                "total_return", "max_drawdown", "feasible"]
        shown = table.head(top)[[c for c in cols if c in table.columns]]
        typer.echo("\n".join("  " + line for line in shown.to_string(index=False).split("\n")))
    if len(result.objectives) > 1:
        typer.echo(f"  Pareto front: {len(result.front)} trial(s): "
                   + "; ".join(str({k: result.trials[i].params[k] for k in space.names})
                               for i in result.front[:10]))
    for note in result.notes:
        typer.echo(f"  note: {note}")
    if result.best is None:
        typer.echo("  no parameter set met min_trades; nothing is best")
        return
    best = next(t for t in result.trials if t.params == result.best)
    typer.echo("  best: " + ", ".join(f"{k}={result.best[k]}" for k in space.names)
               + "  (" + ", ".join(f"{k} {format_metric(k, best.metrics.get(k))}"
                                   for k in ("sharpe", "total_return", "max_drawdown",
                                             "n_trades")) + ")")
    if result.run_id is not None:
        typer.echo(f"  stored as run {result.run_id}")


def _comparison(t, result, path: Path, settings) -> None:
    try:
        from botfleet.reports.html import render_comparison_html
    except ImportError:
        typer.echo("  --report: the HTML comparison report is not available", err=True)
        return
    from botfleet.sim.optimize import evaluate

    table = result.table()
    names = [c for c in table.columns if c in result.best]
    runs = []
    for _, row in table[table["feasible"]].head(5).iterrows():
        params = {**result.best, **{k: row[k].item() if hasattr(row[k], "item") else row[k]
                                    for k in names}}
        runs.append(evaluate(t, params, settings.start_ms, settings.end_ms))
    render_comparison_html(runs, path, title=f"{t.name}: top parameter sets")
    typer.echo(f"  report: {path}")


def walkforward(target: str = TARGET_ARG, fleet: Path | None = FLEET_OPT,
                pair: list[str] | None = PAIR_OPT, timeframe: str | None = TF_OPT,
                param: list[str] | None = PARAM_OPT, fill: list[str] | None = FILL_OPT,
                start: str | None = START_OPT, end: str | None = END_OPT,
                capital: float | None = CAPITAL_OPT, data: Path | None = DATA_OPT,
                store: str | None = STORE_OPT, exchange: str = EXCHANGE_OPT,
                mode: str | None = typer.Option(None, "--mode", help="rolling or anchored."),
                train: str | None = typer.Option(None, "--train", help="In-sample length, "
                                                 "e.g. 180d."),
                test: str | None = typer.Option(None, "--test", help="Out-of-sample length, "
                                                "e.g. 30d."),
                windows: int | None = typer.Option(None, "--windows", help="Only the last N."),
                method: str | None = METHOD_OPT, objective: list[str] | None = OBJECTIVE_OPT,
                trials: int | None = TRIALS_OPT, jobs: int | None = JOBS_OPT,
                param_range: list[str] | None = RANGE_OPT,
                min_trades: int | None = MIN_TRADES_OPT, seed: int | None = SEED_OPT,
                state: str | None = STATE_OPT, save: bool = SAVE_OPT,
                output: str = FORMAT_OPT) -> None:
    """Optimise on rolling or anchored windows and trade each next window out of sample."""
    from botfleet.sim.walkforward import duration_ms, walk_forward

    if output not in ("text", "json"):
        fail(f"--format {output!r}: text or json", 2)
    t, start_ms, end_ms = _target(target, fleet, pair, timeframe, param, fill, start, end,
                                  capital, data, store, exchange)
    settings, block = _settings(t, method, objective[:1] if objective else None, trials, jobs,
                                None, min_trades, seed, state, save, start_ms, end_ms)
    wf = dict(block.get("walkforward") or {})
    mode = mode or wf.get("mode", "rolling")
    train, test = train or wf.get("train", "180d"), test or wf.get("test", "30d")
    if mode not in ("rolling", "anchored"):
        fail(f"--mode {mode!r}: rolling or anchored", 2)
    try:
        train_ms, test_ms = duration_ms(train), duration_ms(test)
    except ValueError as exc:
        fail(f"--train/--test: {exc}", 2)
    space = _space(t, block, param_range)
    try:
        report = walk_forward(t, space, settings, mode=mode, train_ms=train_ms,
                              test_ms=test_ms, last=windows or wf.get("windows"),
                              plugins=_plugins(t))
    except ValueError as exc:
        fail(str(exc))
    if output == "json":
        typer.echo(json.dumps(report.as_dict(), default=str))
        return
    for line in report.lines():
        typer.echo(line)
    if report.run_id is not None:
        typer.echo(f"  stored as run {report.run_id}")


def montecarlo(target: str = TARGET_ARG, fleet: Path | None = FLEET_OPT,
               pair: list[str] | None = PAIR_OPT, timeframe: str | None = TF_OPT,
               param: list[str] | None = PARAM_OPT, fill: list[str] | None = FILL_OPT,
               start: str | None = START_OPT, end: str | None = END_OPT,
               capital: float | None = CAPITAL_OPT, data: Path | None = DATA_OPT,
               store: str | None = STORE_OPT, exchange: str = EXCHANGE_OPT,
               runs: int = typer.Option(1000, "--runs", help="Simulated trade sequences."),
               method: str = typer.Option("shuffle", "--method", help="shuffle (re-order the "
                                          "trades) or bootstrap (resample them)."),
               kind: str = typer.Option("pnl", "--kind", help="pnl (fixed size) or ret "
                                        "(compounding)."),
               seed: int | None = SEED_OPT, output: str = FORMAT_OPT) -> None:
    """Backtest, then re-order or resample its trades: the spread of return and drawdown."""
    from botfleet.sim.engine import backtest
    from botfleet.sim.montecarlo import monte_carlo

    if method not in ("shuffle", "bootstrap"):
        fail(f"--method {method!r}: shuffle or bootstrap", 2)
    if kind not in ("pnl", "ret") or runs < 1 or output not in ("text", "json"):
        fail("--kind is pnl or ret, --runs at least 1, --format text or json", 2)
    t, start_ms, end_ms = _target(target, fleet, pair, timeframe, param, fill, start, end,
                                  capital, data, store, exchange)
    try:
        result = backtest(t.strategy, t.pairs, t.timeframe, t.capital, t.fills, name=t.name,
                          sizing=t.sizing, start_ms=start_ms, end_ms=end_ms)
    except ValueError as exc:
        fail(str(exc))
    if len(result.trades) == 0:
        fail("the backtest made no trades: nothing to re-order")
    values = result.trades["pnl"] if kind == "pnl" else result.trades["ret"]
    mc = monte_carlo(values, float(t.capital), kind=kind, runs=runs, method=method, seed=seed)
    if output == "json":
        typer.echo(json.dumps(mc.summary(), default=str))
        return
    typer.echo(f"monte carlo {t.name}: {runs} {method} runs of {len(values)} trades ({kind})")
    typer.echo(f"  {'percentile':<12}" + "".join(f"{p:>10}" for p in mc.final_return))
    typer.echo(f"  {'return':<12}" + "".join(f"{v * 100:>9.2f}%"
                                             for v in mc.final_return.values()))
    typer.echo(f"  {'max drawdown':<12}" + "".join(f"{v * 100:>9.2f}%"
                                                   for v in mc.max_drawdown.values()))
    typer.echo(f"  observed: return {mc.observed_return * 100:.2f}%, max drawdown "
               f"{mc.observed_max_drawdown * 100:.2f}%")
    typer.echo(f"  P(loss) {mc.prob_loss * 100:.1f}%, P(drawdown >= "
               f"{mc.dd_threshold * 100:.0f}%) {mc.prob_drawdown * 100:.1f}%, P(ruin) "
               f"{mc.prob_ruin * 100:.1f}%")
