"""`botfleet venue serve`: the exchange simulator as a standalone process.

Bots, brokers and demos in other processes talk to it with the real ccxt client (`base URL` +
the printed keys); its clock is theirs through `/api/v3/time` and `/sim/v1/clock`. Everything a
run needs is chosen here: the market (recorded candle files, or a seeded SYNTHETIC walk), the
matching timeframe and fill model (the backtest's `fills:` keys, same schema), the clock (replay
speed or manual), the accounts and the fault profile. It runs until SIGINT or SIGTERM.

`--config FILE.yaml` holds what is awkward on a command line:

```yaml
accounts:
  - name: alice
    balances: {USDT: 10000, BTC: 0.5}
    api_key: ...        # optional: generated otherwise (64 letters and digits)
    secret: ...
fills: {fees: {maker: 0.1%, taker: 0.1%}, slippage: {model: fixed, bps: 5}}
faults: "seed=7,5xx=1%,timeout=2%"   # or a mapping of the same keys
```
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import typer

from botfleet.cli_research import fail, fill_overrides, parse_time

venue_app = typer.Typer(help="The exchange simulator (a local Binance spot API).",
                        no_args_is_help=True)

DEFAULT_BALANCES = {"USDT": "10000"}
HISTORY_MS = 30 * 86_400_000  # recorded: start a month into the data, so bots have history


def _csv(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    import yaml

    if not path.is_file():
        fail(f"--config {path}: no such file", 2)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        fail(f"{path}: not valid YAML: {err}", 2)
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping with accounts, fills, faults", 2)
    unknown = sorted(set(data) - {"accounts", "fills", "faults"})
    if unknown:
        fail(f"{path}: unknown key(s) {', '.join(unknown)} (known: accounts, fills, faults)", 2)
    return data


def _account_specs(config: dict, flags: list[str], where: str) -> list[dict]:
    """Accounts from the config file and from `--account NAME:ASSET=AMOUNT,...` flags."""
    specs = []
    items = config.get("accounts") or []
    if not isinstance(items, list):
        fail(f"{where}: accounts must be a list", 2)
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("name"):
            fail(f"{where}: accounts[{n}] needs a name", 2)
        extra = sorted(set(item) - {"name", "balances", "api_key", "secret"})
        if extra:
            fail(f"{where}: accounts[{n}]: unknown key(s) {', '.join(extra)}", 2)
        specs.append(item)
    for flag in flags:
        name, _, rest = flag.partition(":")
        balances = {}
        for part in _csv(rest):
            asset, sep, amount = part.partition("=")
            if not sep:
                fail(f"--account {flag!r}: write NAME:ASSET=AMOUNT,... e.g. "
                     "alice:USDT=10000,BTC=0.5", 2)
            balances[asset.strip()] = amount.strip()
        if not name:
            fail(f"--account {flag!r}: the account needs a name", 2)
        specs.append({"name": name, "balances": balances})
    return specs or [{"name": "demo", "balances": DEFAULT_BALANCES}]


def _market(data: Path | None, pairs: list[str], synthetic: int | None, timeframe: str,
            start: str | None, days: int):
    from botfleet.venue import Clock, MarketData, synthetic_market

    start_ms = parse_time(start, "--start")
    if synthetic is not None:
        start_ms = start_ms if start_ms is not None else parse_time("2024-01-01", "--start")
        kw = {"symbols": pairs} if pairs else {}
        market = synthetic_market(synthetic, start_ms - 90 * 86_400_000,
                                  start_ms + days * 86_400_000, timeframe=timeframe,
                                  clock=Clock(start_ms), **kw)
        return market, start_ms
    folder = data or Path(os.environ.get("BOTFLEET_DATA_DIR", "../shared/data"))
    if not folder.is_dir():
        fail(f"--data {folder}: no such folder (or use --synthetic SEED)", 2)
    market = MarketData.from_directory(folder, symbols=pairs or None)
    symbols = [s for s in market.symbols() if timeframe in market.timeframes(s)]
    if not symbols:
        fail(f"{folder}: no binance_*_{timeframe}.csv candles"
             + (f" for {', '.join(pairs)}" if pairs else ""), 2)
    if start_ms is None:
        start_ms = int(market.candles(symbols[0], timeframe)["ts"][0]) + HISTORY_MS
    market.clock.set(start_ms)
    return market, start_ms


@venue_app.command()
def serve(
    data: Path | None = typer.Option(None, help="Folder of binance_BASE-QUOTE_TF.csv files "
                                            "(default: $BOTFLEET_DATA_DIR or ../shared/data)."),
    pairs: str | None = typer.Option(None, help="Comma-separated, e.g. BTC/USDT,ETH/USDT "
                                           "(default: all in the folder)."),
    synthetic: int | None = typer.Option(None, "--synthetic", metavar="SEED",
                                         help="Serve a seeded SYNTHETIC random walk instead of "
                                              "recorded candles (demos)."),
    days: int = typer.Option(365, help="Synthetic market: days after --start."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8765, help="Port (0: any free port)."),
    timeframe: str = typer.Option("1h", help="Candles orders are matched on."),
    speed: float = typer.Option(1.0, help="Replay speed: venue ms per wall ms (3600: an hour "
                                         "per second); 0 is a manual clock."),
    manual: bool = typer.Option(False, "--manual", help="A manual clock, moved only through "
                                                        "POST /sim/v1/clock."),
    start: str | None = typer.Option(None, help="Venue start time, YYYY-MM-DD[THH:MM] UTC."),
    fill_timing: str = typer.Option("next_open", help="next_open (the backtest's) or "
                                                      "immediate."),
    fill: list[str] | None = typer.Option(None, "--fill", help="Fill model key=value, as "
                                                               "the backtest's --fill."),
    account: list[str] | None = typer.Option(None, "--account", help="NAME:ASSET=AMOUNT,... "
                                                                     "(repeatable)."),
    config: Path | None = typer.Option(None, "--config", help="YAML with accounts, fills, "
                                                              "faults."),
    faults: str | None = typer.Option(None, help="Fault profile, e.g. 'seed=7,5xx=1%,"
                                                 "timeout=2%,latency=20ms'."),
    weight_limit: int = typer.Option(6000, help="Request weight per minute per IP."),
    order_limit: int = typer.Option(100, help="New orders per 10 s per account (0: none)."),
    print_json: bool = typer.Option(False, "--json", help="Also print one JSON line with the "
                                                          "URL and keys (for harnesses)."),
) -> None:
    """Serve the exchange simulator until SIGINT/SIGTERM."""
    from botfleet.data.candles import TimeframeError, timeframe_ms
    from botfleet.sim.fillmodel import FillModel
    from botfleet.venue import BinanceServer, FaultProfile

    try:
        timeframe_ms(timeframe)
    except TimeframeError as err:
        fail(f"--timeframe: {err}", 2)
    if fill_timing not in ("next_open", "immediate"):
        fail(f"--fill-timing {fill_timing!r}: choose next_open or immediate", 2)
    if speed < 0:
        fail("--speed must be >= 0", 2)
    where = str(config) if config else "--account"
    cfg = _load_config(config)
    model = FillModel.from_yaml(fill_overrides(cfg.get("fills"), fill))
    market, start_ms = _market(data, _csv(pairs), synthetic, timeframe, start, days)
    profile = None
    spec = faults if faults is not None else cfg.get("faults")
    if spec:
        try:
            profile = FaultProfile.parse(spec)
        except (ValueError, TypeError) as err:
            fail(f"--faults: {err}", 2)
    server = BinanceServer(market, host=host, port=port, weight_limit=weight_limit,
                           order_limit=order_limit, fills=model, timeframe=timeframe,
                           fill_timing=fill_timing)
    for item in _account_specs(cfg, account or [], where):
        try:
            server.add_account(item["name"], item.get("balances"),
                               api_key=item.get("api_key"), secret=item.get("secret"))
        except (ValueError, TypeError) as err:
            fail(f"{where}: {err}", 2)
    server.faults.profile = profile
    if not manual and speed > 0:
        market.clock.set_speed(speed, start_ms=start_ms)
    from botfleet.venue.matching import warm_up

    warm_up()  # before the URL is announced: a client's first order is not slowed by it
    try:
        server.start()
    except OSError as err:
        fail(f"cannot listen on {host}:{port}: {err}", 1)
    _announce(server, model, profile, print_json)
    _run_until_signalled(server)


def _announce(server, model, profile, print_json: bool) -> None:
    from datetime import UTC, datetime

    ex, state = server.exchange, server.clock.state()
    when = datetime.fromtimestamp(state["now"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    label = server.market.label
    kind = (f"SYNTHETIC (seed {label['seed']})" if label.get("market") == "synthetic"
            else f"recorded ({label.get('source', '')})")
    clock = "manual" if state["mode"] == "manual" else f"replay {state['speed']:g}x"
    lines = [f"botfleet venue: serving {server.base_url}",
             (f"  market: {kind}: {', '.join(server.market.symbols())}; orders matched on "
              f"{ex.timeframe} candles, market orders fill {ex.fill_timing.replace('_', ' ')}"),
             f"  clock: {clock} from {when} (GET/POST {server.base_url}/sim/v1/clock)",
             (f"  fees: maker {ex.maker_rate}, taker {ex.taker_rate}; "
              f"{model.describe()['market orders']}"),
             f"  faults: {'profile ' + profile.describe() if profile else 'none'}"]
    for acct in server.accounts:
        lines.append(f"  account {acct.name}: api_key={acct.api_key} secret={acct.secret}")
    lines.append("Stop with Ctrl-C (SIGINT) or SIGTERM.")
    typer.echo("\n".join(lines))
    if print_json:
        typer.echo(json.dumps({"base_url": server.base_url, "accounts": [
            {"name": a.name, "api_key": a.api_key, "secret": a.secret}
            for a in server.accounts]}))


def _run_until_signalled(server) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        typer.echo("botfleet venue: stopped")
