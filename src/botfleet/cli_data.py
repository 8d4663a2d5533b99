"""`botfleet data …`: download, import, export, check and list candles.

The candle store is the fleet's (`storage.candles` in fleet.yaml) unless `--store` names one;
without a fleet file it is `sqlite:///data/candles.db`.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

data_app = typer.Typer(help="Market data: download, import, export and check candles.",
                       no_args_is_help=True)

STORE_OPT = typer.Option(None, "--store", help="Candle store URL (default: the fleet's).")
FLEET_OPT = typer.Option(None, "--fleet", help="Fleet file or folder (default: ./fleet.yaml).")
DEFAULT_STORE = "sqlite:///data/candles.db"


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"botfleet: {message}", err=True)
    raise typer.Exit(code)


def _fleet(path: Path | None, required: bool):
    from botfleet.config import load_fleet

    path = path or Path("fleet.yaml")
    if path.is_dir():
        path = path / "fleet.yaml"
    if not path.exists():
        if required:
            _fail(f"{path}: no such fleet file", 2)
        return None
    load = load_fleet(path)
    if not load.ok:
        for p in load.errors:
            typer.echo(str(p))
        _fail("the fleet has errors; fix them first")
    return load.fleet


def _store(url: str | None, fleet):
    from botfleet.data.store import open_store

    return open_store(url or (fleet.storage.candles if fleet else DEFAULT_STORE))


def _csv(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


@data_app.command()
def download(
    exchange: str | None = typer.Option(None, help="Exchange name from the fleet (or a ccxt "
                                           "id without a fleet); default: what the bots need."),
    pairs: str | None = typer.Option(None, help="Comma-separated, e.g. BTC/USDT,ETH/USDT."),
    timeframes: str | None = typer.Option(None, help="Comma-separated, e.g. 1h,5m."),
    since: str | None = typer.Option(None, help="A date (2024-01-01) or a span back (90d)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be fetched."),
    every: str | None = typer.Option(None, help="Repeat incrementally, e.g. 5m."),
    api_url: str | None = typer.Option(None, help="Send requests to this base URL."),
    store: str | None = STORE_OPT, fleet: Path | None = FLEET_OPT,
) -> None:
    """Download candles through ccxt: resumes, back-fills gaps, respects rate limits."""
    from botfleet.config.model import ExchangeConfig
    from botfleet.config.units import duration_seconds
    from botfleet.data.exchange_client import make_client
    from botfleet.data.ingest import Downloader, DownloadError, plan
    from botfleet.data.needs import Need, fleet_needs, parse_since
    from botfleet.data.store.base import SeriesKey

    flt = _fleet(fleet, required=exchange is None)
    if exchange:
        if not (pairs and timeframes):
            _fail("--exchange needs --pairs and --timeframes", 2)
        start = parse_since(since or "30d")
        needs = [Need(exchange, p, t, start) for p in _csv(pairs) for t in _csv(timeframes)]
    else:
        needs = fleet_needs(flt)
        if since:
            needs = [Need(n.exchange, n.symbol, n.timeframe, parse_since(since)) for n in needs]
    try:
        candle_store = _store(store, flt)
    except ValueError as exc:
        _fail(str(exc), 2)
    configs = dict(flt.exchanges) if flt else {}
    clients = {}
    for need in needs:
        if need.exchange not in configs:
            configs[need.exchange] = ExchangeConfig(need.exchange, need.exchange)
    failed = False
    while True:
        for need in needs:
            if dry_run:
                for fetch in plan(candle_store, SeriesKey(need.exchange, need.symbol,
                                                          need.timeframe), need.since):
                    typer.echo(f"would fetch {fetch}")
                continue
            if need.exchange not in clients:
                clients[need.exchange] = make_client(configs[need.exchange], api_url=api_url)
            try:
                result = Downloader(clients[need.exchange], candle_store,
                                    on_bad_rows=flt.data.on_bad_rows if flt else "reject",
                                    exchange_name=need.exchange).download(
                    need.symbol, need.timeframe, need.since)
            except DownloadError as exc:
                typer.echo(f"failed: {exc}", err=True)
                failed = True
                continue
            gaps = f", {len(result.unfilled_gaps)} gap(s) the exchange has no candles for" \
                if result.unfilled_gaps else ""
            typer.echo(f"{result.key}: {result.written} candle(s) written in "
                       f"{result.requests} request(s){gaps}")
            for finding in result.findings:
                typer.echo(f"  {finding}")
        if not every or dry_run:
            break
        time.sleep(float(duration_seconds(every)))
    raise typer.Exit(1 if failed else 0)


@data_app.command("import")
def import_(
    files: list[Path] = typer.Argument(..., help="CSV, CSV.gz, Parquet, feather or json files."),
    exchange: str | None = typer.Option(None, help="Default: from the file name."),
    symbol: str | None = typer.Option(None, help="Default: from the file name."),
    timeframe: str | None = typer.Option(None, help="Default: from the file name."),
    on_bad_rows: str = typer.Option("reject", help="reject or drop."),
    store: str | None = STORE_OPT, fleet: Path | None = FLEET_OPT,
) -> None:
    """Import candle files into the store (checked first; bad rows never pass silently)."""
    from botfleet.data import quality
    from botfleet.data.fileio import CandleFileError, guess_from_name, read_candles
    from botfleet.data.store.base import SeriesKey

    candle_store = _store(store, _fleet(fleet, required=False))
    failed = False
    for path in files:
        guess = guess_from_name(path)
        key = SeriesKey(exchange or guess.exchange or "", symbol or guess.symbol or "",
                        timeframe or guess.timeframe or "")
        if not all((key.exchange, key.symbol, key.timeframe)):
            typer.echo(f"{path}: cannot tell exchange/symbol/timeframe from the name; pass "
                       "--exchange, --symbol and --timeframe", err=True)
            failed = True
            continue
        try:
            kept, report = quality.clean(read_candles(path), key.timeframe, on_bad_rows,
                                         where=f"{path}: ")
        except (CandleFileError, ValueError) as exc:
            typer.echo(str(exc), err=True)
            failed = True
            continue
        written = candle_store.write(key, kept)
        typer.echo(f"{path}: {written} candle(s) into {key}")
        for line in report.lines():
            typer.echo(f"  {line}")
    raise typer.Exit(1 if failed else 0)


@data_app.command()
def export(
    exchange: str = typer.Option(...), symbol: str = typer.Option(...),
    timeframe: str = typer.Option(...),
    output: Path = typer.Option(..., "--output", "-o", help="File; its extension sets the format."),
    store: str | None = STORE_OPT, fleet: Path | None = FLEET_OPT,
) -> None:
    """Export stored candles in the shared file format."""
    from botfleet.data.fileio import CandleFileError, write_candles
    from botfleet.data.store.base import SeriesKey

    candles = _store(store, _fleet(fleet, required=False)).read(
        SeriesKey(exchange, symbol, timeframe))
    if len(candles) == 0:
        _fail(f"no candles stored for {exchange} {symbol} {timeframe}")
    try:
        write_candles(candles, output)
    except CandleFileError as exc:
        _fail(str(exc), 2)
    typer.echo(f"{output}: {len(candles)} candle(s)")


@data_app.command()
def check(
    file: Path | None = typer.Argument(None, help="A candle file (default: the store)."),
    timeframe: str | None = typer.Option(None, help="Default: from the file name."),
    outlier_sigma: float = typer.Option(10.0, help="Report returns beyond this many sigma."),
    store: str | None = STORE_OPT, fleet: Path | None = FLEET_OPT,
) -> None:
    """Check candles: gaps, duplicates, order, alignment, NaN, prices, zero volume, outliers."""
    from botfleet.data import quality
    from botfleet.data.fileio import guess_from_name, read_candles

    if file is not None:
        tf = timeframe or guess_from_name(file).timeframe
        if not tf:
            _fail(f"{file}: pass --timeframe", 2)
        series = [(str(file), read_candles(file), tf)]
    else:
        cs = _store(store, _fleet(fleet, required=False))
        series = [(str(c.key), cs.read(c.key), c.key.timeframe) for c in cs.coverage()]
    bad = False
    for name, candles, tf in series:
        report = quality.check(candles, tf, outlier_sigma=outlier_sigma)
        typer.echo(f"{name}: {report.rows} candle(s), {report.bad_rows} bad")
        for line in report.lines():
            typer.echo(f"  {line}")
        bad = bad or not report.ok
    raise typer.Exit(1 if bad else 0)


@data_app.command()
def coverage(store: str | None = STORE_OPT, fleet: Path | None = FLEET_OPT) -> None:
    """List stored series: first and last candle, count and gaps."""
    from botfleet.data.quality import iso

    cs = _store(store, _fleet(fleet, required=False))
    for c in cs.coverage():
        gaps = cs.gaps(c.key)
        typer.echo(f"{c.key}: {iso(c.first)} .. {iso(c.last)}, {c.count} candle(s), "
                   f"{sum(g.missing for g in gaps)} missing in {len(gaps)} gap(s)")
