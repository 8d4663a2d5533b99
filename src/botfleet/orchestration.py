"""The one module of the library that imports Prefect (docs/architecture.md, principle 3).

Everything Prefect-specific lives here, so the rest of botfleet runs and is tested without a
Prefect server:

- `job_flow` / `job_task`: the decorators the flows in `flows/` are written with. Each kind of
  job gets one policy (`POLICIES`): tasks retry with exponential backoff and jitter (Prefect 3
  takes only a fixed delay for flow retries, so retrying happens at the unit of work: a series,
  a bot, a job), flows have timeouts, deployments and their runs are tagged `botfleet`,
  `fleet:<name>` and `job:<kind>`, and a flow's result is persisted as JSON and published as a
  table artifact the UIs can read.
- `to_prefect`, `plan`, `apply`, `serve_all`: the deployments `botfleet.deployments` derives
  from the YAML, made into Prefect deployments, compared with, written to, or served against
  the server at `PREFECT_API_URL`.

Flows are found in the `flows/` folder next to the package's source (a checkout, or the
image's /app), or in `$BOTFLEET_FLOWS`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from prefect import flow, get_client, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote

from botfleet.deployments import (
    DESCRIPTIONS,
    FLOWS,
    MANAGED_TAG,
    DeploymentSpec,
    Plan,
    ScheduleSpec,
    anchor_datetime,
    deployments_for,
    diff,
    fleet_tag,
    flow_name,
    interval_timedelta,
    slug,
)
from botfleet.jobs.common import JobError

DEFAULT_POOL = "botfleet"


class OrchestrationError(RuntimeError):
    """A Prefect server is missing, unreachable or refused a change; the message says which."""


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


def _fleet_tags(kind: str) -> Callable:
    """A flow-run hook: a run started outside a deployment (`botfleet run`, the lab, a plain
    call) gets the tags a deployment's run carries (`botfleet`, `fleet:<name>`, `job:<kind>`),
    so a fleet's runs can be told from another fleet's. A deployment's run has them: no call."""

    def tag_fleet(flow_obj: Any, flow_run: Any, state: Any) -> None:
        name = fleet_name_of((flow_run.parameters or {}).get("fleet"))
        have = list(flow_run.tags or [])
        missing = [t for t in (MANAGED_TAG, fleet_tag(name), f"job:{kind}")
                   if t not in have] if name else []
        if missing:
            with get_client(sync_client=True) as client:
                client.update_flow_run(flow_run.id, tags=[*have, *missing])

    return tag_fleet


def job_flow(kind: str, **options: Any) -> Callable:
    """Decorator: the Prefect flow `botfleet-<kind>`, its result persisted as JSON, its runs
    tagged with their fleet however they are started."""
    policy = POLICIES[kind]
    settings = {"name": "botfleet-main" if kind == "main" else flow_name(kind),
                "description": DESCRIPTIONS.get(kind, ""), "retries": 0,
                "timeout_seconds": policy.flow_timeout_s, "persist_result": True,
                "result_serializer": "json", "log_prints": True,
                "task_runner": task_runner(kind), "on_running": [_fleet_tags(kind)], **options}

    def wrap(fn: Callable) -> Any:
        return flow(**settings)(fn)

    return wrap


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


# -- flows --------------------------------------------------------------------------------------

def flows_dir() -> Path:
    """`$BOTFLEET_FLOWS`, else `flows/` beside the package's source tree, else in the cwd."""
    env = os.environ.get("BOTFLEET_FLOWS")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parents[2] / "flows",
                                          Path.cwd() / "flows"]
    for path in candidates:
        if (path / "__init__.py").is_file():
            return path.resolve()
    raise OrchestrationError(
        "cannot find the flows folder (looked in " + ", ".join(map(str, candidates))
        + "); run from a botfleet checkout or set BOTFLEET_FLOWS to its flows/ folder")


def load_flows() -> dict[str, Any]:
    """The six flows by kind, imported as the package `flows` (importable by name, so a flow
    run in a spawned process finds the same code)."""
    folder = flows_dir()
    if str(folder.parent) not in sys.path:
        sys.path.insert(0, str(folder.parent))
    found = {}
    for kind in FLOWS:
        module = importlib.import_module(f"flows.{kind}")
        found[kind] = module.FLOW
    return found


# -- deployments --------------------------------------------------------------------------------

def prefect_schedule(spec: ScheduleSpec) -> IntervalSchedule | CronSchedule:
    if spec.interval_s is not None:
        return IntervalSchedule(interval=interval_timedelta(spec),
                                anchor_date=anchor_datetime(spec), timezone=spec.timezone)
    return CronSchedule(cron=spec.cron, timezone=spec.timezone)


