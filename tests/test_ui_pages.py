"""Bot detail, strategy lab and data pages on the replayed fleet's real state and candles."""

from __future__ import annotations

from ui_fixtures import app_test, open_page, ui_env, ui_fleet, ui_fleet_template  # noqa: F401 - fixtures

from botfleet.config import load_fleet
from botfleet.execution.ledger import Ledger
from botfleet.runtime.overview import recent_cycles
from botfleet.storage.results import ResultStore


def _state(fleet_file) -> str:
    return f"sqlite:///{fleet_file.parent / 'data' / 'state.db'}"


def test_bot_detail_shows_its_orders_fills_cycles_and_charts(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = app_test()
    at.session_state["bot"] = "eth-churn"
    at = open_page(at, "bot")
    assert not at.exception, at.exception
    assert at.title[0].value == "Bot eth-churn"
    ledger = Ledger(_state(ui_fleet), migrate=False)
    orders, fills = ledger.orders("eth-churn"), ledger.fills(bot="eth-churn")
    assert orders and fills  # the replay traded

    def frame(column):  # dataframes carry no key in AppTest: find each by a column
        return next(d.value for d in at.dataframe if column in d.value.columns)

    assert set(frame("client id")["client id"]) == {o.client_id for o in orders[-50:]}
    events = ledger.events(at.selectbox(key="bot_order").value)
    assert list(frame("source")["source"]) == [e.source for e in events]
    cycles = frame("correlation id")
    want = recent_cycles(_state(ui_fleet), "eth-churn", limit=30)
    assert list(cycles["correlation id"]) == [c["correlation_id"] for c in want]
    assert list(frame("fee")["price"]) == [str(f.price) for f in reversed(fills[-50:])]
    charts = {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}
    assert {"bot_price", "bot_equity"} <= charts
    logs = frame("logger")  # the runtime's log file, this bot's lines only
    assert len(logs) > 0 and set(logs["correlation id"].dropna()) <= {
        c["correlation_id"] for c in recent_cycles(_state(ui_fleet), "eth-churn", limit=30)}
    assert logs["message"].str.contains("cycle").any()
    limits = frame("limit")
    assert "max_open_positions" in set(limits["limit"])  # from the conservative profile
    ledger.engine.dispose()


def test_the_lab_runs_a_backtest_stores_it_and_charts_its_equity(ui_fleet, ui_env,  # noqa: F811
                                                                 monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    ui_env(ui_fleet)
    at = open_page(app_test(), "lab")
    assert not at.exception, at.exception
    assert "directly in the panel's process" in at.caption[0].value
    at.selectbox(key="lab_bot").set_value("btc-trend")
    at.selectbox(key="lab_job").set_value("backtest")
    next(b for b in at.button if b.key == "lab_run").click().run(timeout=120)
    assert not at.exception, at.exception
    with ResultStore(_state(ui_fleet)) as repo:
        runs = repo.list_runs()
    assert [r.name for r in runs] == ["btc-trend"] and runs[0].kind == "backtest"
    assert at.success[0].value.startswith(f"stored as run {runs[0].id}: ")
    table = at.dataframe[0].value
    assert list(table["id"]) == [runs[0].id]
    assert at.multiselect(key="lab_compare").value == [runs[0].id]
    charts = {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}
    assert "lab_equity" in charts


def test_a_viewer_cannot_run_research(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = open_page(app_test(role="viewer"), "lab")
    assert next(b for b in at.button if b.key == "lab_run").disabled


def test_the_data_page_shows_the_candle_stores_coverage_and_gaps(ui_fleet, ui_env):  # noqa: F811
    from botfleet.data.store import open_store

    ui_env(ui_fleet)
    at = open_page(app_test(), "data")
    assert not at.exception, at.exception
    fleet = load_fleet(ui_fleet).fleet
    with open_store(fleet.storage.candles) as store:
        cov = store.coverage()
    table = at.dataframe[0].value
    assert len(table) == len(cov) and set(table["pair"]) == {c.key.symbol for c in cov}
    assert int(table["candles"].sum()) == sum(c.count for c in cov)
    assert {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")} == {"data_heat"}


def test_an_optimisation_shows_its_trials_heat_map_and_a_report(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = open_page(app_test(), "lab")
    at.selectbox(key="lab_bot").set_value("btc-trend")
    at.selectbox(key="lab_job").set_value("optimize")
    next(b for b in at.button if b.key == "lab_run").click().run(timeout=240)
    assert not at.exception, at.exception
    with ResultStore(_state(ui_fleet)) as repo:
        every = repo.list_runs(limit=1000)
    study = next(r for r in every if r.kind == "optimize")
    trials = [r for r in every if r.parent_id == study.id]
    assert len(trials) == 100  # the bot's `optimize: {trials: 100}`
    table = at.dataframe[0].value
    assert list(table["id"]) == [study.id] and list(table["trials"]) == [100]
    assert at.selectbox(key="hm_study").value == study.id
    assert {at.selectbox(key="hm_x").value, at.selectbox(key="hm_y").value} == {"fast", "slow"}
    assert "lab_heat" in {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}
    next(b for b in at.button if b.key == "lab_report_go").click().run(timeout=120)
    assert not at.exception, at.exception
    frames = at.get("iframe")
    assert frames and frames[0].proto.src.startswith("data:text/html;base64,")


def test_the_data_page_ingests_the_fleets_candles_from_a_folder(tmp_path, ui_env):  # noqa: F811
    from ui_fixtures import copy_fleet

    from botfleet.data.store import open_store

    from shared_data import SHARED, shared_file

    shared_file("binance_BTC-USDT_1h.csv")
    fleet_file = copy_fleet(tmp_path)
    ui_env(fleet_file)
    at = open_page(app_test(), "data")
    assert at.info[0].value == "The candle store is empty."
    at.text_input(key="data_dir").input(str(SHARED))
    at.checkbox(key="data_download").uncheck()
    next(b for b in at.button if b.key == "data_ingest").click().run(timeout=120)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    fleet = load_fleet(fleet_file).fleet
    with open_store(fleet.storage.candles) as store:
        cov = {(c.key.symbol, c.key.timeframe): c.count for c in store.coverage()}
    assert set(cov) == {("BTC/USDT", "1h"), ("BTC/USDT", "4h"), ("ETH/USDT", "1h"),
                        ("SOL/USDT", "4h")}
    said = [m.value for m in at.markdown]
    assert any(f"binance BTC/USDT 1h: file, {cov[('BTC/USDT', '1h')]} candle(s)" == s
               for s in said), said
    at.run()  # the coverage cache was cleared: the page now shows what was written
    assert int(at.dataframe[0].value["candles"].sum()) == sum(cov.values())
