"""What the flows in `flows/` are written with: one policy per kind of job, the `job_task` /
`job_flow` decorators that apply it, and the helpers a flow ends with (`fan_out`, `finish`).

Each kind of job gets one policy (`POLICIES`): tasks retry with exponential backoff and jitter
(Prefect 3 takes only a fixed delay for flow retries, so retrying happens at the unit of work: a
series, a bot, a job), flows have timeouts, runs are tagged `botfleet`, `fleet:<name>` and
`job:<kind>` however they are started, and a flow's result is persisted as JSON and published as
a table artifact the UIs can read.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote

from botfleet.deployments import DESCRIPTIONS, MANAGED_TAG, fleet_tag, flow_name, slug
from botfleet.jobs.common import JobError


@dataclass(frozen=True)
class Policy:
    """How one kind of job retries and times out (seconds)."""

    retries: int
    backoff_s: float  # first retry delay; each next one doubles
    jitter: float  # each delay varies by up to this fraction
    flow_timeout_s: float  # enforced by Prefect (a unit's own limit: see `job_task`)
    workers: int  # threads for the flow's concurrent tasks


POLICIES = {
    "ingest": Policy(3, 5, 0.5, 1800, 4),
    "cycle": Policy(2, 1, 0.5, 960, 32),
    "reconcile": Policy(2, 2, 0.5, 300, 8),
    "research": Policy(1, 30, 0.5, 6 * 3600, 2),
    "retrain": Policy(1, 30, 0.5, 6 * 3600, 2),
    "report": Policy(2, 5, 0.5, 600, 2),
    "main": Policy(0, 1, 0.5, 7200, 2),
}


def _retry_unless_config(exc: BaseException) -> bool:
    return not isinstance(exc, JobError)


def retry_condition(retry_if: Callable[[BaseException], bool]) -> Callable:
    """Prefect's `retry_condition_fn` from a predicate on the exception (a plain function,
    which is what Prefect requires)."""

    def condition(task_obj: Any, task_run: Any, state: Any) -> bool:
        exc = getattr(state, "data", None)
        return not isinstance(exc, BaseException) or retry_if(exc)

    return condition


def job_task(kind: str, name: str | None = None, *,
             retry_if: Callable[[BaseException], bool] = _retry_unless_config,
             **options: Any) -> Callable:
    """Decorator: a Prefect task under the job's policy. Results stay in memory (a cycle of
    100 bots writes no files) and are never cached: every run does its work. Task runs carry
    no tags of their own (their flow run has the deployment's): a tagged task run asks the
    server for tag concurrency slots as it starts, a round trip per bot per cycle.

    No Prefect timeout by default: tasks run on the flow's threads, where Prefect cannot
    interrupt a blocking call (it only warns, once per task run); the flow's timeout is the
    hard one (an alarm in its main thread), and a unit's own limit is the library's (the
    exchange client's timeout, the runtime's cycle timeout: `deployments.cycle_timeout_s`).
    `retry_if(exc)` says which failures are worth retrying: by default all but a `JobError`
    (a configuration problem, which a retry cannot fix)."""
    policy = POLICIES[kind]
    settings = {"retries": policy.retries,
                "retry_delay_seconds": exponential_backoff(policy.backoff_s)(
                    max(policy.retries, 1)),
                "retry_jitter_factor": policy.jitter,
                "retry_condition_fn": retry_condition(retry_if), "cache_policy": NO_CACHE,
                "persist_result": False, **options}

    def wrap(fn: Callable) -> Any:
        label = name or fn.__name__.replace("_", "-")
        return task(name=label, **{"task_run_name": label, **settings})(fn)

    return wrap


DASK_ENV = "BOTFLEET_DASK_ADDRESS"


def dask_task_runner(address: str) -> Any:
    """prefect-dask's runner on the Dask scheduler at `address` (`tcp://host:8786`), or on a
    local cluster of N worker processes started for the flow run (`local:N`)."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:  # pragma: no cover - the dask extra is in the dev install
        raise JobError(f"{DASK_ENV} is {address!r} but prefect-dask is not installed: "
                       "install botfleet with the 'dask' extra") from None
    if address.startswith("local:"):
        try:
            workers = int(address.split(":", 1)[1])
        except ValueError:
            workers = 0
        if workers < 1:
            raise JobError(f"{DASK_ENV}: 'local:N' needs a worker count N >= 1, got "
                           f"{address!r}")
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    return DaskTaskRunner(address=address)


def task_runner(kind: str) -> Any:
    """Threads on the flow's process; for research, Dask when BOTFLEET_DASK_ADDRESS is set (the
    same deployment then fans its grid chunks out to the cluster, no code change)."""
    address = os.environ.get(DASK_ENV, "").strip()
    if kind == "research" and address:
        return dask_task_runner(address)
    return ThreadPoolTaskRunner(max_workers=POLICIES[kind].workers)


def fleet_name_of(path: Any) -> str | None:
    """The `name:` of the fleet file at `path` (a file or a folder with fleet.yaml), read
    without loading the fleet; None when there is none to read (the flow itself then fails
    with the reason)."""
    import yaml

    if not isinstance(path, str | Path):
        return None
    file = Path(path) / "fleet.yaml" if Path(path).is_dir() else Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def tag_with_fleet(kind: str) -> None:
    """Give the current flow run the tags a deployment's run carries (`botfleet`,
    `fleet:<name>`, `job:<kind>`) when it was started outside a deployment (`botfleet run`,
    the lab, a plain call), so a fleet's runs can be told from another fleet's; a deployment's
    run has them already (no call). Done at the start of the flow body, not in an `on_running`
    hook: Prefect logs two INFO lines around every hook it runs, on every run of every flow.
    A tagging failure is a warning, not a failed cycle."""
    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx is not None else None
    if run is None:
        return
    name = fleet_name_of((run.parameters or {}).get("fleet"))
    have = list(run.tags or [])
    missing = [t for t in (MANAGED_TAG, fleet_tag(name), f"job:{kind}")
               if t not in have] if name else []
    if not missing:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=[*have, *missing])
    except Exception as exc:  # noqa: BLE001 - any API failure: the run goes on untagged
        get_run_logger().warning("could not tag flow run with %s: %s", missing, exc)


