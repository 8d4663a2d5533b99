"""The kill switch: engaged and released in the real state database (SQLite and PostgreSQL),
kept across restarts with its history, scoped global > exchange > bot, spread to a bot in
another process through the real Redis in under a second, seen from SQL by a bot that missed
the message, and driven from the command line. Also: the risk tables' migration agrees with
the models."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from test_risk_helpers import HOUR, T0, ctx, engine, order
from typer.testing import CliRunner

from botfleet.cli import app
from botfleet.orders import OrderType, Position, Reason, Side
from botfleet.risk import KillState, KillSwitch, KillSwitchError, RiskStore, kill_actions
from botfleet.storage import current_revision, head_revision, schema_diff, state_engine, upgrade
from botfleet.storage.db import alembic_config, transaction

from conftest import MINIMAL_FLEET
from storage_fixtures import BACKENDS, state_url  # noqa: F401

TESTS = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/0"
RISK_TABLES = {"risk_kill_switches", "risk_breakers", "risk_events"}


def redis_or_skip() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


class Clock:
    def __init__(self, now: int = T0):
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=BACKENDS)
def url(request, state_url):  # noqa: F811
    return state_url(request.param)


def _tables(url: str) -> set[str]:
    engine_ = state_engine(url)
    try:
        return set(sa.inspect(engine_).get_table_names())
    finally:
        engine_.dispose()


# -- migration ------------------------------------------------------------------------------
def test_the_risk_tables_migrate_down_and_up_and_agree_with_the_models(url):
    assert upgrade(url) == head_revision() and current_revision(url) == head_revision()
    assert RISK_TABLES <= _tables(url) and schema_diff(url) == []
    eng = state_engine(url)
    with transaction(eng, write=True) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    eng.dispose()
    assert not RISK_TABLES & _tables(url) and current_revision(url) == "0002"
    assert upgrade(url) == head_revision() and schema_diff(url) == []


# -- engage, scopes, release, history ------------------------------------------------------
def test_engage_scopes_and_the_strictest_switch_wins(url):
    clock = Clock()
    with KillSwitch(url, clock=clock) as ks:
        assert ks.active_for("b1", "binance") is None
        bot = ks.engage("bot", "b1", "flatten", "runaway losses", "ui:alice")
        assert (bot.scope, bot.target, bot.mode, bot.actor, bot.engaged_at_ms) == (
            "bot", "b1", "flatten", "ui:alice", T0)
        clock.now += 1
        exch = ks.engage("exchange", "binance", "freeze", "maintenance", "telegram:bob")
        assert ks.active_for("b1", "binance") == bot  # flatten is stricter than freeze
        assert ks.active_for("b2", "binance") == exch
        assert ks.active_for("b2", "kraken") is None
        glob = ks.engage("global", None, "flatten", "market halt", "cli:ops")
        assert ks.active_for("b1", "binance") == glob  # equal modes: the widest scope
        assert ks.active_for("b3", "kraken") == glob
        assert [s.id for s in ks.all_for("b1", "binance")] == [bot.id, exch.id, glob.id]
        d = engine().check(ctx(order("buy", 1), kill=ks.active_for("b1", "binance")))
        assert d.rules() == ["kill_switch"] and "market halt" in d.reason


def test_a_switch_survives_restarts_until_released_and_history_is_kept(url):
    clock = Clock()
    with KillSwitch(url, clock=clock) as ks:
        first = ks.engage("bot", "b1", "freeze", "check fills", "cli:ops")
        clock.now += 1000
        second = ks.engage("bot", "b1", "flatten", "escalate", "cli:ops")  # supersedes
    with KillSwitch(url, clock=clock) as restarted:  # a new process, same database
        assert restarted.active_for("b1", "binance") == second
        clock.now += 1000
        released = restarted.release("bot", "b1", "all clear", "cli:ops")
        assert released.released_at_ms == T0 + 2000 and released.release_reason == "all clear"
        assert restarted.active_for("b1", "binance") is None
        assert restarted.release("bot", "b1", "again", "cli:ops") is None
    with RiskStore(url) as store:
        history = store.kill_history(target="b1")
        assert [(s.id, s.mode, s.engaged) for s in history] == [
            (second.id, "flatten", False), (first.id, "freeze", False)]
        assert history[1].release_reason == "superseded: escalate"
        events = store.events(kinds=["kill_switch"])
        assert [e.state for e in events] == ["released", "engaged", "engaged"]
        assert events[1].severity == "critical" and "escalate" in events[1].detail


def test_next_day_switches_lift_themselves_at_midnight_utc(url):
    clock = Clock(T0 + 23 * HOUR)
    with KillSwitch(url, clock=clock) as ks:
        s = ks.engage("global", "*", "cancel_orders", "daily loss", "risk:max_daily_loss",
                      release="next_day")
        assert s.release_at_ms == T0 + 24 * HOUR and s.target == ""
        clock.now = T0 + 24 * HOUR - 1
        assert ks.active_for("b1", "binance") == s
        clock.now += 1
        assert ks.active_for("b1", "binance") is None  # in memory, before any reload
        assert ks.refresh() == ()
    with RiskStore(url) as store:
        (row,) = store.kill_history()
        assert (row.released_at_ms, row.released_by) == (T0 + 24 * HOUR, "release: next_day")


@pytest.mark.parametrize("call, message", [
    (lambda ks: ks.engage("fleet", "x", reason="r"), "scope 'fleet': one of global, exchange"),
    (lambda ks: ks.engage("bot", "", reason="r"), "a bot kill switch needs the bot's name"),
    (lambda ks: ks.engage("global", "binance", reason="r"),
     "a global kill switch has no target (got 'binance')"),
    (lambda ks: ks.engage("bot", "b1", "panic", "r"),
     "mode 'panic': one of freeze, cancel_orders, flatten"),
    (lambda ks: ks.engage("bot", "b1", reason="  "), "a kill switch needs a reason"),
    (lambda ks: ks.engage("bot", "b1", reason="r", release="never"),
     "release 'never': one of manual, next_day"),
    (lambda ks: ks.release("bot", "b1"), "a release needs a reason"),
])
def test_bad_commands_say_what_is_wrong(tmp_path, call, message):
    with KillSwitch(f"sqlite:///{tmp_path / 's.db'}") as ks:
        with pytest.raises(KillSwitchError) as err:
            call(ks)
        assert message in str(err.value)
        assert ks.store.kill_history() == []


def test_concurrent_engagements_leave_one_switch_engaged(url):
    upgrade(url)
    errors = []

    def worker(i: int) -> None:
        try:
            with KillSwitch(url, listen=False) as ks:
                ks.engage("exchange", "binance", "freeze", f"worker {i}", f"t{i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with RiskStore(url) as store:
        history = store.kill_history()
        assert len(history) == 4 and [s.engaged for s in history].count(True) == 1


def test_kill_actions_cancel_and_flatten_with_stable_client_ids():
    s = KillState(12, "bot", "b1", "flatten", "r", "a", T0)
    positions = [Position("BTC/USDT", Decimal("0.5"), Decimal(100)),
                 Position("ETH/USDT", Decimal(-2), Decimal(10)),
                 Position("SOL/USDT", Decimal(0), Decimal(1))]
    working = [order("buy", 1, 99)]
    acts = kill_actions(s, "b1", positions, working, T0)
    assert acts.cancel == ("c1",)
    btc, eth = acts.flatten
    assert (btc.side, btc.amount, btc.type, btc.reduce_only, btc.reason) == (
        Side.SELL, Decimal("0.5"), OrderType.MARKET, True, Reason.MANUAL)
    assert (eth.side, eth.amount) == (Side.BUY, Decimal(2))
    assert btc.client_id == kill_actions(s, "b1", positions, [], 0).flatten[0].client_id
    assert btc.client_id.startswith("bfkill12-") and len(btc.client_id) <= 36
    freeze = KillState(13, "bot", "b1", "freeze", "r", "a", T0)
    assert kill_actions(freeze, "b1", positions, working) == kill_actions(None, "b1", [], [])
    cancel = kill_actions(KillState(14, "bot", "b1", "cancel_orders", "r", "a", T0), "b1",
                          positions, working)
    assert cancel.cancel == ("c1",) and cancel.flatten == ()


# -- propagation ----------------------------------------------------------------------------
def test_in_process_without_redis_every_switch_hears_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    prefix = f"test{uuid.uuid4().hex}:"
    with KillSwitch(url, "memory://", prefix=prefix) as cli, \
            KillSwitch(url, "memory://", prefix=prefix) as bot, \
            KillSwitch(url, "memory://", prefix=prefix, listen=False) as missed:
        seen = queue.Queue()
        bot.on_change(seen.put)
        s = cli.engage("bot", "b1", "freeze", "r", "cli")
        assert [x.id for x in seen.get(timeout=2)] == [s.id]  # from the bus's thread
        assert bot.active_for("b1", "x") == s
        assert missed.active_for("b1", "x") is None  # it missed the message ...
        missed.refresh()  # ... and sees it at its next cycle start, from SQL
        assert missed.active_for("b1", "x") == s


def test_redis_unreachable_the_change_is_still_in_sql_and_bots_poll_it(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with KillSwitch(url, "redis://127.0.0.1:1/0", listen=False) as ks:
        s = ks.engage("bot", "b1", "freeze", "r", "cli")
        assert ks.published is False and ks.active_for("b1", "x") == s
    with KillSwitch(url, "redis://127.0.0.1:1/0") as bot:  # cannot subscribe: polls SQL
        assert not bot.subscribed and bot.active_for("b1", "x") == s
        with KillSwitch(url, listen=False) as cli:
            cli.release("bot", "b1", "done", "cli")
        deadline = time.monotonic() + 3
        while bot.active_for("b1", "x") is not None:
            assert time.monotonic() < deadline, "the fallback poll did not reload"
            time.sleep(0.05)


CHILD = textwrap.dedent("""
    import json, sys, time
    from botfleet.risk import KillSwitch

    url, cache, prefix = sys.argv[1:4]
    ks = KillSwitch(url, cache, prefix=prefix)

    def changed(active):
        mine = ks.active_for("b1", "binance")
        print(json.dumps({"t": time.time(), "mode": mine.mode if mine else None}), flush=True)

    ks.on_change(changed)
    print(json.dumps({"ready": ks.subscribed}), flush=True)
    sys.stdin.readline()
    ks.close()
