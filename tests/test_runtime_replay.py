"""The paper path on recorded candles (what `botfleet run` shows after the backtest): the
example fleet's btc-trend and sol-breakout traded by the fleet runner on the simulator through
ccxt, close by close, make the backtest's trades over the same days — same entry bars, same
PnL to the cent — including a trailing stop resting on the exchange.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from botfleet.orders import Reason

from shared_data import SHARED, shared_file

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400_000
START = 1_757_289_600_000  # 2025-09-08 00:00 UTC: a btc-trend trade and a sol-breakout trade
END = START + 8 * DAY  # both trades closed by then, no new one opened


def test_the_paper_replay_makes_the_backtests_trades(tmp_path):
    from test_runtime_helpers import load

    from botfleet.data.resample import resample
    from botfleet.runtime.paper_replay import recorded_venue, replay_fleet_copy, step_replay
    from botfleet.sim.bots import fill_model_for
    from botfleet.sim.engine import PairData, backtest
    from botfleet.sim.fillmodel import MarketRules
    from botfleet.venue.market import read_candle_file
    from botfleet.venue.rules import rules_for

    shared_file("binance_BTC-USDT_1h.csv")
    shared_file("binance_SOL-USDT_1h.csv")
    for item in ("fleet.yaml", "exchanges.d", "bots.d", "strategies.d", "notifiers.d",
                 "risk.d"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, tmp_path / item)
    fleet_load = load(tmp_path / "fleet.yaml")
    fleet = fleet_load.fleet
    names = ["btc-trend", "sol-breakout"]
    bots = [fleet.bots[n] for n in names]
    fleet_load.fleet = replay_fleet_copy(fleet, tmp_path / "replay")
    server, start, _ = recorded_venue(fleet_load.fleet, bots, SHARED, start_ms=START,
                                        days=0)
    try:
        got = step_replay(fleet_load, server, names, start, END)
    finally:
        server.stop()
    assert got.errors == [] and got.cycles == (8 * 24 - 1) + (8 * 6 - 1)
    from botfleet.strategy.fleet import compiled_for_bots

    strategies = compiled_for_bots(fleet_load)
    hourly = {s: read_candle_file(SHARED / f"binance_{s.replace('/', '-')}_1h.csv")
              for s in ("BTC/USDT", "SOL/USDT")}
    for bot in bots:
        candles = hourly[bot.pairs[0]]
        if bot.timeframe != "1h":
            candles = resample(candles, "1h", bot.timeframe)
        r = rules_for(bot.pairs[0])
        pair = PairData(bot.pairs[0], candles, MarketRules(
            float(r.tick_size), float(r.step_size), float(r.min_qty), float(r.min_notional)))
        strategy = strategies[bot.name]
        result = backtest(strategy, [pair], bot.timeframe, bot.allocation,
                          fill_model_for(fleet, bot), sizing=strategy.sizing
                          if not bot.sizing else None, start_ms=start, end_ms=END)
        expected = [(int(result.ts[t["entry_bar"]]), round(float(t["pnl"]), 2))
                    for t in result.trades]
        paper = [(t.entry_ms, round(float(t.pnl), 2)) for t in got.trades[bot.name]]
        assert expected and paper == expected, bot.name
    reasons = {t.exit_reason for t in got.trades["sol-breakout"]}
    assert reasons == {Reason.TRAILING_STOP}  # filled by the resting stop on the simulator
