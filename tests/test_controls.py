"""Operator controls: pause and resume in the state database (both backends), the audit log of
every control action and of refused attempts, the runtime skipping a paused bot's entries but
not its exits, the runner reloading on a bus command, and `botfleet pause/resume/audit`.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from alembic import command
from test_runtime_helpers import HOUR, T0, bot_yaml, find_close, load, runner, write_fleet
from typer.testing import CliRunner

from botfleet.bus import CONTROL_CHANNEL, open_bus
from botfleet.orders import Reason, Side
from botfleet.risk.killswitch import KillSwitch
from botfleet.runtime import controls
from botfleet.storage import current_revision, head_revision, schema_diff, state_engine, upgrade
from botfleet.storage.audit import AuditError, audit_entries, dispose_engines, record_audit
from botfleet.storage.db import alembic_config, transaction

from storage_fixtures import state_url  # noqa: F401 - fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, state_url):  # noqa: F811
    yield state_url(request.param)
    dispose_engines()  # before the fixture drops the PostgreSQL schema


def _tables(url: str) -> set[str]:
    eng = state_engine(url)
    try:
        return set(sa.inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_the_control_tables_migrate_down_and_up_and_agree_with_the_models(url):
    assert upgrade(url) == head_revision() and schema_diff(url) == []
    assert "bot_controls" in _tables(url)
    record_audit(url, actor="cli:a", action="bot.pause", target="bot:x")
    eng = state_engine(url)
    with transaction(eng, write=True) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    eng.dispose()
    assert "bot_controls" not in _tables(url) and current_revision(url) == "0003"
    dispose_engines()
    assert upgrade(url) == head_revision() and schema_diff(url) == []
    # the row written before the round trip kept, and counted as allowed
    (entry,) = audit_entries(url)
    assert (entry.actor, entry.action, entry.allowed) == ("cli:a", "bot.pause", True)


def test_pause_resume_and_the_fleet_wide_pause_with_their_audit_entries(url):
    bus = open_bus("memory://", prefix="ctl-test:")
    heard = []
    sub = bus.pubsub.subscribe(CONTROL_CHANNEL, lambda m: heard.append(m.data))
    try:
        assert controls.paused_bots(url) == {}
        before = int(time.time() * 1000)
        info = controls.pause(url, "b1", actor="cli:ops@h", reason="maintenance", bus=bus)
        assert (info.bot, info.actor, info.reason) == ("b1", "cli:ops@h", "maintenance")
        assert before - 1000 <= info.since_ms <= int(time.time() * 1000) + 1000
        again = controls.pause(url, "b1", actor="telegram:7", reason="still", bus=bus)
        assert again.since_ms == info.since_ms and again.actor == "telegram:7"  # since kept
        controls.pause(url, "*", actor="telegram:7", reason="stop")
        paused = controls.paused_bots(url)
        assert set(paused) == {"b1", "*"} and paused["b1"].reason == "still"
        assert controls.pause_of(paused, "b2").bot == "*"  # the fleet's pause covers b2
        assert controls.pause_of(paused, "b1").bot == "b1"

        assert controls.resume(url, "*", actor="telegram:7").bot == "*"
        assert controls.pause_of(controls.paused_bots(url), "b2") is None
        lifted = controls.resume(url, "b1", actor="cli:ops@h", bus=bus)
        assert lifted.reason == "still" and controls.paused_bots(url) == {}
        assert controls.resume(url, "b1", actor="cli:ops@h") is None  # not paused: None

        deadline = time.monotonic() + 2
        while len(heard) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heard == [{"cmd": "pause", "bot": "b1"}, {"cmd": "pause", "bot": "b1"},
                         {"cmd": "resume", "bot": "b1"}]
    finally:
        sub.close()
        bus.close()
    log = audit_entries(url)
    assert [(e.actor, e.action, e.target) for e in reversed(log)] == [
        ("cli:ops@h", "bot.pause", "bot:b1"), ("telegram:7", "bot.pause", "bot:b1"),
        ("telegram:7", "bot.pause", "fleet"), ("telegram:7", "bot.resume", "fleet"),
        ("cli:ops@h", "bot.resume", "bot:b1"), ("cli:ops@h", "bot.resume", "bot:b1")]
    assert log[0].detail == {"was_paused": False} and log[1].detail["paused_by"] == "telegram:7"
    assert [e.action for e in audit_entries(url, actor="telegram:7", limit=2)] == [
        "bot.resume", "bot.pause"]


def test_bad_control_and_audit_input_is_refused_with_what_and_where(url):
    with pytest.raises(controls.ControlError, match="bot's name is missing"):
        controls.pause(url, "  ", actor="cli:a")
    with pytest.raises(controls.ControlError, match="one of pause, resume, reload"):
        controls.publish("memory://", "explode")
    with pytest.raises(AuditError, match="actor is 101 characters, at most 100"):
        record_audit(url, actor="x" * 101, action="a")
    with pytest.raises(AuditError, match="action must be a non-empty string"):
        record_audit(url, actor="a", action="")
    with pytest.raises(AuditError, match="limit must be at least 1"):
        audit_entries(url, limit=0)
    assert controls.paused_bots(url) == {} and audit_entries(url) == []  # nothing half-written


def test_refused_attempts_are_kept_apart_and_the_kill_switch_audits_itself(url):
    record_audit(url, actor="telegram:666", action="telegram.denied", target="chat:-5",
                 detail={"text": "/kill"}, allowed=False)
    with KillSwitch(url, listen=False) as ks:
        ks.engage("bot", "b1", "flatten", "runaway", "telegram:7")
        ks.release("bot", "b1", "fixed", "cli:ops@h")
    (denied,) = audit_entries(url, allowed=False)
    assert (denied.actor, denied.detail, denied.allowed) == ("telegram:666", {"text": "/kill"},
                                                            False)
    kills = audit_entries(url, allowed=True)
    assert [(e.actor, e.action, e.target, e.detail["mode"], e.detail["reason"])
            for e in kills] == [("cli:ops@h", "kill.release", "bot:b1", "flatten", "fixed"),
                                ("telegram:7", "kill.engage", "bot:b1", "flatten", "runaway")]


# -- the runtime ------------------------------------------------------------------------------
def test_a_paused_bot_sends_no_entries_but_still_exits(tmp_path, server, monkeypatch):
    monkeypatch.setenv("RT_KEY", "k")
    monkeypatch.setenv("RT_SECRET", "s")
    fleet = load(write_fleet(tmp_path, {"a": bot_yaml("a"), "b": bot_yaml("b", "ETH/USDT")}))
    state = fleet.fleet.storage.state
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server).start()
    try:
        controls.pause(state, "a", actor="cli:t", reason="hold on")
        server.set_time(up)
        results = {r.bot: r for r in run.run_once(["a"], now_ms=up)}
        a = results["a"]
        assert a.outcome == "paused" and a.ok and a.orders == []
        assert any("paused (bot a) by cli:t" in n and "1 entry not sent" in n for n in a.notes)
        ledger = run.svc.ledger
        assert ledger.cycle(a.correlation_id).outcome == "paused"
        from botfleet.runtime.status import status_rows

        row = {r.bot: r for r in status_rows(state, fleet.fleet)}["a"]
        assert row.outcome == "paused" and "hold on" in row.paused

        controls.resume(state, "a", actor="cli:t")
        nxt = find_close(server, "BTC/USDT", up + HOUR, True)
        server.set_time(nxt)
        (entry,) = run.run_once(["a"], now_ms=nxt)
        assert entry.outcome == "ok" and entry.orders[0].side is Side.BUY  # entries again

        controls.pause(state, "*", actor="telegram:9", reason="stop")  # the fleet's pause
        down = find_close(server, "BTC/USDT", nxt + HOUR, False)
        server.set_time(down)
        (exit_,) = run.run_once(["a"], now_ms=down)
        assert exit_.outcome == "paused"
        assert [(o.side, o.reason) for o in exit_.orders] == [(Side.SELL, Reason.SIGNAL)]
        assert ledger.position("a", "BTC/USDT").amount == 0  # the exit went out
    finally:
        run.shutdown()


def test_a_reload_command_on_the_bus_makes_the_runner_reload_now(tmp_path, server, monkeypatch):
    monkeypatch.setenv("RT_KEY", "k")
    monkeypatch.setenv("RT_SECRET", "s")
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    run = runner(load(path), server).start()
    try:
        assert set(run.slots) == {"a"}
        (tmp_path / "bots.d" / "b.yaml").write_text(bot_yaml("b", "ETH/USDT"))
        assert controls.publish("memory://", "reload")
        deadline = time.monotonic() + 20
        reloaded = []
        while not reloaded and time.monotonic() < deadline:  # the entry is written last
            time.sleep(0.05)
            reloaded = audit_entries(run.svc.ledger.engine, action="config.reloaded")
        assert set(run.slots) == {"a", "b"}
        (entry,) = reloaded
        assert entry.detail["added"] == ["b"]
    finally:
        run.shutdown()


# -- the command line --------------------------------------------------------------------------
def test_cli_pause_resume_and_audit(tmp_path, monkeypatch):
    from botfleet.cli import app

    monkeypatch.chdir(tmp_path)  # no fleet.yaml here: --state says where to act

    state = f"sqlite:///{tmp_path / 'cli.db'}"
    cli = CliRunner()
    got = cli.invoke(app, ["pause", "b1", "--state", state, "--reason", "deploy",
                           "--actor", "cli:ops@host"])
    assert got.exit_code == 0, got.output
    assert "paused (bot b1) by cli:ops@host" in got.output and "deploy" in got.output
    both = cli.invoke(app, ["pause", "b1", "--all", "--state", state])
    assert both.exit_code == 2 and "a BOT name or --all" in both.output
    got = cli.invoke(app, ["resume", "b1", "--state", state])
    assert got.exit_code == 0 and "resumed bot b1 (paused by cli:ops@host)" in got.output
    again = cli.invoke(app, ["resume", "b1", "--state", state])
    assert again.exit_code == 1 and "bot b1 was not paused" in again.output
    log = cli.invoke(app, ["audit", "--state", state, "--action", "bot.pause"])
    assert log.exit_code == 0 and "cli:ops@host  bot.pause  bot:b1" in log.output
    entries = audit_entries(state)
    assert entries[0].actor.startswith("cli:") and entries[0].action == "bot.resume"
    dispose_engines()


def test_cli_pause_checks_the_bot_against_the_fleet(tmp_path):
    from botfleet.cli import app

    path = write_fleet(tmp_path, {"alpha": bot_yaml("alpha")})
    got = CliRunner().invoke(app, ["pause", "alpah", "--fleet", str(path)],
                             env={"RT_KEY": "k", "RT_SECRET": "s"})
    assert got.exit_code == 2 and "no bot 'alpah'" in got.output and "alpha" in got.output