""")


def _lines(proc) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _next(q: queue.Queue, proc, timeout: float = 30) -> dict:
    try:
        return json.loads(q.get(timeout=timeout))
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"no answer from the bot process: {proc.stderr.read()}") from None


def test_a_bot_in_another_process_sees_the_switch_within_a_second(url):
    redis_url = redis_or_skip()
    upgrade(url)
    prefix = f"test{uuid.uuid4().hex}:"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url, redis_url, prefix], cwd=TESTS,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = _lines(proc)
        assert _next(lines, proc) == {"ready": True}
        with KillSwitch(url, redis_url, prefix=prefix, listen=False) as cli:
            start = time.time()
            cli.engage("exchange", "binance", "flatten", "exchange incident", "cli:ops")
            seen = _next(lines, proc, timeout=5)
            assert seen["mode"] == "flatten" and seen["t"] - start < 1.0, seen["t"] - start
            assert cli.published is True
            start = time.time()
            cli.release("exchange", "binance", "resolved", "cli:ops")
            seen = _next(lines, proc, timeout=5)
            assert seen["mode"] is None and seen["t"] - start < 1.0
    finally:
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read()


def test_a_bot_listening_on_redis_starts_from_sql(tmp_path):
    redis_url = redis_or_skip()
    url = f"sqlite:///{tmp_path / 's.db'}"
    with KillSwitch(url, "memory://", listen=False) as offline:
        s = offline.engage("global", None, "freeze", "while the bot was away", "cli")
    with KillSwitch(url, redis_url, prefix=f"test{uuid.uuid4().hex}:") as bot:
        assert bot.subscribed and bot.active_for("b1", "x") == s


# -- command line ---------------------------------------------------------------------------
def _fleet(write, tmp_path, cache: str = "memory://") -> Path:
    write("fleet.yaml", MINIMAL_FLEET + textwrap.dedent(f"""
        storage: {{state: sqlite:///state.db, cache: "{cache}"}}
        risk: {{kill_switch: {{on_trigger: flatten, release: manual}}}}
        """))
    write("bots.d/a.yaml", """
        kind: bot
        version: 1
        name: a
        pairs: [BTC/USDT]
        strategy: s
        """)
    return tmp_path / "fleet.yaml"


def _cli(*args):
    return CliRunner().invoke(app, list(args))


def test_cli_kill_list_release(write, tmp_path):
    fleet = str(_fleet(write, tmp_path))
    r = _cli("kill", "--fleet", fleet, "--all", "--reason", "exchange incident", "--actor", "me")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("engaged #1 global: flatten since ")  # the fleet's on_trigger
    assert "by me: exchange incident" in r.output and "no Redis configured" in r.output
    r = _cli("kill", "--fleet", fleet, "--bot", "a", "--mode", "freeze", "--reason", "x")
    assert r.exit_code == 0, r.output
    r = _cli("kill", "--fleet", fleet, "--list")
    assert r.exit_code == 0 and r.output.count("\n") == 2
    assert "#1 global: flatten" in r.output and "#2 bot a: freeze" in r.output
    with KillSwitch(f"sqlite:///{tmp_path / 'state.db'}") as ks:  # what a bot reads
        assert ks.active_for("a", "binance").scope == "global"
    r = _cli("release", "--fleet", fleet, "--all", "--reason", "resolved")
    assert r.exit_code == 0, r.output
    assert "released #1 global (flatten, engaged by me): resolved" in r.output
    assert "still engaged: #2 bot a: freeze" in r.output
    r = _cli("release", "--fleet", fleet, "--all", "--reason", "again")
    assert r.exit_code == 1 and "no kill switch engaged on global; engaged: #2 bot a" in r.output
    r = _cli("release", "--state", f"sqlite:///{tmp_path / 'state.db'}", "--bot", "a",
             "--reason", "done", "--fleet", fleet)
    assert r.exit_code == 0, r.output
    assert _cli("kill", "--fleet", fleet, "--list").output == "no kill switch engaged\n"


@pytest.mark.parametrize("args, message", [
    (["--reason", "x"], "exactly one of --bot NAME, --exchange NAME or --all"),
    (["--bot", "a", "--all", "--reason", "x"], "exactly one of"),
    (["--bot", "a"], "--reason TEXT is required"),
    (["--bot", "aa", "--reason", "x"], "no bot 'aa' in"),
    (["--exchange", "kraken", "--reason", "x"], "no exchange 'kraken' in"),
    (["--bot", "a", "--mode", "panic", "--reason", "x"], "mode 'panic': one of freeze"),
    (["--list", "--bot", "a"], "--list takes no switch"),
])
def test_cli_usage_errors(write, tmp_path, args, message):
    fleet = str(_fleet(write, tmp_path))
    r = _cli("kill", "--fleet", fleet, *args)
    assert r.exit_code == 2 and message in r.output, r.output


def test_cli_without_a_fleet_needs_state_and_publishes_to_redis(tmp_path, monkeypatch):
    redis_url = redis_or_skip()
    monkeypatch.chdir(tmp_path)
    r = _cli("kill", "--bot", "x", "--reason", "y")
    assert r.exit_code == 2 and "no fleet.yaml here: pass --fleet PATH or --state URL" in r.output
    state = f"sqlite:///{tmp_path / 'st.db'}"
    r = _cli("kill", "--state", state, "--cache", redis_url, "--exchange", "any", "--reason", "y")
    assert r.exit_code == 0, r.output
    assert "cancel_orders" in r.output and "published on redis://127.0.0.1:6379/0" in r.output
    r = _cli("kill", "--state", state, "--cache", "redis://127.0.0.1:1/0", "--bot", "b",
             "--reason", "y")
    assert r.exit_code == 0 and "did not answer" in r.output
    r = _cli("kill", "--state", state, "--cache", "mongodb://x", "--bot", "b", "--reason", "y")
    assert r.exit_code == 1 and "mongodb://x" in r.output and "expected memory://" in r.output


def test_cli_with_a_broken_fleet_acts_only_on_an_explicit_state(write, tmp_path):
    fleet = str(_fleet(write, tmp_path))
    write("bots.d/bad.yaml", "kind: bot\nversion: 1\nname: bad\nstrategy: nope\n")
    r = _cli("kill", "--fleet", fleet, "--all", "--reason", "x")
    assert r.exit_code == 2 and "pass --state URL" in r.output
    r = _cli("kill", "--fleet", fleet, "--state", f"sqlite:///{tmp_path / 'x.db'}", "--all",
             "--reason", "x")
    assert r.exit_code == 0 and "acting on --state without it" in r.output


def test_every_engagement_and_release_goes_on_the_event_stream_for_the_notifier(tmp_path):
    import uuid

    from botfleet.bus import KILLSWITCH_CHANGED, open_bus
    from botfleet.notify.notice import from_event

    prefix = f"ks-{uuid.uuid4().hex[:8]}:"
    reader = open_bus("memory://", prefix=prefix)
    with KillSwitch(f"sqlite:///{tmp_path / 's.db'}", prefix=prefix) as ks:
        ks.engage("bot", "b1", "flatten", "runaway losses", "ui:alice")
        ks.release("bot", "b1", "checked", "cli:ops")
    got = reader.events.read("notifier", "n1", topics=(KILLSWITCH_CHANGED,))
    assert [(e.type, e.payload["state"], e.payload["bot"]) for e in got] == [
        ("engaged", "engaged", "b1"), ("released", "released", "b1")]
    assert got[0].payload["reason"] == "runaway losses" and got[1].payload["actor"] == "cli:ops"
    notices = [from_event(e) for e in got]
    assert [(n.event_type, n.severity) for n in notices] == [("kill_switch", "critical"),
                                                              ("kill_switch", "warning")]
