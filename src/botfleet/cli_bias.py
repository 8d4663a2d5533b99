"""`botfleet check-bias STRATEGY_FILE|BOT`: the look-ahead and recursive checks
(`botfleet.sim.bias`) on real candles, for a strategy file or for a bot of the fleet as it is
configured (its strategy, timeframe, parameters, exchange and first pair).

Why real candles and not the random walk `strategy check` uses: a look-ahead shows where a
signal fires, and a recursive smoother's convergence depends on the market's values, so both
are judged on the data the strategy will be backtested on.

Strategy files and candles are found exactly as `botfleet strategy signals` finds them
(`cli_strategy._load`, `cli_strategy._candles`). Exit status: 0 clean, 1 bias found, 2 usage
error (no such file or bot, no candles, a strategy that does not compile, too little data).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

# The defaults of sim.bias, repeated so that `botfleet --help` does not import numpy;
# tests/test_sim_bias.py checks they agree.
MAX_CUTS = 1000
TOLERANCE = 1e-6


def _usage(message: str) -> None:
    typer.echo(f"botfleet: {message}", err=True)
    raise typer.Exit(2)


@contextmanager
def _as_usage_error():
    """The strategy commands' helpers exit 1 on a missing candle file or a strategy that does
    not compile; here 1 means "bias found", so those become usage errors (2)."""
    try:
        yield
    except typer.Exit as exc:
        raise typer.Exit(2 if exc.exit_code == 1 else exc.exit_code) from None


def _bot(target: str, fleet: Path | None, timeframe: str | None):
    """(compiled strategy, bot) for a bot of the fleet, compiled with its own parameters."""
    from botfleet.cli import _load as load_fleet
    from botfleet.cli import _print_problems
    from botfleet.config.problems import did_you_mean
    from botfleet.strategy.declarative import compile_entry

    load = load_fleet(fleet)
    if not load.ok:
        _print_problems(load)
        _usage("fix the fleet's errors above first")
    bot = load.fleet.bots.get(target)
    if bot is None:
        hint = did_you_mean(target, load.fleet.bots)
        _usage(f"{target}: neither a strategy file nor a bot of the fleet"
               + (f" ({hint})" if hint else ""))
    entries = {e.name: e for e in load.entries.get("strategy", [])}
    if bot.strategy not in entries:
        _usage(f"bot {bot.name}: strategy {bot.strategy!r} is not a YAML strategy of the fleet")
    from botfleet.strategy.fleet import backtest_models

    return compile_entry(entries[bot.strategy], timeframe or bot.timeframe,
                         dict(bot.parameters), models=load.fleet.models
                         ).use_models(backtest_models(load.fleet)), bot


def _window(candles, start: str | None, end: str | None):
    """Candles from `start` (inclusive) to `end` (exclusive): dates or spans back from now."""
    from botfleet.data.needs import parse_since

    try:
        lo = parse_since(start) if start else None
        hi = parse_since(end) if end else None
    except ValueError as exc:
        _usage(f"--start/--end: {exc} (write 2024-01-01 or a span such as 90d)")
    keep = (candles["ts"] >= (lo if lo is not None else candles["ts"].min(initial=0))) & \
        (candles["ts"] < (hi if hi is not None else candles["ts"].max(initial=0) + 1))
    return candles[keep]


def check_bias(
    target: str = typer.Argument(..., help="Strategy YAML, plugin .py file, or a bot's name."),
    pair: str | None = typer.Option(None, help="e.g. BTC/USDT (default: the bot's first pair)."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t",
                                         help="Timeframe (default: the bot's, else 1h)."),
    data: Path | None = typer.Option(None, help="Candle file (CSV, Parquet, feather)."),
    start: str | None = typer.Option(None, help="First candle: 2024-01-01 or a span (365d)."),
    end: str | None = typer.Option(None, help="Candles before this date or span."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    exchange: str | None = typer.Option(None, help="Exchange id (default: the bot's, "
                                        "else binance)."),
    store: str | None = typer.Option(None, help="Candle store URL to read from."),
    param: list[str] | None = typer.Option(None, "--param", "-p",
                                           help="Override a parameter: name=value."),
    name: str | None = typer.Option(None, help="Which strategy of a plugin file."),
    fleet: Path | None = typer.Option(None, "--fleet", help="Fleet file or folder, for a BOT."),
    tolerance: float = typer.Option(TOLERANCE, help="Recursive check: relative difference "
                                    "allowed after the warm-up."),
    max_cuts: int = typer.Option(MAX_CUTS, help="Look-ahead check: truncated runs at most."),
) -> None:
    """Look-ahead and recursive-formula bias checks of a strategy on real candles."""
    from botfleet.cli_strategy import _candles, _load
    from botfleet.sim.bias import lookahead, recursive

    if fmt not in ("text", "json"):
        _usage(f"--format {fmt!r}: use text or json")
    with _as_usage_error():
        path = Path(target)
        if path.suffix in (".yaml", ".yml", ".py") or path.exists():
            strategy = _load(path, timeframe or "1h", param, name)
            exchange = exchange or "binance"
        else:
            if param:
                _usage("--param applies to a strategy file; a bot uses its own parameters")
            strategy, bot = _bot(target, fleet, timeframe)
            pair, exchange = pair or bot.pairs[0], exchange or bot.exchange
        if pair is None and data is None:
            _usage("give --pair (or --data FILE) to say which candles to check on")
        try:
            candles, source = _candles(exchange, pair or "", strategy.base_tf, data, store)
        except ValueError as exc:  # an unreadable candle file
            _usage(str(exc))
    candles = _window(candles, start, end)
    if len(candles) < 2:
        _usage(f"{source}: fewer than 2 candles in the chosen window")
    ahead = lookahead(strategy, candles, max_cuts=max_cuts)
    try:
        behind, short = recursive(strategy, candles, tolerance=tolerance), None
    except ValueError as exc:
        behind, short = None, str(exc)
    reports = [r for r in (ahead, behind) if r is not None]
    biased = any(not r.ok for r in reports)
    if fmt == "json":
        typer.echo(json.dumps({
            "target": target, "strategy": strategy.name, "pair": pair,
            "timeframe": strategy.base_tf, "source": source, "ok": not biased and not short,
            "lookahead": ahead.as_dict(), "recursive": behind.as_dict() if behind else None,
            "not_run": {"recursive": short} if short else {}}))
    else:
        typer.echo(f"{strategy.name} on {pair + ' ' if pair else ''}{strategy.base_tf} "
                   f"({source})")
        for r in reports:
            typer.echo("\n".join(r.lines()))
        if short:
            typer.echo(f"recursive check: not run: {short}")
    if biased:
        raise typer.Exit(1)
    if short:
        raise typer.Exit(2)
