"""With PREFECT_API_URL set, the lab runs the research flow on that Prefect server and the bot
page lists the bot's Prefect runs (the session's real Prefect server, prefect_fixtures.py)."""

from __future__ import annotations

from ui_fixtures import app_test, open_page, ui_env, ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

from botfleet.storage.results import ResultStore

from prefect_fixtures import prefect_server  # noqa: F401 - fixture


def test_the_lab_runs_the_research_flow_and_the_bot_page_lists_its_runs(
        ui_fleet, ui_env, prefect_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    ui_env(ui_fleet)
    at = open_page(app_test(), "lab")
    assert "through the Prefect `research` flow" in at.caption[0].value
    at.selectbox(key="lab_bot").set_value("btc-trend")
    at.selectbox(key="lab_job").set_value("backtest")
    at.text_area(key="lab_params").input("fast=7")  # passed through the flow's parameters
    at = at.run()
    next(b for b in at.button if b.key == "lab_run").click().run(timeout=240)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    with ResultStore(f"sqlite:///{ui_fleet.parent / 'data' / 'state.db'}") as repo:
        runs = repo.list_runs()
    assert [(r.name, r.kind) for r in runs] == [("btc-trend", "backtest")]
    assert runs[0].params["fast"] == 7
    assert at.success[0].value.startswith(f"stored as run {runs[0].id}: ")

    at = app_test()
    at.session_state["bot"] = "btc-trend"
    at = open_page(at, "bot")
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "task" in d.value.columns)
    # the session's server also holds other tests' fleets, whose bots share this name
    mine = table[table["task"] == "backtest btc-trend"]
    assert len(mine) >= 1 and mine["state"].iloc[0] == "Completed"
    assert mine["flow run"].iloc[0]  # Prefect's generated name of the flow run
    assert set(table["task"].str.rsplit(" ", n=1).str[1]) == {"btc-trend"}
