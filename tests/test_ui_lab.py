"""The strategy lab's inputs: another strategy of the fleet, other pairs, a timeframe and a
period from the candle store's coverage, and parameter overrides reach the stored run; bad
overrides are refused before anything runs. Real candles, real backtests, SQLite state."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from ui_fixtures import app_test, open_page, ui_env, ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

from botfleet.jobs.common import JobError
from botfleet.jobs.research import run_job, to_ms
from botfleet.storage.results import ResultStore

DAY_MS = 86_400_000


def _state(fleet_file) -> str:
    return f"sqlite:///{fleet_file.parent / 'data' / 'state.db'}"


def _run(at):
    return next(b for b in at.button if b.key == "lab_run")


def test_the_lab_runs_another_strategy_on_chosen_pairs_period_and_parameters(
        ui_fleet, ui_env, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    ui_env(ui_fleet)
    at = open_page(app_test(), "lab")
    assert not at.exception, at.exception
    at.selectbox(key="lab_bot").set_value("btc-trend")
    at = at.run()
    assert at.selectbox(key="lab_strategy").value == "sma_cross (the bot's)"
    assert at.multiselect(key="lab_pairs").value == ["BTC/USDT"]
    assert "ETH/USDT" in at.multiselect(key="lab_pairs").options  # from the store's coverage
    first, last = at.date_input(key="lab_start").value, at.date_input(key="lab_end").value
    assert first < last
    at.selectbox(key="lab_strategy").set_value("donchian_breakout")
    at.multiselect(key="lab_pairs").set_value(["BTC/USDT", "ETH/USDT"])
    at.text_area(key="lab_params").input("entry_window=30\nexit_window=12")
    start = date.fromordinal(last.toordinal() - 40)
    end = date.fromordinal(last.toordinal() - 5)
    at.date_input(key="lab_start").set_value(start)
    at.date_input(key="lab_end").set_value(end)
    at = at.run()
    assert not at.error, [e.value for e in at.error]
    _run(at).click().run(timeout=120)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    with ResultStore(_state(ui_fleet)) as repo:
        runs = repo.list_runs()
    assert len(runs) == 1
    run = runs[0]
    assert at.success[0].value.startswith(f"stored as run {run.id}: ")
    assert run.strategy == "donchian_breakout" and run.kind == "backtest"
    assert sorted(run.symbols) == ["BTC/USDT", "ETH/USDT"] and run.timeframe == "1h"
    assert run.params["entry_window"] == 30 and run.params["exit_window"] == 12
    start_ms = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    end_ms = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp() * 1000) + DAY_MS
    assert start_ms <= run.start_ms < start_ms + DAY_MS  # the period, not the whole store
    assert end_ms - DAY_MS <= run.end_ms < end_ms


def test_bad_lab_inputs_are_refused_before_running(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = open_page(app_test(), "lab")
    at.selectbox(key="lab_bot").set_value("btc-trend")
    at.text_area(key="lab_params").input("no_such=3")
    at = at.run()
    assert "'no_such' is not declared by the strategy" in at.error[0].value
    assert _run(at).disabled
    at.text_area(key="lab_params").input("fast=abc")
    at = at.run()
    assert any("a number is expected" in e.value for e in at.error), [e.value for e in at.error]
    at.text_area(key="lab_params").input("")
    at.date_input(key="lab_start").set_value(at.date_input(key="lab_end").value)
    at = at.run()
    assert any("is not before end" in e.value for e in at.error)
    assert _run(at).disabled


def test_run_job_reports_its_steps_and_names_bad_inputs(ui_fleet):  # noqa: F811
    steps = []
    row = run_job(str(ui_fleet), "btc-trend", "backtest", start="2024-01-01",
                  end="2024-01-20", params={"fast": 8},
                  progress=lambda pct, text: steps.append(pct))
    assert row["run_id"] and steps == sorted(steps) and steps[0] < steps[-1] <= 90
    with ResultStore(_state(ui_fleet)) as repo:
        run = next(r for r in repo.list_runs() if r.id == row["run_id"])
    assert run.params["fast"] == 8
    with pytest.raises(JobError, match="no strategy 'nope'"):
        run_job(str(ui_fleet), "btc-trend", "backtest", strategy="nope")
    with pytest.raises(JobError, match="is not before end"):
        run_job(str(ui_fleet), "btc-trend", "backtest", start="2024-02-01", end="2024-01-01")
    with pytest.raises(JobError, match="start '1st of May'"):
        to_ms("1st of May", "start")
    assert to_ms(date(2024, 1, 2), "start") == 1_704_153_600_000
