"""Deployments from the YAML: schedules, the plan diff, apply, and served deployments observed
firing on a real Prefect server (the session's, see prefect_fixtures.py)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from botfleet.config import load_fleet
from botfleet.config.schedule import parse_schedule
from botfleet.deployments import (
    ScheduleSpec,
    candle_close,
    cycle_timeout_s,
    deployments_for,
    diff,
    flow_name,
    to_spec,
)

from prefect_fixtures import example_fleet, prefect_server  # noqa: F401

H = 3_600_000


def fleet_of(path):
    load = load_fleet(path)
    assert load.ok, load.errors
    return load.fleet


# -- schedules derived from the YAML (no server) ------------------------------------------------

def test_on_candle_close_follows_each_bots_timeframe_and_example_schedules(tmp_path):
    fleet = fleet_of(example_fleet(tmp_path, schedules={
        "ingest": "every 5m", "reconcile": "every 1m", "report": "daily 08:00 Europe/Berlin",
        "retrain": "0 3 * * SUN UTC"}))
    specs = {s.name: s for s in deployments_for(fleet)}
    one_h, four_h = specs["example-cycle-1h"], specs["example-cycle-4h"]
    assert one_h.parameters["bots"] == ["btc-trend", "eth-meanrev"]  # timeframe 1h
    assert four_h.parameters["bots"] == ["sol-breakout"]  # timeframe 4h
    assert (one_h.schedule.interval_s, four_h.schedule.interval_s) == (3600, 14400)
    assert one_h.schedule.anchor == four_h.schedule.anchor == "1970-01-01T00:00:00+00:00"
    assert specs["example-ingest"].schedule == ScheduleSpec(300.0, "1970-01-01T00:00:00+00:00")
    report = specs["example-report"].schedule
    assert (report.cron, report.timezone) == ("0 8 * * *", "Europe/Berlin")
    assert specs["example-report"].parameters["period_hours"] == 24
    retrain = specs["example-retrain"].schedule
    assert (retrain.cron, retrain.timezone) == ("0 3 * * SUN", "UTC")
    assert specs["example-research"].schedule is None  # off unless the YAML sets it
    assert four_h.tags == ("botfleet", "fleet:example", "job:cycle")
    assert {s.kind for s in specs.values()} == {"ingest", "cycle", "reconcile", "research",
                                                "retrain", "report"}


def test_models_get_retrain_and_drift_deployments_from_their_yaml(tmp_path):
    from botfleet.jobs.retrain import pick_models

    fleet = fleet_of(example_fleet(tmp_path / "a"))  # the fleet's retrain: New Year only
    specs = {s.name: s for s in deployments_for(fleet)}
    own = [s for n, s in specs.items() if n.startswith("example-retrain-")]
    assert len(own) == 1 and own[0].parameters["models"] == ["eth-direction", "market-regime"]
    assert (own[0].schedule.cron, own[0].schedule.timezone) == ("0 3 * * SUN", "UTC")
    drift = [s for n, s in specs.items() if n.startswith("example-drift-")]
    assert len(drift) == 1 and drift[0].schedule.interval_s == 86400
    assert drift[0].parameters["mode"] == "drift" and drift[0].kind == "retrain"
    assert pick_models(fleet) == []  # <fleet>-retrain covers no model here
    same = fleet_of(example_fleet(tmp_path / "b", schedules={
        "ingest": "every 5m", "reconcile": "every 1m", "report": "daily 08:00",
        "retrain": "0 3 * * SUN UTC"}))
    assert not [n for n in (s.name for s in deployments_for(same))
                if n.startswith("example-retrain-")]
    assert pick_models(same) == ["eth-direction", "market-regime"]


@pytest.mark.parametrize("timeframe, after, expected", [
    ("1h", "2024-03-05T10:20", "2024-03-05T11:00"),
    ("4h", "2024-03-05T10:20", "2024-03-05T12:00"),
    ("4h", "2024-03-05T12:00", "2024-03-05T16:00"),
    ("1d", "2024-03-05T10:20", "2024-03-06T00:00"),
    ("1w", "2024-03-05T10:20", "2024-03-11T00:00"),  # the next Monday
    ("1M", "2024-03-05T10:20", "2024-04-01T00:00"),
])
def test_prefect_fires_on_candle_close_where_the_runtime_expects_it(timeframe, after, expected):
    """The schedule as Prefect's own scheduler computes it (its server schema) against the
    runtime's `next_fire` and the calendar."""
    from prefect.server.schemas import schedules as server

    from botfleet.orchestration import prefect_schedule
    from botfleet.runtime.timing import next_fire

    spec = candle_close(timeframe)
    client_side = prefect_schedule(spec).model_dump()
    kind = server.IntervalSchedule if spec.interval_s else server.CronSchedule
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    got = asyncio.run(kind(**client_side).get_dates(n=1, start=start + timedelta(seconds=1)))[0]
    want = datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert got == want
    runtime = next_fire(parse_schedule("on_candle_close"), timeframe,
                        int(start.timestamp() * 1000))
    assert runtime == int(want.timestamp() * 1000)


