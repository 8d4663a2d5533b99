"""A bot's cycle through the real ccxt client on the simulator: what it decides at a close,
what it sends, what it records, and the correlation id on everything one cycle causes; a risk
refusal recorded and emitted, never sent; a kill switch engaged by another process obeyed at
the next check; a cycle in a fresh process continuing from the state database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from test_runtime_helpers import (
    HOUR,
    T0,
    Captured,
    bar,
    bot_yaml,
    events_of,
    find_close,
    load,
    runner,
    write_fleet,
)

from botfleet.execution.ledger import Ledger
from botfleet.orders import OrderStatus, OrderType, Reason, Side
from botfleet.risk.store import RiskStore

BOTFLEET = str(Path(sys.executable).with_name("botfleet"))


def test_a_cycle_enters_protects_and_exits_with_one_correlation_id(tmp_path, server):
    fleet = load(write_fleet(tmp_path, {"a": bot_yaml("a")}))
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    down = find_close(server, "BTC/USDT", up + HOUR, False)
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        with Captured() as logs:
            (entry,) = run.run_once(now_ms=up)
        assert entry.outcome == "ok", entry.error
        assert [(r.side, r.type, r.status) for r in entry.orders] == [
            (Side.BUY, OrderType.MARKET, OrderStatus.FILLED),
            (Side.SELL, OrderType.STOP, OrderStatus.OPEN)]
        buy, stop = entry.orders
        # fixed_quote 200 USDT at the forming bar's open, on the lot step
        price = Decimal(repr(float(bar(server, "BTC/USDT", up)["open"])))
        assert buy.amount == (Decimal(200) / price).quantize(Decimal("0.00001"),
                                                              rounding="ROUND_DOWN")
        assert stop.stop_price == (buy.average_price * Decimal("0.97")).quantize(Decimal("0.01"))
        cid = entry.correlation_id
        ledger = run.svc.ledger
        cycle = ledger.cycle(cid)
        assert (cycle.outcome, cycle.candle_ms, cycle.key) == ("ok", up - HOUR, str(up - HOUR))
        for rec in entry.orders:  # the id on the orders: their cycle and their intent event
            assert ledger.get(rec.client_id).cycle_id == cycle.id
            assert ledger.events(rec.client_id)[0].detail["correlation_id"] == cid
        placed = [e for e in events_of(cid) if e.topic == "orders.placed"]
        assert [e.payload["client_order_id"] for e in placed] == [buy.client_id, stop.client_id]
        assert all(e.payload["correlation_id"] == cid for e in placed)
        mine = [r for r in logs.records if r.correlation_id == cid]
        assert any("order entry:BTC/USDT" in r.getMessage() for r in mine)
        assert any("cycle ok" in r.getMessage() for r in mine)
        assert all(r.bot == "a" for r in mine)
        assert not [r for r in logs.records if "entry:BTC/USDT" in r.getMessage()
                    and r.correlation_id != cid]

        server.set_time(down)
        (exit_,) = run.run_once(now_ms=down)
        assert exit_.outcome == "ok", exit_.error
        assert [(r.side, r.reason, r.status) for r in exit_.orders] == [
            (Side.SELL, Reason.SIGNAL, OrderStatus.FILLED)]
        assert exit_.orders[0].amount == buy.amount
        assert ledger.get(stop.client_id).status is OrderStatus.CANCELED  # cancelled first
        assert ledger.position("a", "BTC/USDT").amount == 0
        closed = [e for e in events_of(exit_.correlation_id) if e.topic == "trades.closed"]
        assert len(closed) == 1 and closed[0].payload["reason"] == "signal"
        assert exit_.correlation_id != cid

        (again,) = run.run_once(now_ms=down)  # the same close again: nothing to do
        assert again.outcome == "done" and again.correlation_id is None
    finally:
        run.shutdown(5)


def test_a_refused_order_is_recorded_and_emitted_not_sent(tmp_path, server):
    fleet = load(write_fleet(tmp_path, {"a": bot_yaml("a", extra="risk: {max_order_size: 50}\n")}))
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (r,) = run.run_once(now_ms=up)
        assert r.outcome == "ok" and r.orders == []
        assert len(r.refusals) == 1 and "max_order_size (bot a)" in r.refusals[0]
        assert run.svc.ledger.orders("a") == []
        stored = RiskStore(run.svc.ledger.engine, migrate=False).events(target="a")
        assert [(e.kind, e.rule) for e in stored] == [("risk_refusal", "max_order_size")]
        alerts = [e for e in events_of(r.correlation_id) if e.topic == "risk.alerts"]
        assert [(e.payload["check"], e.payload["limit"]) for e in alerts] == [
            ("max_order_size", "50")]
    finally:
        run.shutdown(5)


def test_a_kill_switch_engaged_by_another_process_stops_new_orders(tmp_path, server):
    path = write_fleet(tmp_path, {"a": bot_yaml("a"), "b": bot_yaml("b", "ETH/USDT")})
    fleet = load(path)
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server, ["a"]).start()
    try:
        server.set_time(up)
        (first,) = run.run_once(now_ms=up)
        held = first.orders[0].amount
        kill = subprocess.run([BOTFLEET, "kill", "--bot", "a", "--mode", "flatten",
                               "--reason", "test", "--fleet", str(path)],
                              check=False, capture_output=True, text=True, timeout=60)
        assert kill.returncode == 0, kill.stderr
        nxt = find_close(server, "BTC/USDT", up + HOUR, True)  # an entry signal again
        server.set_time(nxt)
        (r,) = run.run_once(now_ms=nxt)
        assert r.outcome == "ok", r.error
        # cancels the resting stop, flattens at market (reduce-only), sends no entry
        assert [(o.side, o.reason, o.reduce_only) for o in r.orders] == [
            (Side.SELL, Reason.MANUAL, True)]
        assert r.orders[0].amount == held and r.orders[0].status is OrderStatus.FILLED
        assert run.svc.ledger.get(first.orders[1].client_id).status is OrderStatus.CANCELED
        assert any("kill_switch (bot a)" in x for x in r.refusals)
        assert run.svc.ledger.position("a", "BTC/USDT").amount == 0
    finally:
        run.shutdown(5)


def test_a_cycle_in_a_fresh_process_continues_from_the_state_database(tmp_path, server):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    account = server.add_account("shared", {"USDT": "5000"})
    env = {**os.environ, "RT_KEY": account.api_key, "RT_SECRET": account.secret}
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    down = find_close(server, "BTC/USDT", up + HOUR, False)

    server.set_time(up)  # the first process: the command line
    first = subprocess.run([BOTFLEET, "paper", "a", "--venue", server.base_url, "--once",
                            "--fleet", str(path), "--log-format", "json"],
                           check=False, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    assert "a: ok" in first.stdout
    server.set_time(down)  # the second: the orchestration flow's entry point
    code = ("import logging, sys\n"
            "from botfleet.runtime.logctx import install\n"
            "install('info', 'json')\n"
            "from botfleet.runtime import run_once\n"
            f"(r,) = run_once({str(path)!r}, ['a'], venue_url={server.base_url!r})\n"
            "print(r.outcome, len(r.orders))\n")
    second = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                            text=True, timeout=120, env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["ok", "1"]
    state = load(path).fleet.storage.state
    with Ledger(state) as ledger:
        orders = ledger.orders("a")
        assert [(o.side, o.type, o.status) for o in orders] == [
            (Side.BUY, OrderType.MARKET, OrderStatus.FILLED),
            (Side.SELL, OrderType.STOP, OrderStatus.CANCELED),
            (Side.SELL, OrderType.MARKET, OrderStatus.FILLED)]
        assert orders[2].amount == orders[0].amount  # the second process knew the position
        assert ledger.position("a", "BTC/USDT").amount == 0
        runs = {o.cycle_key for o in orders}
        assert runs == {str(up - HOUR), str(down - HOUR)}
    lines = [ln for ln in second.stderr.splitlines() if '"correlation_id"' in ln]
    assert lines and all('"bot": "a"' in ln for ln in lines)
    from typer.testing import CliRunner

    from botfleet.cli import app

    shown = CliRunner().invoke(app, ["status", "--fleet", str(path), "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"bot": "a"' in shown.output and '"outcome": "ok"' in shown.output
    assert '"positions": {}' in shown.output


def test_a_rejected_order_opens_the_circuit_breaker_which_then_halts_entries(tmp_path, server):
    extra = "risk: {circuit_breaker: {max_consecutive_errors: 1, cooldown: 1d}}\n"
    fleet = load(write_fleet(tmp_path, {"a": bot_yaml("a", extra=extra)}))
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        server.faults.reject_next(code=-2010, msg="Account has insufficient balance for "
                                  "requested action.")
        (r,) = run.run_once(now_ms=up)
        assert [o.status for o in r.orders] == [OrderStatus.REJECTED]
        state = RiskStore(run.svc.ledger.engine, migrate=False).load_breaker("bot", "a")
        assert (state.state, state.rule) == ("open", "max_consecutive_errors")
        opened = [e for e in events_of(r.correlation_id) if e.topic == "breaker.changed"]
        assert [e.payload["state"] for e in opened] == ["open"]
        nxt = find_close(server, "BTC/USDT", up + HOUR, True)
        server.set_time(nxt)
        (halted,) = run.run_once(now_ms=nxt)
        assert halted.orders == [] and any("circuit_breaker (bot a)" in x
                                           for x in halted.refusals)
    finally:
        run.shutdown(5)
