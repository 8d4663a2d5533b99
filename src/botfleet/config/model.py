"""The typed fleet: what the rest of botfleet reads once a configuration is valid.

Built only from a load without errors, so every reference here resolves and every value has
already passed its schema: the constructors below convert, they do not re-validate. Money is
Decimal; credentials and notification URLs are `Secret`s that show only their reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botfleet.config.control import ControlSettings, control_settings
from botfleet.config.merge import Effective, effective_bot
from botfleet.config.ml import ModelSpec, model_spec
from botfleet.config.observability import ObservabilitySettings, observability_settings
from botfleet.config.refs import Secret
from botfleet.config.schedule import Schedule, parse_schedule
from botfleet.config.secrets import SecretsSettings, use_store
from botfleet.config.units import (
    Percent,
    duration_seconds,
    parse_amount_or_percent,
    parse_percent,
    parse_rate,
    resolve_amount,
)
from botfleet.obs.logs import LogSettings

if TYPE_CHECKING:
    from botfleet.config.loader import Entry, FleetLoad

Limit = Decimal | Percent

FLEET_SCHEDULES = {"ingest": "every 5m", "reconcile": "every 1m", "report": "daily 08:00 UTC",
                   "retrain": "0 3 * * SUN UTC"}


@dataclass(frozen=True)
class RiskLimits:
    max_order_size: Limit | None = None
    max_position: Limit | None = None
    max_open_positions: int | None = None
    max_exposure_per_asset: Limit | None = None
    max_total_exposure: Limit | None = None
    max_order_rate: tuple[int, Decimal] | None = None
    price_band: Percent | None = None
    min_notional: Decimal | None = None
    max_daily_loss: Limit | None = None
    max_drawdown: Percent | None = None
    max_consecutive_losses: int | None = None
    cooldown_after_stop: Decimal | None = None  # seconds
    circuit_breaker: dict = field(default_factory=dict)
    kill_switch: dict = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict | None) -> RiskLimits:
        d = dict(data or {})
        d.pop("profile", None)
        conv: dict[str, Any] = {}
        for key in ("max_order_size", "max_position", "max_exposure_per_asset",
                    "max_total_exposure", "max_daily_loss"):
            if key in d:
                conv[key] = parse_amount_or_percent(d[key])
        for key in ("price_band", "max_drawdown"):
            if key in d:
                conv[key] = parse_percent(d[key])
        if "max_order_rate" in d:
            conv["max_order_rate"] = parse_rate(d["max_order_rate"])
        if "min_notional" in d:
            conv["min_notional"] = Decimal(d["min_notional"])
        if "cooldown_after_stop" in d:
            conv["cooldown_after_stop"] = duration_seconds(d["cooldown_after_stop"])
        for key in ("max_open_positions", "max_consecutive_losses", "circuit_breaker",
                    "kill_switch"):
            if key in d:
                conv[key] = d[key]
        return cls(**conv)


@dataclass(frozen=True)
class ExchangeConfig:
    name: str
    ccxt_id: str
    market_type: str = "spot"
    sandbox: bool = False
    api_url: str | None = None
    credentials: dict[str, Secret] = field(default_factory=dict)
    rate_limit_enabled: bool = True
    max_weight_share: Percent = field(default_factory=lambda: Percent(Decimal("0.8")))
    requests_per_second: Decimal | None = None
    timeout_seconds: Decimal = Decimal(10)
    maker_fee: Percent | None = None
    taker_fee: Percent | None = None
    risk: RiskLimits = field(default_factory=RiskLimits)
    source: str = ""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    low: Decimal | int | None = None
    high: Decimal | int | None = None
    step: Decimal | int | None = None
    choices: tuple | None = None


@dataclass(frozen=True)
class StrategyConfig:
    name: str
    parameters: dict[str, Parameter]
    indicators: dict[str, str]
    entry: str
    exit: str
    entry_short: str | None = None
    exit_short: str | None = None
    stops: dict = field(default_factory=dict)
    sizing: dict | None = None
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class Channel:
    name: str
    url: Secret
    format: str = "text"
    rate_limit: tuple[int, Decimal] | None = None
    batch_window: Decimal | None = None
    retries: int = 3
    dedup_window: Decimal = Decimal(300)


@dataclass(frozen=True)
class NotifierConfig:
    name: str
    channels: dict[str, Channel]
    routes: tuple[dict, ...] = ()
    quiet_hours: dict | None = None
    templates: dict[str, str] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class BotConfig:
    name: str
    enabled: bool
    mode: str
    exchange: str
    pairs: tuple[str, ...]
    timeframe: str
    strategy: str
    parameters: dict[str, Any]
    allocation: Decimal | None  # quote currency, percentages resolved against the fleet capital
    sizing: dict | None
    risk: RiskLimits
    notify: dict
    cycle: Schedule
    warmup: int | None
    tags: tuple[str, ...]
    source: str
    effective: Effective = field(repr=False, compare=False, default=None)
    fills: dict | None = None  # the fill model (sim.fillmodel), merged like sizing
    optimize: dict | None = None  # search settings for `botfleet optimize`/`walkforward`
    model_versions: dict[str, int] = field(default_factory=dict)  # A/B pins: model -> version


@dataclass(frozen=True)
class Storage:
    state: str
    candles: str
    cache: str = "memory://"


@dataclass(frozen=True)
class DataSettings:
    since: str | None = None  # a date (YYYY-MM-DD) or a span back from now ("90d")
    on_bad_rows: str = "reject"
    outlier_sigma: float = 10.0


@dataclass(frozen=True)
class Fleet:
    name: str
    path: Path
    data_dir: Path
    storage: Storage
    data: DataSettings
    capital_currency: str | None
    capital_total: Decimal | None
    risk: RiskLimits
    schedules: dict[str, Schedule]
    exchanges: dict[str, ExchangeConfig]
    strategies: dict[str, StrategyConfig]
    notifiers: dict[str, NotifierConfig]
    risk_profiles: dict[str, RiskLimits]
    bots: dict[str, BotConfig]
    control: ControlSettings = field(default_factory=ControlSettings)  # config.control
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    logging: LogSettings = field(default_factory=LogSettings)  # obs.logs
    secrets: SecretsSettings = field(default_factory=SecretsSettings)  # config.secrets
    models: dict[str, ModelSpec] = field(default_factory=dict)  # config.ml, `kind: model`

    def enabled_bots(self) -> list[BotConfig]:
        return [b for b in self.bots.values() if b.enabled]


def _exchange(load: FleetLoad, e: Entry) -> ExchangeConfig:
    d = e.data
    rl = d.get("rate_limit") or {}
    fees = d.get("fees") or {}
    return ExchangeConfig(
        name=d["name"], ccxt_id=d["ccxt_id"], market_type=d.get("market_type", "spot"),
        sandbox=d.get("sandbox", False), api_url=d.get("api_url"),
        credentials={k: Secret(v) for k, v in (d.get("credentials") or {}).items()},
        rate_limit_enabled=rl.get("enabled", True),
        max_weight_share=parse_percent(rl.get("max_weight_share", "80%")),
        requests_per_second=rl.get("requests_per_second"),
        timeout_seconds=duration_seconds(d.get("timeout", "10s")),
        maker_fee=parse_percent(fees["maker"]) if "maker" in fees else None,
        taker_fee=parse_percent(fees["taker"]) if "taker" in fees else None,
        risk=_level_limits(load, d.get("risk")), source=e.where)


def _strategy(e: Entry) -> StrategyConfig:
    d = e.data
    params = {}
    for name, spec in (d.get("parameters") or {}).items():
        rng = spec.get("range") or (None, None)
        params[name] = Parameter(name, spec.get("default"), rng[0], rng[1], spec.get("step"),
                                 tuple(spec["choices"]) if "choices" in spec else None)
    return StrategyConfig(
        name=d["name"], parameters=params, indicators=dict(d.get("indicators") or {}),
        entry=d["entry"], exit=d["exit"], entry_short=d.get("entry_short"),
        exit_short=d.get("exit_short"), stops=dict(d.get("stops") or {}),
        sizing=d.get("sizing"), description=d.get("description", ""), source=e.where)


def _notifier(e: Entry) -> NotifierConfig:
    d = e.data
    channels = {}
    for name, ch in d["channels"].items():
        channels[name] = Channel(
            name, Secret(ch["url"]), ch.get("format", "text"),
            parse_rate(ch["rate_limit"]) if "rate_limit" in ch else None,
            duration_seconds(ch["batch_window"]) if "batch_window" in ch else None,
            ch.get("retries", 3), duration_seconds(ch.get("dedup_window", "5m")))
    return NotifierConfig(d["name"], channels, tuple(d.get("routes") or ()),
                          d.get("quiet_hours"), dict(d.get("templates") or {}), e.where)


def _profile_limits(e: Entry) -> RiskLimits:
    return RiskLimits.from_data(e.data.get("limits"))


def _level_limits(load: FleetLoad, risk: dict | None) -> RiskLimits:
    """Fleet- or exchange-level limits: a named profile first, keys written beside it win
    (bots get the same through `effective_bot`'s merge)."""
    risk = dict(risk or {})
    name = risk.get("profile")
    entry = load.by_name("risk").get(name) if isinstance(name, str) else None
    base = dict((entry.data.get("limits") or {}) if entry is not None else {})
    return RiskLimits.from_data({**base, **risk})


def _bot(load: FleetLoad, e: Entry, capital: Decimal | None) -> BotConfig:
    eff = effective_bot(load, e)
    d = eff.data
    alloc = (d.get("capital") or {}).get("allocation")
    allocation = resolve_amount(alloc, capital) if alloc is not None else None
    return BotConfig(
        name=d["name"], enabled=d.get("enabled", True), mode=d["mode"], exchange=d["exchange"],
        pairs=tuple(d["pairs"]), timeframe=d["timeframe"], strategy=d["strategy"],
        parameters=dict(d.get("parameters") or {}), allocation=allocation,
        sizing=d.get("sizing"), risk=RiskLimits.from_data(d.get("risk")),
        notify=dict(d.get("notify") or {}),
        cycle=parse_schedule((d.get("schedule") or {}).get("cycle", "on_candle_close")),
        warmup=d.get("warmup"), tags=tuple(d.get("tags") or ()), source=e.where, effective=eff,
        fills=d.get("fills"), optimize=d.get("optimize"),
        model_versions=dict(d.get("model_versions") or {}))


def _anchor(url: str, base: Path) -> str:
    """A relative `sqlite:///x.db` or `chdb:///x` is relative to the fleet file, not the cwd."""
    for scheme in ("sqlite:///", "chdb:///"):
        if url.startswith(scheme) and not url.startswith(scheme + "/") and \
                url != "sqlite:///:memory:":
            return scheme + str((base / url[len(scheme):]).resolve())
    return url


def _secrets(data: dict | None, base: Path) -> SecretsSettings:
    """The fleet's secret store, made the process's store for `${secret:..}` from now on
    (references are resolved where no fleet is at hand: a ccxt client, a database URL)."""
    settings = SecretsSettings.from_data(data, base)
    use_store(settings)
    return settings


def build_fleet(load: FleetLoad) -> Fleet:
    fleet_entry = load.entries["fleet"][0]
    d = fleet_entry.data
    base = fleet_entry.doc.path.parent
    data_dir = base / d.get("data_dir", "data")
    storage = d.get("storage") or {}
    capital = d.get("capital") or {}
    total = Decimal(capital["total"]) if "total" in capital else None
    data = d.get("data") or {}
    schedules = {job: parse_schedule(text) for job, text in
                 {**FLEET_SCHEDULES, **(d.get("schedules") or {})}.items()}
    return Fleet(
        name=d["name"], path=fleet_entry.doc.path, data_dir=data_dir,
        storage=Storage(_anchor(storage.get("state", f"sqlite:///{data_dir / 'state.db'}"), base),
                        _anchor(storage.get("candles", f"sqlite:///{data_dir / 'candles.db'}"),
                                base),
                        storage.get("cache", "memory://")),
        data=DataSettings(data.get("since"), data.get("on_bad_rows", "reject"),
                          float(data.get("outlier_sigma", 10))),
        capital_currency=capital.get("currency"), capital_total=total,
        risk=_level_limits(load, d.get("risk")), schedules=schedules,
        exchanges={n: _exchange(load, e) for n, e in load.by_name("exchange").items()},
        strategies={n: _strategy(e) for n, e in load.by_name("strategy").items()},
        notifiers={n: _notifier(e) for n, e in load.by_name("notifier").items()},
        risk_profiles={n: _profile_limits(e) for n, e in load.by_name("risk").items()},
        control=control_settings(d.get("control")),
        observability=observability_settings(d.get("observability")),
        logging=LogSettings.from_data(d.get("logging"), base),
        secrets=_secrets(d.get("secrets"), base),
        bots={n: _bot(load, e, total) for n, e in load.by_name("bot").items()},
        models={n: model_spec(e.data, default_exchange=(d.get("defaults") or {}).get("exchange"),
                              fleet_retrain=schedules["retrain"].text, source=e.where)
                for n, e in load.by_name("model").items()})