def test_cron_keeps_its_timezone_across_daylight_saving():
    from prefect.server.schemas import schedules as server

    from botfleet.orchestration import prefect_schedule

    spec = to_spec(parse_schedule("daily 08:00 Europe/Berlin"))
    cron = server.CronSchedule(**prefect_schedule(spec).model_dump())
    winter = asyncio.run(cron.get_dates(n=1, start=datetime(2024, 1, 10, tzinfo=UTC)))[0]
    summer = asyncio.run(cron.get_dates(n=1, start=datetime(2024, 7, 10, tzinfo=UTC)))[0]
    assert (winter.astimezone(UTC).hour, summer.astimezone(UTC).hour) == (7, 6)


def test_disabled_and_backtest_bots_get_no_cycle(tmp_path):
    path = example_fleet(tmp_path)
    (tmp_path / "bots.d" / "sol-breakout.yaml").write_text(
        (tmp_path / "bots.d" / "sol-breakout.yaml").read_text() + "enabled: false\n")
    (tmp_path / "bots.d" / "eth-meanrev.yaml").write_text(
        (tmp_path / "bots.d" / "eth-meanrev.yaml").read_text() + "mode: backtest\n")
    cycles = [s for s in deployments_for(fleet_of(path)) if s.kind == "cycle"]
    assert [(s.name, s.parameters["bots"]) for s in cycles] == [("example-cycle-1h",
                                                                 ["btc-trend"])]


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="not a timeframe"):
        candle_close("7x")
    with pytest.raises(ValueError, match="supports 1M"):
        candle_close("3M")
    with pytest.raises(ValueError, match="needs the bot's timeframe"):
        to_spec(parse_schedule("on_candle_close"))
    with pytest.raises(ValueError, match="unknown flow"):
        flow_name("backup")
    assert cycle_timeout_s(candle_close("1m")) == 60
    assert cycle_timeout_s(candle_close("4h")) == 900


def test_diff_reports_created_changed_removed_and_unchanged(tmp_path):
    fleet = fleet_of(example_fleet(tmp_path))
    specs = deployments_for(fleet)
    have = {s.full_name: s.view("botfleet") for s in specs}
    ingest = "botfleet-ingest/example-ingest"
    have[ingest] = {**have[ingest], "schedule": "every 10m"}
    del have["botfleet-cycle/example-cycle-4h"]
    have["botfleet-cycle/example-cycle-15m"] = {"schedule": "x"}
    plan = diff(specs, have, "botfleet")
    assert [s.full_name for s in plan.create] == ["botfleet-cycle/example-cycle-4h"]
    assert [(s.full_name, c) for s, c in plan.change] == [
        (ingest, [f"schedule: every 10m -> {specs[0].schedule.describe()}"])]
    assert plan.remove == ["botfleet-cycle/example-cycle-15m"]
    assert len(plan.same) == len(specs) - 2
    lines = plan.lines()
    assert lines[0].startswith("+ botfleet-cycle/example-cycle-4h")
    assert lines[-1] == "1 to create, 1 to change, 1 to remove, 7 unchanged"  # 2 of the model


# -- against the session's Prefect server -------------------------------------------------------

def test_plan_apply_plan_against_the_server(prefect_server, tmp_path):  # noqa: F811
    from prefect import get_client

    from botfleet import orchestration as orch
    from botfleet.cli import app

    name = f"plan-{uuid.uuid4().hex[:6]}"
    path = example_fleet(tmp_path, name=name)
    runner = CliRunner()
    out = runner.invoke(app, ["plan", str(path)])
    assert out.exit_code == 0, out.output
    # 7 of the fleet, and eth-direction's own weekly retrain and daily drift check
    assert "9 to create, 0 to change, 0 to remove, 0 unchanged" in out.output
    assert f"+ botfleet-cycle/{name}-cycle-4h" in out.output
    out = runner.invoke(app, ["apply", str(path)])
    assert out.exit_code == 0, out.output
    assert orch.plan(fleet_of(path)).empty
    # a hand-made deployment of the same flow is never touched
    flows = orch.load_flows()
    flows["retrain"].to_deployment(name=f"{name}-by-hand", tags=["mine"]).apply()

    # the YAML changes: ingest slower, sol-breakout gone (its 4h group with it), research on
    text = path.read_text().replace('ingest: "0 0 1 1 *"', "ingest: every 10m")
    path.write_text(text.replace("schedules:\n", "schedules:\n  research: weekly SAT 06:00\n"))
    (tmp_path / "bots.d" / "sol-breakout.yaml").unlink()
    out = runner.invoke(app, ["plan", str(path)])
    assert out.exit_code == 0, out.output
    assert f"~ botfleet-ingest/{name}-ingest" in out.output
    assert "schedule: cron '0 0 1 1 *' (UTC) -> every 10m from 1970-01-01T00:00:00+00:00" \
        in out.output
    assert f"~ botfleet-research/{name}-research" in out.output
    assert f"- botfleet-cycle/{name}-cycle-4h" in out.output
    assert "0 to create, 2 to change, 1 to remove, 6 unchanged" in out.output
    out = runner.invoke(app, ["apply", str(path)])
    assert out.exit_code == 0, out.output
    assert orch.plan(fleet_of(path)).empty
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(f"botfleet-ingest/{name}-ingest")
        assert dep.work_pool_name == "botfleet"
        assert dep.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(orch.flows_dir().parent)}}]
        assert dep.entrypoint == "flows/ingest.py:ingest"
        assert client.read_deployment_by_name(f"botfleet-retrain/{name}-by-hand")


