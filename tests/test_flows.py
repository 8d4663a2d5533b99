"""Every flow, run against the session's Prefect server (prefect_fixtures.py) on a copy of the
example fleet whose exchange is botfleet's simulator (the real ccxt client over loopback,
recorded candles from the shared data folder)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from botfleet.venue import BinanceServer, Clock, MarketData

from prefect_fixtures import example_fleet, prefect_server  # noqa: F401
from shared_data import SHARED, shared_file

H = 3_600_000
END = 1_706_745_600_000  # 2024-02-01 00:00 UTC; the example fleet loads from 2024-01-01


@pytest.fixture(scope="module")
def venue():
    for name in ("binance_BTC-USDT_1h.csv", "binance_BTC-USDT_4h.csv", "binance_ETH-USDT_1h.csv"):
        shared_file(name)
    market = MarketData.from_directory(SHARED, symbols=["BTC/USDT", "ETH/USDT"],
                                       timeframes=["1h", "4h"], clock=Clock(END))
    with BinanceServer(market) as server:
        yield server


@pytest.fixture(scope="module")
def flows(prefect_server):  # noqa: F811
    from botfleet.orchestration import load_flows

    return load_flows()


def fleet_at(folder: Path, venue, *, bots=("btc-trend", "eth-meanrev"), **kw) -> Path:
    """The example fleet with only `bots`, its exchange pointed at the simulator."""
    path = example_fleet(folder, name=f"t-{uuid.uuid4().hex[:6]}", **kw)
    for file in (folder / "bots.d").glob("*.yaml"):
        if file.stem not in bots:
            file.unlink()
    exchange = folder / "exchanges.d" / "binance.yaml"
    exchange.write_text(exchange.read_text().replace(
        "# api_url: http://127.0.0.1:8800", f"api_url: {venue.base_url}"))
    return path


def run(flow, **params):
    """The flow run's final state (failed ones too), as the API has it."""
    from prefect import get_client

    state = flow(**params, return_state=True)
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def task_runs(flow_run, timeout_s: float = 30) -> dict:
    """The flow run's task runs by name, once the server has recorded their final states
    (it records task runs from their events, a moment after they happen)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200)
            if all(t.state is not None and t.state.is_final() for t in found) \
                    or time.monotonic() > deadline:
                return {t.name: t for t in found}
            time.sleep(0.5)


def artifact(key: str) -> dict | None:
    """The newest artifact under `key` (the raw API: the sync client's filter helper sends
    fields this server version rejects)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        found = client.request("POST", "/artifacts/filter", json={
            "artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1,
            "offset": 0}).json()
    return found[0] if found else None


# -- ingest ---------------------------------------------------------------------------------------

def test_ingest_downloads_what_is_missing_then_checks_it(flows, venue, tmp_path):
    path = fleet_at(tmp_path, venue)
    first = run(flows["ingest"], fleet=str(path))
    assert first.state.is_completed(), first.state.message
    result = first.state.result()  # read back from the persisted JSON, as a UI would
    rows = {r["series"]: r for r in result["rows"]}
    assert sorted(rows) == ["binance BTC/USDT 1h", "binance BTC/USDT 4h",
                            "binance ETH/USDT 1h"]
    assert rows["binance ETH/USDT 1h"]["written"] == 31 * 24  # January 2024, every hour
    assert rows["binance BTC/USDT 4h"]["written"] == 31 * 6
    assert all(r["quality_ok"] and r["last"].startswith("2024-01-31") for r in rows.values())
    assert "3/3 series up to date" in result["summary"]
    table = artifact(f"{result['fleet']}-ingest")
    assert table["type"] == "table" and "ETH/USDT" in table["data"]
    # the next run is incremental: nothing new before the clock moves, then one candle
    again = run(flows["ingest"], fleet=str(path)).state.result()
    assert [r["written"] for r in again["rows"]] == [0, 0, 0]
    venue.advance(H)
    try:
        moved = run(flows["ingest"], fleet=str(path)).state.result()
    finally:
        venue.exchange.clock.set(END)
    assert {r["series"]: r["written"] for r in moved["rows"]} == {
        "binance BTC/USDT 1h": 1, "binance BTC/USDT 4h": 0, "binance ETH/USDT 1h": 1}


def test_ingest_retries_an_exchange_outage_with_backoff(flows, venue, tmp_path):
    path = fleet_at(tmp_path, venue, bots=("eth-meanrev",))
    venue.exchange.faults.fail_next(2, endpoint="/api/v3/klines")  # 503 twice: gives up once
    flow_run = run(flows["ingest"], fleet=str(path))
    assert flow_run.state.is_completed(), flow_run.state.message
    task = task_runs(flow_run)["ingest binance ETH/USDT 1h"]
    assert task.run_count == 2 and task.state.is_completed()
    assert flow_run.state.result()["rows"][0]["written"] == 31 * 24


