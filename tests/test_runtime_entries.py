"""Limit and stop entries on the live path, through the real ccxt client on the simulator: the
order rests at the backtest's price and fills when the price trades through it; it expires
after `expire` bars (cancelled on the exchange, `expired` in the ledger with the reason), a
part filled before then held and protected; an exit signal while flat cancels it; a stop entry triggers; no second entry while one works; a
runner restarted while one works keeps it, once. And on recorded data: a paper replay of a
limit-entry bot makes the backtest's trades (`test_a_limit_entry_replay_makes_the_backtests_
trades`).
"""

from __future__ import annotations

import shutil
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from pathlib import Path

import pytest
from test_runtime_helpers import HOUR, T0, bar, bot_yaml, load, runner, write_fleet

from botfleet.orders import OrderStatus, OrderType, Reason, Side
from botfleet.runtime.timing import candle_open_before

from shared_data import SHARED

ROOT = Path(__file__).resolve().parents[1]
SYM = "BTC/USDT"
TICK, STEP = Decimal("0.01"), Decimal("0.00001")


def _fleet(tmp_path, entry: str):
    return load(write_fleet(tmp_path, {"a": bot_yaml("a", extra=f"fills: {{entry_order: "
                                                                 f"{entry}}}\n")}))


def _up(server, t: int) -> bool:
    b = bar(server, SYM, t - HOUR)
    return bool(b["close"] > b["open"])


def _down(server, t: int) -> bool:
    b = bar(server, SYM, t - HOUR)
    return bool(b["close"] < b["open"])


def _find(server, test) -> int:
    """The first close from T0 + 1h at which `test(close_ms)` holds."""
    t = T0 + HOUR
    while not test(t):
        t += HOUR
        assert t < T0 + 19 * 86_400_000, "no such close in the synthetic market"
    return t


def _close(server, t: int) -> Decimal:
    return Decimal(repr(float(bar(server, SYM, t - HOUR)["close"])))


def _limit(server, t: int, offset: str) -> Decimal:
    """The backtest's limit price for a long decided at close t (nearest tick, half up)."""
    return (_close(server, t) * (1 - Decimal(offset))).quantize(TICK, ROUND_HALF_UP)


def _open_orders(run):
    return run.svc.executor_for("a").broker.open_orders(SYM)


def test_a_limit_entry_rests_at_the_backtests_price_and_fills_when_traded_through(
        tmp_path, server):
    fleet = _fleet(tmp_path, "{type: limit, offset: 0.2%, expire: 3}")

    def fills_next_bar(t):  # entry signal at t; the next bar trades through and closes up
        lim = _limit(server, t, "0.002")
        nxt = bar(server, SYM, t)
        return _up(server, t) and float(nxt["low"]) < float(lim) < float(nxt["open"]) and \
            nxt["close"] > nxt["open"]

    up = _find(server, fills_next_bar)
    lim = _limit(server, up, "0.002")
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (first,) = run.run_once(now_ms=up)
        assert first.outcome == "ok", first.error
        (entry,) = first.orders  # flat until it fills: no protective stop yet
        assert (entry.side, entry.type, entry.status, entry.price) == (
            Side.BUY, OrderType.LIMIT, OrderStatus.OPEN, lim)
        assert entry.amount == (Decimal(200) / lim).quantize(STEP, ROUND_DOWN)  # sized at lim
        (resting,) = _open_orders(run)
        assert (resting.client_id, resting.type, resting.price) == (entry.client_id,
                                                                   OrderType.LIMIT, lim)
        server.set_time(up + HOUR)
        (second,) = run.run_once(now_ms=up + HOUR)
        assert second.outcome == "ok", second.error
        ledger = run.svc.ledger
        done = ledger.get(entry.client_id)
        assert done.status is OrderStatus.FILLED and done.average_price == lim  # maker, at lim
        (fill,) = ledger.fills(entry.client_id)
        assert candle_open_before(fill.ts_ms, "1h") == up  # inside the bar after the signal
        assert ledger.position("a", SYM).amount == entry.amount
        # protection once filled: the stop of the position, placed at the next close
        (stop,) = second.orders
        assert (stop.side, stop.type, stop.reduce_only) == (Side.SELL, OrderType.STOP, True)
        assert stop.stop_price == (lim * Decimal("0.97")).quantize(TICK)
    finally:
        run.shutdown(5)