def to_prefect(spec: DeploymentSpec, flow_obj: Any, *, pool: str | None = None,
               code_dir: str | None = None) -> Any:
    """A Prefect `RunnerDeployment` for `spec`. With a work pool, workers run the flow from
    `code_dir` (the folder holding `flows/` on the workers); without one it is served."""
    from prefect.runner.storage import LocalStorage

    deployment = flow_obj.to_deployment(
        name=spec.name, schedules=[prefect_schedule(spec.schedule)] if spec.schedule else [],
        parameters=dict(spec.parameters), tags=list(spec.tags), description=spec.description,
        concurrency_limit=ConcurrencyLimitConfig(
            limit=spec.concurrency, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        work_pool_name=pool)
    if pool:
        deployment.storage = LocalStorage(code_dir or str(flows_dir().parent))
        deployment.entrypoint = f"flows/{spec.kind}.py:{flow_obj.fn.__name__}"
    return deployment


def api_url() -> str:
    url = PREFECT_API_URL.value()
    if not url:
        raise OrchestrationError(
            "no Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api); "
            "'botfleet up' runs one on this machine, docker-compose.yml one for a team")
    return url


def _check_reachable(client: Any) -> None:
    problem = client.api_healthcheck()
    if problem is not None:
        raise OrchestrationError(f"cannot reach the Prefect server at {api_url()}: {problem}")


def _schedule_text(schedule: Any) -> str:
    if isinstance(schedule, IntervalSchedule):
        anchor = schedule.anchor_date.astimezone(UTC).isoformat()
        return ScheduleSpec(interval_s=schedule.interval.total_seconds(), anchor=anchor,
                            timezone=schedule.timezone or "UTC").describe()
    if isinstance(schedule, CronSchedule):
        return ScheduleSpec(cron=schedule.cron, timezone=schedule.timezone or "UTC").describe()
    return repr(schedule)


def _view(deployment: Any) -> dict[str, Any]:
    """A server deployment in the shape of `DeploymentSpec.view`."""
    schedules = [_schedule_text(s.schedule) for s in deployment.schedules if s.active]
    limit = deployment.global_concurrency_limit
    options = deployment.concurrency_options
    cancel = options is not None and options.collision_strategy == \
        ConcurrencyLimitStrategy.CANCEL_NEW
    return {"schedule": " + ".join(schedules) or "none", "parameters": deployment.parameters,
            "tags": tuple(sorted(deployment.tags)), "description": deployment.description,
            "concurrency": limit.limit if limit else None,
            "collisions": "cancel new" if cancel else "enqueue",
            "pool": deployment.work_pool_name, "id": deployment.id}


def existing(client: Any, fleet_name: str) -> dict[str, dict[str, Any]]:
    """This fleet's botfleet-made deployments on the server, by full name."""
    from prefect.client.schemas.sorting import DeploymentSort

    found = client.read_deployments(deployment_filter=DeploymentFilter(
        tags=DeploymentFilterTags(all_=[MANAGED_TAG, fleet_tag(fleet_name)])), limit=200,
        sort=DeploymentSort.NAME_ASC)
    names = {}
    out = {}
    for dep in found:
        if dep.flow_id not in names:
            names[dep.flow_id] = client.read_flow(dep.flow_id).name
        out[f"{names[dep.flow_id]}/{dep.name}"] = _view(dep)
    return out


def plan(fleet: Any, *, pool: str | None = DEFAULT_POOL, fleet_ref: str | None = None
         ) -> Plan:
    """What `apply` would create, change and remove on the server at `PREFECT_API_URL`."""
    api_url()
    with get_client(sync_client=True) as client:
        _check_reachable(client)
        have = existing(client, fleet.name)
    return diff(deployments_for(fleet, fleet_ref), _without_ids(have), pool)


def _without_ids(views: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {k: v for k, v in view.items() if k != "id"} for name, view in views.items()}


def _ensure_pool(client: Any, pool: str) -> bool:
    """Create the process work pool `pool` if missing; True when it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_work_pool(pool)
        return False
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        return True


def apply(fleet: Any, *, pool: str = DEFAULT_POOL, fleet_ref: str | None = None,
          code_dir: str | None = None, flows: dict[str, Any] | None = None) -> Plan:
    """Make the server's deployments of this fleet match the YAML: the plan, carried out.
    Deployments go to the process work pool `pool` (created if missing), whose workers run
    the flows from `code_dir`."""
    api_url()
    flows = flows or load_flows()
    with get_client(sync_client=True) as client:
        _check_reachable(client)
        have = existing(client, fleet.name)
        result = diff(deployments_for(fleet, fleet_ref), _without_ids(have), pool)
        _ensure_pool(client, pool)
        for spec in [*result.create, *(s for s, _ in result.change)]:
            to_prefect(spec, flows[spec.kind], pool=pool, code_dir=code_dir).apply()
        for name in result.remove:
            client.delete_deployment(have[name]["id"])
    return result


def remove_stale(fleet: Any, keep: Iterable[DeploymentSpec]) -> list[str]:
    """Delete this fleet's deployments that the YAML no longer declares."""
    wanted = {s.full_name for s in keep}
    with get_client(sync_client=True) as client:
        _check_reachable(client)
        have = existing(client, fleet.name)
        gone = sorted(n for n in have if n not in wanted)
        for name in gone:
            client.delete_deployment(have[name]["id"])
    return gone


def serve_all(specs: list[DeploymentSpec], *, flows: dict[str, Any] | None = None,
              stop: threading.Event | None = None, query_seconds: float = 5,
              prefetch_seconds: float = 2, on_ready: Callable[[], None] | None = None) -> None:
    """Serve `specs` from this process (each flow run in a child process) until `stop` is set
    or the process gets SIGINT or SIGTERM (in-flight runs are then cancelled, and it returns).
    A short prefetch matters: a run handed over early holds its deployment's concurrency slot
    early, and collisions cancel the newer run."""
    from prefect.runner import Runner

    flows = flows or load_flows()
    api_url()
    runner = Runner(name="botfleet", query_seconds=query_seconds,
                    prefetch_seconds=prefetch_seconds, limit=None, pause_on_shutdown=False)

    deployments = [to_prefect(spec, flows[spec.kind]) for spec in specs]  # sync: outside a loop
    for deployment in deployments:
        # assigned after construction, so Prefect clears a pool an earlier `apply` set: runs of
        # a served deployment belong to this process, never to a pool's workers as well
        deployment.work_pool_name = None
        deployment.work_queue_name = None

    stop = stop or threading.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def on_signals() -> None:  # a graceful stop, not a crash (main thread only)
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop.set)

        on_signals()
        for deployment in deployments:
            await runner.aadd_deployment(deployment)

        async def watch() -> None:
            await asyncio.sleep(0)
            on_signals()  # again: the runner's start replaced the SIGTERM handler with its own
            while not stop.is_set():
                await asyncio.sleep(0.2)
            await runner.astop()

        watcher = loop.create_task(watch())
        if on_ready:
            on_ready()
        try:
            await runner.start()
        finally:
            watcher.cancel()

    asyncio.run(main())


