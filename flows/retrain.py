"""`botfleet-retrain`: new model versions on each model's schedule, or on drift
(`botfleet.jobs.retrain`). Thin: one task per model, rows published by `finish`."""

from __future__ import annotations

from botfleet.jobs import load_checked
from botfleet.jobs.retrain import DRIFT, SCHEDULE, on_drift, pick_models, retrain_model
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque


@job_task("retrain", task_run_name="retrain {name}")
def retrain_one(fleet, name: str) -> dict:
    return retrain_model(fleet, name)


@job_task("retrain", task_run_name="drift {name}")
def drift_one(fleet, name: str) -> dict:
    return on_drift(fleet, name)


@job_flow("retrain")
def retrain(fleet: str, models: list[str] | None = None, mode: str = SCHEDULE) -> dict:
    """Retrain `models` (default: those on the fleet's own retrain schedule); in `drift` mode
    check each promoted version and retrain only the drifted ones."""
    f = load_checked(fleet).fleet
    names = pick_models(f, models, mode=mode)
    one = drift_one if mode == DRIFT else retrain_one
    rows, failed = fan_out([(n, one, (opaque(f), n)) for n in names])
    if not names:
        summary = (f"nothing to retrain: {len(f.models)} model(s) declared, none on this "
                   "schedule" if f.models else "nothing to retrain: the fleet declares no model")
    else:
        done = [r for r in rows if r.get("outcome") in ("promoted", "refused")]
        summary = (f"{len(done)} of {len(names)} model(s) retrained" if mode == SCHEDULE else
                   f"{len(names)} model(s) checked for drift, {len(done)} retrained")
    return finish("retrain", f.name, rows, failed, summary)


FLOW = retrain