def test_plan_without_a_server_says_how_to_get_one(tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from botfleet.cli import app

    path = example_fleet(tmp_path)
    with temporary_settings(updates={PREFECT_API_URL: None}):
        out = CliRunner().invoke(app, ["plan", str(path)])
    assert out.exit_code == 1
    assert "no Prefect server: set PREFECT_API_URL" in out.output
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        out = CliRunner().invoke(app, ["plan", str(path)])
    assert out.exit_code == 1 and "cannot reach the Prefect server" in out.output


def test_plan_of_an_invalid_fleet_lists_its_errors(tmp_path):
    from botfleet.cli import app

    path = example_fleet(tmp_path)
    path.write_text(path.read_text().replace("mode: paper", "mode: papr"))
    out = CliRunner().invoke(app, ["plan", str(path)])
    assert out.exit_code == 1
    assert "papr" in out.output and "nothing to plan" in out.output


# -- served deployments --------------------------------------------------------------------------

@pytest.fixture
def probe(monkeypatch):
    """The probe's Redis corner (skips without Redis) and the env that selects it."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"probe-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setenv("BOTFLEET_PROBE_REDIS", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("BOTFLEET_PROBE_PREFIX", prefix)
    monkeypatch.setenv("BOTFLEET_CYCLE_WORK", "cycle_probe:probe_work")
    here = os.path.dirname(__file__)  # flow runs are child processes: they import the probe
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH")) if p))
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def _runs(client, deployment_id):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=50)


def test_served_cycle_runs_on_schedule_retries_and_skips_instead_of_doubling(
        prefect_server, tmp_path, probe):  # noqa: F811
    """The example fleet, every bot cycling every 4 s, served from a thread of this process
    (each flow run in a child process). eth-meanrev's first cycle fails once (injected) and is
    retried; btc-trend's first cycle takes 6 s, so the next ticks find the previous run still
    going: they are cancelled (skipped), and no other run of the deployment starts meanwhile."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    from botfleet import orchestration as orch

    client_redis, prefix = probe
    client_redis.sadd(f"{prefix}fail_first", "eth-meanrev")
    client_redis.hset(f"{prefix}slow_first", "btc-trend", 6)
    name = f"serve-{uuid.uuid4().hex[:6]}"
    fleet = fleet_of(example_fleet(tmp_path, name=name, cycle="every 4s",
                                   cache="redis://127.0.0.1:6379/15"))
    specs = deployments_for(fleet)
    cycle = next(s for s in specs if s.kind == "cycle")
    assert cycle.parameters["bots"] == ["btc-trend", "eth-meanrev", "sol-breakout"]
    stop = threading.Event()
    ready = threading.Event()
    server = threading.Thread(target=orch.serve_all, args=(specs,),
                              kwargs={"stop": stop, "query_seconds": 1, "prefetch_seconds": 1,
                                      "on_ready": ready.set}, daemon=True)
    server.start()
    try:
        assert ready.wait(60), "the runner did not start"
        with get_client(sync_client=True) as client:
            dep = client.read_deployment_by_name(cycle.full_name)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and server.is_alive():
                runs = _runs(client, dep.id)
                done = [r for r in runs if r.state.is_completed()]
                cancelled = [r for r in runs if r.state.is_cancelled()]
                failed = [r for r in runs if r.state.is_failed() or r.state.is_crashed()]
                if failed or (done and any(r.expected_start_time < done[0].end_time
                                           for r in cancelled)):
                    break
                time.sleep(1)
    finally:
        stop.set()
        server.join(60)
    assert not failed, [(r.name, r.state.message) for r in failed]
    assert done, "no scheduled cycle completed"
    assert all(r.auto_scheduled for r in done), "the runs were created by the schedule"
    first = done[0]
    # the first run: all three bots cycled, eth-meanrev after one retry
    result = first.state.result()
    assert sorted(r["bot"] for r in result["rows"]) == ["btc-trend", "eth-meanrev",
                                                        "sol-breakout"]
    with get_client(sync_client=True) as client:
        tasks = {t.name: t for t in client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[first.id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=50)}
    assert tasks["cycle eth-meanrev"].run_count == 2
    assert tasks["cycle eth-meanrev"].state.is_completed()
    assert tasks["cycle btc-trend"].run_count == 1
    # skipped, not doubled: the ticks that came while the slow run held the deployment's
    # slot were cancelled, and no other run of the deployment ran in the meantime
    during = [r for r in runs if first.start_time < r.expected_start_time < first.end_time]
    assert during, "no tick came while the slow cycle ran"
    assert all(r.state.is_cancelled() and "concurrency limit" in (r.state.message or "")
               for r in during), [(r.name, r.state.name) for r in during]
    assert not [r for r in runs if r.id != first.id and r.start_time is not None
                and r.start_time < first.end_time and (r.end_time or first.end_time)
                > first.start_time and not r.state.is_cancelled()]
    calls = [json.loads(x) for x in client_redis.lrange(f"{prefix}log", 0, -1)]
    btc = [c for c in calls if c["bot"] == "btc-trend"]
    assert btc[0]["end"] - btc[0]["start"] >= 6
    assert [c["failed"] for c in calls if c["bot"] == "eth-meanrev"][:2] == [True, False]
    assert {c["pid"] for c in calls} - {os.getpid()}, "cycles ran in child processes"


def test_up_serves_every_deployment_and_says_where_the_ui_is(
        prefect_server, tmp_path):  # noqa: F811
    """`botfleet up` as a user runs it (a process; here against the session's server rather
    than a second embedded one): stale deployments of the fleet removed, every deployment
    served, the UI's absence said rather than failed on, Ctrl-C a clean stop."""
    import signal
    import subprocess
    import sys

    from prefect import get_client

    from botfleet import orchestration as orch

    name = f"up-{uuid.uuid4().hex[:6]}"
    path = example_fleet(tmp_path, name=name)
    orch.apply(fleet_of(path))
    (tmp_path / "bots.d" / "sol-breakout.yaml").unlink()  # its 4h cycle becomes stale
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url,
           "PREFECT_HOME": str(prefect_server.home)}
    for login in ("BOTFLEET_UI_PASSWORD_HASH", "BOTFLEET_UI_VIEWER_HASH"):
        env.pop(login, None)  # no login configured: the UI says it does not start
    proc = subprocess.Popen([sys.executable, "-m", "botfleet.cli", "up", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("ready"):
                break
        with get_client(sync_client=True) as client:
            served = client.read_deployment_by_name(f"botfleet-cycle/{name}-cycle-1h")
            assert served.work_pool_name is None  # served by the process, not a pool
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    lines += out.splitlines()
    text = "\n".join(lines)
    assert f"- botfleet-cycle/{name}-cycle-4h (no longer in the YAML: removed)" in text, text
    assert f"serving botfleet-cycle/{name}-cycle-1h: every 1h" in text
    assert f"serving botfleet-research/{name}-research: on demand" in text
    assert "UI not started: no login configured" in text and "ready; Ctrl-C stops" in text
    assert proc.returncode == 0, text
    assert "stopped" in text


def test_applied_deployments_run_on_a_process_worker(prefect_server, tmp_path):  # noqa: F811
    """Scale-out's path without Docker: `apply` to a process work pool, a `prefect worker`
    (a separate process, started elsewhere: /tmp) picks the run up, changes into the code
    folder by the deployment's pull step and runs the flow from its entrypoint."""
    import subprocess
    import sys

    from prefect import get_client

    from botfleet import orchestration as orch

    name = f"wk-{uuid.uuid4().hex[:6]}"
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    orch.apply(fleet_of(example_fleet(tmp_path, name=name)), pool=pool)
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url,
           "PREFECT_HOME": str(prefect_server.home), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    env.pop("PYTHONPATH", None)
    worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool",
                               pool, "--type", "process"], env=env, cwd=tmp_path.anchor,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with get_client(sync_client=True) as client:
            dep = client.read_deployment_by_name(f"botfleet-retrain/{name}-retrain")
            run = client.create_flow_run_from_deployment(dep.id)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                run = client.read_flow_run(run.id)
                if run.state.is_final():
                    break
                time.sleep(0.5)
    finally:
        worker.terminate()
        log, _ = worker.communicate(timeout=30)
    assert run.state.is_completed(), (run.state.name, run.state.message, log[-2000:])
    assert "set_working_directory" in log
    assert run.state.result()["summary"].startswith("nothing to retrain")