def test_a_partly_filled_limit_entry_expires_and_its_filled_part_is_protected(
        tmp_path, server):
    from test_runtime_helpers import venue

    from botfleet.sim.fillmodel import FillModel

    fleet = _fleet(tmp_path, "{type: limit, offset: 0.2%, expire: 1}")

    def fills_next_bar(t):
        lim = _limit(server, t, "0.002")
        nxt = bar(server, SYM, t)
        return _up(server, t) and float(nxt["low"]) < float(lim) < float(nxt["open"]) and \
            nxt["close"] > nxt["open"]

    up = _find(server, fills_next_bar)
    lim = _limit(server, up, "0.002")
    amount = (Decimal(200) / lim).quantize(STEP, ROUND_DOWN)
    # the same market, where one order may take only half the fill bar's volume of it
    cap = float(amount) / 2 / float(bar(server, SYM, up)["volume"])
    capped = venue(fills=FillModel(volume_cap=cap))
    run = runner(fleet, capped).start()
    try:
        capped.set_time(up)
        (entry,) = run.run_once(now_ms=up)[0].orders
        assert entry.amount == amount
        capped.set_time(up + HOUR)
        (second,) = run.run_once(now_ms=up + HOUR)
        assert second.outcome == "ok", second.error
        ledger = run.svc.ledger
        part = ledger.get(entry.client_id)
        assert part.status is OrderStatus.EXPIRED and 0 < part.filled < amount
        assert ledger.position("a", SYM).amount == part.filled  # the filled part is held
        (stop,) = second.orders  # and protected
        assert (stop.type, stop.amount, stop.reduce_only) == (OrderType.STOP, part.filled, True)
        assert [o.client_id for o in _open_orders(run)] == [stop.client_id]
    finally:
        run.shutdown(5)
        capped.stop()


def test_an_unfilled_limit_entry_expires_and_blocks_a_second_entry_while_it_works(
        tmp_path, server):
    fleet = _fleet(tmp_path, "{type: limit, offset: 20%, expire: 2}")
    up = _find(server, lambda t: _up(server, t) and _up(server, t + HOUR)
               and _up(server, t + 2 * HOUR))
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (first,) = run.run_once(now_ms=up)
        (entry,) = first.orders
        assert entry.type is OrderType.LIMIT and entry.status is OrderStatus.OPEN
        server.set_time(up + HOUR)
        (second,) = run.run_once(now_ms=up + HOUR)  # another entry signal: not sent
        assert second.outcome == "ok" and second.orders == []
        assert any("an entry is still working" in n for n in second.notes)
        assert [o.client_id for o in _open_orders(run)] == [entry.client_id]

        server.set_time(up + 2 * HOUR)  # two bars closed unfilled: expired, then a new one
        (third,) = run.run_once(now_ms=up + 2 * HOUR)
        assert third.outcome == "ok", third.error
        ledger = run.svc.ledger
        gone = ledger.get(entry.client_id)
        assert gone.status is OrderStatus.EXPIRED and gone.filled == 0
        asked = [e for e in ledger.events(entry.client_id) if e.detail.get("reason")]
        assert asked and asked[0].detail["reason"] == "expired"
        assert "unfilled after 2 bar(s)" in asked[0].detail["why"]
        assert ledger.events(entry.client_id)[-1].source == "expire"
        assert any("expired" in n for n in third.notes)
        (renewed,) = third.orders  # the kernel expires before the bar's signals
        assert renewed.price == _limit(server, up + 2 * HOUR, "0.2")
        assert [o.client_id for o in _open_orders(run)] == [renewed.client_id]
        assert ledger.position("a", SYM).amount == 0
    finally:
        run.shutdown(5)


