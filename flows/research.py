"""`botfleet-research`: a backtest, optimisation or walk-forward of the fleet's bots, each run
stored in the state database (`botfleet.jobs.research`). Unscheduled unless the fleet sets
`schedules.research`; run on demand from the Prefect UI or `prefect deployment run`."""

from __future__ import annotations

from botfleet.jobs import load_checked
from botfleet.jobs.common import pick_bots
from botfleet.jobs.research import JOBS, run_job
from botfleet.orchestration import fan_out, finish, job_flow, job_task


@job_task("research", task_run_name="{job} {bot}")
def research_bot(fleet: str, bot: str, job: str) -> dict:
    return run_job(fleet, bot, job)


@job_flow("research")
def research(fleet: str, job: str = "backtest", bots: list[str] | None = None) -> dict:
    """`job` (backtest, optimize or walkforward) for each of `bots` (default: every enabled
    bot)."""
    if job not in JOBS:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, not {job!r}")
    f = load_checked(fleet).fleet
    chosen = pick_bots(f, bots)
    rows, failed = fan_out([(b.name, research_bot, (fleet, b.name, job)) for b in chosen])
    return finish("research", f.name, rows, failed,
                  f"{job}: {len(rows)}/{len(chosen)} bot(s) done, runs stored in the state "
                  "database")


FLOW = research