def run_main(fleet_path: str, *, data_dir: str | None, download: bool = True,
             replay_days: int = 14) -> tuple[bool, str]:
    """The main job as the flow `botfleet-main` on the server at PREFECT_API_URL or, when none
    is set, on Prefect's temporary local server (started here, history kept in PREFECT_HOME).
    Returns (succeeded, where its run history can be seen)."""
    from prefect.settings import PREFECT_HOME, PREFECT_UI_URL

    load_flows()  # puts the flows package on the path
    module = importlib.import_module("flows.main")
    state = module.FLOW(fleet=fleet_path, data_dir=data_dir, download=download,
                        replay_days=replay_days, return_state=True)
    run_id = state.state_details.flow_run_id
    ui = PREFECT_UI_URL.value()
    if PREFECT_API_URL.value() and ui:
        where = f"{ui}/runs/flow-run/{run_id}"
    else:
        where = (f"kept in {PREFECT_HOME.value()} (Prefect's database); 'botfleet up' or "
                 f"'prefect server start' shows it at http://127.0.0.1:4200/runs/flow-run/"
                 f"{run_id}")
    return state.is_completed(), where


def bot_runs(bot: str, *, fleet: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest task runs that worked on `bot` (every flow names its per-bot tasks
    '<what> <bot>': 'cycle btc-trend', 'backtest btc-trend'), each with its flow run and
    where the Prefect UI shows it: the control panel's view of a bot's Prefect runs.
    Two fleets can have a bot of the same name: with `fleet`, only the task runs of flow runs
    tagged `fleet:<fleet>` (every flow run of `job_flow` is) are returned."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterTags,
        TaskRunFilter,
        TaskRunFilterName,
    )
    from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort
    from prefect.settings import PREFECT_UI_URL

    api_url()
    with get_client(sync_client=True) as client:
        tasks = [t for t in client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=f" {bot}")),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[fleet_tag(fleet)]))
            if fleet else None,
            sort=TaskRunSort.EXPECTED_START_TIME_DESC, limit=limit * 3)
            if t.name.endswith(f" {bot}")][:limit]
        ids = list({t.flow_run_id for t in tasks if t.flow_run_id})
        flows = {f.id: f for f in client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
            sort=FlowRunSort.START_TIME_DESC, limit=len(ids))} if ids else {}
    ui = PREFECT_UI_URL.value()
    out = []
    for t in tasks:
        f = flows.get(t.flow_run_id)
        out.append({"task": t.name, "state": t.state_name, "start": t.start_time,
                    "seconds": t.total_run_time.total_seconds() if t.total_run_time else None,
                    "flow_run": f.name if f else None,
                    "url": f"{ui}/runs/flow-run/{t.flow_run_id}" if ui and t.flow_run_id
                    else None})
    return out
