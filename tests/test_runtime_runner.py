"""The fleet runner: bots isolated from each other (a crashing bot, a slow one), candles fetched
once per series, shutdown within its deadline with the orders in flight recorded for
reconciliation, and the command line's runner stopping on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from test_runtime_helpers import (
    HOUR,
    T0,
    bot_yaml,
    events_of,
    find_close,
    load,
    runner,
    venue,
    write_fleet,
)

from botfleet.orders import OrderStatus

BOTFLEET = str(Path(sys.executable).with_name("botfleet"))


def _cycles(ledger, bot: str) -> list[tuple[str, str | None]]:
    import sqlalchemy as sa

    from botfleet.storage.trading import Bot, Cycle

    b, c = Bot.__table__, Cycle.__table__
    with ledger.engine.connect() as conn:
        return [(r.outcome, r.error) for r in conn.execute(
            sa.select(c.c.outcome, c.c.error).join(b, c.c.bot_id == b.c.id)
            .where(b.c.name == bot).order_by(c.c.id))]


def test_a_crashing_bot_does_not_stop_its_neighbours(tmp_path, server):
    fleet = load(write_fleet(tmp_path, {
        "good1": bot_yaml("good1"), "good2": bot_yaml("good2", "ETH/USDT"),
        "bad": bot_yaml("bad", "SOL/USDT", "crash"),
        "unfit": bot_yaml("unfit", "XRP/USDT", extra=(
            "sizing: {method: volatility_target, value: 10%}\n"))}, plugins=True))
    run = runner(fleet, server, until_ms=T0 + 4 * HOUR)
    run.start()
    # a configuration the runner cannot trade: that bot is reported and left out
    assert "sizing method volatility_target needs 'target'" in run.problems["unfit"]
    assert set(run.slots) == {"good1", "good2", "bad"}
    server.clock.set_speed(7200, start_ms=T0 + 60_000)  # a close every half second
    started = time.monotonic()
    asyncio.run(run.run(install_signals=False))
    assert time.monotonic() - started < 20
    ledger = run.svc.ledger
    bad = _cycles(ledger, "bad")
    assert len(bad) >= 3 and all(o == "error" for o, _ in bad)
    assert "boom_rt: this plugin indicator always fails" in bad[0][1]
    for name in ("good1", "good2"):
        good = _cycles(ledger, name)
        assert len(good) == len(bad) and all(o == "ok" for o, _ in good), good
    assert ledger.orders("good1") and ledger.orders("good2")
    failed = [r for r in run.results if r.bot == "bad"]
    note = [e for e in events_of(failed[0].correlation_id) if e.topic == "notifications"]
    assert note and note[0].payload["severity"] == "error"
    assert "boom_rt" in note[0].payload["body"]


def test_a_slow_bot_is_timed_out_and_the_others_go_on(tmp_path, server):
    fleet = load(write_fleet(tmp_path, {"quick": bot_yaml("quick"),
                                        "slow": bot_yaml("slow", "ETH/USDT", "sleepy")},
                             plugins=True))
    run = runner(fleet, server, cycle_timeout_s=0.8).start()
    try:
        up = find_close(server, "BTC/USDT", T0 + HOUR, True)
        server.set_time(up)
        began = time.monotonic()
        results = {r.bot: r for r in run.run_once(now_ms=up)}
        assert time.monotonic() - began < 1.8  # the slow one (2 s) was not waited for
        assert results["quick"].outcome == "ok" and results["quick"].orders
        assert results["slow"].outcome == "timeout"
        assert run.wait_idle(10)
        # told to stop before any send; its thread finished its computation and sent nothing
        assert _cycles(run.svc.ledger, "slow") == [
            ("timeout", "still running after 0.8s; told to stop before its next send")]
        assert run.svc.ledger.orders("slow") == []
    finally:
        run.shutdown(5)


def test_candles_are_fetched_once_per_series_for_all_its_bots(tmp_path):
    fleet = load(write_fleet(tmp_path, {n: bot_yaml(n) for n in ("x1", "x2", "x3")}))
    server = venue(weight_limit=1_000_000)
    run = runner(fleet, server).start()
    try:
        server.set_time(T0 + HOUR)
        before = server.requests["/api/v3/klines"]
        results = run.run_once(now_ms=T0 + HOUR)
        assert [r.outcome for r in results] == ["ok"] * 3
        assert server.requests["/api/v3/klines"] - before == 1
        budget = run.links["binance"].budget
        assert budget.limit == 1_000_000  # the weight per minute the exchange publishes
        assert budget.used >= 2  # the klines request and the orders took their weight
        used = budget.used
        run.links["binance"].client().throttle(0.4)  # ccxt's cost of a klines request
        assert budget.used - used == 2  # Binance's weight of it, whatever the limit
        server.set_time(T0 + 2 * HOUR)
        run.run_once(now_ms=T0 + 2 * HOUR)
        assert server.requests["/api/v3/klines"] - before == 2
    finally:
        run.shutdown(5)
        server.stop()


def test_shutdown_within_its_deadline_records_orders_in_flight_as_unknown(tmp_path, server):
    fleet = load(write_fleet(tmp_path, {"a": bot_yaml("a")}))
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server, cycle_timeout_s=60).start()
    server.set_time(up)
    server.faults.accept_then_timeout(delay_s=30)  # the entry is booked; its answer stalls
    worker = threading.Thread(target=run.run_once, kwargs={"now_ms": up}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not run.svc.ledger.orders("a", statuses=[OrderStatus.SUBMITTED]):
        assert time.monotonic() < deadline, "the entry was never sent"
        time.sleep(0.02)
    began = time.monotonic()
    marked = run.shutdown(deadline_s=1.0)
    assert time.monotonic() - began < 2.0
    (entry,) = run.svc.ledger.orders("a")
    assert marked == [entry.client_id]
    assert entry.status is OrderStatus.UNKNOWN and "shut down" in entry.error
    (cycle,) = _cycles(run.svc.ledger, "a")
    assert cycle == ("interrupted", "shutdown deadline passed")
    # the venue booked it: reconciliation will find it by its client id
    booked = server.exchange.orders(server.accounts.by_name("a"))
    assert [o.client_id for o in booked] == [entry.client_id]


def test_the_command_line_runner_stops_on_sigterm_within_its_deadline(tmp_path, server):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    account = server.add_account("shared", {"USDT": "5000"})
    env = {**os.environ, "RT_KEY": account.api_key, "RT_SECRET": account.secret}
    server.clock.set_speed(3600, start_ms=T0 + 60_000)
    proc = subprocess.Popen([BOTFLEET, "paper", "--venue", server.base_url, "--fleet",
                             str(path), "--deadline", "2", "--reload-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        state = load(path).fleet.storage.state
        from botfleet.execution.ledger import Ledger

        deadline = time.monotonic() + 60
        with Ledger(state) as ledger:
            while not _has_cycle(ledger, "a"):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "no cycle ran"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        out, err = proc.communicate(timeout=15)
        assert time.monotonic() - began < 5
        assert proc.returncode == 0, err
        assert "stopped after" in out
        import sqlalchemy as sa

        from botfleet.storage.trading import BotRun

        with Ledger(state) as ledger, ledger.engine.connect() as conn:
            stops = conn.execute(sa.select(BotRun.__table__.c.stop_reason)).scalars().all()
        assert stops == ["shutdown"]
    finally:
        if proc.poll() is None:
            proc.kill()


def _has_cycle(ledger, bot: str) -> bool:
    try:
        return bool(_cycles(ledger, bot))
    except Exception:  # noqa: BLE001 - the runner has not created its tables yet
        return False


def test_a_kill_switch_arriving_between_closes_flattens_at_once(tmp_path, server):
    from botfleet.orders import Reason, Side
    from botfleet.risk import KillSwitch

    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    fleet = load(path)
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (entry,) = run.run_once(now_ms=up)
        assert entry.orders and run.svc.ledger.position("a", "BTC/USDT").amount > 0
        server.set_time(up + 20 * 60_000)  # between closes: no cycle is due
        with KillSwitch(fleet.fleet.storage.state, "memory://", listen=False) as switch:
            state = switch.engage("bot", "a", "flatten", "test")
        flat = None
        deadline = time.monotonic() + 10
        while flat is None or flat.status is not OrderStatus.OPEN:
            assert time.monotonic() < deadline, "the runner did not act on the switch"
            time.sleep(0.05)
            flat = next((o for o in run.svc.ledger.orders("a") if o.reason is Reason.MANUAL),
                        None)
        # a market order booked mid-bar: it fills at the next bar's open (next_open timing)
        assert (flat.side, flat.reduce_only, flat.cycle_key) == (Side.SELL, True,
                                                                  f"kill{state.id}")
        assert run.svc.ledger.get(entry.orders[1].client_id).status is OrderStatus.CANCELED
        server.set_time(up + HOUR)
        run.slots["a"].executor.sync()
        assert run.svc.ledger.get(flat.client_id).status is OrderStatus.FILLED
        assert run.svc.ledger.position("a", "BTC/USDT").amount == 0
    finally:
        run.shutdown(5)
