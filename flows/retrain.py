"""`botfleet-retrain`: retraining of the models the bots use (`botfleet.jobs.retrain`).

No bot can declare a model yet, so every run reports "no model" per bot rather than training
anything; the ML issue fills in the job, and this flow and its YAML schedule already exist."""

from __future__ import annotations

from botfleet.jobs import load_checked
from botfleet.jobs.retrain import retrain_bot
from botfleet.orchestration import fan_out, finish, job_flow, job_task, opaque


@job_task("retrain", task_run_name="retrain {name}")
def retrain_one(bot, name: str) -> dict:
    return retrain_bot(bot)


@job_flow("retrain")
def retrain(fleet: str) -> dict:
    """Retrain the model of every enabled bot that declares one."""
    f = load_checked(fleet).fleet
    bots = f.enabled_bots()
    rows, failed = fan_out([(b.name, retrain_one, (opaque(b), b.name)) for b in bots])
    trained = [r for r in rows if r["outcome"] != "no model"]
    summary = (f"{len(trained)} model(s) retrained" if trained else
               f"nothing to retrain: none of the {len(bots)} enabled bot(s) declares a model")
    return finish("retrain", f.name, rows, failed, summary)


FLOW = retrain
