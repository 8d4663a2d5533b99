"""Flow runs seen from the library: the main job run as a flow (`run_main`, what `botfleet run`
does) and a bot's task runs on the server (`bot_runs`, the control panel's view).
"""

from __future__ import annotations

import importlib
from typing import Any

from prefect import get_client
from prefect.settings import PREFECT_API_URL

from botfleet.deployments import fleet_tag
from botfleet.orchestration.locate import api_url, load_flows


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
