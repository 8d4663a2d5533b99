"""Checks that need more than one file: references resolve, names are unique, money adds up.

Each check reports at the place the user must edit: an unknown strategy at the bot's
`strategy:` line, an over-allocated fleet at the allocation that tips it over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

from botfleet.config import catalog
from botfleet.config.loader import Entry, FleetLoad
from botfleet.config.merge import Effective, effective_bot
from botfleet.config.notify_fields import template_problems
from botfleet.config.problems import Problem, did_you_mean, format_path, known_list
from botfleet.config.schedule import ScheduleError, parse_schedule
from botfleet.config.units import fmt_amount, resolve_amount

_SPOT = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
_SWAP = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+:[A-Z0-9]+$")
_COMMON_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")


def check_alone(load: FleetLoad) -> list[Problem]:
    """The checks a single file allows when it is validated without its fleet."""
    return [*_exchanges(load), *_strategies(load), *_notifiers(load), *_profiles(load),
            *_models(load)]


def check(load: FleetLoad) -> list[Problem]:
    out: list[Problem] = []
    out += _duplicates(load)
    out += _exchanges(load)
    out += _strategies(load)
    out += _notifiers(load)
    out += _profiles(load)
    out += _models(load)
    out += _fleet(load)
    efforts = {}
    for bot in load.entries.get("bot", []):
        if bot.valid:
            eff = effective_bot(load, bot)
            efforts[id(bot)] = eff
            out += _bot(load, bot, eff)
    out += _allocations(load, efforts)
    return out


def _duplicates(load: FleetLoad) -> Iterator[Problem]:
    for kind, entries in load.entries.items():
        first: dict[str, Entry] = {}
        for entry in entries:
            if not entry.name:
                continue
            if entry.name in first:
                yield entry.problem(("name",), f"duplicate {kind} name '{entry.name}'",
                                    f"already defined at {first[entry.name].where}")
            else:
                first[entry.name] = entry


def _profile_ref(load: FleetLoad, entry: Entry, at: tuple) -> Iterator[Problem]:
    if not load.entries.get("fleet"):
        return  # a file checked on its own: the profiles live elsewhere
    risk = _get(entry.data, at)
    if isinstance(risk, dict) and isinstance(risk.get("profile"), str):
        profiles = load.defined("risk")
        if risk["profile"] not in profiles:
            yield entry.problem(at + ("profile",), f"unknown risk profile '{risk['profile']}'",
                                _known_hint(risk["profile"], profiles, "risk_profiles"))


def _known_hint(name: str, known, list_key: str) -> str:
    return did_you_mean(name, known) or (
        f"known: {known_list(known)}" if known else f"none is defined: add one under "
        f"'{list_key}' in the fleet file")


def _get(data, path: tuple):
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _exchanges(load: FleetLoad) -> Iterator[Problem]:
    ids = catalog.exchange_ids()
    for ex in load.entries.get("exchange", []):
        if not ex.valid:
            continue
        cid = ex.data.get("ccxt_id")
        if ids and cid not in ids:
            yield ex.problem(("ccxt_id",), f"unknown ccxt exchange id '{cid}'",
                             did_you_mean(cid, ids) or f"ccxt knows {len(ids)} exchanges, "
                             "e.g. binance, kraken, coinbase, okx, bybit")
        market = ex.data.get("market_type", "spot")
        if market != "spot":
            yield ex.problem(("market_type",), f"market type '{market}' is not supported yet",
                             "this version trades spot markets only")
        yield from _profile_ref(load, ex, ("risk",))
        yield from _profile_ref(load, ex, ("defaults", "risk"))


def _strategies(load: FleetLoad) -> Iterator[Problem]:
    for st in load.entries.get("strategy", []):
        if not st.valid:
            continue
        for pname, spec in (st.data.get("parameters") or {}).items():
            rng, default = spec.get("range"), spec.get("default")
            if rng and rng[0] > rng[1]:
                yield st.problem(("parameters", pname, "range"),
                                 f"range [{rng[0]}, {rng[1]}] is empty: min is above max")
            elif rng and _is_number(default) and not rng[0] <= default <= rng[1]:
                yield st.problem(("parameters", pname, "default"),
                                 f"default {default} is outside its range [{rng[0]}, {rng[1]}]")
            choices = spec.get("choices")
            if choices and default not in choices:
                yield st.problem(("parameters", pname, "default"),
                                 f"default {default!r} is not one of its choices")


def _notifiers(load: FleetLoad) -> Iterator[Problem]:
    for nt in load.entries.get("notifier", []):
        if not nt.valid:
            continue
        channels = nt.data.get("channels") or {}
        for i, route in enumerate(nt.data.get("routes") or []):
            for j, ch in enumerate(route.get("channels", [])):
                if ch not in channels:
                    yield nt.problem(("routes", i, "channels", j), f"unknown channel '{ch}'",
                                     did_you_mean(ch, channels) or
                                     f"channels here: {known_list(channels)}")
        tz = (nt.data.get("quiet_hours") or {}).get("timezone")
        if tz:
            try:
                parse_schedule(f"daily 00:00 {tz}")
            except ScheduleError as exc:
                yield nt.problem(("quiet_hours", "timezone"), str(exc), exc.hint)
        for event_type, template in (nt.data.get("templates") or {}).items():
            for message, hint in template_problems(event_type, template):
                yield nt.problem(("templates", event_type), message, hint)


def _profiles(load: FleetLoad) -> Iterator[Problem]:
    for profile in load.entries.get("risk", []):
        if profile.valid and "profile" in (profile.data.get("limits") or {}):
            yield profile.problem(("limits", "profile"), "a risk profile cannot use another "
                                  "profile", "copy the limits you need into this profile",
                                  key=True)


def _models(load: FleetLoad) -> Iterator[Problem]:
    """`kind: model`: per-type keys (config.ml), known indicators, a defined exchange."""
    from botfleet.config.ml import model_problems

    for m in load.entries.get("model", []):
        if not m.valid:
            continue
        for path, message, hint, *key in model_problems(m.data):
            yield m.problem(path, message, hint, key=bool(key))
        for i, feat in enumerate(m.data.get("features") or []):
            if feat.get("type") == "indicator" and "indicator" in feat:
                yield from _model_indicator(m, feat, i)
        ex = m.data.get("exchange")
        if isinstance(ex, str) and load.entries.get("fleet") and ex not in load.defined("exchange"):
            yield m.problem(("exchange",), f"unknown exchange '{ex}'",
                            _known_hint(ex, load.defined("exchange"), "exchanges"))


def _model_indicator(m: Entry, feat: dict, i: int) -> Iterator[Problem]:
    from botfleet.indicators import REGISTRY

    name = feat["indicator"]
    if name not in REGISTRY:
        yield m.problem(("features", i, "indicator"), f"unknown indicator '{name}'",
                        did_you_mean(name, REGISTRY.names()) or
                        "list them with 'botfleet strategy indicators'")
        return
    ind = REGISTRY.get(name)
    for key, value in (feat.get("params") or {}).items():
        param = ind.param(key)
        if param is None:
            yield m.problem(("features", i, "params", key), f"{name} has no parameter '{key}'",
                            f"its parameters: {known_list([p.name for p in ind.params])}",
                            key=True)
        elif (why := param.check(float(value) if isinstance(value, Decimal) else value)):
            yield m.problem(("features", i, "params", key), why)
    out = feat.get("output")
    if out is not None and ind.output(out) is None:
        yield m.problem(("features", i, "output"), f"{name} has no output '{out}'",
                        f"its outputs: {', '.join(ind.outputs)}")
    elif out is None and len(ind.outputs) > 1:
        yield m.problem(("features", i), f"{name} has several outputs; say which with "
                        "'output'", f"its outputs: {', '.join(ind.outputs)}")


def _fleet(load: FleetLoad) -> Iterator[Problem]:
    fleet = load.entries["fleet"][0]
    for job, text in (fleet.data.get("schedules") or {}).items():
        yield from _schedule(fleet, ("schedules", job), text, allow_candle=False)
    yield from _profile_ref(load, fleet, ("risk",))
    yield from _profile_ref(load, fleet, ("defaults", "risk"))
    exchanges = load.defined("exchange")
    default_ex = _get(fleet.data, ("defaults", "exchange"))
    if isinstance(default_ex, str) and default_ex not in exchanges:
        yield fleet.problem(("defaults", "exchange"), f"unknown exchange '{default_ex}'",
                            _known_hint(default_ex, exchanges, "exchanges"))


def _schedule(entry: Entry, path: tuple, text, allow_candle: bool) -> Iterator[Problem]:
    try:
        sched = parse_schedule(text)
    except ScheduleError as exc:
        yield entry.problem(path, str(exc), exc.hint)
        return
    if sched.on_candle_close and not allow_candle:
        yield entry.problem(path, "'on_candle_close' is only for a bot's cycle",
                            "write e.g. 'every 5m'")


def _is_number(value) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _pair_hint(pair: str) -> str | None:
    up = pair.upper()
    for sep in ("-", "_", " "):
        if sep in up and up.count(sep) == 1:
            return f"write '{up.replace(sep, '/')}' (ccxt's unified symbol)"
    if "/" not in up:
        for quote in _COMMON_QUOTES:
            if up.endswith(quote) and len(up) > len(quote):
                return f"write '{up[: -len(quote)]}/{quote}' (ccxt's unified symbol)"
    if up != pair and _SPOT.match(up):
        return f"write '{up}' in capitals"
    return "write BASE/QUOTE, e.g. BTC/USDT"


def _bot(load: FleetLoad, bot: Entry, eff: Effective) -> Iterator[Problem]:
    data = eff.data
    exchanges = load.by_name("exchange")
    strategies = load.by_name("strategy")

    def problem(path: tuple, message: str, hint: str | None = None, severity="error",
                sub: tuple = ()):
        """A problem at the place the effective value at `path` (+ `sub`) was written."""
        src = eff.source(path)
        if src is None or src.doc is None:
            return bot.problem(path + sub, message, hint, severity=severity)
        return src.doc.problem(src.path + sub, message, hint, severity=severity)

    name = bot.name
    ex_name = data.get("exchange")
    exchange = exchanges.get(ex_name) if isinstance(ex_name, str) else None
    if ex_name is None:
        yield bot.problem((), f"bot '{name}' has no exchange",
                          "set 'exchange:' here or under 'defaults' in the fleet file")
    elif ex_name not in load.defined("exchange") and ex_name != _get(
            load.entries["fleet"][0].data, ("defaults", "exchange")):
        yield problem(("exchange",), f"unknown exchange '{ex_name}'",
                      _known_hint(ex_name, exchanges, "exchanges"))
    timeframe = data.get("timeframe")
    if timeframe is None:
        yield bot.problem((), f"bot '{name}' has no timeframe",
                          "set 'timeframe:' (e.g. 1h) here or under 'defaults'")
    elif exchange is not None:
        supported = catalog.timeframes(exchange.data.get("ccxt_id", ""))
        if supported and timeframe not in supported:
            yield problem(("timeframe",), f"timeframe '{timeframe}' is not offered by "
                          f"{exchange.data.get('ccxt_id')}", f"supported: {', '.join(supported)}")
    strategy = strategies.get(data.get("strategy"))
    if strategy is None and data.get("strategy") not in load.defined("strategy"):
        yield bot.problem(("strategy",), f"unknown strategy '{data.get('strategy')}'",
                          _known_hint(data.get("strategy"), strategies, "strategies"))
    elif strategy is not None:
        yield from _parameters(bot, strategy)
    market = exchange.data.get("market_type", "spot") if exchange else "spot"
    for i, pair in enumerate(data.get("pairs") or []):
        ok = _SPOT.match(pair) if market == "spot" else _SWAP.match(pair)
        if not ok:
            hint = _pair_hint(pair) if market == "spot" else "write BASE/QUOTE:SETTLE"
            yield bot.problem(("pairs", i), f"'{pair}' is not a {market} pair in ccxt's "
                              "notation", hint)
    if data.get("mode") == "live" and exchange is not None:
        creds = exchange.data.get("credentials")
        if not creds:
            yield problem(("mode",), f"live mode needs credentials, but exchange "
                          f"'{exchange.name}' references none",
                          f"add 'credentials: {{api_key: ${{env:...}}, secret: ${{env:...}}}}' "
                          f"at {exchange.where}")
    cycle = _get(data, ("schedule", "cycle"))
    if isinstance(cycle, str):
        try:
            parse_schedule(cycle)
        except ScheduleError as exc:
            yield problem(("schedule", "cycle"), str(exc), exc.hint)
    notifiers = load.defined("notifier")
    for i, nname in enumerate(_get(data, ("notify", "notifiers")) or []):
        if nname not in notifiers:
            yield problem(("notify", "notifiers"), f"unknown notifier '{nname}'",
                          _known_hint(nname, notifiers, "notifiers"), sub=(i,))
    yield from _profile_ref(load, bot, ("risk",))
    yield from _model_pins(load, bot, data)
    yield from _risk_consistency(load, bot, eff, problem)
    currency = _get(load.entries["fleet"][0].data, ("capital", "currency"))
    if currency:
        for i, pair in enumerate(data.get("pairs") or []):
            quote = pair.split("/")[-1].split(":")[0] if "/" in pair else None
            if quote and quote != currency and _SPOT.match(pair):
                yield bot.problem(("pairs", i), f"'{pair}' is quoted in {quote}, but the fleet's "
                                  f"capital is counted in {currency}", None, severity="warning")


def _model_pins(load: FleetLoad, bot: Entry, data: dict) -> Iterator[Problem]:
    """`model_versions:` pins name models of the fleet (the version itself is checked against
    the registry when the bot runs: validation does not open the state database)."""
    if not load.entries.get("fleet"):
        return  # a file checked on its own: the models live elsewhere
    models = load.defined("model")
    for mname in data.get("model_versions") or {}:
        if mname not in models:
            yield bot.problem(("model_versions", mname), f"unknown model '{mname}' in "
                              "model_versions", _known_hint(mname, load.by_name("model"),
                                                            "models"))


def _parameters(bot: Entry, strategy: Entry) -> Iterator[Problem]:
    declared = strategy.data.get("parameters") or {}
    for pname, value in (bot.data.get("parameters") or {}).items():
        spec = declared.get(pname)
        if spec is None:
            yield bot.problem(("parameters", pname), f"strategy '{strategy.name}' has no "
                              f"parameter '{pname}'", did_you_mean(pname, declared) or
                              (f"its parameters: {known_list(declared)}" if declared else
                               "it declares no parameters"), key=True)
            continue
        rng, choices, default = spec.get("range"), spec.get("choices"), spec.get("default")
        if _is_number(default) and not _is_number(value):
            yield bot.problem(("parameters", pname), f"expected a number, found {value!r}")
        elif rng and _is_number(value) and not rng[0] <= value <= rng[1]:
            yield bot.problem(("parameters", pname), f"{value} is outside the range "
                              f"[{rng[0]}, {rng[1]}] that '{strategy.name}' allows")
        elif choices and value not in choices:
            yield bot.problem(("parameters", pname), f"{value!r} is not one of "
                              f"{', '.join(map(str, choices))}")


def _capital(load: FleetLoad) -> Decimal | None:
    total = _get(load.entries["fleet"][0].data, ("capital", "total"))
    return Decimal(total) if _is_number(total) else None


def _risk_consistency(load: FleetLoad, bot: Entry, eff: Effective, problem) -> Iterator[Problem]:
    capital = _capital(load)
    alloc_raw = _get(eff.data, ("capital", "allocation"))
    allocation = resolve_amount(alloc_raw, capital) if alloc_raw is not None else None
    risk = eff.data.get("risk") or {}
    fleet_risk = load.entries["fleet"][0].data.get("risk") or {}
    for key in ("max_position", "max_order_size"):
        if key in risk and allocation is not None:
            # a bot's percentage limits are shares of its own allocation
            limit = resolve_amount(risk[key], allocation)
            if limit is not None and limit > allocation:
                yield problem(("risk", key), f"{key} {risk[key]} exceeds the bot's allocation "
                              f"({fmt_amount(allocation)} {_currency(load)})", "lower it, or raise "
                              "capital.allocation")
    if "max_daily_loss" in risk and "max_daily_loss" in fleet_risk and capital is not None:
        mine = resolve_amount(risk["max_daily_loss"], allocation)
        fleet_limit = resolve_amount(fleet_risk["max_daily_loss"], capital)
        if mine is not None and fleet_limit is not None and mine > fleet_limit:
            yield problem(("risk", "max_daily_loss"), f"max_daily_loss {risk['max_daily_loss']} "
                          f"is above the fleet's whole daily-loss limit "
                          f"({fleet_risk['max_daily_loss']})", "it could never be reached")
    if "max_open_positions" in risk and len(eff.data.get("pairs") or []) and \
            risk["max_open_positions"] > len(eff.data["pairs"]) and eff.source(
                ("risk", "max_open_positions")).layer == "bot":
        yield problem(("risk", "max_open_positions"), f"max_open_positions "
                      f"{risk['max_open_positions']} is more than the bot's "
                      f"{len(eff.data['pairs'])} pair(s)", "one position per pair at most",
                      severity="warning")


def _currency(load: FleetLoad) -> str:
    return _get(load.entries["fleet"][0].data, ("capital", "currency")) or "quote"


def _allocations(load: FleetLoad, efforts: dict[int, Effective]) -> Iterator[Problem]:
    capital = _capital(load)
    if capital is None:
        return
    running = Decimal(0)
    for bot in load.entries.get("bot", []):
        eff = efforts.get(id(bot))
        if eff is None or not eff.data.get("enabled", True):
            continue
        raw = _get(eff.data, ("capital", "allocation"))
        if raw is None:
            continue
        running += resolve_amount(raw, capital)
        if running > capital:
            src = eff.source(("capital", "allocation"))
            yield Problem(src.pos.file, src.pos.line, src.pos.col, format_path(src.path),
                          f"allocations add up to {fmt_amount(running)} "
                                 f"{_currency(load)}, above the fleet's capital.total "
                          f"({fmt_amount(capital)}) at bot '{bot.name}'",
                          "lower the allocations of enabled bots or raise capital.total")
            return
