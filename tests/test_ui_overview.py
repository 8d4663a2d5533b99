"""The panel's login and fleet overview, on a state database a real paper replay wrote
(SQLite, and the same rows in PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from ui_fixtures import (  # noqa: F401 - fixtures
    OPERATOR_PASSWORD,
    VIEWER_PASSWORD,
    app_test,
    pg_fleet,
    ui_env,
    ui_fleet,
    ui_fleet_template,
)

from botfleet.runtime.overview import fleet_overview, totals

CENT = Decimal("0.01")


def _login(at, password: str):
    at.run()
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    return at.run()


def test_the_login_form_keeps_everything_hidden_until_the_right_password(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = app_test(role=None).run()
    assert not at.exception
    field = at.text_input(key="login_password").proto
    assert field.type == field.PASSWORD  # masked
    assert not at.dataframe and not at.metric  # nothing of the fleet shows
    at = _login(at, "wrong")
    assert [e.value for e in at.error] == ["Wrong password."]
    assert "role" not in at.session_state
    at = _login(app_test(role=None), OPERATOR_PASSWORD)
    assert at.session_state["role"] == "operator" and not at.exception
    assert at.title[0].value == "Fleet overview"
    at = _login(app_test(role=None), VIEWER_PASSWORD)
    assert at.session_state["role"] == "viewer"


def test_with_no_login_configured_the_panel_says_how(ui_fleet, monkeypatch):  # noqa: F811
    monkeypatch.setenv("BOTFLEET_UI_FLEET", str(ui_fleet))
    for name in ("BOTFLEET_UI_PASSWORD_HASH", "BOTFLEET_UI_VIEWER_HASH", "BOTFLEET_UI_NO_AUTH"):
        monkeypatch.delenv(name, raising=False)
    at = app_test(role=None).run()
    assert "No login is configured" in at.error[0].value and not at.dataframe


def test_no_auth_mode_is_the_local_operator(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet, no_auth=True)
    at = app_test(role=None).run()
    assert at.session_state["role"] == "operator" and at.session_state["user"] == "local"


def _check_overview(at, state_url, fleet_file):
    from botfleet.config import load_fleet

    fleet = load_fleet(fleet_file).fleet
    rows = fleet_overview(state_url, fleet)
    t = totals(rows)
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Bots"] == "4"
    assert shown["Equity"] == f"{t.equity.quantize(CENT):,}"
    table = at.dataframe[0].value
    assert list(table["bot"]) == sorted(fleet.bots)
    churn = table.set_index("bot").loc["eth-churn"]
    lib = next(r for r in rows if r.bot == "eth-churn")
    assert lib.pnl_total is not None and lib.pnl_total != 0  # it traded: fees at least
    assert churn["PnL total"] == f"{lib.pnl_total.quantize(CENT):+,}"
    assert churn["last cycle (UTC)"] != "-" and churn["mode"] == "paper"
    # the latency is real time even for a replay, whose own clock runs 3,600x faster: a cycle
    # of a few ms must not show as minutes of simulated time
    assert lib.latency_ms is not None and 0 <= lib.latency_ms < 10_000, lib.latency_ms
    assert churn["cycle latency"] != "-"
    return rows


def test_the_overview_shows_every_bot_with_the_state_databases_numbers(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = app_test().run()
    rows = _check_overview(at, f"sqlite:///{ui_fleet.parent / 'data' / 'state.db'}", ui_fleet)
    assert {r.state for r in rows} <= {"stopped", "circuit open", "error"}


def test_the_overview_reads_postgresql_the_same_way(pg_fleet, ui_env):  # noqa: F811
    fleet_file, url = pg_fleet
    ui_env(fleet_file)
    at = app_test().run()
    _check_overview(at, url, fleet_file)


def test_the_login_form_warms_the_process_for_the_first_overview(ui_fleet, ui_env):  # noqa: F811
    """The first page run starts the background warm-up (imports, the fleet's load), so the
    overview after login does not pay for them."""
    import sys

    ui_env(ui_fleet)
    at = app_test(role=None).run()
    assert at.text_input(key="login_password")  # the login form shows meanwhile
    warm = sys.modules["panel.warm"]
    assert warm.done.wait(60) and warm.failure is None, warm.failure
    assert "pandas" in sys.modules and "botfleet.runtime.overview" in sys.modules
    # the fleet's load is cached: the page gets the very same object
    context = sys.modules["panel.context"]
    load = context.load_cached(context.fleet_file())
    assert load is context.load_cached(context.fleet_file()) and load.ok


def test_a_fleet_that_never_ran_shows_its_bots_instead_of_failing(tmp_path, ui_env):  # noqa: F811
    """Opening the panel before any bot ran (a fresh clone: no state database yet) lists the
    declared bots as never ran; the panel creates the empty schema as any runner would."""
    from ui_fixtures import copy_fleet

    fleet_file = copy_fleet(tmp_path)
    assert not (tmp_path / "data" / "state.db").exists()
    ui_env(fleet_file)
    at = app_test().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) >= 3
    assert all("never ran" in m for m in table["mode"]), table["mode"].tolist()
