"""A strategy's non-expression parts as typed values: stops, take-profit ladder, sizing,
cooldown and filters. Read from schema-valid data; the checks the schema cannot express
(a ladder closing more than the position, risk sizing without a stop) are made here.

Money and ratios stay `Decimal` (they size orders); the backtester turns them into floats
for its arrays where it must.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from botfleet.config.units import Percent, duration_seconds, parse_amount_or_percent, parse_percent
from botfleet.data.candles import timeframe_ms


@dataclass(frozen=True)
class Distance:
    """A percentage of the reference price, or a multiple of the ATR."""

    percent: Decimal | None = None
    atr_period: int | None = None
    atr_multiple: Decimal | None = None

    @classmethod
    def parse(cls, value) -> Distance:
        if isinstance(value, str):
            return cls(percent=parse_percent(value).fraction)
        return cls(atr_period=int(value["atr"]), atr_multiple=Decimal(value["multiple"]))

    def __str__(self) -> str:
        if self.percent is not None:
            return str(Percent(self.percent))
        return f"{self.atr_multiple} x atr({self.atr_period})"


@dataclass(frozen=True)
class TakeProfitStep:
    at: Decimal  # gain from the entry price, as a fraction
    close: Decimal  # share of the initial position closed at this step


@dataclass(frozen=True)
class Trailing:
    distance: Distance
    activate: Decimal | None = None  # gain that arms it; None: armed from the entry


@dataclass(frozen=True)
class Stops:
    stop_loss: Distance | None = None
    take_profit: tuple[TakeProfitStep, ...] = ()
    trailing: Trailing | None = None
    time_limit_ms: int | None = None

    def atr_periods(self) -> set[int]:
        ds = [self.stop_loss, self.trailing.distance if self.trailing else None]
        return {d.atr_period for d in ds if d is not None and d.atr_period is not None}


ALL_IN = Percent(Decimal(1))


@dataclass(frozen=True)
class Sizing:
    method: str = "percent_equity"
    value: Decimal | Percent = ALL_IN
    max_entries: int = 1
    target: Decimal | None = None
    lookback: int | None = None
    cap: Decimal | None = None
    fraction: Decimal | None = None


@dataclass(frozen=True)
class Filters:
    min_price: Decimal | None = None
    min_volume: Decimal | None = None  # quote currency over the last 24 hours
    when: str | None = None


def parse_stops(data: dict | None, where) -> tuple[Stops, list]:
    """(stops, problems); `where(path, message, hint)` makes a located problem."""
    data = data or {}
    problems = []
    ladder: tuple[TakeProfitStep, ...] = ()
    tp = data.get("take_profit")
    if isinstance(tp, str):
        ladder = (TakeProfitStep(parse_percent(tp).fraction, Decimal(1)),)
    elif tp:
        ladder = tuple(TakeProfitStep(parse_percent(s["at"]).fraction,
                                      parse_percent(s["close"]).fraction) for s in tp)
        ats = [s.at for s in ladder]
        if ats != sorted(ats) or len(set(ats)) != len(ats):
            problems.append(where(("stops", "take_profit"), "take-profit steps must rise: each "
                                  "'at' above the one before", None))
        total = sum((s.close for s in ladder), Decimal(0))
        if total > 1:
            problems.append(where(("stops", "take_profit"), f"the steps close {Percent(total)} "
                                  "of the position; at most 100%", None))
    trailing = None
    if data.get("trailing"):
        t = data["trailing"]
        trailing = Trailing(Distance.parse(t["distance"]),
                            parse_percent(t["activate"]).fraction if "activate" in t else None)
    limit = data.get("time_limit")
    stops = Stops(Distance.parse(data["stop_loss"]) if "stop_loss" in data else None, ladder,
                  trailing, int(duration_seconds(limit) * 1000) if limit else None)
    return stops, problems


def parse_sizing(data: dict | None, stops: Stops, where) -> tuple[Sizing, list]:
    if not data:
        return Sizing(), []
    problems = []
    method = data["method"]
    value = parse_amount_or_percent(data["value"])
    pct = {k: parse_percent(data[k]).fraction for k in ("target", "cap", "fraction") if k in data}
    needs = {"volatility_target": ("target", "lookback"), "kelly": ("fraction", "lookback", "cap")}
    for key in needs.get(method, ()):
        if key not in data:
            problems.append(where(("sizing",), f"sizing method {method} needs '{key}'", None))
    if method in ("percent_equity", "risk_per_trade", "volatility_target", "kelly") and \
            not isinstance(value, Percent):
        problems.append(where(("sizing", "value"), f"{method} takes a percentage of equity "
                              "such as '10%'", None))
    if method in ("fixed_quote", "fixed_base") and isinstance(value, Percent):
        problems.append(where(("sizing", "value"), f"{method} takes an amount, not a "
                              "percentage", "use percent_equity for a share of equity"))
    if method == "risk_per_trade" and stops.stop_loss is None:
        problems.append(where(("sizing", "method"), "risk_per_trade sizes by the distance to "
                              "the stop, and the strategy has no stop_loss", "add stops.stop_loss"))
    return Sizing(method, value, int(data.get("max_entries", 1)), pct.get("target"),
                  data.get("lookback"), pct.get("cap"), pct.get("fraction")), problems


def cooldown_bars(value, base_tf: str) -> int:
    """Whole bars of the bot's timeframe, rounded up: a cooldown never ends early."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    ms = int(duration_seconds(value) * 1000)
    return -(-ms // timeframe_ms(base_tf))


def parse_filters(data: dict | None) -> Filters:
    data = data or {}
    return Filters(Decimal(data["min_price"]) if "min_price" in data else None,
                   Decimal(data["min_volume"]) if "min_volume" in data else None,
                   data.get("when"))
