"""`botfleet-research`: a backtest, optimisation, walk-forward or chunked grid of the fleet's
bots, each run stored in the state database (`botfleet.jobs.research`, `botfleet.jobs.grid`).
Unscheduled unless the fleet sets `schedules.research`; run on demand from the Prefect UI or
`prefect deployment run`. With BOTFLEET_DASK_ADDRESS set, its tasks run on that Dask cluster
(`orchestration.task_runner`): the `grid` job then spreads each bot's grid over the workers."""

from __future__ import annotations

import time

from botfleet.jobs import load_checked
from botfleet.jobs.common import JobError, pick_bots
from botfleet.jobs.grid import collect, evaluate_chunk, plan
from botfleet.jobs.research import JOBS, run_job
from botfleet.orchestration import fan_out, finish, job_flow, job_task

KINDS = (*JOBS, "grid")


@job_task("research", task_run_name="{job} {bot}")
def research_bot(fleet: str, bot: str, job: str, inputs: dict | None = None) -> dict:
    return run_job(fleet, bot, job, **(inputs or {}))


@job_task("research", task_run_name="grid {bot} chunk {n}")
def grid_chunk(fleet: str, bot: str, items: list, n: int) -> dict:
    return evaluate_chunk(fleet, bot, items)


def _grid(fleet: str, bot: str, chunks: int) -> dict:
    started = time.time()
    parts = plan(fleet, bot, chunks)
    done, failed = fan_out([(f"{bot} chunk {n}", grid_chunk, (fleet, bot, items, n))
                            for n, items in enumerate(parts)])
    if failed:
        raise JobError(f"{bot}: {len(failed)} grid chunk(s) failed: {failed[0]['error']}")
    return collect(fleet, bot, done, started)


@job_flow("research")
def research(fleet: str, job: str = "backtest", bots: list[str] | None = None,
             chunks: int = 8, pairs: list[str] | None = None, timeframe: str | None = None,
             start: str | None = None, end: str | None = None, params: dict | None = None,
             strategy: str | None = None) -> dict:
    """`job` (backtest, optimize, walkforward, or grid: the bot's optimisation grid in
    `chunks` tasks) for each of `bots` (default: every enabled bot); `pairs`, `timeframe`,
    `start`/`end` (YYYY-MM-DD, UTC), `params` and `strategy` (another of the fleet's) replace
    the bots' own for a backtest, optimisation or walk-forward (`jobs.research.run_job`)."""
    if job not in KINDS:
        raise ValueError(f"job must be one of {', '.join(KINDS)}, not {job!r}")
    inputs = {k: v for k, v in {"pairs": pairs, "timeframe": timeframe, "start": start,
                                "end": end, "params": params, "strategy": strategy}.items()
              if v}
    if inputs and job == "grid":
        raise ValueError(f"the grid job runs each bot as configured; {', '.join(inputs)} "
                         "apply to backtest, optimize and walkforward")
    f = load_checked(fleet).fleet
    chosen = pick_bots(f, bots)
    if job == "grid":
        rows, failed = [], []
        for b in chosen:
            try:
                rows.append(_grid(fleet, b.name, chunks))
            except JobError as exc:
                failed.append({"unit": b.name, "outcome": "failed", "error": str(exc)})
    else:
        rows, failed = fan_out([(b.name, research_bot, (fleet, b.name, job, inputs or None))
                                for b in chosen])
    return finish("research", f.name, rows, failed,
                  f"{job}: {len(rows)}/{len(chosen)} bot(s) done, runs stored in the state "
                  "database")


FLOW = research
