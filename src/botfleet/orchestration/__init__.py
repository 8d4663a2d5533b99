"""The one package of the library that imports Prefect (docs/architecture.md, principle 3).

Everything Prefect-specific lives here, so the rest of botfleet runs and is tested without a
Prefect server:

- `tasks`: `job_flow` / `job_task`, the decorators the flows in `flows/` are written with, one
  policy per kind of job (`POLICIES`: retries with backoff and jitter, timeouts, task runners),
  runs tagged with their fleet, and `fan_out` / `finish` / `publish` for a flow's units and
  result;
- `deploy`: `to_prefect`, `plan`, `apply`, `remove_stale`, `serve_all`: the deployments
  `botfleet.deployments` derives from the YAML, made into Prefect deployments, compared with,
  written to, or served against the server at `PREFECT_API_URL`;
- `runs`: `run_main` (the main job as a flow) and `bot_runs` (a bot's runs on the server);
- `locate`: where the flows' code (`flows_dir`, `load_flows`) and the server (`api_url`) are.

Callers import from here: the split into modules is this package's own business.
Flows are found in the `flows/` folder next to the package's source (a checkout, or the
image's /app), or in `$BOTFLEET_FLOWS`.
"""

from botfleet.orchestration.deploy import (
    DEFAULT_POOL,
    apply,
    existing,
    plan,
    prefect_schedule,
    remove_stale,
    serve_all,
    to_prefect,
)
from botfleet.orchestration.locate import (
    OrchestrationError,
    api_url,
    check_reachable,
    flows_dir,
    load_flows,
)
from botfleet.orchestration.runs import bot_runs, run_main
from botfleet.orchestration.tasks import (
    DASK_ENV,
    POLICIES,
    FlowFailed,
    Policy,
    dask_task_runner,
    fan_out,
    finish,
    fleet_name_of,
    in_flow_run,
    job_flow,
    job_task,
    opaque,
    publish,
    retry_condition,
    task_runner,
)

__all__ = [
    "DASK_ENV", "DEFAULT_POOL", "POLICIES", "FlowFailed", "OrchestrationError", "Policy",
    "api_url", "apply", "bot_runs", "check_reachable", "dask_task_runner", "existing",
    "fan_out", "finish", "fleet_name_of", "flows_dir", "in_flow_run", "job_flow", "job_task",
    "load_flows", "opaque", "plan", "prefect_schedule", "publish", "remove_stale",
    "retry_condition", "run_main", "serve_all", "task_runner", "to_prefect",
]
