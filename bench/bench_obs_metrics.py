"""What the Prometheus instrumentation adds to a bot's cycle, and what a scrape costs.

A cycle's metrics work is: `cycle_metrics.cycle_closed` once (duration, outcome, decision time,
breakers, limits, the book: equity, drawdown, PnL, positions), one `timed_request` around each
exchange request, one `order_status` per order event, one `fill_recorded` per fill, a budget
gauge per request. Each is timed alone here on realistic inputs (a bot holding 2 positions with
a working stop, 3 breakers, bot-level limits) with `timeit`, and a typical cycle's total is
added up: 1 close, 6 requests (candles, submit x2, trades, open orders, lookup), 4 order events,
1 fill. Then `/metrics` is rendered for a fleet of `--bots` bots (every series set once).

    .venv/bin/python bench/bench_obs_metrics.py [--bots 100] [--number 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import timeit
from decimal import Decimal
from types import SimpleNamespace

from prometheus_client import generate_latest

from botfleet.obs import instrument
from botfleet.obs import metrics as m
from botfleet.orders import OrderStatus, Position, Side
from botfleet.risk.breaker import BreakerConfig, CircuitBreaker
from botfleet.risk.limits import Bound, LevelLimits
from botfleet.runtime.books import BotState
from botfleet.runtime.cycle_metrics import cycle_closed


def fake_run(bot: str):
    """A closed cycle's objects, as `CycleRun.close` hands them to `cycle_closed`."""
    state = BotState(positions={
        "BTC/USDT": Position("BTC/USDT", Decimal("0.015"), Decimal("42000.5"), Decimal("12.3")),
        "ETH/USDT": Position("ETH/USDT", Decimal("0.4"), Decimal("2250.1"), Decimal("-3.1"))},
        working=[SimpleNamespace(symbol="BTC/USDT")], day_start_equity=Decimal("1003.2"),
        peak_equity=Decimal(1050))
    levels = [LevelLimits("bot", bot, "USDT", Decimal(1000), max_drawdown=Decimal("0.1"),
                          max_daily_loss=Bound(Decimal(50), "50 USDT"))]
    breakers = {lv: CircuitBreaker(BreakerConfig(), lv, bot if lv == "bot" else lv)
                for lv in ("bot", "exchange", "fleet")}
    plan = SimpleNamespace(name=bot, timeframe="1h", capital=Decimal(1000),
                           engine=SimpleNamespace(levels=levels))
    result = SimpleNamespace(started=0.0, finished=0.012, outcome="ok", decision_s=0.0021)
    work = SimpleNamespace(final_state=state, closes={"BTC/USDT": Decimal(43000),
                                                      "ETH/USDT": Decimal(2300)})
    return SimpleNamespace(plan=plan, result=result, guards=SimpleNamespace(items=breakers),
                           work=work)


def per_call_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bots", type=int, default=100)
    ap.add_argument("--number", type=int, default=20_000)
    args = ap.parse_args()
    n = args.number
    run = fake_run("bench-bot")
    order = SimpleNamespace(symbol="BTC/USDT", side=Side.BUY, status=OrderStatus.FILLED)
    fill = SimpleNamespace(symbol="BTC/USDT", side=Side.BUY, amount=Decimal("0.015"),
                           price=Decimal("43000.1"), fee=Decimal("0.0000015"),
                           fee_currency="BTC")

    def request():
        with instrument.timed_request("binance", "submit"):
            pass

    costs = {
        "cycle_closed": per_call_us(lambda: cycle_closed(run), n),
        "timed_request": per_call_us(request, n),
        "order_status": per_call_us(lambda: instrument.order_status("bench-bot", "binance",
                                                                    order), n),
        "fill_recorded": per_call_us(lambda: instrument.fill_recorded("bench-bot", "binance",
                                                                      fill), n),
        "budget_used": per_call_us(lambda: instrument.budget_used("binance", 120, 4800), n),
        "data_lag": per_call_us(lambda: instrument.data_lag("binance", "BTC/USDT", "1h", 0.0),
                                n),
    }
    cycle = (costs["cycle_closed"] + 6 * (costs["timed_request"] + costs["budget_used"])
             + 4 * costs["order_status"] + costs["fill_recorded"] + costs["data_lag"])
    for i in range(args.bots):
        bot = f"bot{i:03d}"
        cycle_closed(fake_run(bot))
        instrument.order_status(bot, "binance", order)
        instrument.fill_recorded(bot, "binance", fill)
    scrape_ms = min(timeit.repeat(lambda: generate_latest(m.REGISTRY), number=5, repeat=3)) / 5
    size = len(generate_latest(m.REGISTRY))
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} cpu(s)")
    for name, us in costs.items():
        print(f"  {name:<14} {us:8.2f} us per call")
    print(f"  a typical cycle's metrics work: {cycle:.1f} us "
          "(1 close, 6 requests, 4 order events, 1 fill, 1 candle read)")
    print(f"  /metrics for {args.bots} bots: {scrape_ms * 1000:.1f} ms to render, "
          f"{size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
