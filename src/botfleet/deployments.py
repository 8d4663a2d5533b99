"""Which Prefect deployments a fleet wants, as plain data, and how that differs from a server.

The YAML declares when each job runs (`schedules:` in the fleet file, `schedule.cycle` per bot);
this module turns that into `DeploymentSpec`s without importing Prefect, so `botfleet plan` can
be reasoned about, and tested, as a pure function of the YAML. `botfleet.orchestration` makes
Prefect objects of the specs and reads the server's side into the same `view` shape that
`diff` compares.

Schedules keep the meaning the runtime gives them (`runtime.timing.next_fire`): intervals fire
on multiples of the interval since the epoch, `on_candle_close` on every candle boundary of the
bot's timeframe (weekly candles open on Mondays, monthly ones on the 1st), cron in its timezone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from botfleet.config.model import Fleet
from botfleet.config.schedule import Schedule

FLOWS = ("ingest", "cycle", "reconcile", "research", "retrain", "report")
EPOCH = "1970-01-01T00:00:00+00:00"
MONDAY = "1970-01-05T00:00:00+00:00"  # weekly candles open on Mondays
MANAGED_TAG = "botfleet"
TRADING_MODES = ("paper", "live")
CYCLE_TIMEOUT_BOUNDS = (60.0, 900.0)  # a cycle may run its period, within these seconds

DESCRIPTIONS = {
    "ingest": "Incremental candle download for every series the fleet needs, then a "
              "data-quality check.",
    "cycle": "One decision cycle for each of these bots (concurrently; state in the database).",
    "reconcile": "Reconciliation of every paper and live bot with its exchange.",
    "research": "Backtest, optimisation or walk-forward of the fleet's bots; results stored.",
    "retrain": "Retraining of the models the bots use.",
    "report": "Trading report (HTML + PDF) of the day or week, sent through the notifiers; "
              "and the page of research runs of the period.",
}


def flow_name(kind: str) -> str:
    """The Prefect flow name of a job kind: `botfleet-cycle`."""
    if kind not in FLOWS:
        raise ValueError(f"unknown flow {kind!r}; one of {', '.join(FLOWS)}")
    return f"botfleet-{kind}"


def slug(text: str) -> str:
    """Lower-case letters, digits and dashes: what Prefect accepts in artifact keys."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def human_seconds(seconds: float) -> str:
    """3600 -> '1h', 604800 -> '1w', 90 -> '90s': the largest unit that divides exactly."""
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        return f"{seconds:g}s"
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


@dataclass(frozen=True)
class ScheduleSpec:
    """A Prefect schedule as data: an interval from an anchor, or cron in a timezone."""

    interval_s: float | None = None
    anchor: str | None = None  # ISO time the interval counts from
    cron: str | None = None
    timezone: str = "UTC"

    def describe(self) -> str:
        if self.interval_s is not None:
            return f"every {human_seconds(self.interval_s)} from {self.anchor} ({self.timezone})"
        return f"cron '{self.cron}' ({self.timezone})"

    def period_s(self) -> float:
        """Seconds between two fires (for cron: between the first two after 2024-01-01)."""
        if self.interval_s is not None:
            return self.interval_s
        start = datetime(2024, 1, 1, tzinfo=ZoneInfo(self.timezone))
        it = croniter(self.cron, start)
        first, second = it.get_next(datetime), it.get_next(datetime)
        return (second - first).total_seconds()

    def slug(self) -> str:
        if self.interval_s is not None:
            return human_seconds(self.interval_s)
        return "cron-" + slug(f"{self.cron} {self.timezone}")


def to_spec(schedule: Schedule, timeframe: str | None = None) -> ScheduleSpec:
    """The YAML schedule as Prefect will run it; `on_candle_close` needs the bot's timeframe."""
    if schedule.on_candle_close:
        if not timeframe:
            raise ValueError("on_candle_close needs the bot's timeframe")
        return candle_close(timeframe)
    if schedule.interval is not None:
        return ScheduleSpec(interval_s=float(schedule.interval), anchor=EPOCH, timezone="UTC")
    return ScheduleSpec(cron=schedule.cron, timezone=schedule.timezone)


