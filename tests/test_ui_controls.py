"""Controls page: the kill switch and pause/resume act only after a confirmation, change what
the bots read from the state database, and leave an audit entry naming the UI user."""

from __future__ import annotations

from ui_fixtures import (  # noqa: F401 - fixtures
    app_test,
    open_page,
    pg_fleet,
    ui_env,
    ui_fleet,
    ui_fleet_template,
)

from botfleet.risk.store import RiskStore
from botfleet.runtime.controls import paused_bots
from botfleet.runtime.overview import fleet_overview
from botfleet.storage.audit import audit_entries


def _state(fleet_file) -> str:
    return f"sqlite:///{fleet_file.parent / 'data' / 'state.db'}"


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_the_kill_switch_needs_a_confirmation_then_stops_the_bot_and_is_audited(
        ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    state = _state(ui_fleet)
    at = open_page(app_test(), "controls")
    assert not at.exception, at.exception
    assert _button(at, "kill_go").disabled  # nothing happens before "I confirm"
    at.radio(key="kill_scope").set_value("bot").run()
    at.selectbox(key="kill_bot").set_value("eth-churn")
    at.text_input(key="kill_reason").input("runaway losses")
    at.checkbox(key="kill_confirm").check().run()
    _button(at, "kill_go").click().run()
    assert not at.exception, at.exception
    assert any("engaged: kill switch bot eth-churn (cancel_orders) by ui:test-operator"
               in s.value for s in at.success)
    with RiskStore(state, migrate=False) as risk:
        engaged = risk.engaged(2**62)
    assert [(s.scope, s.target, s.actor) for s in engaged] == [
        ("bot", "eth-churn", "ui:test-operator")]
    rows = {r.bot: r.state for r in fleet_overview(state)}
    assert rows["eth-churn"] == "killed" and rows["btc-trend"] != "killed"
    audit = audit_entries(state, action="kill.engage")
    assert audit[0].actor == "ui:test-operator" and audit[0].target == "bot:eth-churn"
    # the table of switches in force shows it, and release lifts it
    assert "eth-churn" in at.dataframe[0].value.to_string()
    at.text_input(key="kill_reason").input("checked, fine")
    at.checkbox(key="kill_confirm").check().run()
    _button(at, "release_go").click().run()
    assert any("released bot eth-churn" in s.value for s in at.success)
    assert {r.bot: r.state for r in fleet_overview(state)}["eth-churn"] != "killed"
    assert audit_entries(state, action="kill.release")[0].detail["reason"] == "checked, fine"


def test_a_kill_switch_without_a_reason_is_refused_with_the_reason_why(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = open_page(app_test(), "controls")
    at.radio(key="kill_scope").set_value("global").run()
    at.checkbox(key="kill_confirm").check().run()
    _button(at, "kill_go").click().run()
    assert "needs a reason" in at.error[0].value
    with RiskStore(_state(ui_fleet), migrate=False) as risk:
        assert risk.engaged(2**62) == []


def test_pause_and_resume_from_the_panel(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    state = _state(ui_fleet)
    at = open_page(app_test(), "controls")
    at.selectbox(key="pause_bot").set_value("btc-trend")
    at.text_input(key="pause_reason").input("news at 14:00")
    at.checkbox(key="pause_confirm").check().run()
    _button(at, "pause_go").click().run()
    assert not at.exception, at.exception
    assert paused_bots(state)["btc-trend"].actor == "ui:test-operator"
    assert {r.bot: r.state for r in fleet_overview(state)}["btc-trend"] == "paused"
    assert any("paused (bot btc-trend) by ui:test-operator" in m.value for m in at.markdown)
    at.checkbox(key="pause_confirm").check().run()
    _button(at, "resume_go").click().run()
    assert "btc-trend" not in paused_bots(state)
    actions = [e.action for e in audit_entries(state, target="bot:btc-trend")]
    assert actions[:2] == ["bot.resume", "bot.pause"]


def test_a_viewer_sees_the_controls_disabled(ui_fleet, ui_env):  # noqa: F811
    ui_env(ui_fleet)
    at = open_page(app_test(role="viewer"), "controls")
    assert not at.exception
    assert "needs the operator role" in at.info[0].value
    assert at.checkbox(key="kill_confirm").disabled
    assert all(_button(at, k).disabled for k in ("kill_go", "release_go", "pause_go",
                                                   "resume_go"))


def test_the_kill_switch_and_pause_on_a_postgresql_state_database(pg_fleet, ui_env):  # noqa: F811
    fleet_file, url = pg_fleet
    ui_env(fleet_file)
    at = open_page(app_test(), "controls")
    at.radio(key="kill_scope").set_value("exchange").run()
    at.selectbox(key="kill_exchange").set_value("binance")
    at.selectbox(key="kill_mode").set_value("freeze")
    at.text_input(key="kill_reason").input("exchange maintenance")
    at.checkbox(key="kill_confirm").check().run()
    _button(at, "kill_go").click().run()
    assert not at.exception, at.exception
    with RiskStore(url, migrate=False) as risk:
        assert [(s.scope, s.target, s.mode) for s in risk.engaged(2**62)] == [
            ("exchange", "binance", "freeze")]
    assert {r.state for r in fleet_overview(url)} == {"killed"}  # every bot is on binance
    at.selectbox(key="pause_bot").set_value("*")
    at.checkbox(key="pause_confirm").check().run()
    _button(at, "pause_go").click().run()
    assert set(paused_bots(url)) == {"*"}
    assert [e.action for e in audit_entries(url, limit=2)] == ["bot.pause", "kill.engage"]
