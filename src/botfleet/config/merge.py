"""Effective bot settings: defaults merged from fleet → exchange → strategy → bot, with sources.

A trader who sees a bot risking 5% per trade must be able to ask "who said 5%?". So the merge
keeps, for every leaf value, the layer and the `file:line:col` it came from; `botfleet config
explain BOT` prints that. Mappings merge key by key; lists and scalars are replaced whole. A risk
`profile` is expanded where it is written: its limits sit beneath the keys written beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botfleet.config.yamlfile import Pos

if TYPE_CHECKING:
    from botfleet.config.loader import Entry, FleetLoad

BUILTIN = {"enabled": True, "mode": "paper", "schedule": {"cycle": "on_candle_close"}}


@dataclass(frozen=True)
class Source:
    layer: str  # "built-in", "fleet defaults", "exchange binance defaults", "strategy …", "bot"
    pos: Pos | None
    path: tuple = ()  # where in its document the value is written
    doc: Any = field(default=None, compare=False, repr=False)  # that document

    def __str__(self) -> str:
        where = f"{self.pos.file}:{self.pos.line}:{self.pos.col}" if self.pos else "botfleet"
        return f"{where} ({self.layer})"


@dataclass
class Effective:
    data: dict
    sources: dict[tuple, Source]

    def source(self, path: tuple) -> Source | None:
        return self.sources.get(tuple(path))


def _leaves(value: Any, path: tuple = ()):
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    else:
        yield path, value


def _set(target: dict, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def _drop(target: dict, sources: dict, path: tuple) -> None:
    """A value replaces a mapping an earlier layer set at `path`: forget that mapping's leaves."""
    node = target
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict) and isinstance(node.get(path[-1]), dict):
        for key in [k for k in sources if k[: len(path)] == path and k != path]:
            del sources[key]


class Merger:
    def __init__(self) -> None:
        self.data: dict = {}
        self.sources: dict[tuple, Source] = {}

    def layer(self, name: str, values: dict | None, entry: Entry | None, at: tuple = (),
              under: tuple = ()) -> None:
        """Apply `values` (found at `at` inside `entry`) beneath `under` in the result."""
        if not isinstance(values, dict):
            return
        for path, value in _leaves(values):
            if not path:
                continue
            full = under + path
            if not isinstance(value, dict):
                _drop(self.data, self.sources, full)
            _set(self.data, full, value)
            where = entry.prefix + at + path if entry else ()
            self.sources[full] = Source(name, entry.doc.pos(where) if entry else None, where,
                                        entry.doc if entry else None)


def _risk_layer(merger: Merger, name: str, risk: Any, entry: Entry, at: tuple,
                profiles: dict[str, Entry]) -> None:
    if not isinstance(risk, dict):
        return
    profile = profiles.get(risk.get("profile")) if isinstance(risk.get("profile"), str) else None
    if profile is not None:
        merger.layer(f"risk profile {profile.name}", profile.data.get("limits"), profile,
                     ("limits",), ("risk",))
    merger.layer(name, risk, entry, at, ("risk",))


def effective_bot(load: FleetLoad, bot: Entry) -> Effective:
    """Merge the layers that shape one bot. Unknown references are skipped (reported elsewhere).

    Cached on the load: the cross-checks, the typed model and `explain` all ask for it.
    """
    cached = load.effective.get(id(bot))
    if cached is None:
        cached = load.effective[id(bot)] = _effective_bot(load, bot)
    return cached


def _effective_bot(load: FleetLoad, bot: Entry) -> Effective:
    fleet = load.entries["fleet"][0] if load.entries.get("fleet") else None
    exchanges = load.by_name("exchange")
    strategies = load.by_name("strategy")
    profiles = load.by_name("risk")
    merger = Merger()
    merger.layer("built-in default", BUILTIN, None)
    layers: list[tuple[str, dict | None, Entry | None, tuple]] = []
    if fleet is not None:
        layers.append(("fleet defaults", fleet.data.get("defaults"), fleet, ("defaults",)))
    exchange_name = bot.data.get("exchange")
    if exchange_name is None and fleet is not None:
        exchange_name = (fleet.data.get("defaults") or {}).get("exchange")
    exchange = exchanges.get(exchange_name) if isinstance(exchange_name, str) else None
    if exchange is not None:
        layers.append((f"exchange {exchange.name} defaults", exchange.data.get("defaults"),
                       exchange, ("defaults",)))
    strategy = strategies.get(bot.data.get("strategy"))
    if strategy is not None and isinstance(strategy.data.get("sizing"), dict):
        layers.append((f"strategy {strategy.name}", {"sizing": strategy.data["sizing"]},
                       strategy, ()))
    layers.append(("bot", bot.data, bot, ()))
    for name, values, entry, at in layers:
        if not isinstance(values, dict):
            continue
        plain = {k: v for k, v in values.items() if k != "risk" and k not in ("kind", "version")}
        merger.layer(name, plain, entry, at)
        _risk_layer(merger, name, values.get("risk"), entry, at + ("risk",), profiles)
    if strategy is not None:
        _strategy_parameters(merger, strategy, bot)
    return Effective(merger.data, merger.sources)


def _strategy_parameters(merger: Merger, strategy: Entry, bot: Entry) -> None:
    """Parameters start at the strategy's defaults; the bot's overrides win."""
    declared = strategy.data.get("parameters") or {}
    overrides = merger.data.get("parameters") or {}
    params: dict[str, Any] = {}
    for pname, spec in declared.items():
        if pname in overrides:
            params[pname] = overrides[pname]
        else:
            params[pname] = spec.get("default") if isinstance(spec, dict) else None
            where = strategy.prefix + ("parameters", pname, "default")
            merger.sources[("parameters", pname)] = Source(
                f"strategy {strategy.name} default", strategy.doc.pos(where), where, strategy.doc)
    for pname, value in overrides.items():
        params.setdefault(pname, value)
    if params:
        merger.data["parameters"] = params
