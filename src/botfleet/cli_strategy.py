"""`botfleet strategy …`: compile a strategy and show what it computes; print its signals.

Both commands take a YAML strategy file or a Python plugin file (code strategies).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

strategy_app = typer.Typer(help="Check strategies and print their signals.",
                           no_args_is_help=True)
TF_OPT = typer.Option("1h", "--timeframe", "-t", help="The bot's timeframe to compile for.")
PARAMS_OPT = typer.Option(None, "--param", "-p", help="Override a parameter: name=value "
                          "(repeatable).")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"botfleet: {message}", err=True)
    raise typer.Exit(code)


def _overrides(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _fail(f"--param {item!r}: write name=value", 2)
        text = value.strip()
        try:
            out[name.strip()] = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            out[name.strip()] = text
    return out


def _load(file: Path, timeframe: str, params: list[str] | None, name: str | None = None):
    """A compiled YAML strategy or a bound code strategy; exits with the problems."""
    from botfleet.strategy.errors import StrategyError

    if not file.exists():
        _fail(f"{file}: no such file", 2)
    overrides = _overrides(params)
    if file.suffix == ".py":
        from botfleet.strategy.code import CodeStrategyRunner
        from botfleet.strategy.plugins import discover

        found = discover([file.parent], use_entry_points=False)
        mine = {k: v for k, v in found.strategies.items()
                if v.__module__ == f"botfleet_plugins.{file.stem}"}
        for err in found.errors:
            if str(file) in err or file.stem in err:
                _fail(err)
        if not mine:
            _fail(f"{file}: defines no CodeStrategy subclass")
        if name is None and len(mine) > 1:
            _fail(f"{file} defines {', '.join(sorted(mine))}: pick one with --name", 2)
        cls = mine.get(name) if name else next(iter(mine.values()))
        if cls is None:
            _fail(f"{file} has no strategy {name!r}; it has {', '.join(sorted(mine))}", 2)
        try:
            return CodeStrategyRunner(cls, timeframe, overrides)
        except ValueError as exc:
            _fail(str(exc))
    from botfleet.strategy.declarative import load_strategy

    plugins = file.resolve().parent.parent / "plugins"
    if plugins.is_dir():  # custom indicators the strategy may call
        from botfleet.strategy.plugins import discover

        discover([plugins])
    try:
        return load_strategy(file, timeframe, overrides)
    except StrategyError as exc:
        for p in exc.problems:
            typer.echo(str(p))
        _fail(f"{len(exc.problems)} problem(s) in {file}")


@strategy_app.command()
def check(file: Path = typer.Argument(..., help="Strategy YAML or plugin .py file."),
          timeframe: str = TF_OPT, param: list[str] | None = PARAMS_OPT,
          name: str | None = typer.Option(None, help="Which strategy of a plugin file.")
          ) -> None:
    """Compile a strategy; list its indicators, warm-up and the candles the live path needs."""
    s = _load(file, timeframe, param, name)
    typer.echo(f"strategy {s.name}: compiles for {timeframe}")
    typer.echo("parameters: " + (", ".join(f"{k}={v}" for k, v in s.params.items()) or "none"))
    for label, v in getattr(s, "indicators", {}).items():
        typer.echo(f"  indicator {label}: warm-up {v.warmup} bars")
    typer.echo(f"warm-up: {s.warmup} bars of {timeframe} (signals before it are suppressed)")
    typer.echo("live window: " + ", ".join(f"{n} x {tf}" for tf, n in s.window().items()))
    if s.stops.stop_loss or s.stops.take_profit or s.stops.trailing:
        parts = []
        if s.stops.stop_loss:
            parts.append(f"stop loss {s.stops.stop_loss}")
        parts += [f"take profit {float(t.at):.2%} closes {float(t.close):.0%}"
                  for t in s.stops.take_profit]
        if s.stops.trailing:
            parts.append(f"trailing {s.stops.trailing.distance}")
        typer.echo("stops: " + "; ".join(parts))
    typer.echo(f"sizing: {s.sizing.method} {s.sizing.value}")
    if file.suffix == ".py":
        from botfleet.strategy.code import lookahead_bars, random_walk

        bad = lookahead_bars(s, random_walk(max(2000, 4 * s.warmup), timeframe))
        if bad:
            _fail(f"look-ahead: signals at bars {bad[:5]} change when later candles are "
                  "removed; the code reads the future")
        typer.echo("look-ahead check: passed (signals on every tested prefix match)")


def _candles(exchange: str, pair: str, timeframe: str, data: Path | None, store: str | None):
    from botfleet.data.fileio import read_candles
    from botfleet.data.prepare import file_for

    if data is not None:
        return read_candles(data), str(data)
    if store:
        from botfleet.data.store import SeriesKey, open_store

        with open_store(store) as st:
            got = st.read(SeriesKey(exchange, pair, timeframe))
        if len(got):
            return got, store
    folder = Path(os.environ.get("BOTFLEET_DATA_DIR", "../shared/data"))
    path = file_for(folder, exchange, pair, timeframe)
    if path is None:
        _fail(f"no candles for {exchange} {pair} {timeframe}: give --data FILE, --store URL, or "
              f"put {exchange}_{pair.replace('/', '-')}_{timeframe}.csv in {folder} "
              "(BOTFLEET_DATA_DIR)")
    return read_candles(path), str(path)


@strategy_app.command()
def signals(file: Path = typer.Argument(..., help="Strategy YAML or plugin .py file."),
            pair: str = typer.Option(..., help="e.g. BTC/USDT"),
            timeframe: str = TF_OPT, param: list[str] | None = PARAMS_OPT,
            exchange: str = typer.Option("binance", help="Exchange id of the candles."),
            data: Path | None = typer.Option(None, help="Candle file (CSV, Parquet, feather)."),
            store: str | None = typer.Option(None, help="Candle store URL to read from."),
            last: int = typer.Option(20, help="Print the last N bars with a signal."),
            output: Path | None = typer.Option(None, "--output", "-o",
                                               help="Write every bar to .csv or .parquet."),
            name: str | None = typer.Option(None, help="Which strategy of a plugin file.")
            ) -> None:
    """Run a strategy over candles and print (or export) its signals."""
    s = _load(file, timeframe, param, name)
    candles, source = _candles(exchange, pair, timeframe, data, store)
    sig = s.signals(candles)
    frame = sig.frame()
    if output is not None:
        if output.suffix == ".parquet":
            frame.to_parquet(output)
        elif output.suffix == ".csv":
            frame.to_csv(output, index_label="time")
        else:
            _fail(f"--output {output}: use a .csv or .parquet file", 2)
        typer.echo(f"wrote {len(frame)} bars to {output}")
    flags = ["entry_long", "exit_long", "entry_short", "exit_short"]
    fired = frame[frame[flags].any(axis=1)]
    counts = ", ".join(f"{k} {int(frame[k].sum())}" for k in flags)
    typer.echo(f"{s.name} on {pair} {timeframe} ({source}): {len(frame)} bars, warm-up "
               f"{sig.warmup}; {counts}")
    for when, row in fired.tail(last).iterrows():
        typer.echo(f"{when:%Y-%m-%d %H:%M} close {candles['close'][frame.index.get_loc(when)]:g}"
                   f"  {' '.join(k for k in flags if row[k])}")