def test_ingest_fails_at_once_on_a_pair_the_exchange_does_not_list(flows, venue, tmp_path):
    path = fleet_at(tmp_path, venue, bots=("eth-meanrev",))
    bot = tmp_path / "bots.d" / "eth-meanrev.yaml"
    bot.write_text(bot.read_text().replace("pairs: [ETH/USDT]", "pairs: [ETH/USDT, DOGE/USDT]"))
    flow_run = run(flows["ingest"], fleet=str(path))
    assert flow_run.state.is_failed()
    assert "binance DOGE/USDT 1h: DownloadError" in flow_run.state.message
    tasks = task_runs(flow_run)
    assert tasks["ingest binance DOGE/USDT 1h"].run_count == 1  # not worth retrying
    assert tasks["ingest binance ETH/USDT 1h"].state.is_completed()  # the rest was done
    from botfleet.config import load_fleet

    table = artifact(f"{load_fleet(path).fleet.name}-ingest")
    assert "DOGE/USDT" in table["data"] and '"outcome": "failed"' in table["data"]


def test_a_flow_refuses_an_invalid_fleet_with_its_errors(flows, tmp_path, venue):
    path = fleet_at(tmp_path, venue)
    path.write_text(path.read_text().replace("on_bad_rows: reject", "on_bad_rows: maybe"))
    flow_run = run(flows["ingest"], fleet=str(path))
    assert flow_run.state.is_failed()
    assert "fleet.yaml:" in flow_run.state.message and "maybe" in flow_run.state.message


# -- cycle and reconcile: the trading runtime on the simulator ----------------------------------

@pytest.fixture
def paper(venue, monkeypatch):
    """An account on the simulator for the fleet's exchange keys (references to env)."""
    account = venue.add_account(f"fleet-{uuid.uuid4().hex[:6]}", {"USDT": "10000"})
    monkeypatch.setenv("BINANCE_API_KEY", account.api_key)
    monkeypatch.setenv("BINANCE_API_SECRET", account.secret)
    monkeypatch.setenv("BOTFLEET_VENUE_URL", venue.base_url)
    monkeypatch.delenv("BOTFLEET_CYCLE_WORK", raising=False)
    return account


@pytest.fixture
def redis_url():
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    finally:
        client.close()
    return url


def test_cycle_runs_each_bot_through_the_runtime_and_skips_a_locked_one(
        flows, venue, tmp_path, paper, redis_url):
    from botfleet.bus import open_bus

    path = fleet_at(tmp_path, venue, cache=redis_url)
    flow_run = run(flows["cycle"], fleet=str(path), bots=["btc-trend", "eth-meanrev"])
    assert flow_run.state.is_completed(), flow_run.state.message
    rows = {r["bot"]: r for r in flow_run.state.result()["rows"]}
    assert {b: r["outcome"] for b, r in rows.items()} == {"btc-trend": "ok",
                                                          "eth-meanrev": "ok"}
    assert rows["btc-trend"]["candle"] == "2024-01-31 23:00"  # the newest closed candle
    assert all(len(r["correlation_id"]) == 32 for r in rows.values())
    # another process holds btc-trend's cycle (the Redis lock): it is skipped, not doubled
    with open_bus(redis_url) as bus, bus.lock("cycle-flow:btc-trend", ttl_s=60):
        again = run(flows["cycle"], fleet=str(path))
    rows = {r["bot"]: r for r in again.state.result()["rows"]}
    assert rows["btc-trend"]["outcome"] == "skipped"
    assert rows["eth-meanrev"]["outcome"] == "done"  # this candle's cycle already ran
    assert "skipped (previous cycle still running): btc-trend" in \
        again.state.result()["summary"]
    # reconciliation of the same paper bots against the simulator
    rec = run(flows["reconcile"], fleet=str(path))
    assert rec.state.is_completed(), rec.state.message
    assert {r["bot"]: r["outcome"] for r in rec.state.result()["rows"]} == {
        "btc-trend": "passed", "eth-meanrev": "passed"}


def test_cycle_without_a_simulator_says_what_is_missing(flows, venue, tmp_path, monkeypatch):
    monkeypatch.delenv("BOTFLEET_VENUE_URL", raising=False)
    monkeypatch.delenv("BOTFLEET_CYCLE_WORK", raising=False)
    path = example_fleet(tmp_path, name=f"t-{uuid.uuid4().hex[:6]}")
    flow_run = run(flows["cycle"], fleet=str(path), bots=["eth-meanrev"])
    assert flow_run.state.is_failed()
    assert "botfleet venue serve" in flow_run.state.message
    assert "BOTFLEET_VENUE_URL" in flow_run.state.message
    flow_run = run(flows["cycle"], fleet=str(path), bots=["no-such-bot"])
    assert "no bot named 'no-such-bot'" in flow_run.state.message


# -- research, report, retrain --------------------------------------------------------------------

