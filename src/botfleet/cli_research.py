"""What the research commands (`backtest`, `optimize`, `walkforward`) share: turning TARGET —
a bot of the fleet or a strategy file — into a strategy, its pairs' candles, a fill model and a
capital; and fill-model overrides from the command line, checked against the same schema as
the YAML so that `--fill slippage.model=fixd` fails the way a YAML typo does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import typer


def fail(message: str, code: int = 1) -> None:
    from botfleet.obs.masking import mask  # an error can quote a URL or a driver's message

    typer.echo(f"botfleet: {mask(str(message))}", err=True)
    raise typer.Exit(code)


@dataclass
class Target:
    name: str
    strategy: object  # CompiledStrategy or CodeStrategyRunner
    pairs: list  # sim.engine.PairData
    timeframe: str
    fills: object  # sim.fillmodel.FillModel
    capital: Decimal
    sizing: object  # strategy.spec.Sizing
    bot: object = None  # config.model.BotConfig when TARGET is a bot
    fleet: object = None
    factory: object = None  # params dict -> strategy compiled with those parameters
    declared: dict | None = None  # the strategy's declared parameters (range/step/choices)


def parse_time(text: str | None, option: str) -> int | None:
    """`2024-01-01` or `2024-01-01T12:00` (UTC) as ms since the epoch."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: write a date as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)", 2)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_period(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """`--start`/`--end` as ms, checked to be in order."""
    start_ms, end_ms = parse_time(start, "--start"), parse_time(end, "--end")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        fail(f"--start {start} is after --end {end}", 2)
    return start_ms, end_ms


def fill_overrides(base: dict | None, items: list[str] | None) -> dict:
    """`--fill a.b=value` items merged onto `base` and checked against the `fills` schema."""
    import copy

    import yaml
    from jsonschema import Draft202012Validator

    from botfleet.config.schemas import registry

    data = copy.deepcopy(base or {})
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--fill {item!r}: write key=value, e.g. slippage.bps=5", 2)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                fail(f"--fill {item!r}: {part} is not a mapping", 2)
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else value
    schema = {"$ref": "common.schema.json#/$defs/fills"}
    errors = sorted(Draft202012Validator(schema, registry=registry()).iter_errors(data),
                    key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"fills.{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                 for e in errors]
        fail("invalid fill model: " + "; ".join(lines), 2)
    return data


def venue_rules(exchange: str):
    """Trading rules as the exchange publishes them: the venue's table of Binance's filters
    for binance; other exchanges get no rounding (said in the report's notes)."""
    from botfleet.sim.fillmodel import MarketRules
    from botfleet.venue.rules import rules_for

    def lookup(symbol: str) -> MarketRules:
        if exchange != "binance":
            return MarketRules()
        r = rules_for(symbol)
        return MarketRules(float(r.tick_size), float(r.step_size), float(r.min_qty),
                           float(r.min_notional))

    return lookup


def load_target(target: str, *, fleet_path: Path | None, pairs: list[str], timeframe: str | None,
                params: list[str] | None, fills: list[str] | None, capital: float | None,
                data: Path | None, store: str | None, exchange: str,
                start_ms: int | None, end_ms: int | None,
                strategy: str | None = None) -> Target:
    """A bot of the fleet (by name) or a strategy file (by path) ready to backtest;
    `strategy` runs another of the fleet's strategies on the bot's pairs, capital and fills."""
    path = Path(target)
    if path.suffix in (".yaml", ".yml", ".py") and path.exists():
        return _strategy_target(path, pairs, timeframe or "1h", params, fills, capital, data,
                                store, exchange)
    if path.suffix in (".yaml", ".yml", ".py"):
        fail(f"{target}: no such strategy file", 2)
    return _bot_target(target, fleet_path, pairs, timeframe, params, fills, capital,
                       start_ms, end_ms, strategy)


def _strategy_target(path, pairs, timeframe, params, fills, capital, data, store,
                     exchange) -> Target:
    from botfleet.cli_strategy import _candles, _load
    from botfleet.sim.bots import DEFAULT_CAPITAL, ccxt_fees
    from botfleet.sim.engine import PairData
    from botfleet.sim.fillmodel import FillModel

    if not pairs:
        fail("a strategy file needs --pair (repeatable), e.g. --pair BTC/USDT", 2)
    if data is not None and len(pairs) > 1:
        fail("--data gives one pair's candles; use the store or the data folder for several", 2)
    strategy = _load(path, timeframe, params)
    model = FillModel.from_yaml(fill_overrides({}, fills)).with_fees(*ccxt_fees(exchange))
    if model.shorts is None:
        model = FillModel(**{**model.__dict__, "shorts": False})
    rules = venue_rules(exchange)
    loaded = []
    for pair in pairs:
        candles, source = _candles(exchange, pair, timeframe, data, store)
        detail = None
        if model.detail_timeframe:
            detail, _ = _candles(exchange, pair, model.detail_timeframe, None, store)
        loaded.append(PairData(pair, candles, rules(pair), detail, source=source))
    factory = _factory(path, strategy, timeframe)

    return Target(strategy.name, strategy, loaded, timeframe, model,
                  Decimal(str(capital)) if capital else DEFAULT_CAPITAL, strategy.sizing,
                  factory=factory, declared=_declared(path, strategy))


def _bot_target(name, fleet_path, pairs, timeframe, params, fills, capital, start_ms,
                end_ms, strategy_name=None) -> Target:
    from dataclasses import replace

    from botfleet.cli import _load, _print_problems
    from botfleet.data.store import open_store
    from botfleet.sim.bots import bot_inputs
    from botfleet.strategy.declarative import compile_entry
    from botfleet.strategy.errors import StrategyError
    from botfleet.strategy.fleet import _plugins

    load = _load(fleet_path)
    if not load.ok:
        _print_problems(load)
        fail("the fleet has errors; fix them first")
    fleet = load.fleet
    bot = fleet.bots.get(name)
    if bot is None:
        from botfleet.config.problems import did_you_mean

        hint = did_you_mean(name, fleet.bots)
        fail(f"no bot {name!r} in {fleet.path} and no strategy file by that name; "
             + (hint or f"bots: {', '.join(sorted(fleet.bots))}"), 2)
    if pairs:
        bot = replace(bot, pairs=tuple(pairs))
    if timeframe:
        bot = replace(bot, timeframe=timeframe)
    from botfleet.cli_strategy import _overrides

    entries = {e.name: e for e in load.entries.get("strategy", [])}
    if strategy_name and strategy_name != bot.strategy:
        if strategy_name not in entries:
            fail(f"no strategy {strategy_name!r} in {fleet.path}; strategies: "
                 f"{', '.join(sorted(entries))}", 2)
        bot = replace(bot, strategy=strategy_name, parameters={})  # its own defaults
    overrides = {**bot.parameters, **_overrides(params)}
    _plugins(load)
    entry = entries[bot.strategy]
    from botfleet.strategy.fleet import backtest_models

    models = backtest_models(fleet)  # proba(): walk-forward models, shared across a grid
    try:
        strategy = compile_entry(entry, bot.timeframe, overrides,
                                 models=fleet.models).use_models(models)
    except StrategyError as exc:
        for p in exc.problems:
            typer.echo(str(p))
        fail(f"{len(exc.problems)} problem(s) compiling {bot.strategy} for bot {name}")
    bot = replace(bot, fills=fill_overrides(bot.fills, fills))
    with open_store(fleet.storage.candles) as store:
        try:
            got = bot_inputs(fleet, bot, strategy, store, venue_rules(bot.exchange),
                             start_ms=start_ms, end_ms=end_ms,
                             capital=Decimal(str(capital)) if capital else None)
        except (LookupError, ValueError) as exc:
            fail(str(exc))
    def factory(params: dict):
        return compile_entry(entry, bot.timeframe, {**overrides, **params},
                             models=fleet.models).use_models(models)

    return Target(bot.name, strategy, got.pairs, bot.timeframe, got.fills, got.capital,
                  got.sizing, bot, fleet, factory,
                  dict(entry.data.get("parameters") or {}))


def _factory(path: Path, first, timeframe: str):
    """params -> the strategy file compiled again with them. A YAML file is parsed once and
    compiled from its entry (0.5 ms rather than 2.5 ms per combination: a grid compiles
    hundreds)."""
    base = dict(first.params)
    if path.suffix == ".py":
        from botfleet.strategy.code import CodeStrategyRunner

        return lambda params: CodeStrategyRunner(first.cls, timeframe, {**base, **params})
    from botfleet.config.loader import load_fleet
    from botfleet.strategy.declarative import compile_entry

    entry = load_fleet(path).entries["strategy"][0]
    return lambda params: compile_entry(entry, timeframe, {**base, **params})


def _declared(path: Path, strategy) -> dict:
    """Declared parameters as in YAML (`default`, `range`, `step`, `choices`)."""
    if path.suffix == ".py":
        return {k: {"default": v.default, "range": v.range, "step": getattr(v, "step", None),
                    "choices": v.choices} for k, v in strategy.cls.parameters.items()}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(data.get("parameters") or {})


def data_dir_default() -> Path:
    return Path(os.environ.get("BOTFLEET_DATA_DIR", "../shared/data"))
