"""A close in phases (`runtime.batch`): every bot reads, then every bot decides, then every bot
acts. The phases exist for speed (bench/bench_runtime.py measures that); what is tested here
is that they change nothing a bot does, and that a slow bot holds the others back no longer
than the stall allowance.
"""

from __future__ import annotations

from test_runtime_helpers import HOUR, T0, bot_yaml, find_close, load, runner, venue, write_fleet

from botfleet.runtime.batch import STALL_S

PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")


def _trade(tmp_path, phased: bool) -> list[tuple]:
    """Four bots through six hourly closes; every order each sent, in the ledger's words."""
    fleet = load(write_fleet(tmp_path, {f"b{i}": bot_yaml(f"b{i}", pair)
                                        for i, pair in enumerate(PAIRS)}))
    server = venue()
    run = runner(fleet, server, phased=phased, freeze_heap=False).start()
    try:
        for k in range(1, 7):
            server.set_time(T0 + k * HOUR)
            results = run.run_once(now_ms=T0 + k * HOUR)
            assert [r.outcome for r in results] == ["ok"] * 4, [r.error for r in results]
        return [(name, o.client_id, o.symbol, o.side, o.type, o.amount, o.stop_price, o.status)
                for name in sorted(run.slots) for o in run.svc.ledger.orders(name)]
    finally:
        run.shutdown(5)
        server.stop()


def test_phases_change_no_order(tmp_path):
    phased = _trade(tmp_path / "phased", True)
    alone = _trade(tmp_path / "alone", False)
    assert phased == alone
    assert {o[0] for o in phased} == {"b0", "b1", "b2", "b3"}  # every bot traded


def test_a_slow_decision_holds_the_others_sends_only_for_the_stall(tmp_path):
    fleet = load(write_fleet(tmp_path, {"quick": bot_yaml("quick"),
                                        "slow": bot_yaml("slow", "ETH/USDT", "sleepy")},
                             plugins=True))
    server = venue()
    run = runner(fleet, server).start()
    try:
        up = find_close(server, "BTC/USDT", T0 + HOUR, True)
        server.set_time(up)
        results = {r.bot: r for r in run.run_once(now_ms=up)}
        quick, slow = results["quick"], results["slow"]
        assert quick.outcome == slow.outcome == "ok"
        assert quick.orders  # the close went up: the quick bot entered
        # it waited for the slow bot's decision (2 s of sleep) no longer than the stall...
        assert quick.finished < slow.decided
        # ...but did wait for it, before sending anything: the gate held its acting
        assert quick.finished - quick.decided >= STALL_S
    finally:
        run.shutdown(5)
        server.stop()


def test_a_runner_freezes_its_heap_while_it_runs_and_gives_it_back_at_shutdown(tmp_path):
    """What start() built is left out of collections while the runner trades (speed); once it
    shut down, a process that goes on (a Prefect worker, a test session) can collect it."""
    import gc

    fleet = load(write_fleet(tmp_path, {"b0": bot_yaml("b0")}))
    server = venue()
    run = runner(fleet, server).start()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        run.shutdown(5)
        server.stop()
    assert gc.get_freeze_count() == 0