def test_an_exit_signal_while_flat_cancels_the_working_entry(tmp_path, server):
    fleet = _fleet(tmp_path, "{type: limit, offset: 20%, expire: 5}")
    up = _find(server, lambda t: _up(server, t) and _down(server, t + HOUR))
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (entry,) = run.run_once(now_ms=up)[0].orders
        server.set_time(up + HOUR)
        (second,) = run.run_once(now_ms=up + HOUR)
        assert second.outcome == "ok" and second.orders == []
        assert run.svc.ledger.get(entry.client_id).status is OrderStatus.CANCELED
        assert any("exit signal cancels the working limit entry" in n for n in second.notes)
        assert _open_orders(run) == []
    finally:
        run.shutdown(5)


def test_a_stop_entry_triggers_above_the_close(tmp_path, server):
    fleet = _fleet(tmp_path, "{type: stop, offset: 0.1%, expire: 1}")

    def triggers(t):
        stop = (_close(server, t) * Decimal("1.001")).quantize(TICK, ROUND_HALF_UP)
        nxt = bar(server, SYM, t)
        return _up(server, t) and float(nxt["open"]) < float(stop) <= float(nxt["high"])

    up = _find(server, triggers)
    stop = (_close(server, up) * Decimal("1.001")).quantize(TICK, ROUND_HALF_UP)
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (entry,) = run.run_once(now_ms=up)[0].orders
        assert (entry.type, entry.stop_price, entry.price, entry.status) == (
            OrderType.STOP, stop, None, OrderStatus.OPEN)
        assert entry.amount == (Decimal(200) / stop).quantize(STEP, ROUND_DOWN)
        server.set_time(up + HOUR)
        (second,) = run.run_once(now_ms=up + HOUR)
        assert second.outcome == "ok", second.error
        done = run.svc.ledger.get(entry.client_id)
        assert done.status is OrderStatus.FILLED
        # the bar reached the stop above its open: filled at the stop (no slippage here)
        assert done.average_price == stop.quantize(TICK, ROUND_UP)
        assert run.svc.ledger.position("a", SYM).amount == entry.amount
    finally:
        run.shutdown(5)


def test_a_runner_restarted_while_a_limit_entry_works_keeps_it_once(tmp_path, server):
    fleet = _fleet(tmp_path, "{type: limit, offset: 20%, expire: 3}")
    up = _find(server, lambda t: _up(server, t) and _up(server, t + HOUR))
    run = runner(fleet, server).start()
    server.set_time(up)
    try:
        (entry,) = run.run_once(now_ms=up)[0].orders
    finally:
        run.shutdown(5)
    again = runner(load(tmp_path / "fleet.yaml"), server).start()  # a new process's runner
    try:
        assert again.svc.executor_for("a").ready  # reconciled: the order is known
        (same,) = again.run_once(now_ms=up)  # the same close once more: already done
        assert same.outcome == "done"
        server.set_time(up + HOUR)
        (nxt,) = again.run_once(now_ms=up + HOUR)  # an entry signal: the entry still works
        assert nxt.outcome == "ok" and nxt.orders == []
        ledger = again.svc.ledger
        assert [(o.client_id, o.status) for o in ledger.orders("a")] == [
            (entry.client_id, OrderStatus.OPEN)]
        assert [o.client_id for o in _open_orders(again)] == [entry.client_id]
    finally:
        again.shutdown(5)


# -- parity on recorded data ----------------------------------------------------------------

DAY = 86_400_000
START = 1_757_462_400_000  # 2025-09-10 00:00 UTC: an entry that expires, then two trades
END = START + 10 * DAY