def test_research_stores_a_backtest_that_the_report_then_shows(flows, venue, tmp_path):
    from botfleet.config import load_fleet
    from botfleet.storage.results import ResultStore

    path = fleet_at(tmp_path, venue, bots=("eth-meanrev",))
    empty = run(flows["report"], fleet=str(path), period_hours=24)
    assert empty.state.is_completed()
    assert empty.state.result()["rows"][0]["runs"] == 0
    assert "no run stored" in empty.state.result()["summary"]
    assert run(flows["ingest"], fleet=str(path)).state.is_completed()
    flow_run = run(flows["research"], fleet=str(path), job="backtest")
    assert flow_run.state.is_completed(), flow_run.state.message
    row = flow_run.state.result()["rows"][0]
    fleet = load_fleet(path).fleet
    with ResultStore(fleet.storage.state) as repo:
        stored = repo.list_runs(kind="backtest", name="eth-meanrev")
    assert [r.id for r in stored] == [row["run_id"]]
    assert stored[0].trades == row["trades"]
    report = run(flows["report"], fleet=str(path), period_hours=24)
    assert report.state.is_completed(), report.state.message
    out = report.state.result()["rows"][0]
    assert out["run_ids"] == [row["run_id"]]
    page = Path(out["path"]).read_text(encoding="utf-8")
    assert page.lower().startswith("<!doctype html>") and "eth-meanrev" in page
    bad = run(flows["research"], fleet=str(path), job="train")
    assert bad.state.is_failed() and "backtest, optimize, walkforward" in bad.state.message


def test_retrain_covers_only_the_models_on_its_schedule(flows, venue, tmp_path):
    path = fleet_at(tmp_path, venue)  # eth-direction retrains on its own weekly schedule
    flow_run = run(flows["retrain"], fleet=str(path))
    assert flow_run.state.is_completed()
    result = flow_run.state.result()
    assert result["summary"] == ("nothing to retrain: 2 model(s) declared, none on this "
                                 "schedule")
    assert result["rows"] == []  # tests/test_ml_retrain.py trains through the same job
    # asked for by name, a model with no candles stored is a row saying so, not a failure
    flow_run = run(flows["retrain"], fleet=str(path), models=["eth-direction"])
    assert flow_run.state.is_completed(), flow_run.state.message
    rows = flow_run.state.result()["rows"]
    assert [(r["model"], r["outcome"]) for r in rows] == [("eth-direction", "no data")]


def test_flows_are_tagged_and_time_limited(flows):
    from botfleet.orchestration import POLICIES

    for kind, flow in flows.items():
        assert flow.name == f"botfleet-{kind}"
        assert flow.timeout_seconds == POLICIES[kind].flow_timeout_s
        assert flow.persist_result and flow.result_serializer == "json"
    from flows.cycle import bot_cycle
    from flows.ingest import ingest_series

    for task in (bot_cycle, ingest_series):
        assert task.retries >= 2 and task.retry_jitter_factor == 0.5
        assert task.retry_delay_seconds == sorted(task.retry_delay_seconds)  # doubling
        assert task.retry_delay_seconds[1] == 2 * task.retry_delay_seconds[0]
        assert not task.tags  # each tag would cost a round trip at every task run's start


def test_the_main_job_runs_as_a_flow_and_says_where_its_history_is(flows, tmp_path):
    from typer.testing import CliRunner

    from botfleet.cli import app

    path = example_fleet(tmp_path, name=f"t-{uuid.uuid4().hex[:6]}")
    for bot in ("btc-trend", "sol-breakout"):
        (tmp_path / "bots.d" / f"{bot}.yaml").unlink()
    got = CliRunner().invoke(app, ["run", str(path), "--no-download", "--replay-days", "0"],
                             env={"BOTFLEET_DATA_DIR": str(SHARED)})
    out = got.output
    assert got.exit_code == 0, out
    where = next(x for x in out.splitlines() if x.startswith("run history: "))
    assert "/runs/flow-run/" in where
    assert "data binance ETH/USDT 1h from 2024-01-01 00:00: file" in out
    assert "signals eth-meanrev ETH/USDT 1h (rsi_reversion)" in out
    assert "reports: " in out and (tmp_path / "data" / "reports" / "index.html").is_file()
    run_id = where.rsplit("/", 1)[1]
    from prefect import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
    assert flow_run.state.is_completed()
    assert set(task_runs(flow_run)) == {"data", "plan-and-signals", "backtest", "paper-replay",
                                       "report"}


def test_the_main_job_flow_fails_with_the_reason_when_there_is_no_data(flows, tmp_path):
    from typer.testing import CliRunner

    from botfleet.cli import app

    path = example_fleet(tmp_path, name=f"t-{uuid.uuid4().hex[:6]}")
    empty = tmp_path / "no-candles"
    empty.mkdir()
    got = CliRunner().invoke(app, ["run", str(path), "--no-download"],
                             env={"BOTFLEET_DATA_DIR": str(empty)})
    assert got.exit_code == 1, got.output
    assert "botfleet does not invent data" in got.output
    assert "run history: " in got.output and "/runs/flow-run/" in got.output
