"""Paper trading on recorded candles, faster than real time: the simulator serves the real data
under a clock the replay moves, and the fleet runner trades it through the real ccxt client.

Two ways to drive the clock:
- `step_replay`: a manual clock stepped from close to close, one `run_once` at each — as fast
  as the cycles go, deterministic, and bar for bar what the backtest assumes (an order decided
  at a close is booked at the next bar's open and fills there). `botfleet run` uses it to
  show the paper path's trades beside the backtest's.
- a replay clock (`speed` x the wall clock) with the runner running continuously
  (`botfleet paper --replay`): live-like, cycles fire on the schedule as they would live.

The replay keeps its own state database (`<data_dir>/replay/state.db`, new at each run) and an
in-process bus, so it never mixes with the fleet's real paper or live state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from botfleet.config.model import BotConfig, Fleet, Storage
from botfleet.data.candles import timeframe_ms
from botfleet.orders import Trade

log = logging.getLogger("botfleet.runtime.replay")
DAY_MS = 86_400_000


def recorded_venue(fleet: Fleet, bots: list[BotConfig], data_dir: Path, *,
                   start_ms: int | None = None, days: int = 30, speed: float | None = None):
    """(server, start, end): a simulator on the recorded candles of the bots' pairs, matching on
    the finest of their timeframes with the first bot's fill model; `start` defaults to
    `days` before the end of the data. `speed` None: a manual clock at `start`."""
    from botfleet.sim.bots import fill_model_for
    from botfleet.venue import BinanceServer, Clock, MarketData

    symbols = sorted({p for b in bots for p in b.pairs})
    tfs = sorted({b.timeframe for b in bots}, key=timeframe_ms)
    match = tfs[0]
    series = {s: {tf: _loader(data_dir, s, tf) for tf in tfs} for s in symbols}
    missing = [f"{s} {tf}" for s, by_tf in series.items() for tf, f in by_tf.items() if f is None]
    if missing:
        raise LookupError(f"no candle file in {data_dir} for {', '.join(missing)} (nor a lower "
                          "timeframe's to build it from)")
    market = MarketData(series, label={"market": "recorded", "source": str(data_dir)})
    end = min(int(market.candles(s, match)["ts"][-1]) for s in symbols) + timeframe_ms(match)
    start = start_ms if start_ms is not None else end - days * DAY_MS
    start -= start % timeframe_ms(match)
    market.clock = Clock(start) if speed is None else Clock.replay(start, speed)
    server = BinanceServer(market, fills=fill_model_for(fleet, bots[0]), timeframe=match,
                           order_limit=0)
    return server.start(), start, end


def _loader(folder: Path, symbol: str, tf: str):
    """A loader of `symbol`'s `tf` candles: its file, else a lower timeframe's resampled
    exactly (whole buckets only), as the main job's data step builds them."""
    from botfleet.data.prepare import LOWER, file_for
    from botfleet.data.resample import resample
    from botfleet.venue.market import read_candle_file

    path = file_for(folder, "binance", symbol, tf)
    if path is not None:
        return lambda: read_candle_file(path)
    for lower in LOWER:
        if timeframe_ms(lower) < timeframe_ms(tf) and timeframe_ms(tf) % timeframe_ms(lower) == 0:
            path = file_for(folder, "binance", symbol, lower)
            if path is not None:
                return lambda p=path, lo=lower: resample(read_candle_file(p), lo, tf)
    return None


def replay_fleet_copy(fleet: Fleet, folder: Path) -> Fleet:
    """The fleet with a fresh state database in `folder` and an in-process bus."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("state.db*"):
        old.unlink()
    return replace(fleet, storage=Storage(f"sqlite:///{folder / 'state.db'}",
                                          fleet.storage.candles, "memory://"))


@dataclass
class ReplayResult:
    start_ms: int
    end_ms: int
    trades: dict[str, list[Trade]] = field(default_factory=dict)
    open: dict[str, int] = field(default_factory=dict)  # bot -> open positions at the end
    cycles: int = 0
    errors: list[str] = field(default_factory=list)


def step_replay(load, server, bots: list[str], start_ms: int, end_ms: int, *,
                workers: int = 4) -> ReplayResult:
    """Step the venue's manual clock through every close in [start, end) and run the bots
    due at each; returns each bot's closed trades (from the ledger)."""
    from botfleet.runtime.connect import venue_connection
    from botfleet.runtime.runner import FleetRunner, RunnerOptions
    from botfleet.runtime.trades import round_trips

    fleet = load.fleet
    configs = [fleet.bots[n] for n in bots]
    conn = venue_connection(server, fleet, configs)
    runner = FleetRunner(load, conn, bots=bots, mode="paper",
                         options=RunnerOptions(workers=workers, reload_every_s=0,
                                               reconcile_wait_s=0))
    out = ReplayResult(start_ms, end_ms)
    out.errors += [f"{n}: {p}" for n, p in runner.problems.items()]
    runner.start()
    try:
        step = min(timeframe_ms(c.timeframe) for c in configs)
        t = start_ms + step
        while t < end_ms:
            server.set_time(t)
            due = [c.name for c in configs if t % timeframe_ms(c.timeframe) == 0
                   and c.name in runner.slots]
            for r in runner.run_once(due, now_ms=t):
                out.cycles += 1
                if r.outcome in ("error", "timeout"):
                    out.errors.append(f"{r.bot} at {t}: {r.error}")
            t += step
        for name in runner.slots:
            fills, reasons = runner.svc.reader.fills(name)
            book = round_trips(fills, reasons)
            out.trades[name] = book.closed
            out.open[name] = len(book.open)
    finally:
        runner.shutdown(5)
    return out