def test_a_limit_entry_replay_makes_the_backtests_trades(tmp_path):
    """The example fleet's btc-trend with `entry_order: limit 0.3% below the close, 2 bars`,
    traded by the fleet runner on the simulator over 10 days of recorded BTC 1h candles,
    makes the backtest's trades (the same entry bars, prices, exits and PnL) and expires the
    entries the backtest expires, at the same price. The simulator matches on the bot's own
    1h bars with the backtest's fill rules, so the whole trade list holds."""
    from test_runtime_helpers import load as load_fleet

    from botfleet.execution.ledger import Ledger
    from botfleet.orders import Reject
    from botfleet.runtime.paper_replay import recorded_venue, replay_fleet_copy, step_replay
    from botfleet.sim.bots import fill_model_for
    from botfleet.sim.engine import PairData, backtest
    from botfleet.sim.fillmodel import MarketRules
    from botfleet.strategy.fleet import compiled_for_bots
    from botfleet.venue.market import read_candle_file
    from botfleet.venue.rules import rules_for

    path = SHARED / "binance_BTC-USDT_1h.csv"
    if not path.exists():
        pytest.skip(f"recorded candles {path} not present (shared data)")
    for item in ("fleet.yaml", "exchanges.d", "strategies.d", "notifiers.d", "risk.d"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, tmp_path / item)
    (tmp_path / "bots.d").mkdir()
    text = (ROOT / "bots.d" / "btc-trend.yaml").read_text(encoding="utf-8")
    text = text.replace("name: btc-trend", "name: btc-limit") + (
        "fills:\n  slippage: {model: fixed, bps: 2}\n  precision: exchange\n"
        "  entry_order: {type: limit, offset: 0.3%, expire: 2}\n  close_at_end: false\n")
    (tmp_path / "bots.d" / "btc-limit.yaml").write_text(text, encoding="utf-8")
    fleet_load = load_fleet(tmp_path / "fleet.yaml")
    fleet = fleet_load.fleet
    bot = fleet.bots["btc-limit"]
    fills = fill_model_for(fleet, bot)
    assert fills.entry_type is OrderType.LIMIT
    fleet_load.fleet = replay_fleet_copy(fleet, tmp_path / "replay")
    server, start, _ = recorded_venue(fleet_load.fleet, [bot], SHARED, start_ms=START, days=0)
    try:
        got = step_replay(fleet_load, server, ["btc-limit"], start, END)
    finally:
        server.stop()
    assert got.errors == []
    strategy = compiled_for_bots(fleet_load)["btc-limit"]
    r = rules_for(SYM)
    pair = PairData(SYM, read_candle_file(path), MarketRules(
        float(r.tick_size), float(r.step_size), float(r.min_qty), float(r.min_notional)))
    result = backtest(strategy, [pair], "1h", bot.allocation, fills,
                      sizing=strategy.sizing if not bot.sizing else None, start_ms=start,
                      end_ms=END)
    expected = [(int(result.ts[t["entry_bar"]]), round(float(t["entry_price"]), 2),
                 round(float(t["exit_price"]), 2), round(float(t["pnl"]), 2))
                for t in result.trades]
    paper = [(candle_open_before(t.entry_ms, "1h"), round(float(t.entry_price), 2),
              round(float(t.exit_price), 2), round(float(t.pnl), 2))
             for t in got.trades["btc-limit"]]
    assert len(expected) >= 2, "the period should hold limit-entry trades"
    assert paper == expected
    assert all(t.exit_reason in (Reason.SIGNAL, Reason.STOP_LOSS, Reason.TRAILING_STOP)
               for t in got.trades["btc-limit"])
    expired = sorted(float(x["price"]) for x in result.rejects if x["reason"] == Reject.EXPIRED)
    with Ledger(fleet_load.fleet.storage.state) as ledger:
        gone = sorted(float(o.price) for o in ledger.orders("btc-limit")
                      if o.status is OrderStatus.EXPIRED)
        entries = [o for o in ledger.orders("btc-limit") if not o.reduce_only]
    assert expired and gone == expired
    assert {o.type for o in entries} == {OrderType.LIMIT}
