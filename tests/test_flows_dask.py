"""Scale-out of research: the research flow's grid job spread over a Dask cluster of two worker
processes by prefect-dask, giving the same trials and the same best parameters as the grid run
in one process, and stored the same way."""

from __future__ import annotations

import uuid

import pytest

from prefect_fixtures import example_fleet, prefect_server  # noqa: F401
from shared_data import SHARED, shared_file

pytest.importorskip("prefect_dask", reason="prefect-dask (the 'dask' extra) is not installed")

GRID = """
optimize:
  method: grid
  parameters: [oversold, overbought]
  objectives: [sharpe]
  min_trades: 1
"""


@pytest.fixture
def grid_fleet(tmp_path):
    from botfleet.config import load_fleet
    from botfleet.data.prepare import prepare
    from botfleet.data.store import open_store

    shared_file("binance_ETH-USDT_1h.csv")
    path = example_fleet(tmp_path, name=f"dask-{uuid.uuid4().hex[:6]}")
    for bot in ("btc-trend", "sol-breakout"):
        (tmp_path / "bots.d" / f"{bot}.yaml").unlink()
    bot = tmp_path / "bots.d" / "eth-meanrev.yaml"
    bot.write_text(bot.read_text() + GRID, encoding="utf-8")
    strategy = tmp_path / "strategies.d" / "rsi_reversion.yaml"
    text = strategy.read_text(encoding="utf-8")
    for old, new in (("oversold: {default: 30, range: [10, 40]}",
                      "oversold: {default: 30, range: [10, 40], step: 10}"),
                     ("overbought: {default: 65, range: [55, 90]}",
                      "overbought: {default: 65, range: [55, 90], step: 5}")):
        assert old in text
        text = text.replace(old, new)
    strategy.write_text(text, encoding="utf-8")  # a grid of 4 x 8 combinations
    fleet = load_fleet(path).fleet
    with open_store(fleet.storage.candles) as store:
        assert not prepare(fleet, store, data_dir=SHARED, download=False).missing
    return path


def _local_grid(path):
    from botfleet.jobs.grid import _space
    from botfleet.jobs.research import target
    from botfleet.sim.optimize import grid

    t = target(str(path), "eth-meanrev")
    settings, space = _space(t, t.fleet.storage.state)
    settings.state_url = None
    return grid(t, space, settings)


def test_a_grid_runs_on_a_two_worker_dask_cluster_with_the_same_trials(prefect_server,  # noqa: F811
                                                                       grid_fleet):
    from distributed import LocalCluster

    import flows.research as research_flow
    from botfleet.config import load_fleet
    from botfleet.orchestration import dask_task_runner, load_flows
    from botfleet.storage.results import ResultStore

    load_flows()
    local = _local_grid(grid_fleet)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        flow = research_flow.research.with_options(
            task_runner=dask_task_runner(cluster.scheduler_address))
        state = flow(fleet=str(grid_fleet), job="grid", chunks=4, return_state=True)
    assert state.is_completed(), state.message
    row = state.result()["rows"][0]
    assert row["chunks"] == 4 and row["workers"] == 2  # both worker processes did chunks
    assert row["evaluated"] == len(local.trials) == 32
    assert row["best"] == str(local.best)
    fleet = load_fleet(grid_fleet).fleet
    with ResultStore(fleet.storage.state) as repo:
        trials = repo.list_runs(kind="optimize_trial", limit=10_000)
        stored = {tuple(sorted(r.params.items())): repo.get(r.id).metrics for r in trials}
    assert len(stored) == sum(1 for t in local.trials if not t.skipped)
    for t in local.trials:
        if t.skipped:
            continue
        got = stored[tuple(sorted(t.params.items()))]
        assert got["sharpe"] == pytest.approx(t.metrics["sharpe"], rel=1e-12, abs=1e-12)
        assert got["n_trades"] == t.metrics["n_trades"]


def test_the_dask_address_picks_the_research_runner_and_bad_ones_are_refused(monkeypatch):
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from botfleet.jobs.common import JobError
    from botfleet.orchestration import dask_task_runner, task_runner

    monkeypatch.delenv("BOTFLEET_DASK_ADDRESS", raising=False)
    assert isinstance(task_runner("research"), ThreadPoolTaskRunner)
    monkeypatch.setenv("BOTFLEET_DASK_ADDRESS", "tcp://127.0.0.1:8786")
    assert isinstance(task_runner("research"), DaskTaskRunner)
    assert isinstance(task_runner("cycle"), ThreadPoolTaskRunner)  # only research goes out
    assert dask_task_runner("local:2").cluster_kwargs["n_workers"] == 2
    with pytest.raises(JobError, match="'local:N' needs a worker count"):
        dask_task_runner("local:two")


def test_the_grid_job_refuses_an_optuna_search_and_a_zero_chunk_count(grid_fleet):
    from botfleet.jobs.common import JobError
    from botfleet.jobs.grid import plan

    with pytest.raises(JobError, match="chunks must be at least 1"):
        plan(str(grid_fleet), "eth-meanrev", 0)
    bot = grid_fleet.parent / "bots.d" / "eth-meanrev.yaml"
    bot.write_text(bot.read_text().replace("method: grid", "method: tpe"), encoding="utf-8")
    with pytest.raises(JobError, match="only a grid can be cut into chunks"):
        plan(str(grid_fleet), "eth-meanrev", 4)