def job_flow(kind: str, **options: Any) -> Callable:
    """Decorator: the Prefect flow `botfleet-<kind>`, its result persisted as JSON, its runs
    tagged with their fleet however they are started (`tag_with_fleet`)."""
    policy = POLICIES[kind]
    settings = {"name": "botfleet-main" if kind == "main" else flow_name(kind),
                "description": DESCRIPTIONS.get(kind, ""), "retries": 0,
                "timeout_seconds": policy.flow_timeout_s, "persist_result": True,
                "result_serializer": "json", "log_prints": True,
                "task_runner": task_runner(kind), **options}

    def wrap(fn: Callable) -> Any:
        @functools.wraps(fn)  # Prefect reads the parameters through __wrapped__
        def tagged(*args: Any, **kwargs: Any) -> Any:
            tag_with_fleet(kind)
            return fn(*args, **kwargs)

        return flow(**{"version": _source_version(fn), **settings})(tagged)

    return wrap


def _source_version(fn: Callable) -> str | None:
    """Prefect's default flow version, the hash of the file defining the flow, taken from
    `fn` itself: Prefect would otherwise hash this module, where the tagging wrapper lives."""
    import inspect

    from prefect.utilities.hashing import file_hash

    try:
        path = inspect.getsourcefile(fn)
        return file_hash(path) if path else None
    except (OSError, TypeError):
        return None


def in_flow_run() -> bool:
    return FlowRunContext.get() is not None


def publish(kind: str, fleet_name: str, rows: list[dict[str, Any]], summary: str) -> None:
    """The run's rows as the table artifact `<fleet>-<kind>` (newest wins in the Prefect UI;
    every run keeps its own). Outside a flow run (a plain call) there is nothing to attach to."""
    if not in_flow_run():
        return
    table = [{k: v if isinstance(v, int | float | str | bool) or v is None else str(v)
              for k, v in row.items()} for row in rows] or [{"result": summary}]
    create_table_artifact(table=table, key=f"{slug(fleet_name)}-{kind}", description=summary)


def opaque(value: Any) -> Any:
    """`value` handed to a task as it is: Prefect neither walks into it looking for futures
    nor copies it (a loaded fleet is a large tree of dataclasses, passed to every task)."""
    return quote(value)


def fan_out(calls: list[tuple[str, Any, tuple]]) -> tuple[list[dict], list[dict]]:
    """Submit every (label, task, args) at once on the flow's thread pool and wait for all:
    (rows of the calls that completed, rows of those that failed after their retries)."""
    futures = [(label, task_obj.submit(*args)) for label, task_obj, args in calls]
    done, failed = [], []
    for label, future in futures:
        future.wait()
        state = future.state
        if state.is_completed():
            done.append(future.result())
        else:
            exc = state.result(raise_on_failure=False)
            failed.append({"unit": label, "outcome": "failed", "state": state.name,
                           "error": f"{type(exc).__name__}: {exc}"[:500]})
    return done, failed


def finish(kind: str, fleet_name: str, rows: list[dict], failed: list[dict],
           summary: str) -> dict[str, Any]:
    """Publish the run's rows, then either return the flow's result or, if units failed after
    their retries, fail the flow run with what failed (the artifact shows every row)."""
    publish(kind, fleet_name, [*rows, *failed], summary)
    if failed:
        raise FlowFailed(f"{summary}; failed: "
                         + "; ".join(f"{f['unit']}: {f['error']}" for f in failed))
    return {"fleet": fleet_name, "flow": kind, "summary": summary, "rows": rows}


class FlowFailed(RuntimeError):
    """Some units of a flow run still failed after their retries."""