def candle_close(timeframe: str) -> ScheduleSpec:
    """Every close of a `timeframe` candle: 1h -> hourly on the hour, 4h -> 00:00, 04:00, …
    UTC; 1w -> Mondays 00:00 UTC; 1M -> the 1st of each month 00:00 UTC."""
    m = re.fullmatch(r"([0-9]+)([smhdwM])", timeframe)
    if not m:
        raise ValueError(f"'{timeframe}' is not a timeframe (e.g. 1m, 15m, 1h, 4h, 1d)")
    n, unit = int(m.group(1)), m.group(2)
    if n < 1:
        raise ValueError(f"'{timeframe}' is not a timeframe (the count must be at least 1)")
    if unit == "M":
        if n != 1:
            raise ValueError(f"on_candle_close supports 1M, not {timeframe}")
        return ScheduleSpec(cron="0 0 1 * *", timezone="UTC")
    size = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}[unit] * n
    return ScheduleSpec(interval_s=float(size), anchor=MONDAY if unit == "w" else EPOCH,
                        timezone="UTC")


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment botfleet wants: which flow, when, with what, tagged how."""

    kind: str  # one of FLOWS
    name: str  # deployment name, unique per flow: "<fleet>-<kind>[-<schedule>]"
    schedule: ScheduleSpec | None
    parameters: dict[str, Any] = field(hash=False)
    tags: tuple[str, ...]
    description: str
    concurrency: int = 1  # runs at once; a run that would exceed it is cancelled (skipped)

    @property
    def flow_name(self) -> str:
        return flow_name(self.kind)

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"

    def view(self, pool: str | None = None) -> dict[str, Any]:
        """The fields `diff` compares, in the shape `orchestration` reads from a server."""
        return {"schedule": self.schedule.describe() if self.schedule else "none",
                "parameters": self.parameters, "tags": tuple(sorted(self.tags)),
                "description": self.description, "concurrency": self.concurrency,
                "collisions": "cancel new", "pool": pool}


def fleet_tag(fleet_name: str) -> str:
    return f"fleet:{fleet_name}"


def _tags(fleet: Fleet, kind: str) -> tuple[str, ...]:
    """Few and fixed: a run's tags travel in every event it emits, and Prefect refuses an
    event with more related resources than its limit (100), so no tag per bot."""
    return (MANAGED_TAG, fleet_tag(fleet.name), f"job:{kind}")


def cycle_groups(fleet: Fleet) -> dict[ScheduleSpec, list[str]]:
    """Enabled paper and live bots by the schedule their cycle runs on (bots on the same
    schedule share one deployment, and run concurrently inside its flow run)."""
    groups: dict[ScheduleSpec, list[str]] = {}
    for bot in sorted(fleet.enabled_bots(), key=lambda b: b.name):
        if bot.mode in TRADING_MODES:
            groups.setdefault(to_spec(bot.cycle, bot.timeframe), []).append(bot.name)
    return groups


def cycle_timeout_s(schedule: ScheduleSpec) -> float:
    """How long one cycle may run: its period, but at least 60 s and at most 15 min."""
    low, high = CYCLE_TIMEOUT_BOUNDS
    return max(low, min(schedule.period_s(), high))


def model_groups(fleet: Fleet, mode: str = "schedule") -> dict[ScheduleSpec | None, list[str]]:
    """The fleet's models by when the retrain flow handles them: in `schedule` mode by
    `train.retrain` (key None: the fleet's own `schedules.retrain`, which the `<fleet>-retrain`
    deployment runs), in `drift` mode by `drift.check` (each its own deployment)."""
    default = to_spec(fleet.schedules["retrain"]) if mode == "schedule" else None
    groups: dict[ScheduleSpec | None, list[str]] = {}
    for name in sorted(fleet.models):
        spec = fleet.models[name]
        sched = spec.retrain if mode == "schedule" else spec.drift_check
        key = to_spec(sched) if sched is not None else default
        groups.setdefault(None if key == default else key, []).append(name)
    return groups


def _model_deployments(fleet: Fleet, base: dict) -> list[DeploymentSpec]:
    """A retrain deployment per model schedule that is not the fleet's, and a drift-check
    deployment per `drift.check` schedule."""
    out = []
    for mode, word in (("schedule", "retrain"), ("drift", "drift")):
        for schedule, names in model_groups(fleet, mode).items():
            if schedule is None:
                continue
            params = {**base, "models": names} | ({"mode": "drift"} if mode == "drift" else {})
            what = ("Retraining" if mode == "schedule" else
                    "Drift check (retraining only what drifted)")
            out.append(DeploymentSpec("retrain", f"{fleet.name}-{word}-{schedule.slug()}",
                                      schedule, params, _tags(fleet, "retrain"),
                                      f"{what} of the models {', '.join(names)}."))
    return out


def deployments_for(fleet: Fleet, fleet_ref: str | None = None) -> list[DeploymentSpec]:
    """Every deployment the fleet's YAML declares. `fleet_ref` is the fleet file as the
    machines that run the flows see it (default: this file's absolute path)."""
    ref = fleet_ref or str(fleet.path.resolve())
    base = {"fleet": ref}
    specs = []
    for kind in ("ingest", "reconcile", "retrain"):
        specs.append(DeploymentSpec(kind, f"{fleet.name}-{kind}",
                                    to_spec(fleet.schedules[kind]), dict(base),
                                    _tags(fleet, kind), DESCRIPTIONS[kind]))
    report = to_spec(fleet.schedules["report"])
    specs.append(DeploymentSpec("report", f"{fleet.name}-report", report,
                                {**base, "period_hours": report.period_s() / 3600},
                                _tags(fleet, "report"), DESCRIPTIONS["report"]))
    research = fleet.schedules.get("research")
    specs.append(DeploymentSpec("research", f"{fleet.name}-research",
                                to_spec(research) if research else None,
                                {**base, "job": "backtest"}, _tags(fleet, "research"),
                                DESCRIPTIONS["research"]
                                + ("" if research else " Unscheduled: runs on demand.")))
    specs += _model_deployments(fleet, base)
    for schedule, bots in cycle_groups(fleet).items():
        specs.append(DeploymentSpec(
            "cycle", f"{fleet.name}-cycle-{schedule.slug()}", schedule,
            {**base, "bots": bots}, _tags(fleet, "cycle"),
            DESCRIPTIONS["cycle"] + f" Bots: {', '.join(bots)}."))
    return sorted(specs, key=lambda s: (FLOWS.index(s.kind), s.name))


@dataclass
class Plan:
    """What applying the YAML would do to a Prefect server, by full deployment name."""

    create: list[DeploymentSpec] = field(default_factory=list)
    change: list[tuple[DeploymentSpec, list[str]]] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    same: list[DeploymentSpec] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.change or self.remove)

    def lines(self) -> list[str]:
        """Like a diff: `+` created, `~` changed (field: old -> new), `-` removed."""
        out = []
        for spec in self.create:
            when = spec.schedule.describe() if spec.schedule else "unscheduled"
            out.append(f"+ {spec.full_name}  {when}")
        for spec, changes in self.change:
            out.append(f"~ {spec.full_name}")
            out += [f"    {c}" for c in changes]
        out += [f"- {name}" for name in self.remove]
        summary = (f"{len(self.create)} to create, {len(self.change)} to change, "
                   f"{len(self.remove)} to remove, {len(self.same)} unchanged")
        return [*out, summary]


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return str(value)


def diff(desired: list[DeploymentSpec], existing: dict[str, dict[str, Any]],
         pool: str | None = None) -> Plan:
    """Compare the wanted specs with the server's deployments of this fleet (full name ->
    `view`); deployments of other fleets or made by hand must not be passed in."""
    plan = Plan()
    wanted = {s.full_name: s for s in desired}
    for name, spec in wanted.items():
        have = existing.get(name)
        if have is None:
            plan.create.append(spec)
            continue
        want = spec.view(pool)
        changes = [f"{key}: {_show(have.get(key))} -> {_show(value)}"
                   for key, value in want.items() if have.get(key) != value]
        (plan.change.append((spec, changes)) if changes else plan.same.append(spec))
    plan.remove = sorted(n for n in existing if n not in wanted)
    return plan


def anchor_datetime(spec: ScheduleSpec) -> datetime:
    """The interval's anchor as an aware datetime (what Prefect's IntervalSchedule takes)."""
    return datetime.fromisoformat(spec.anchor or EPOCH).astimezone(UTC)


def interval_timedelta(spec: ScheduleSpec) -> timedelta:
    return timedelta(seconds=spec.interval_s or 0)
