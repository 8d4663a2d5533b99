"""The retrain job: a new version of each model on its schedule, and of a drifted one on drift.

A new version is trained on the fleet's stored candles, registered, and promoted only when the
model's `promotion:` rule says it beats the promoted version out of sample; a refusal is a
normal outcome (recorded in the registry's event log with its numbers), not a failure. With no
candles stored yet the row says "no data" rather than failing the flow every week.

Drift mode checks the promoted version (`ml.drift`): a limit tripped puts a `model_drift`
notification on the fleet's event stream and trains a new version right away (in this run, so
the same code path serves a plain call and a Prefect flow).
"""

from __future__ import annotations

from typing import Any

from botfleet.jobs.common import JobError

SCHEDULE, DRIFT = "schedule", "drift"


def pick_models(fleet, names: list[str] | None = None, *, mode: str = SCHEDULE) -> list[str]:
    """The named models, or (none named) those the fleet-wide deployment covers: models whose
    schedule (`train.retrain`, or `drift.check` in drift mode) is the fleet's default. A model
    with a schedule of its own has a deployment of its own (`deployments.model_groups`)."""
    if names:
        unknown = [n for n in names if n not in fleet.models]
        if unknown:
            raise JobError(f"no model named {', '.join(map(repr, unknown))} in {fleet.path}; "
                           f"models: {', '.join(sorted(fleet.models)) or 'none'}")
        return list(names)
    from botfleet.deployments import model_groups

    return model_groups(fleet, mode).get(None, [])


def retrain_model(fleet, name: str, *, reason: str = SCHEDULE, actor: str = "retrain",
                  end_ms: int | None = None, threads: int | None = None) -> dict[str, Any]:
    """Train, register and (by the rule) promote a new version of `name`; the flow's row."""
    from botfleet.ml.fleet_ops import NoCandles, model_of, registry_of, train_and_register
    from botfleet.ml.registry import PromotionRefused

    spec = model_of(fleet, name)
    try:
        trained = train_and_register(fleet, name, end_ms=end_ms, actor=actor, threads=threads)
    except NoCandles as exc:
        return {"model": name, "outcome": "no data", "reason": reason, "detail": str(exc)}
    version = trained.version
    try:
        _, why = registry_of(fleet).promote(spec, version.version, actor=actor)
        outcome = "promoted"
    except PromotionRefused as exc:
        outcome, why = "refused", str(exc).removeprefix(f"{name}: ")
    return {"model": name, "version": version.version, "outcome": outcome, "reason": reason,
            "metric": spec.metric, "value": version.metric(spec.metric), "detail": why}


def drift_report(fleet, name: str):
    """The promoted version's `ml.drift.DriftReport` on the stored candles, or None when no
    version is promoted (nothing serves bots, so nothing can drift)."""
    from botfleet.ml.drift import check
    from botfleet.ml.fleet_ops import load_candles, model_of, registry_of
    from botfleet.ml.predict import load_version

    spec = model_of(fleet, name)
    if registry_of(fleet).promoted(name) is None:
        return None
    loaded = load_version(fleet.storage.state, name)
    return check(loaded, load_candles(fleet, loaded.spec), spec)


def on_drift(fleet, name: str, *, retrain: bool = True, actor: str = "drift",
             threads: int | None = None) -> dict[str, Any]:
    """Check `name` for drift; when a limit trips, announce it and train a new version."""
    from botfleet.ml.drift import announce
    from botfleet.ml.fleet_ops import NoCandles

    try:
        report = drift_report(fleet, name)
    except NoCandles as exc:
        return {"model": name, "outcome": "no data", "reason": DRIFT, "detail": str(exc)}
    if report is None:
        return {"model": name, "outcome": "not promoted", "reason": DRIFT,
                "detail": "no promoted version to check"}
    if not report.drifted:
        worst = report.worst()
        return {"model": name, "version": report.version, "outcome": "no drift",
                "reason": DRIFT, "detail": "; ".join(report.lines()[1:3]) if worst else
                "; ".join(report.notes) or "within limits"}
    announced = announce(fleet.storage.cache, report)
    what = ", ".join(f"{m} {v:.4f} > {lim:.4f}" for m, v, lim in report.tripped)
    if not retrain:
        return {"model": name, "version": report.version, "outcome": "drift",
                "reason": DRIFT, "announced": announced, "detail": what}
    row = retrain_model(fleet, name, reason=f"drift: {what}", actor=actor, threads=threads)
    return {**row, "announced": announced, "drifted_version": report.version}
