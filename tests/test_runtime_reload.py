"""Hot reload while the runner runs: a valid change to a bot's YAML is taken at the bot's next
cycle (and a new bot file starts a bot); an invalid one is refused and reported with its
file:line, and every bot keeps the configuration it had.
"""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

from test_runtime_helpers import (
    HOUR,
    T0,
    bar,
    bot_yaml,
    find_close,
    load,
    runner,
    write_fleet,
)

from botfleet.bus import open_bus


def _notes(since_ms: int) -> list:
    bus = open_bus("memory://")
    got = bus.events.read(f"reload-{time.monotonic_ns()}", "c", count=100_000,
                          topics=("notifications",))
    return [e for e in got if e.ts_ms >= since_ms]


def _wait(what, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_hot_reload_takes_a_valid_change_and_refuses_an_invalid_one(tmp_path, server):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    fleet = load(path)
    up = find_close(server, "BTC/USDT", T0 + 2 * HOUR, True)
    server.set_time(up - 30 * 60_000)  # a manual clock between closes: nothing is due
    run = runner(fleet, server, reload_every_s=0.1).start()
    old = run.slots["a"].plan
    loop_done = threading.Event()

    def serve():
        asyncio.run(run.run(install_signals=False))
        loop_done.set()

    threading.Thread(target=serve, daemon=True).start()
    bot_file = tmp_path / "bots.d" / "a.yaml"
    try:
        # 1. valid: a larger order size, and a new bot
        started_ms = int(time.time() * 1000)
        bot_file.write_text(bot_yaml("a", extra="sizing: {method: fixed_quote, value: 400}\n"))
        (tmp_path / "bots.d" / "c.yaml").write_text(bot_yaml("c", "ETH/USDT"))
        slot = _wait(lambda: run.slots["a"].pending and run.slots["a"])
        assert slot.plan is old  # not swapped mid-way: at the next cycle
        assert slot.pending.sizing.value == Decimal(400)
        _wait(lambda: "c" in run.slots)
        notes = _wait(lambda: [e for e in _notes(started_ms)
                               if e.payload["title"] == "configuration reloaded"])
        said = " ".join(e.payload["body"] for e in notes)  # one reload, or two if the files
        assert "changed: a" in said and "added: c" in said  # were seen apart

        # 2. invalid: a misspelt key; refused, reported with file:line, nothing changes
        started_ms = int(time.time() * 1000)
        bot_file.write_text(bot_yaml("a", extra="sizng: {method: fixed_quote, value: 900}\n"))
        refused = _wait(lambda: [e for e in _notes(started_ms)
                                 if e.payload["title"] == "configuration change refused"])
        body = refused[0].payload["body"]
        assert refused[0].payload["severity"] == "error"
        assert "a.yaml:7:1" in body and "sizng" in body
        assert run.slots["a"].pending.sizing.value == Decimal(400)  # kept the valid one
        audit = run.svc.ledger.audit_log()
        assert [e["action"] for e in audit[:2]] == ["config.refused", "config.reloaded"]

        # the next close: its cycle runs the reloaded configuration (400 USDT), never the
        # refused one, and the bot added by the reload cycles too
        server.set_time(up)
        done = _wait(lambda: {r.bot: r for r in list(run.results)} if {"a", "c"} <= {
            r.bot for r in list(run.results)} else None)
        assert done["a"].outcome == "ok", done["a"].error
        buy = done["a"].orders[0]
        price = Decimal(repr(float(bar(server, "BTC/USDT", up)["open"])))
        assert buy.amount == (Decimal(400) / price).quantize(Decimal("0.00001"),
                                                             rounding="ROUND_DOWN")
        assert run.slots["a"].plan.sizing.value == Decimal(400)
        assert run.slots["a"].pending is None
        assert done["c"].outcome == "ok", done["c"].error
    finally:
        run.stop()
        assert loop_done.wait(15)


def test_a_bad_file_at_a_reload_leaves_every_bot_running(tmp_path, server):
    """A YAML syntax error in one file: no bot changes, and the next cycles run."""
    from botfleet.runtime.reload import FleetWatcher, apply

    path = write_fleet(tmp_path, {"a": bot_yaml("a"), "b": bot_yaml("b", "ETH/USDT")})
    fleet = load(path)
    run = runner(fleet, server).start()
    try:
        watcher = FleetWatcher(run.load)
        assert watcher.poll(run.load) is None  # nothing changed yet
        (tmp_path / "bots.d" / "b.yaml").write_text("kind: bot\nname: [unclosed\n")
        fresh = watcher.poll(run.load)
        assert fresh is not None and not fresh.ok
        outcome = apply(run, fresh)
        assert outcome["refused"] and any("b.yaml:3:1: $: YAML syntax error" in line
                                          for line in outcome["refused"])
        assert not outcome["changed"] and run.slots["b"].pending is None
        assert watcher.poll(run.load) is None  # reported once, not at every poll
        server.set_time(T0 + HOUR)
        assert [r.outcome for r in run.run_once(now_ms=T0 + HOUR)] == ["ok", "ok"]
    finally:
        run.shutdown(5)
