"""The deployments `botfleet.deployments` derives from the YAML, made into Prefect deployments
(`to_prefect`), compared with the server's (`existing`, `plan`), written to it (`apply`,
`remove_stale`), or served from this process (`serve_all`).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from botfleet.deployments import (
    MANAGED_TAG,
    DeploymentSpec,
    Plan,
    ScheduleSpec,
    anchor_datetime,
    deployments_for,
    diff,
    fleet_tag,
    interval_timedelta,
)
from botfleet.orchestration.locate import api_url, check_reachable, flows_dir, load_flows

DEFAULT_POOL = "botfleet"


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
        check_reachable(client)
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
        check_reachable(client)
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
        check_reachable(client)
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
